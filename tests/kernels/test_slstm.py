"""Tests of the sLSTM op (kernels/slstm): xLSTM's scalar-memory cell, as xlstm's vanilla sLSTM cell.

Every test draws fresh random inputs: the `seed` fixture reseeds torch from a new random seed (or from
SEQZOO_SEED when set) and every comparison names that seed when it fails, so that
`SEQZOO_SEED=<seed> pytest tests/kernels/test_slstm.py` replays the failure.

The inputs exercise the stabiliser: input-gate pre-activations of spread ~8 (exp(raw_i) spans e^-30 to
e^30), forget gates mostly near 1 (so that m_t is the forget path's as often as the input gate's), and
initial states with m of either sign.
"""

from __future__ import annotations

import re

import pytest
import torch

from zoo.kernels.slstm import slstm, slstm_recurrent, slstm_reference, slstm_step

F64 = torch.float64
# Float64 tolerances, relative to the largest entry of each expected tensor. The torch form and the
# reference loop compute the same recurrence in a different order (the backward as a linear map per
# token): over 30 seeds of the T = 65 and 200 cases they agreed to 2e-14 at most. 1e-9 leaves room for
# rounding, while a wrong gate, branch of the max, block boundary or state hand-over shows at 1e-3 or more.
TOL = 1e-9
HEADS, HEAD_DIM = 2, 5  # odd Dh, H != Dh: a transposed R or state cannot pass
NAMES = ("x", "R", "b", "initial y", "initial c", "initial n", "initial m")
STATE_NAMES = ("y", "c", "n", "m")


def assert_close(actual, expected, what: str, seed, tol: float = TOL) -> None:
    """Tolerances relative to the largest entry of `expected` (atol = tol * max(max|expected|, 1))."""
    scale = max(expected.abs().max().item(), 1.0) if expected.numel() else 1.0
    torch.testing.assert_close(
        actual, expected, rtol=tol, atol=tol * scale, msg=lambda m: f"{what} (seed={seed}): {m}"
    )


def make_inputs(batch, length, num_states, *, heads=HEADS, head_dim=HEAD_DIM, dtype=F64, input_scale=8.0):
    """Leaf tensors x [B, T, H, 4*Dh], R [H, Dh, 4*Dh], b [H, 4*Dh] and, unless num_states is None, the
    initial state (y, c, n, m) [num_states, H, Dh] with n > 0. raw_i ~ N(0, input_scale^2), raw_f ~
    N(3, 2^2) (log f mostly in (-3, 0)), raw_z, raw_o ~ N(0, 1), R ~ N(0, 1 / Dh)."""
    x = torch.randn(batch, length, heads, 4, head_dim, dtype=dtype)
    x[..., 0, :] *= input_scale
    x[..., 1, :] = 3 + 2 * x[..., 1, :]
    leaves = [
        x.flatten(-2),
        torch.randn(heads, head_dim, 4 * head_dim, dtype=dtype) * head_dim**-0.5,
        0.5 * torch.randn(heads, 4 * head_dim, dtype=dtype),
    ]
    if num_states is not None:
        shape = (num_states, heads, head_dim)
        leaves += [
            torch.randn(shape, dtype=dtype),
            torch.randn(shape, dtype=dtype),
            torch.randn(shape, dtype=dtype).exp(),
            3 * torch.randn(shape, dtype=dtype),
        ]
    return [t.requires_grad_() for t in leaves]


def detached(leaves):
    return [t.detach() for t in leaves]


def run_form(form, leaves, **options):
    x, R, b, *state = leaves
    return form(x, R, b, initial_state=tuple(state) or None, **options)


def outputs_and_grads(run, leaves, grad_y=True, grad_state=True, seed=0):
    """(y, final state, grads of <y, dy> + <final state, dS> for every leaf): dy, dS drawn from a generator
    seeded by `seed`, so that two runs with the same seed get the same upstream gradients."""
    y, state = run()
    gen = torch.Generator().manual_seed(seed)
    loss = 0
    if grad_y:
        loss = loss + (y * torch.randn(y.shape, generator=gen, dtype=y.dtype)).sum()
    if grad_state:
        loss = loss + sum((s * torch.randn(s.shape, generator=gen, dtype=s.dtype)).sum() for s in state)
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves)]
    return y, state, grads


