"""Tests of the selective scan op (kernels/selective_scan): Mamba-1's scan, as mamba_ssm's `selective_scan_ref`.

Every test draws fresh random inputs: the `seed` fixture reseeds torch from a new random seed (or from
SEQZOO_SEED when set) and every comparison names that seed when it fails, so that
`SEQZOO_SEED=<seed> pytest tests/kernels/test_selective_scan.py` replays the failure.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from zoo.kernels.selective_scan import (
    selective_scan,
    selective_scan_chunked,
    selective_scan_reference,
    selective_scan_step,
)

F64 = torch.float64
# Float64 tolerances. The blocked form and the loop run the same recurrence and differ only in the order of
# the sums in the outputs and gradients: at these sizes (T <= 200, entries of order 1-10) their float64
# results agree to ~1e-13. 1e-9 leaves room for rounding, while a wrong decay, block boundary, group or
# state hand-over shows at 1e-3 or more.
TOL = dict(rtol=1e-9, atol=1e-9)
ARGS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state")
CHANNELS, STATE_DIM = 6, 4  # D != N, so that a transposed state cannot pass


def assert_close(actual, expected, what: str, seed: int, **tol) -> None:
    torch.testing.assert_close(actual, expected, **(tol or TOL), msg=lambda m: f"{what} (seed={seed}): {m}")


def inputs(batch, length, num_states, *, groups=None, gated=True, channels=CHANNELS, state_dim=STATE_DIM):
    """Leaf tensors in selective_scan's argument order: u, delta, A, B, C, D, z, delta_bias, initial_state.

    A = -exp(randn) (decays of every speed); B, C: [B, T, N] when groups is None, else [B, T, G, N].
    gated: delta raw around 0 (for softplus) with D, z and delta_bias; else delta > 0 without them.
    initial_state [num_states, D, N], or None when num_states is None."""
    u = torch.randn(batch, length, channels, dtype=F64)
    delta = torch.randn(batch, length, channels, dtype=F64)
    delta = delta if gated else 0.05 + delta.abs()
    A = -torch.exp(torch.randn(channels, state_dim, dtype=F64))
    bc_shape = (batch, length, state_dim) if groups is None else (batch, length, groups, state_dim)
    B = torch.randn(bc_shape, dtype=F64)
    C = torch.randn(bc_shape, dtype=F64)
    D = torch.randn(channels, dtype=F64) if gated else None
    z = torch.randn(batch, length, channels, dtype=F64) if gated else None
    delta_bias = torch.randn(channels, dtype=F64) if gated else None
    h0 = None if num_states is None else torch.randn(num_states, channels, state_dim, dtype=F64)
    return [t if t is None else t.requires_grad_() for t in (u, delta, A, B, C, D, z, delta_bias, h0)]


def detached(leaves):
    return [t if t is None else t.detach() for t in leaves]


def as_kwargs(leaves, **options):
    """selective_scan keyword arguments from the leaves (in ARGS order) and further options."""
    return {**dict(zip(ARGS, leaves)), **options}


def upstream(out_shape, state_shape):
    """Random upstream gradients (dy, dS) for the output and the final state."""
    return torch.randn(out_shape, dtype=F64), torch.randn(state_shape, dtype=F64)


def outputs_and_grads(run, leaves, d_out, d_state):
    """(y, state, {name: grad of <y, dy> + <state, dS>} for the leaves that are not None)."""
    y, state = run()
    loss = (y * d_out).sum() + (state * d_state).sum()
    names = [name for name, t in zip(ARGS, leaves) if t is not None]
    grads = torch.autograd.grad(loss, [t for t in leaves if t is not None])
    return y, state, dict(zip(names, grads))


def assert_same_results(results, expected, seed):
    (y, s, grads), (y_ref, s_ref, grads_ref) = results, expected
    assert_close(y, y_ref, "y", seed)
    assert_close(s, s_ref, "final_state", seed)
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        assert_close(grads[name], grads_ref[name], f"d{name}", seed)


# ---------------------------------------------------------------------------------------------------------
# The oracle itself


def hand_case():
    """D = 1 channel, N = 1 state, T = 3 tokens, B = 1, numbers chosen so the recurrence is exact:

        A = -ln 2, dt = (1, 2, 1): decays exp(dt * A) = (1/2, 1/4, 1/2); u = (2, 4, -2); B = (1, 1/2, 3);
        C = (1, 2, -1); D = 1/2; h_0 = 4.
        h_1 = 1/2 * 4 + 1 * 2 * 1    = 4,      y_1 = 1 * 4 + 1/2 * 2       = 5
        h_2 = 1/4 * 4 + 2 * 4 * 1/2  = 5,      y_2 = 2 * 5 + 1/2 * 4       = 12
        h_3 = 1/2 * 5 + 1 * -2 * 3   = -7/2,   y_3 = -1 * -7/2 + 1/2 * -2  = 5/2
    """
    column = lambda *values: torch.tensor(values, dtype=F64).view(1, 3, 1)  # noqa: E731
    return dict(
        u=column(2.0, 4.0, -2.0), delta=column(1.0, 2.0, 1.0), A=torch.tensor([[-math.log(2)]], dtype=F64),
        B=column(1.0, 0.5, 3.0), C=column(1.0, 2.0, -1.0), D=torch.tensor([0.5], dtype=F64),
        initial_state=torch.tensor([[[4.0]]], dtype=F64),
    )


HAND_Y = torch.tensor([5.0, 12.0, 2.5], dtype=F64).view(1, 3, 1)
HAND_STATE = torch.tensor([[[-3.5]]], dtype=F64)


@pytest.mark.parametrize("backend", ["reference", "torch"])
def test_hand_computed_case(backend):
    y, state = selective_scan(**hand_case(), output_final_state=True, backend=backend)
    torch.testing.assert_close(y, HAND_Y, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state, HAND_STATE, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["reference", "torch"])
def test_hand_computed_case_with_bias_softplus_and_gate(backend):
    """The same numbers reached through delta_bias and softplus: delta = log(expm1(dt)) - bias gives
    softplus(delta + bias) = dt. The gate multiplies after the skip: z = (0, ln 3, -ln 3) has
    silu(z) = (0, 3/4 ln 3, -1/4 ln 3), so y = (0, 9 ln 3, -5/8 ln 3) (a gate before the skip gives y_1 = 1)."""
    case = hand_case()
    bias = torch.tensor([0.25], dtype=F64)
    case["delta"] = torch.log(torch.expm1(case["delta"])) - bias
    z = torch.tensor([0.0, math.log(3), -math.log(3)], dtype=F64).view(1, 3, 1)
    y, state = selective_scan(
        **case, z=z, delta_bias=bias, delta_softplus=True, output_final_state=True, backend=backend
    )
    expected = torch.tensor([0.0, 9 * math.log(3), -0.625 * math.log(3)], dtype=F64).view(1, 3, 1)
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state, HAND_STATE, rtol=1e-12, atol=1e-12)


def test_reference_groups_map_channel_d_to_group_d_over_channels_per_group(seed):
    """With G = 2 groups of 3 channels, channel d alone, with the ungrouped B and C of group d // 3,
    gives channel d of the grouped run."""
    u, delta, A, B, C, D, z, bias, h0 = detached(inputs(2, 9, 2, groups=2))
    flags = dict(delta_softplus=True, output_final_state=True)
    y, state = selective_scan_reference(u, delta, A, B, C, D, z, delta_bias=bias, initial_state=h0, **flags)
    for d in range(CHANNELS):
        one = slice(d, d + 1)
        y_d, state_d = selective_scan_reference(
            u[..., one], delta[..., one], A[one], B[:, :, d // 3], C[:, :, d // 3], D[one], z[..., one],
            delta_bias=bias[one], initial_state=h0[:, one], **flags,
        )
        assert_close(y[..., one], y_d, f"y of channel {d}", seed)
        assert_close(state[:, one], state_d, f"state of channel {d}", seed)


def mamba_style_loop(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0):
    """The recurrence written the way mamba_ssm's reference is: channel-first [B, D, T] tensors, the
    decays exp(delta A) and inputs delta B u for all steps made up front, then a loop of
    x = deltaA_t * x + deltaBu_t, y_t = <x, C_t>. B, C are grouped [B, G, N, T] here."""
    u, delta, z = (None if t is None else t.transpose(1, 2) for t in (u, delta, z))  # [B, D, T]
    B, C = (t.permute(0, 2, 3, 1) if t.ndim == 4 else t.transpose(1, 2)[:, None] for t in (B, C))
    channels = u.shape[1]
    B, C = (t.repeat_interleave(channels // t.shape[1], dim=1) for t in (B, C))  # [B, D, N, T]
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = torch.log1p(torch.exp(delta))
    delta_A = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    delta_B_u = torch.einsum("bdl,bdnl,bdl->bdln", delta, B, u)
    x = h0 if h0 is not None else u.new_zeros(u.shape[0], channels, A.shape[1])
    ys = []
    for i in range(u.shape[2]):
        x = delta_A[:, :, i] * x + delta_B_u[:, :, i]
        ys.append(torch.einsum("bdn,bdn->bd", x, C[..., i]))
    y = torch.stack(ys, dim=2)
    if D is not None:
        y = y + u * D[:, None]
    if z is not None:
        y = y * z * torch.sigmoid(z)
    return y.transpose(1, 2), x


@pytest.mark.parametrize("gated", [True, False], ids=["softplus-bias-skip-gate", "raw-delta"])
@pytest.mark.parametrize("groups", [None, 2], ids=["ungrouped", "G=2"])
def test_reference_matches_mamba_style_loop(seed, groups, gated):
    leaves = inputs(2, 23, 2 if gated else None, groups=groups, gated=gated)
    u, delta, A, B, C, D, z, bias, h0 = leaves
    gradients = upstream((2, 23, CHANNELS), (2, CHANNELS, STATE_DIM))
    ours = outputs_and_grads(
        lambda: selective_scan_reference(
            u, delta, A, B, C, D, z, delta_bias=bias, delta_softplus=gated, initial_state=h0,
            output_final_state=True,
        ),
        leaves, *gradients,
    )
    loop = outputs_and_grads(
        lambda: mamba_style_loop(u, delta, A, B, C, D, z, bias, gated, h0), leaves, *gradients
    )
    assert_same_results(ours, loop, seed)


# ---------------------------------------------------------------------------------------------------------
# Chunked vs reference

CONFIGS = {
    # delta + bias through softplus, skip D, gate z, initial state.
    "softplus-bias-skip-gate-h0": dict(gated=True, with_state=True),
    # raw positive delta, no bias, no skip, no gate, zero initial state.
    "raw-delta": dict(gated=False, with_state=False),
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("groups", [None, 2], ids=["ungrouped", "G=2"])
@pytest.mark.parametrize("length", [1, 63, 64, 65, 200])
def test_chunked_matches_reference(seed, length, groups, config):
    batch = 2
    leaves = inputs(batch, length, batch if config["with_state"] else None, groups=groups, gated=config["gated"])
    gradients = upstream((batch, length, CHANNELS), (batch, CHANNELS, STATE_DIM))
    options = dict(delta_softplus=config["gated"], output_final_state=True)

    def run(form, **kw):
        return lambda: form(**as_kwargs(leaves, **options, **kw))

    expected = outputs_and_grads(run(selective_scan_reference), leaves, *gradients)
    for chunk_size in (16, 64):
        results = outputs_and_grads(run(selective_scan_chunked, chunk_size=chunk_size), leaves, *gradients)
        assert_same_results(results, expected, f"{seed}, chunk_size={chunk_size}")


@pytest.mark.parametrize(
    "chunk_size, channels, state_dim",
    [(1, CHANNELS, STATE_DIM), (7, CHANNELS, STATE_DIM), (64, 128, 64)],
    # 2 rows x 128 channels x 64 states: blocks are cut to 2**18 / 16384 = 16 tokens (16 + 16 + 8).
    ids=["chunk-1", "chunk-7", "capped-block"],
)
def test_chunked_matches_reference_for_any_block_length(seed, chunk_size, channels, state_dim):
    leaves = inputs(2, 40, 2, groups=2, channels=channels, state_dim=state_dim)
    gradients = upstream((2, 40, channels), (2, channels, state_dim))
    options = dict(delta_softplus=True, output_final_state=True)
    expected = outputs_and_grads(
        lambda: selective_scan_reference(**as_kwargs(leaves, **options)), leaves, *gradients
    )
    results = outputs_and_grads(
        lambda: selective_scan_chunked(**as_kwargs(leaves, chunk_size=chunk_size, **options)), leaves, *gradients
    )
    assert_same_results(results, expected, seed)


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_empty_sequence_returns_the_initial_state(seed, backend):
    u, delta, A, B, C, D, z, bias, h0 = detached(inputs(2, 0, 2))
    y, state = selective_scan(
        u, delta, A, B, C, D, z, delta_bias=bias, initial_state=h0, output_final_state=True, backend=backend
    )
    assert y.shape == (2, 0, CHANNELS)
    assert_close(state, h0, "final_state", seed)


@pytest.mark.parametrize("lengths", [(37, 1, 90), (16, 0, 33)], ids=["37-1-90", "16-0-33"])
@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_varlen_matches_separate_sequences(seed, lengths, backend):
    """Three sequences packed with cu_seqlens, against the reference on each one alone: outputs,
    final states and every gradient (delta_softplus with a bias, so padding must come after it)."""
    total = sum(lengths)
    leaves = inputs(1, total, len(lengths), groups=2)
    u, delta, A, B, C, D, z, bias, h0 = leaves
    cu_seqlens = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    gradients = upstream((1, total, CHANNELS), (len(lengths), CHANNELS, STATE_DIM))
    flags = dict(delta_bias=bias, delta_softplus=True, output_final_state=True)

    def packed():
        return selective_scan(
            u, delta, A, B, C, D, z, initial_state=h0, cu_seqlens=cu_seqlens, chunk_size=16, backend=backend,
            **flags,
        )

    def separate():
        bounds = cu_seqlens.tolist()
        runs = [
            selective_scan_reference(
                u[:, s:e], delta[:, s:e], A, B[:, s:e], C[:, s:e], D, z[:, s:e], initial_state=h0[i : i + 1],
                **flags,
            )
            for i, (s, e) in enumerate(zip(bounds, bounds[1:]))
        ]
        return torch.cat([y for y, _ in runs], dim=1), torch.cat([s for _, s in runs], dim=0)

    assert_same_results(
        outputs_and_grads(packed, leaves, *gradients), outputs_and_grads(separate, leaves, *gradients), seed
    )


def test_backends_agree_and_state_is_optional(seed):
    leaves = detached(inputs(2, 50, 2, groups=2))
    options = dict(delta_softplus=True, chunk_size=16)
    backends = ("auto", "torch", "reference")
    results = {b: selective_scan(**as_kwargs(leaves, backend=b, **options)) for b in backends}
    for backend, (y, state) in results.items():
        assert state is None, backend
        assert_close(y, results["reference"][0], f"y of backend {backend}", seed)


def test_low_precision_inputs(seed):
    u, delta, A, B, C, D, z, bias, h0 = detached(inputs(2, 70, 2))
    flags = dict(delta_bias=bias, delta_softplus=True, output_final_state=True)
    y_ref, s_ref = selective_scan_reference(u, delta, A, B, C, D, z, initial_state=h0, **flags)
    as_float = [t.float() for t in (u, delta, A, B, C, D, z)]
    y, s = selective_scan(*as_float, initial_state=h0.float(), **{**flags, "delta_bias": bias.float()})
    assert (y.dtype, s.dtype) == (torch.float32, torch.float32)
    # float32 accumulation over 70 steps: relative rounding ~1e-6 on entries of order 1-10.
    assert_close(y.double(), y_ref, "float32 y", seed, rtol=1e-4, atol=1e-4)
    assert_close(s.double(), s_ref, "float32 final_state", seed, rtol=1e-4, atol=1e-4)
    low = (u.bfloat16(), delta.float(), A.float(), B.bfloat16(), C.bfloat16())
    y, s = selective_scan(*low, output_final_state=True)
    assert (y.dtype, s.dtype) == (torch.bfloat16, torch.float32)


def test_autograd_saves_nothing_of_size_t_by_d_by_n(seed):
    """Memory linear in T without a [T, D, N] factor: the blocked form keeps the inputs and one state
    per block for its backward, never the states of every token."""
    length, channels, state_dim = 256, 8, 16
    leaves = inputs(1, length, 1, channels=channels, state_dim=state_dim)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        selective_scan(**as_kwargs(leaves, delta_softplus=True, output_final_state=True, chunk_size=64))
    assert saved and max(saved) <= length * max(channels, state_dim), sorted(saved)[-5:]


# ---------------------------------------------------------------------------------------------------------
# Decoding steps


@pytest.mark.parametrize("groups", [None, 2], ids=["ungrouped", "G=2"])
def test_step_matches_parallel(seed, groups):
    u, delta, A, B, C, D, z, bias, h0 = detached(inputs(2, 29, 2, groups=groups))
    flags = dict(delta_bias=bias, delta_softplus=True)
    y_ref, s_ref = selective_scan(
        u, delta, A, B, C, D, z, initial_state=h0, output_final_state=True, chunk_size=16, **flags
    )
    state, ys = h0, []
    for t in range(u.shape[1]):
        y_t, state = selective_scan_step(
            u[:, t], delta[:, t], A, B[:, t], C[:, t], D, z[:, t], state=state, **flags
        )
        ys.append(y_t)
    assert_close(torch.stack(ys, dim=1), y_ref, "stepped y", seed)
    assert_close(state, s_ref, "stepped state", seed)
    y_1, state_1 = selective_scan_step(u[:, 0], delta[:, 0], A, B[:, 0], C[:, 0], D, z[:, 0], **flags)
    y_first, s_first = selective_scan(
        u[:, :1], delta[:, :1], A, B[:, :1], C[:, :1], D, z[:, :1], output_final_state=True, **flags
    )
    assert_close(y_1, y_first[:, 0], "step from no state", seed)
    assert_close(state_1, s_first, "state after a step from no state", seed)


# ---------------------------------------------------------------------------------------------------------
# Input validation


def valid_args(batch=2, length=10, channels=4, state_dim=5):
    return dict(
        u=torch.randn(batch, length, channels),
        delta=torch.randn(batch, length, channels),
        A=-torch.rand(channels, state_dim),
        B=torch.randn(batch, length, 2, state_dim),
        C=torch.randn(batch, length, 2, state_dim),
        D=torch.randn(channels),
        z=torch.randn(batch, length, channels),
        delta_bias=torch.randn(channels),
        initial_state=torch.randn(batch, channels, state_dim),
    )


ERRORS = {
    "u-ndim": (dict(u=torch.randn(2, 10)), "selective_scan: u has shape (2, 10) but expected (B, T, D)"),
    "delta": (
        dict(delta=torch.randn(2, 10, 3)),
        "selective_scan: delta has shape (2, 10, 3) but expected (B, T, D) = (2, 10, 4) from u",
    ),
    "A": (dict(A=torch.randn(3, 5)), "selective_scan: A has shape (3, 5) but expected (D, N) = (4, N) from u"),
    "B-ungrouped": (
        dict(B=torch.randn(2, 10, 4), C=torch.randn(2, 10, 4)),
        "selective_scan: B has shape (2, 10, 4) but expected (B, T, N) = (2, 10, 5) from u and A",
    ),
    "B-grouped": (
        dict(B=torch.randn(2, 9, 2, 5)),
        "selective_scan: B has shape (2, 9, 2, 5) but expected (B, T, G, N) = (2, 10, G, 5) from u and A",
    ),
    "C": (
        dict(C=torch.randn(2, 10, 5)),
        "selective_scan: C has shape (2, 10, 5) but expected (B, T, G, N) = (2, 10, 2, 5) from B",
    ),
    "groups": (
        dict(B=torch.randn(2, 10, 3, 5), C=torch.randn(2, 10, 3, 5)),
        "selective_scan: the number of channels D = 4 (from u) must be a multiple of the number of groups G = 3",
    ),
    "D": (dict(D=torch.randn(5)), "selective_scan: D has shape (5,) but expected (D) = (4) from u"),
    "z": (
        dict(z=torch.randn(2, 10, 5)),
        "selective_scan: z has shape (2, 10, 5) but expected (B, T, D) = (2, 10, 4) from u",
    ),
    "delta_bias": (
        dict(delta_bias=torch.randn(1, 4)),
        "selective_scan: delta_bias has shape (1, 4) but expected (D) = (4) from u",
    ),
    "initial_state": (
        dict(initial_state=torch.randn(2, 5, 4)),
        "selective_scan: initial_state has shape (2, 5, 4) but expected (N_seq, D, N) = (2, 4, 5) from u and A",
    ),
    "dtype": (dict(u=torch.ones(2, 10, 4, dtype=torch.long)), "selective_scan: u has dtype torch.int64"),
    "complex-A": (
        dict(A=torch.randn(4, 5, dtype=torch.complex64)),
        "selective_scan: A has dtype torch.complex64 but expected a real floating-point dtype",
    ),
    "cu_seqlens-batch": (
        dict(cu_seqlens=torch.tensor([0, 10])),
        "cu_seqlens is given, so the batch must be packed",
    ),
    "chunk_size": (dict(chunk_size=0), "selective_scan: chunk_size must be a positive int, got 0"),
}


@pytest.mark.parametrize("change, message", ERRORS.values(), ids=ERRORS.keys())
def test_rejects_bad_inputs(change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        selective_scan(**{**valid_args(), **change})


def test_varlen_initial_state_must_have_one_row_per_sequence():
    args = valid_args(batch=1)
    expected = (
        "selective_scan: initial_state has shape (1, 4, 5) but expected (N_seq, D, N) = (3, 4, 5) "
        "from cu_seqlens, u and A"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        selective_scan(**args, cu_seqlens=torch.tensor([0, 2, 5, 10]))


@pytest.mark.parametrize("backend", ["cuda", "Triton"])
def test_unknown_backend_lists_choices(backend):
    expected = f"unknown backend '{backend}'; the backends of this op are ('auto', 'torch', 'triton', 'reference')"
    with pytest.raises(ValueError, match=re.escape(expected)):
        selective_scan(**valid_args(), backend=backend)


def test_step_rejects_bad_inputs():
    args = valid_args()
    u, delta, A, B, C = (args[name] for name in ("u", "delta", "A", "B", "C"))
    expected = (
        "selective_scan_step: state has shape (2, 5, 4) but expected (N_seq, D, N) = (2, 4, 5) from u_t and A"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        selective_scan_step(u[:, 0], delta[:, 0], A, B[:, 0], C[:, 0], state=torch.randn(2, 5, 4))
    expected = "selective_scan_step: B_t has shape (2, 10, 2, 5) but expected (B, N) = (2, 5) from u_t and A"
    with pytest.raises(ValueError, match=re.escape(expected)):
        selective_scan_step(u[:, 0], delta[:, 0], A, B, C[:, 0])
    expected = "selective_scan_step: C_t has shape (2, 5) but expected (B, G, N) = (2, 2, 5) from B_t"
    with pytest.raises(ValueError, match=re.escape(expected)):
        selective_scan_step(u[:, 0], delta[:, 0], A, B[:, 0], C[:, 0, 0])
