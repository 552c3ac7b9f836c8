"""Tests of the mLSTM (kernels/mlstm): chunked vs the reference loop in float64, for
outputs, final states (C, n, m) and every gradient; varlen; the step form; stability under large gates.

Every test draws fresh random inputs: the `seed` fixture reseeds torch from a new random seed (or from
SEQZOO_SEED when set) and every comparison names that seed when it fails, so that
`SEQZOO_SEED=<seed> pytest tests/kernels/test_mlstm.py` replays the failure.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from zoo.kernels.mlstm import mlstm_chunked, mlstm_reference, mlstm_scan, mlstm_step

F64 = torch.float64
# Float64 tolerances. The chunked form and the loop differ in the order of summation and in where the
# stabiliser is applied (per chunk vs per token): their float64 results agree to ~1e-12 relative at these
# sizes, while a wrong gate, stabiliser or state hand-over shows at 1e-3 or more.
TOL = dict(rtol=1e-9, atol=1e-9)
HEADS, KEY_DIM, VALUE_DIM = 3, 8, 5  # K != V so that a transposed C cannot pass
STATE_NAMES = ("C", "n", "m")
GRAD_NAMES = ("q", "k", "v", "i", "f", "initial C", "initial n", "initial m")


def assert_close(actual, expected, what: str, seed: int, **tol) -> None:
    torch.testing.assert_close(actual, expected, **(tol or TOL), msg=lambda m: f"{what} (seed={seed}): {m}")


def gates(batch: int, length: int, heads: int, forget_gate: str = "sigmoid"):
    """Gate pre-activations i, f [B, T, H]. i ~ N(0, 2^2): input gates from exp(-6) to exp(6), so that the
    stabiliser m moves. f: for "sigmoid", mostly open forget gates (logsigmoid(f) from ~ -3 to ~ -0.002);
    for "exp", log forget gates mostly in (-1, 0) with a few > 0 (a growing memory, kept finite only by
    the stabiliser)."""
    i = 2 * torch.randn(batch, length, heads, dtype=F64)
    if forget_gate == "sigmoid":
        f = 3 + 2 * torch.randn(batch, length, heads, dtype=F64)
    else:
        f = -0.3 + 0.3 * torch.randn(batch, length, heads, dtype=F64)
    return i, f


def mlstm_inputs(batch: int, length: int, num_states: int | None, forget_gate: str = "sigmoid", heads=HEADS):
    """Leaf tensors q, k [B, T, H, K], v [B, T, H, V], i, f [B, T, H] and the initial state C [N, H, K, V],
    n [N, H, K], m [N, H] (three Nones when num_states is None)."""
    q = torch.randn(batch, length, heads, KEY_DIM, dtype=F64)
    k = torch.randn(batch, length, heads, KEY_DIM, dtype=F64)
    v = torch.randn(batch, length, heads, VALUE_DIM, dtype=F64)
    i, f = gates(batch, length, heads, forget_gate)
    if num_states is None:
        state = [None, None, None]
    else:
        state = [
            torch.randn(num_states, heads, KEY_DIM, VALUE_DIM, dtype=F64),
            torch.randn(num_states, heads, KEY_DIM, dtype=F64),
            torch.randn(num_states, heads, dtype=F64),
        ]
    return [t if t is None else t.requires_grad_() for t in (q, k, v, i, f, *state)]


def detached(leaves):
    return [t if t is None else t.detach() for t in leaves]


def positive(*tensors):
    """|t| for each tensor (None stays None): with q, k and the initial n positive, n . q is a sum of positive terms.
    The large-gate and float32 tests test the stabiliser and the arithmetic, not the conditioning of the normaliser:
    where a signed n . q nearly
    cancels, h = C^T q / |n . q| amplifies rounding without bound (over 60 signed seeds float64 chunked vs loop
    reached 1.1x the 1e-9 tolerance on df, 5e-11 of df's largest entry, at |h| ~ 7e3), in every form alike."""
    return [t if t is None else t.detach().abs() for t in tensors]


def as_state(c, n, m):
    return None if c is None else (c, n, m)


def upstream(batch_out: int, length: int, num_states: int, heads=HEADS):
    """Random upstream gradients for h [B, T, H, V] and the final C, n, m."""
    return (
        torch.randn(batch_out, length, heads, VALUE_DIM, dtype=F64),
        torch.randn(num_states, heads, KEY_DIM, VALUE_DIM, dtype=F64),
        torch.randn(num_states, heads, KEY_DIM, dtype=F64),
        torch.randn(num_states, heads, dtype=F64),
    )


def outputs_and_grads(run, leaves, d_h, d_c, d_n, d_m):
    """(h, state, grads of <h, dh> + <C, dC> + <n, dn> + <m, dm> w.r.t. the leaves that are not None)."""
    h, (c, n, m) = run()
    loss = (h * d_h).sum() + (c * d_c).sum() + (n * d_n).sum() + (m * d_m).sum()
    grads = torch.autograd.grad(loss, [t for t in leaves if t is not None])
    return h, (c, n, m), grads


def assert_all_close(result, expected, leaves, seed):
    (h, state, grads), (h_ref, state_ref, grads_ref) = result, expected
    assert_close(h, h_ref, "h", seed)
    for name, s, s_ref in zip(STATE_NAMES, state, state_ref):
        assert_close(s, s_ref, f"final {name}", seed)
    names = [name for name, t in zip(GRAD_NAMES, leaves) if t is not None]
    assert len(grads) == len(grads_ref) == len(names)
    for name, grad, grad_ref in zip(names, grads, grads_ref):
        assert_close(grad, grad_ref, f"d{name}", seed)


# ---------------------------------------------------------------------------------------------------------
# The oracle itself


def test_reference_matches_closed_form_for_two_tokens(seed):
    """Unstabilised by hand: C_2 = sigmoid(f_2) e^{i_1} k_1 v_1^T + e^{i_2} k_2 v_2^T (from C_0 = 0, m_0 = 0),
    h_2 = e^{-m_2} C_2^T q~ / (max(e^{-m_2} |n_2 . q~|, e^{-m_2}) + eps), q~ = q / sqrt(K), only q scaled."""
    q, k, v, i, f, *_ = detached(mlstm_inputs(1, 2, None))
    eps = 1e-3  # large enough that its place (outside the max) shows
    h, (c, n, m) = mlstm_reference(q, k, v, i, f, eps=eps, output_final_state=True)
    q2, k1, k2, v1, v2 = q[0, 1] * KEY_DIM**-0.5, k[0, 0], k[0, 1], v[0, 0], v[0, 1]
    i1, i2, f1, f2 = i[0, 0], i[0, 1], f[0, 0], f[0, 1]
    c2 = (torch.sigmoid(f2) * i1.exp())[:, None, None] * torch.einsum("hk,hv->hkv", k1, v1)
    c2 = c2 + i2.exp()[:, None, None] * torch.einsum("hk,hv->hkv", k2, v2)
    n2 = (torch.sigmoid(f2) * i1.exp())[:, None] * k1 + i2.exp()[:, None] * k2
    m2 = torch.maximum(F.logsigmoid(f2) + torch.maximum(F.logsigmoid(f1), i1), i2)
    scale = (-m2).exp()
    expected = scale[:, None] * torch.einsum("hkv,hk->hv", c2, q2)
    expected = expected / (torch.maximum(scale * (n2 * q2).sum(-1).abs(), scale) + eps)[:, None]
    assert_close(h[0, 1], expected, "h_2", seed)
    assert_close(c[0], scale[:, None, None] * c2, "C_2", seed)
    assert_close(n[0], scale[:, None] * n2, "n_2", seed)
    assert_close(m[0], m2, "m_2", seed)


def test_exp_forget_gate_takes_the_log_gate_itself(seed):
    q, k, v, i, f, c, n, m = detached(mlstm_inputs(2, 30, 2))
    state = (c, n, m)
    h_sig, s_sig = mlstm_scan(q, k, v, i, f, initial_state=state, output_final_state=True, chunk_size=16)
    h_exp, s_exp = mlstm_scan(
        q, k, v, i, F.logsigmoid(f), forget_gate="exp", initial_state=state, output_final_state=True,
        chunk_size=16,
    )
    assert_close(h_exp, h_sig, "h", seed)
    for name, a, b in zip(STATE_NAMES, s_exp, s_sig):
        assert_close(a, b, f"final {name}", seed)


# ---------------------------------------------------------------------------------------------------------
# Chunked vs reference


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
@pytest.mark.parametrize("with_state", [True, False], ids=["state", "no-state"])
@pytest.mark.parametrize("chunk_size", [16, 64])
@pytest.mark.parametrize("length", [1, 63, 64, 65, 200])
def test_chunked_matches_reference(seed, length, chunk_size, with_state, forget_gate):
    batch = 2
    leaves = mlstm_inputs(batch, length, batch if with_state else None, forget_gate)
    q, k, v, i, f, *state = leaves
    gradients = upstream(batch, length, batch)

    def run(form, **kw):
        return lambda: form(
            q, k, v, i, f,
            forget_gate=forget_gate, initial_state=as_state(*state), output_final_state=True, **kw,
        )

    expected = outputs_and_grads(run(mlstm_reference), leaves, *gradients)
    result = outputs_and_grads(run(mlstm_chunked, chunk_size=chunk_size), leaves, *gradients)
    assert_all_close(result, expected, leaves, seed)


@pytest.mark.parametrize("lengths", [(37, 1, 90), (16, 0, 33)], ids=["37-1-90", "16-0-33"])
@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_varlen_matches_separate_sequences(seed, lengths, backend):
    total, num_seqs = sum(lengths), len(lengths)
    leaves = mlstm_inputs(1, total, num_seqs)
    q, k, v, i, f, c0, n0, m0 = leaves
    cu_seqlens = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    gradients = upstream(1, total, num_seqs)

    def packed():
        return mlstm_scan(
            q, k, v, i, f, initial_state=(c0, n0, m0), output_final_state=True, cu_seqlens=cu_seqlens,
            chunk_size=16, backend=backend,
        )

    def separate():
        bounds = cu_seqlens.tolist()
        runs = [
            mlstm_reference(
                q[:, s:e], k[:, s:e], v[:, s:e], i[:, s:e], f[:, s:e],
                initial_state=(c0[j : j + 1], n0[j : j + 1], m0[j : j + 1]), output_final_state=True,
            )
            for j, (s, e) in enumerate(zip(bounds, bounds[1:]))
        ]
        h = torch.cat([h for h, _ in runs], dim=1)
        return h, tuple(torch.cat([state[part] for _, state in runs], dim=0) for part in range(3))

    expected = outputs_and_grads(separate, leaves, *gradients)
    result = outputs_and_grads(packed, leaves, *gradients)
    assert_all_close(result, expected, leaves, seed)


def test_backends_agree_and_state_is_optional(seed):
    q, k, v, i, f, c, n, m = detached(mlstm_inputs(2, 50, 2))
    backends = ("auto", "torch", "reference")
    results = {
        b: mlstm_scan(q, k, v, i, f, initial_state=(c, n, m), backend=b, chunk_size=16) for b in backends
    }
    for backend, (h, state) in results.items():
        assert state is None, backend
        assert_close(h, results["reference"][0], f"h of backend {backend}", seed)
    h_scaled, _ = mlstm_scan(q, k, v, i, f, scale=KEY_DIM**-0.5)
    assert_close(mlstm_scan(q, k, v, i, f)[0], h_scaled, "default scale K**-0.5", seed)
    h_zero, _ = mlstm_scan(q, k, v, i, f, initial_state=(c * 0, n * 0, m * 0))
    assert_close(mlstm_scan(q, k, v, i, f)[0], h_zero, "no state means zeros with m = 0", seed)


def test_low_precision_inputs(seed):
    """Float32 inputs and state: float32 results within 2e-5 (|x| + 1) of float64 (worst of a 100-seed sweep: 0.13
    of it, on the final C). q, k and n are positive (`positive`): with signed ones, n . q cancels at some seeds and then
    the float32 loop itself erred up to 0.9e-4 (|h| ~ 400), a matter of conditioning, not of the chunked form."""
    q, k, v, i, f, c, n, m = detached(mlstm_inputs(2, 70, 2))
    q, k, n = positive(q, k, n)
    h_ref, s_ref = mlstm_reference(q, k, v, i, f, initial_state=(c, n, m), output_final_state=True)
    h, s = mlstm_scan(
        *(t.float() for t in (q, k, v, i, f)), initial_state=(c.float(), n.float(), m.float()),
        output_final_state=True,
    )
    assert h.dtype == torch.float32 and all(part.dtype == torch.float32 for part in s)
    assert_close(h.double(), h_ref, "float32 h", seed, rtol=2e-5, atol=2e-5)
    for name, part, part_ref in zip(STATE_NAMES, s, s_ref):
        assert_close(part.double(), part_ref, f"float32 final {name}", seed, rtol=2e-5, atol=2e-5)
    h, s = mlstm_scan(q.bfloat16(), k.bfloat16(), v.bfloat16(), i.float(), f.float(), output_final_state=True)
    assert h.dtype == torch.bfloat16 and all(part.dtype == torch.float32 for part in s)


# ---------------------------------------------------------------------------------------------------------
# Large gates: the stabiliser keeps every exponential <= 1


def large_gates(batch: int, length: int, heads: int):
    """i ~ 30 + 10 N(0, 1) with 1% spikes of +800 (exp(830) overflows even float64), f ~ 2 + 3 N(0, 1)."""
    i = 30 + 10 * torch.randn(batch, length, heads, dtype=F64)
    i = i + 800 * (torch.rand(batch, length, heads) < 0.01)
    f = 2 + 3 * torch.randn(batch, length, heads, dtype=F64)
    return i, f


def test_large_gates_at_2048_tokens(seed):
    """Float64 forms agree to 1e-9; float32 (chunked) stays finite and within 3e-4 (|x| + 1) of float64 for h and the
    final C, n and 1e-3 for m, which grows to ~ 800 (worst of a 100-seed sweep: 0.20 of these tolerances; the float32
    loop errs alike)."""
    batch, length, heads = 1, 2048, 2
    q, k, v, *_ = detached(mlstm_inputs(batch, length, None, heads=heads))
    q, k = positive(q, k)
    i, f = large_gates(batch, length, heads)
    assert i.max() > 710, f"the test needs input gates whose exp overflows float64 (seed={seed})"
    h_ref, s_ref = mlstm_reference(q, k, v, i, f, output_final_state=True)
    h, s = mlstm_chunked(q, k, v, i, f, output_final_state=True)
    assert_close(h, h_ref, "h", seed)
    for name, part, part_ref in zip(STATE_NAMES, s, s_ref):
        assert_close(part, part_ref, f"final {name}", seed)

    h32, s32 = mlstm_chunked(*[t.float() for t in (q, k, v, i, f)], output_final_state=True)
    for name, t, t_ref in zip(("h", *STATE_NAMES), (h32, *s32), (h_ref, *s_ref)):
        assert torch.isfinite(t).all(), f"float32 {name} is not finite (seed={seed})"
        tol = dict(rtol=0, atol=1e-3) if name == "m" else dict(rtol=3e-4, atol=3e-4)
        assert_close(t.double(), t_ref, f"float32 {name}", seed, **tol)


def test_large_gates_gradients(seed):
    batch, length = 2, 200
    leaves = mlstm_inputs(batch, length, batch)
    leaves[0], leaves[1], leaves[6] = [t.requires_grad_() for t in positive(leaves[0], leaves[1], leaves[6])]
    i, f = large_gates(batch, length, HEADS)
    leaves[3], leaves[4] = i.requires_grad_(), f.requires_grad_()
    q, k, v, i, f, *state = leaves
    gradients = upstream(batch, length, batch)

    def run(form, dtype=F64):
        def go():
            args = [t.to(dtype) for t in (q, k, v, i, f)]
            return form(*args, initial_state=tuple(s.to(dtype) for s in state), output_final_state=True)

        return go

    expected = outputs_and_grads(run(mlstm_reference), leaves, *gradients)
    assert_all_close(outputs_and_grads(run(mlstm_chunked), leaves, *gradients), expected, leaves, seed)
    h32, s32, grads32 = outputs_and_grads(run(mlstm_chunked, torch.float32), leaves, *gradients)
    for name, t in zip(("h", *STATE_NAMES, *(f"d{n}" for n in GRAD_NAMES)), (h32, *s32, *grads32)):
        assert torch.isfinite(t).all(), f"float32 {name} is not finite (seed={seed})"


@pytest.mark.parametrize("form", ["reference", "chunked", "step"])
def test_very_negative_gates_and_initial_m_in_float32(seed, form):
    """Input gates near -100 and an initial m near -120: the stabiliser m falls below -88, where exp(-m)
    overflows float32 (the denominator's floor max(|n . q|, exp(-m))), which gave inf/NaN gradients. Every
    float32 form stays finite and equals the float64 reference: atol = 1e-4 times the largest entry
    (at least 1), rtol = 1e-4 (worst seen over 60 seeds of each form: 1.9e-5, on df, from summing 40 tokens
    in float32; the float32 loop and the chunked form err alike)."""
    batch, length = 2, 40
    q, k, v, i, f, *state = detached(mlstm_inputs(batch, length, batch))
    leaves = [t.requires_grad_() for t in (q, k, v, i - 100, f, state[0], state[1], state[2] - 120)]
    gradients = upstream(batch, length, batch)

    def stepped(q, k, v, i, f, *, initial_state, output_final_state):
        state, outputs = initial_state, []
        for t in range(q.shape[1]):
            h_t, state = mlstm_step(q[:, t], k[:, t], v[:, t], i[:, t], f[:, t], state)
            outputs.append(h_t)
        return torch.stack(outputs, dim=1), state

    forms = {"reference": mlstm_reference, "chunked": lambda *a, **o: mlstm_chunked(*a, chunk_size=16, **o),
             "step": stepped}

    def run(run_form, dtype):
        def go():
            args = [t.to(dtype) for t in leaves]
            return run_form(*args[:5], initial_state=tuple(args[5:]), output_final_state=True)

        return go

    h_ref, s_ref, grads_ref = outputs_and_grads(run(mlstm_reference, F64), leaves, *gradients)
    assert s_ref[2].max() < -90, f"the test needs a stabiliser below -88 (seed={seed})"
    h, s, grads = outputs_and_grads(run(forms[form], torch.float32), leaves, *gradients)
    names = ("h", *STATE_NAMES, *(f"d{n}" for n in GRAD_NAMES))
    for name, result, expected in zip(names, (h, *s, *grads), (h_ref, *s_ref, *grads_ref)):
        assert torch.isfinite(result).all(), f"float32 {name} is not finite (seed={seed})"
        scale = max(expected.abs().max().item(), 1.0)
        assert_close(result.double(), expected, name, seed, rtol=1e-4, atol=1e-4 * scale)


# ---------------------------------------------------------------------------------------------------------
# Decoding steps


def test_step_matches_parallel(seed):
    q, k, v, i, f, c, n, m = detached(mlstm_inputs(2, 37, 2))
    h_ref, s_ref = mlstm_scan(q, k, v, i, f, initial_state=(c, n, m), output_final_state=True, chunk_size=16)
    state, hs = (c, n, m), []
    for t in range(q.shape[1]):
        h_t, state = mlstm_step(q[:, t], k[:, t], v[:, t], i[:, t], f[:, t], state)
        hs.append(h_t)
    assert_close(torch.stack(hs, dim=1), h_ref, "stepped h", seed)
    for name, part, part_ref in zip(STATE_NAMES, state, s_ref):
        assert_close(part, part_ref, f"stepped {name}", seed)
    h_1, state_1 = mlstm_step(q[:, 0], k[:, 0], v[:, 0], i[:, 0], f[:, 0], None)
    h_first, _ = mlstm_scan(q[:, :1], k[:, :1], v[:, :1], i[:, :1], f[:, :1])
    assert_close(h_1, h_first[:, 0], "step from no state", seed)
    assert [tuple(part.shape) for part in state_1] == [tuple(c.shape), tuple(n.shape), tuple(m.shape)]
    h_exp, _ = mlstm_step(q[:, 0], k[:, 0], v[:, 0], i[:, 0], F.logsigmoid(f[:, 0]), None, forget_gate="exp")
    assert_close(h_exp, h_1, "exp forget gate step", seed)


# ---------------------------------------------------------------------------------------------------------
# Input validation


def valid_args(batch=2, length=10, heads=4, key_dim=16, value_dim=8):
    return dict(
        q=torch.randn(batch, length, heads, key_dim),
        k=torch.randn(batch, length, heads, key_dim),
        v=torch.randn(batch, length, heads, value_dim),
        i=torch.randn(batch, length, heads),
        f=torch.randn(batch, length, heads),
        initial_state=(
            torch.randn(batch, heads, key_dim, value_dim),
            torch.randn(batch, heads, key_dim),
            torch.randn(batch, heads),
        ),
    )


ERRORS = {
    "q-ndim": (dict(q=torch.randn(2, 10, 4)), "mlstm_scan: q has shape (2, 10, 4) but expected (B, T, H, K)"),
    "k": (
        dict(k=torch.randn(2, 10, 4, 8)),
        "mlstm_scan: k has shape (2, 10, 4, 8) but expected (B, T, H, K) = (2, 10, 4, 16) from q",
    ),
    "v": (
        dict(v=torch.randn(2, 9, 4, 8)),
        "mlstm_scan: v has shape (2, 9, 4, 8) but expected (B, T, H, V) = (2, 10, 4, V) from q",
    ),
    "i": (
        dict(i=torch.randn(2, 10, 4, 1)),
        "mlstm_scan: i has shape (2, 10, 4, 1) but expected (B, T, H) = (2, 10, 4) from q",
    ),
    "f": (
        dict(f=torch.randn(2, 10, 3)),
        "mlstm_scan: f has shape (2, 10, 3) but expected (B, T, H) = (2, 10, 4) from q",
    ),
    "state-not-tuple": (
        dict(initial_state=torch.randn(2, 4, 16, 8)),
        "mlstm_scan: initial_state must be a tuple (C, n, m) of 3 tensors, got Tensor",
    ),
    "state-two": (
        dict(initial_state=(torch.randn(2, 4, 16, 8), torch.randn(2, 4, 16))),
        "mlstm_scan: initial_state must be a tuple (C, n, m) of 3 tensors, got tuple of 2",
    ),
    "state-C": (
        dict(initial_state=(torch.randn(2, 4, 8, 16), torch.randn(2, 4, 16), torch.randn(2, 4))),
        "mlstm_scan: initial_state C has shape (2, 4, 8, 16) but expected (N, H, K, V) = (2, 4, 16, 8) "
        "from q and v",
    ),
    "state-n": (
        dict(initial_state=(torch.randn(2, 4, 16, 8), torch.randn(2, 4, 8), torch.randn(2, 4))),
        "mlstm_scan: initial_state n has shape (2, 4, 8) but expected (N, H, K) = (2, 4, 16) from q and v",
    ),
    "state-m": (
        dict(initial_state=(torch.randn(2, 4, 16, 8), torch.randn(2, 4, 16), torch.randn(2, 4, 1))),
        "mlstm_scan: initial_state m has shape (2, 4, 1) but expected (N, H) = (2, 4) from q and v",
    ),
    "dtype": (dict(f=torch.ones(2, 10, 4, dtype=torch.long)), "mlstm_scan: f has dtype torch.int64"),
    "state-dtype": (
        dict(initial_state=(torch.randn(2, 4, 16, 8), torch.randn(2, 4, 16), torch.ones(2, 4).int())),
        "mlstm_scan: initial_state m has dtype torch.int32",
    ),
    "cu_seqlens-batch": (
        dict(cu_seqlens=torch.tensor([0, 10])),
        "cu_seqlens is given, so the batch must be packed",
    ),
    "chunk_size": (dict(chunk_size=0), "mlstm_scan: chunk_size must be a positive int"),
    "forget_gate": (
        dict(forget_gate="tanh"),
        "mlstm_scan: unknown forget_gate 'tanh'; the choices are ('sigmoid', 'exp')",
    ),
    "eps": (dict(eps=-1e-6), "mlstm_scan: eps must be a number >= 0, got -1e-06"),
    "backend": (
        dict(backend="cuda"),
        "mlstm_scan: unknown backend 'cuda'; the backends of this op are ('auto', 'torch', 'reference', 'triton')",
    ),
}


@pytest.mark.parametrize("change, message", ERRORS.values(), ids=ERRORS.keys())
def test_rejects_bad_inputs(change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        mlstm_scan(**{**valid_args(), **change})


def test_varlen_initial_state_must_have_one_row_per_sequence():
    args = valid_args(batch=1)
    expected = (
        "mlstm_scan: initial_state C has shape (1, 4, 16, 8) but expected (N, H, K, V) = (3, 4, 16, 8) "
        "from cu_seqlens, q and v"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        mlstm_scan(**args, cu_seqlens=torch.tensor([0, 2, 5, 10]))


def test_step_rejects_bad_inputs():
    args = {name: t[:, 0] for name, t in valid_args().items() if name != "initial_state"}
    c, n, m = valid_args()["initial_state"]
    expected = "mlstm_step: state m has shape (2, 4, 1) but expected (N, H) = (2, 4) from q_t and v_t"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mlstm_step(*args.values(), (c, n, m[..., None]))
    expected = "mlstm_step: i has shape (2, 4, 1) but expected (B, H) = (2, 4) from q"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mlstm_step(args["q"], args["k"], args["v"], args["i"][..., None], args["f"], None)
    with pytest.raises(ValueError, match=re.escape("mlstm_step: unknown forget_gate 'relu'")):
        mlstm_step(*args.values(), None, forget_gate="relu")