def assert_same_results(results, expected, seed, tol=TOL):
    (y, state, grads), (y_ref, state_ref, grads_ref) = results, expected
    assert_close(y, y_ref, "y", seed, tol)
    for name, s, s_ref in zip(STATE_NAMES, state, state_ref):
        assert_close(s, s_ref, f"final {name}", seed, tol)
    assert len(grads) == len(grads_ref)
    for name, g, g_ref in zip(NAMES, grads, grads_ref):
        assert_close(g, g_ref, f"d{name}", seed, tol)


def cu_seqlens_of(lengths):
    return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)


# ---------------------------------------------------------------------------------------------------------
# The oracle itself


def unstabilised(x, R, b, forget_gate):
    """The sLSTM as the xLSTM paper writes it before stabilisation, from the zero state:
    c~_t = f_t c~_{t-1} + exp(raw_i) tanh(raw_z), n~_t = f_t n~_{t-1} + exp(raw_i), y_t = o_t c~_t / n~_t,
    f_t = sigmoid(raw_f) or exp(raw_f). Returns y [B, T, H, Dh] and (c~, n~) after the last token."""
    batch, length, heads, _ = x.shape
    head_dim = R.shape[1]
    y = c = n = x.new_zeros(batch, heads, head_dim)
    outputs = []
    for t in range(length):
        raw = x[:, t] + torch.einsum("nhj,hjk->nhk", y, R) + b
        raw_i, raw_f, raw_z, raw_o = raw.unflatten(-1, (4, head_dim)).unbind(-2)
        f = torch.sigmoid(raw_f) if forget_gate == "sigmoid" else torch.exp(raw_f)
        c = f * c + torch.exp(raw_i) * torch.tanh(raw_z)
        n = f * n + torch.exp(raw_i)
        y = torch.sigmoid(raw_o) * c / n
        outputs.append(y)
    return torch.stack(outputs, dim=1), (c, n)


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_reference_is_the_unstabilised_recurrence(seed, forget_gate):
    """Moderate gates (|raw_i| < ~15, so float64 needs no stabiliser): the same outputs, and the stabilised
    state is the unstabilised one scaled by exp(-m): c_T = c~_T exp(-m_T), n_T = n~_T exp(-m_T)."""
    x, R, b = detached(make_inputs(2, 30, None, input_scale=3.0))
    if forget_gate == "exp":
        x = x.unflatten(-1, (4, HEAD_DIM)).clone()
        x[..., 1, :] = -x[..., 1, :].abs() / 4  # log f <= 0 mostly
        x = x.flatten(-2)
    y, (y_T, c_T, n_T, m_T) = slstm_reference(x, R, b, forget_gate=forget_gate, output_final_state=True)
    y_ref, (c_ref, n_ref) = unstabilised(x, R, b, forget_gate)
    assert_close(y, y_ref, "y", seed)
    assert_close(y_T, y_ref[:, -1], "final y", seed)
    assert_close(c_T, c_ref * torch.exp(-m_T), "final c", seed)
    assert_close(n_T, n_ref * torch.exp(-m_T), "final n", seed)


def test_hand_computed_step():
    """H = 1, Dh = 1, R = 0, one token from the state (y, c, n, m) = (0, 1, 2, 0), raw = (i, f, z, o) =
    (ln 4, ln 3, atanh(1/2), ln 3): log f = ln(3/4), m = max(ln 4, ln 3/4) = ln 4, i = 1, f = 3/16,
    c = 3/16 + 1/2 = 11/16, n = 3/8 + 1 = 11/8, y = 3/4 * 1/2 = 3/8."""
    import math

    raw = torch.tensor([math.log(4), math.log(3), math.atanh(0.5), math.log(3)], dtype=F64).view(1, 1, 4)
    state = tuple(torch.tensor([v], dtype=F64).view(1, 1, 1) for v in (0.0, 1.0, 2.0, 0.0))
    y, (y_new, c, n, m) = slstm_step(raw, torch.zeros(1, 1, 4, dtype=F64), state=state)
    for what, got, want in (("y", y, 3 / 8), ("c", c, 11 / 16), ("n", n, 11 / 8), ("m", m, math.log(4))):
        torch.testing.assert_close(got, torch.full_like(got, want), rtol=1e-12, atol=1e-12, msg=what)
    for backend in ("reference", "torch"):
        y_seq, final = slstm(raw[:, None], torch.zeros(1, 1, 4, dtype=F64), initial_state=state,
                             output_final_state=True, backend=backend)
        torch.testing.assert_close(y_seq[:, 0], y, rtol=1e-12, atol=1e-12, msg=backend)
        for got, want in zip(final, (y_new, c, n, m)):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12, msg=backend)


def test_a_fresh_state_starts_with_m_equal_to_the_input_gate(seed):
    """From the zero state, m_1 = raw_i (xlstm's rule), not max(raw_i, log f): so i_1 = 1 and n_1 = 1."""
    x, R, b = detached(make_inputs(2, 1, None))
    _, (y, c, n, m) = slstm_reference(x, R, b, output_final_state=True)
    raw_i = (x[:, 0] + b).unflatten(-1, (4, HEAD_DIM))[..., 0, :]
    assert_close(m, raw_i, "m_1", seed)
    assert_close(n, torch.ones_like(n), "n_1", seed)


# ---------------------------------------------------------------------------------------------------------
# The torch form vs the reference


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
@pytest.mark.parametrize("with_state", [True, False], ids=["initial-state", "zero-state"])
@pytest.mark.parametrize("length", [1, 63, 64, 65, 200])
def test_torch_form_matches_reference(seed, length, with_state, forget_gate):
    """Outputs, final states and the gradients of every input (x, R, b, the initial state) for random
    upstream gradients on the output and the final state; 63-65 and 200 cross the backward's blocks of 64."""
    leaves = make_inputs(2, length, 2 if with_state else None)
    options = dict(forget_gate=forget_gate, output_final_state=True)
    expected = outputs_and_grads(lambda: run_form(slstm_reference, leaves, **options), leaves, seed=seed)
    results = outputs_and_grads(lambda: run_form(slstm_recurrent, leaves, **options), leaves, seed=seed)
    assert_same_results(results, expected, seed)


def test_torch_form_with_short_backward_blocks(seed, monkeypatch):
    """The backward's blocks shrink when a token's tensors are large (_BLOCK_ELEMENTS): blocks of 7 tokens
    here (46 = 6 * 7 + 4, a partial first block), in a varlen batch."""
    from zoo.kernels.slstm import recurrent

    monkeypatch.setattr(recurrent, "_BLOCK_ELEMENTS", 7 * 3 * HEADS * HEAD_DIM)
    lengths = (20, 46, 0)
    leaves = make_inputs(1, sum(lengths), 3)
    options = dict(output_final_state=True, cu_seqlens=cu_seqlens_of(lengths))
    expected = outputs_and_grads(lambda: run_form(slstm_reference, leaves, **options), leaves, seed=seed)
    results = outputs_and_grads(lambda: run_form(slstm_recurrent, leaves, **options), leaves, seed=seed)
    assert_same_results(results, expected, seed)


@pytest.mark.parametrize("grad_y, grad_state", [(True, False), (False, True)], ids=["y-only", "state-only"])
def test_gradient_through_one_output(seed, grad_y, grad_state):
    """A loss on y alone (the final state's gradients arrive as None) or on the final state alone."""
    leaves = make_inputs(2, 20, 2)
    options = dict(output_final_state=True)
    expected = outputs_and_grads(lambda: run_form(slstm_reference, leaves, **options), leaves, grad_y, grad_state, seed)
    results = outputs_and_grads(lambda: run_form(slstm_recurrent, leaves, **options), leaves, grad_y, grad_state, seed)
    assert_same_results(results, expected, seed)


def test_partly_fresh_initial_state(seed):
    """An initial state whose n (and c) is zero in some units: there m_1 = raw_i (the zero-state rule per
    unit), elsewhere max(raw_i, log f + m_0); both forms agree, gradients included."""
    leaves = make_inputs(2, 9, 2)
    fresh = torch.rand(2, HEADS, HEAD_DIM) < 0.5
    with torch.no_grad():
        leaves[4].masked_fill_(fresh, 0.0)
        leaves[5].masked_fill_(fresh, 0.0)
    options = dict(output_final_state=True)
    expected = outputs_and_grads(lambda: run_form(slstm_reference, leaves, **options), leaves, seed=seed)
    results = outputs_and_grads(lambda: run_form(slstm_recurrent, leaves, **options), leaves, seed=seed)
    assert_same_results(results, expected, seed)


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_zero_initial_state_is_no_initial_state(seed, backend):
    x, R, b = detached(make_inputs(2, 12, None))
    zeros = tuple(torch.zeros(2, HEADS, HEAD_DIM, dtype=F64) for _ in range(4))
    y, state = slstm(x, R, b, output_final_state=True, backend=backend)
    y0, state0 = slstm(x, R, b, initial_state=zeros, output_final_state=True, backend=backend)
    assert_close(y0, y, "y", seed)
    for name, s0, s in zip(STATE_NAMES, state0, state):
        assert_close(s0, s, f"final {name}", seed)


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_empty_sequence_returns_the_initial_state(seed, backend):
    leaves = make_inputs(2, 0, 2)
    y, state = run_form(lambda *a, **k: slstm(*a, backend=backend, **k), leaves, output_final_state=True)
    assert y.shape == (2, 0, HEADS, HEAD_DIM)
    for name, s, s0 in zip(STATE_NAMES, state, leaves[3:]):
        assert_close(s, s0.detach(), f"final {name}", seed)
    grads = torch.autograd.grad(sum(s.sum() for s in state), leaves[3:])
    for name, g in zip(STATE_NAMES, grads):
        assert_close(g, torch.ones_like(g), f"d initial {name}", seed)


@pytest.mark.parametrize("with_state", [True, False], ids=["initial-state", "zero-state"])
@pytest.mark.parametrize("lengths", [(37, 0, 90), (0, 64, 1)], ids=["37-0-90", "0-64-1"])
@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_varlen_matches_separate_sequences(seed, lengths, backend, with_state):
    """Three sequences packed with cu_seqlens, one of them empty, against the reference on each one alone:
    outputs, final states and every gradient."""
    leaves = make_inputs(1, sum(lengths), len(lengths) if with_state else None)
    x, R, b, *state = leaves
    cu_seqlens = cu_seqlens_of(lengths)

    def packed():
        return slstm(x, R, b, initial_state=tuple(state) or None, output_final_state=True,
                     cu_seqlens=cu_seqlens, backend=backend)

    def separate():
        bounds = cu_seqlens.tolist()
        runs = [
            slstm_reference(x[:, s:e], R, b, initial_state=tuple(part[i : i + 1] for part in state) or None,
                            output_final_state=True)
            for i, (s, e) in enumerate(zip(bounds, bounds[1:]))
        ]
        finals = tuple(torch.cat([run[1][j] for run in runs]) for j in range(4))
        return torch.cat([run[0] for run in runs], dim=1), finals

    assert_same_results(
        outputs_and_grads(packed, leaves, seed=seed), outputs_and_grads(separate, leaves, seed=seed), seed
    )


def test_backends_agree_and_state_is_optional(seed):
    x, R, b, *state = detached(make_inputs(2, 30, 2))
    results = {
        backend: slstm(x, R, b, initial_state=tuple(state), backend=backend)
        for backend in ("auto", "torch", "reference")
    }
    for backend, (y, final) in results.items():
        assert final is None, backend
        assert_close(y, results["reference"][0], f"y of backend {backend}", seed)
    y, final = slstm(x, R, output_final_state=True)  # no bias: zeros
    y_ref, _ = slstm_reference(x, R, torch.zeros_like(b))
    assert_close(y, y_ref, "y without bias", seed)


def test_float32_with_huge_input_gates_stays_finite(seed):
    """raw_i up to ~100: exp(raw_i) overflows float32 (above ~88), so only the stabilised recurrence stays
    finite. The float32 torch form agrees with the float64 reference to float32 rounding."""
    leaves = make_inputs(2, 50, 2, input_scale=40.0)
    x, R, b, *state = detached(leaves)
    assert x.unflatten(-1, (4, HEAD_DIM))[..., 0, :].abs().max() > 89
    y_ref, state_ref = slstm_reference(x, R, b, initial_state=tuple(state), output_final_state=True)
    y, final = slstm(x.float(), R.float(), b.float(), initial_state=tuple(s.float() for s in state),
                     output_final_state=True)
    assert (y.dtype, final[0].dtype) == (torch.float32, torch.float32)
    assert_close(y.double(), y_ref, "float32 y", seed, 1e-4)
    for name, s, s_ref in zip(STATE_NAMES, final, state_ref):
        assert_close(s.double(), s_ref, f"float32 final {name}", seed, 1e-4)


def test_low_precision_inputs_give_float32_states(seed):
    x, R, b = detached(make_inputs(1, 10, None))
    y, state = slstm(x.half(), R.float(), b.float(), output_final_state=True)
    assert y.dtype == torch.float16 and all(s.dtype == torch.float32 for s in state)


def test_autograd_saves_a_few_floats_per_token(seed):
    """The torch form keeps the pre-activations and the states of every token (8 floats per token and unit)
    for its backward, and no per-token graph."""
    length, batch = 128, 2
    leaves = make_inputs(batch, length, batch)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        run_form(slstm_recurrent, leaves, output_final_state=True)
    per_token = batch * HEADS * HEAD_DIM
    assert sum(saved) <= 9 * (length + 1) * per_token, sorted(saved)[-5:]
    assert len(saved) < 20, len(saved)


# ---------------------------------------------------------------------------------------------------------
# Decoding steps


@pytest.mark.parametrize("with_state", [True, False], ids=["initial-state", "zero-state"])
@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_step_matches_parallel(seed, with_state, forget_gate):
    x, R, b, *state = detached(make_inputs(2, 29, 2 if with_state else None))
    y_ref, state_ref = slstm(x, R, b, initial_state=tuple(state) or None, output_final_state=True,
                             forget_gate=forget_gate)
    current, ys = tuple(state) or None, []
    for t in range(x.shape[1]):
        y_t, current = slstm_step(x[:, t], R, b, current, forget_gate=forget_gate)
        ys.append(y_t)
    assert_close(torch.stack(ys, dim=1), y_ref, "stepped y", seed)
    for name, s, s_ref in zip(STATE_NAMES, current, state_ref):
        assert_close(s, s_ref, f"stepped {name}", seed)


def test_step_has_gradients(seed):
    """The step is plain torch: its gradients are the reference's for one token."""
    leaves = make_inputs(2, 1, 2)
    x, R, b, *state = leaves
    expected = outputs_and_grads(lambda: run_form(slstm_reference, leaves, output_final_state=True), leaves, seed=seed)

    def one_step():
        y_t, new = slstm_step(x[:, 0], R, b, tuple(state))
        return y_t[:, None], new

    assert_same_results(outputs_and_grads(one_step, leaves, seed=seed), expected, seed)


# ---------------------------------------------------------------------------------------------------------
# Input validation


def valid_args(batch=2, length=6, heads=3, head_dim=4):
    return dict(
        x=torch.randn(batch, length, heads, 4 * head_dim),
        R=torch.randn(heads, head_dim, 4 * head_dim),
        b=torch.randn(heads, 4 * head_dim),
        initial_state=tuple(torch.randn(batch, heads, head_dim) for _ in range(4)),
    )


def state_with(index, tensor):
    state = list(valid_args()["initial_state"])
    state[index] = tensor
    return tuple(state)


ERRORS = {
    "x-ndim": (dict(x=torch.randn(2, 6, 48)), "slstm: x has shape (2, 6, 48) but expected (B, T, H, 4*Dh)"),
    "R-heads": (
        dict(R=torch.randn(2, 4, 16)),
        "slstm: R has shape (2, 4, 16) but expected (H, Dh, 4*Dh) = (3, Dh, 4*Dh) from x",
    ),
    "R-gates": (
        dict(R=torch.randn(3, 4, 12)),
        "slstm: R has shape (3, 4, 12) but expected (H, Dh, 4*Dh) = (3, 4, 16): its last axis holds the 4 gates",
    ),
    "x-width": (
        dict(x=torch.randn(2, 6, 3, 12)),
        "slstm: x has shape (2, 6, 3, 12) but expected (B, T, H, 4*Dh) = (2, 6, 3, 16) from R",
    ),
    "b": (dict(b=torch.randn(3, 4, 4)), "slstm: b has shape (3, 4, 4) but expected (H, 4*Dh) = (3, 16) from R"),
    "state-not-a-tuple": (
        dict(initial_state=torch.randn(4, 2, 3, 4)),
        "slstm: initial_state must be a tuple (y, c, n, m) of 4 tensors, got Tensor",
    ),
    "state-three-parts": (
        dict(initial_state=valid_args()["initial_state"][:3]),
        "slstm: initial_state must be a tuple (y, c, n, m) of 4 tensors, got tuple of 3",
    ),
    "state-n": (
        dict(initial_state=state_with(2, torch.randn(2, 3, 5))),
        "slstm: initial_state n has shape (2, 3, 5) but expected (N, H, Dh) = (2, 3, 4) from x and R",
    ),
    "state-varlen": (
        dict(x=torch.randn(1, 6, 3, 16), cu_seqlens=torch.tensor([0, 2, 4, 6])),
        "slstm: initial_state y has shape (2, 3, 4) but expected (N, H, Dh) = (3, 3, 4) from cu_seqlens, x and R",
    ),
    "dtype": (dict(x=torch.ones(2, 6, 3, 16, dtype=torch.long)), "slstm: x has dtype torch.int64"),
    "state-dtype": (
        dict(initial_state=state_with(3, torch.ones(2, 3, 4, dtype=torch.int32))),
        "slstm: initial_state m has dtype torch.int32 but expected a real floating-point dtype",
    ),
    "cu_seqlens-batch": (dict(cu_seqlens=torch.tensor([0, 6])), "cu_seqlens is given, so the batch must be packed"),
    "cu_seqlens-end": (
        dict(x=torch.randn(1, 6, 3, 16), initial_state=None, cu_seqlens=torch.tensor([0, 2, 5])),
        "cu_seqlens must end at the packed length T == 6, got 5",
    ),
    "forget_gate": (dict(forget_gate="tanh"), "slstm: unknown forget_gate 'tanh'; the choices are ('sigmoid', 'exp')"),
    "backend": (
        dict(backend="cuda"),
        "slstm: unknown backend 'cuda'; the backends of this op are ('auto', 'torch', 'triton', 'reference')",
    ),
}


@pytest.mark.parametrize("change, message", ERRORS.values(), ids=ERRORS.keys())
def test_invalid_inputs_raise_clear_errors(change, message):
    args = {**valid_args(), **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        slstm(**args)


def test_state_varlen_is_valid_with_one_state_per_sequence():
    """The counterpart of "state-varlen": with cu_seqlens, N is the number of sequences."""
    args = valid_args(batch=1)
    args["initial_state"] = tuple(torch.randn(2, 3, 4) for _ in range(4))
    y, _ = slstm(**args, cu_seqlens=torch.tensor([0, 2, 6]))
    assert y.shape == (1, 6, 3, 4)


STEP_ERRORS = {
    "x_t": (
        dict(x_t=torch.randn(2, 3, 12)),
        "slstm_step: x_t has shape (2, 3, 12) but expected (B, H, 4*Dh) = (2, 3, 16) from R",
    ),
    "state": (
        dict(state=tuple(torch.randn(3, 3, 4) for _ in range(4))),
        "slstm_step: state y has shape (3, 3, 4) but expected (N, H, Dh) = (2, 3, 4) from x_t and R",
    ),
    "forget_gate": (dict(forget_gate="relu"), "slstm_step: unknown forget_gate 'relu'"),
}


@pytest.mark.parametrize("change, message", STEP_ERRORS.values(), ids=STEP_ERRORS.keys())
def test_step_invalid_inputs_raise_clear_errors(change, message):
    args = dict(x_t=torch.randn(2, 3, 16), R=torch.randn(3, 4, 16), b=torch.randn(3, 16), state=None)
    args.update(change)
    with pytest.raises(ValueError, match=re.escape(message)):
        slstm_step(**args)
