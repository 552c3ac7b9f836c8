"""Tests of the Triton mLSTM (kernels/mlstm/triton_mlstm*.py) against the float64 reference loop: h, the final
(C, n, m) and the gradients of q, k, v, i, f and the initial C, n, m, under upstream gradients on h and on
all of the final state.

On CPU the kernels run under the Triton interpreter: TRITON_INTERPRET must be set before triton_mlstm is
first imported (triton.jit reads it when the kernels are defined); tests/conftest.py sets it where CUDA is absent. The
interpreter uses one config per kernel (BK = BV = 32), so K, V > 32 exercise the K- and V-block loops.

Every test draws fresh random inputs: the `seed` fixture reseeds torch from a new random seed (or from
SEQZOO_SEED when set) and every comparison names that seed when it fails, so that
`SEQZOO_SEED=<seed> pytest tests/kernels/test_mlstm_triton.py` replays the failure.
"""

from __future__ import annotations

import os

import pytest  # noqa: E402
import torch  # noqa: E402

from triton_checks import DEVICE, assert_close, half_precisions, poisoned  # noqa: E402
from zoo.kernels.mlstm import mlstm_chunked, mlstm_reference, mlstm_scan  # noqa: E402
from zoo.kernels.mlstm.triton_mlstm import mlstm_triton  # noqa: E402

pytestmark = pytest.mark.interpreter

if os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
    pytest.skip("Triton needs CUDA or TRITON_INTERPRET=1", allow_module_level=True)

F64 = torch.float64
# Tolerances relative to the largest entry of each expected tensor (atol = TOL * max(max |expected|, 1),
# rtol = TOL): sums over T tokens have rounding errors of the size of their largest terms, and
# h = C^T q / max(|n . q|, exp(-m)) divides by a normaliser that may nearly cancel, which magnifies the
# float32 rounding of the numerator (and of every gradient through it) by up to |terms of n . q| / exp(-m).
# float32: over 60 seeds of each test's sizes the largest errors were 4e-5 (T <= 65) and 8e-5 (T = 200),
# the same order as mlstm_chunked's in float32 on the same inputs; 5e-4 leaves a margin of 6 or more,
# while a wrong gate, stabiliser, routing of a max or chunk hand-over shows at 5e-3 or more (checked by
# breaking each term of the backward in turn; the terms of order eps need eps = 1e-2 to show, hence the
# T = 200 test's eps).
TOL32 = 5e-4
# float16 q, k, v: q, k, v and the states enter the forward matmuls in float16, and h and dq, dk, dv are
# stored in float16 (the backward accumulates in float32): errors mostly 1e-4 to 2e-3. Worst over 50 seeds:
# dq off by 2.2e-2 of its largest entry, at that entry (ratio 1.10 at 1e-2: SEQZOO_SEED=10034708824446214985
# failed); 4e-2 leaves 3.6x.
TOL16 = 4e-2
HEADS = 2
NAMES = ("q", "k", "v", "i", "f", "initial C", "initial n", "initial m")
STATE_NAMES = ("C", "n", "m")


def relative_error(actual, expected) -> float:
    scale = max(expected.abs().max().item(), 1.0) if expected.numel() else 1.0
    return (actual.double().cpu() - expected).abs().max().item() / scale if expected.numel() else 0.0


def make_inputs(batch, length, key_dim, value_dim, num_states, forget_gate="sigmoid", heads=HEADS):
    """float64 q, k [B, T, H, K], v [B, T, H, V], i, f [B, T, H] and the initial (C, n, m) or three Nones.
    i ~ N(0, 2^2): input gates from exp(-6) to exp(6), so that the stabiliser moves. f: for "sigmoid",
    mostly open forget gates (logsigmoid(f) from ~ -3 to ~ -0.002); for "exp", log forget gates mostly in
    (-1, 0) with a few > 0 (a growing memory, kept finite only by the stabiliser)."""
    q = torch.randn(batch, length, heads, key_dim, dtype=F64)
    k = torch.randn(batch, length, heads, key_dim, dtype=F64)
    v = torch.randn(batch, length, heads, value_dim, dtype=F64)
    i = 2 * torch.randn(batch, length, heads, dtype=F64)
    if forget_gate == "sigmoid":
        f = 3 + 2 * torch.randn(batch, length, heads, dtype=F64)
    else:
        f = -0.3 + 0.3 * torch.randn(batch, length, heads, dtype=F64)
    if num_states is None:
        return [q, k, v, i, f, None, None, None]
    state = [
        torch.randn(num_states, heads, key_dim, value_dim, dtype=F64),
        torch.randn(num_states, heads, key_dim, dtype=F64),
        torch.randn(num_states, heads, dtype=F64),
    ]
    return [q, k, v, i, f, *state]


def run_both(inputs, *, dtype=torch.float32, gate_dtype=torch.float32, final_state=True, **options):
    """Run mlstm_triton on `inputs` cast to `dtype` (q, k, v; the gates and state to gate_dtype) and the
    reference in float64 on the same rounded values. Returns (results, expected, leaves): lists of h, the
    final C, n, m and the gradients of <h, dh> + <C, dC> + <n, dn> + <m, dm> for every input given, and
    the random upstream gradients [dh, dC, dn, dm] drawn."""
    dtypes = [dtype] * 3 + [gate_dtype] * 5
    leaves = [None if x is None else x.to(DEVICE, dt).requires_grad_() for x, dt in zip(inputs, dtypes)]
    oracle = [None if x is None else x.detach().cpu().to(F64).requires_grad_() for x in leaves]
    cu = options.pop("cu_seqlens", None)
    chunk_size = options.pop("chunk_size")
    state = None if leaves[5] is None else tuple(leaves[5:])
    h, final = mlstm_triton(
        *leaves[:5], initial_state=state, output_final_state=final_state,
        cu_seqlens=None if cu is None else cu.to(DEVICE), chunk_size=chunk_size, **options,
    )
    state_ref = None if oracle[5] is None else tuple(oracle[5:])
    h_ref, final_ref = mlstm_reference(
        *oracle[:5], initial_state=state_ref, output_final_state=True, cu_seqlens=cu, **options
    )
    assert h.dtype == leaves[0].dtype and h.shape == h_ref.shape
    upstream = [torch.randn(h_ref.shape, dtype=F64)]
    loss, loss_ref = (h * upstream[0].to(DEVICE, h.dtype)).sum(), (h_ref * upstream[0]).sum()
    results, expected = [h], [h_ref]
    if final_state:
        assert all(part.dtype == torch.float32 for part in final)
        for part, part_ref in zip(final, final_ref):
            upstream.append(torch.randn(part_ref.shape, dtype=F64))
            loss = loss + (part * upstream[-1].to(DEVICE, part.dtype)).sum()
            loss_ref = loss_ref + (part_ref * upstream[-1]).sum()
        results += list(final)
        expected += list(final_ref)
    else:
        assert final is None
    wanted = [n for n, x in enumerate(leaves) if x is not None]
    grads = torch.autograd.grad(loss, [leaves[n] for n in wanted])
    grads_ref = torch.autograd.grad(loss_ref, [oracle[n] for n in wanted])
    for n, grad in zip(wanted, grads):
        assert grad.dtype == leaves[n].dtype, NAMES[n]
    names = ["h", *(STATE_NAMES if final_state else ()), *(f"d{NAMES[n]}" for n in wanted)]
    return names, [*results, *grads], [*expected, *grads_ref], upstream


def compare(seed, inputs, *, tol=TOL32, **options):
    names, results, expected, _ = run_both(inputs, **options)
    for name, result, result_ref in zip(names, results, expected):
        assert_close(result, result_ref, name, seed, tol)


# ---------------------------------------------------------------------------------------------------------
# Triton vs the reference loop


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
@pytest.mark.parametrize("with_state", [True, False], ids=["state", "no-state"])
@pytest.mark.parametrize("length", [1, 63, 64, 65])
def test_matches_reference(seed, length, with_state, forget_gate):
    """Chunks of 16: T = 63, 64, 65 end one token short of, exactly at and one token past a chunk."""
    inputs = make_inputs(2, length, 8, 5, 2 if with_state else None, forget_gate)  # K != V
    compare(seed, inputs, forget_gate=forget_gate, chunk_size=16)


@pytest.mark.parametrize(
    "with_state, forget_gate", [(True, "sigmoid"), (False, "exp")], ids=["state-sigmoid", "no-state-exp"]
)
def test_matches_reference_at_200_tokens_in_chunks_of_64(seed, with_state, forget_gate):
    """eps = 1e-2 (h depends on the stabiliser m only through eps: a large eps makes the gradient terms of
    m's path visible above float32 rounding) and a scale other than K ** -0.5."""
    inputs = make_inputs(1, 200, 16, 8, 1 if with_state else None, forget_gate)
    compare(seed, inputs, forget_gate=forget_gate, chunk_size=64, eps=1e-2, scale=0.5)


def test_several_key_and_value_blocks(seed, monkeypatch):
    """K = 48, V = 40: two partly masked blocks each (BK = BV = 32 under the interpreter); chunks of 32.

    New buffers start as NaN, so any entry a kernel leaves unwritten shows; and the k . dk and end-state
    buffers get a third slot (as when autotuning may pick BK = 16), which the kernel must zero itself."""
    from zoo.kernels.mlstm import triton_mlstm_bwd

    monkeypatch.setattr(triton_mlstm_bwd, "MIN_BK", 16)
    for name in ("empty", "empty_like"):
        monkeypatch.setattr(torch, name, poisoned(getattr(torch, name)))
    compare(seed, make_inputs(2, 45, 48, 40, 2, "exp"), forget_gate="exp", chunk_size=32)


@pytest.mark.parametrize("lengths", [(37, 1, 26), (16, 0, 33)], ids=["37-1-26", "16-0-33"])
def test_varlen_three_sequences(seed, lengths):
    """Three sequences packed in one row, each from its own initial state: a one-token sequence, an empty one,
    and sequences ending inside and at the end of a chunk of 16."""
    cu_seqlens = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    inputs = make_inputs(1, sum(lengths), 8, 5, len(lengths))
    compare(seed, inputs, chunk_size=16, cu_seqlens=cu_seqlens)


def test_without_final_state(seed):
    """No final state: no gradient flows into it (the backward gets None for C, n and m)."""
    compare(seed, make_inputs(2, 40, 8, 5, 2), chunk_size=16, final_state=False)


def test_gradient_from_part_of_the_final_state(seed):
    """A loss on h and the final m only (no gradient arrives for the final C and n)."""
    q, k, v, i, f, c, n, m = (x.float().requires_grad_() for x in make_inputs(2, 40, 8, 5, 2))
    h, (_, _, m_fin) = mlstm_triton(
        q, k, v, i, f, initial_state=(c, n, m), output_final_state=True, chunk_size=16
    )
    leaves = (q, k, v, i, f, c, n, m)
    grads = torch.autograd.grad((h * h).sum() + 3 * m_fin.sum(), leaves)
    oracle = [x.detach().double().requires_grad_() for x in leaves]
    h_ref, (_, _, m_ref) = mlstm_reference(
        *oracle[:5], initial_state=tuple(oracle[5:]), output_final_state=True
    )
    grads_ref = torch.autograd.grad((h_ref * h_ref).sum() + 3 * m_ref.sum(), oracle)
    for name, grad, grad_ref in zip(NAMES, grads, grads_ref):
        assert_close(grad, grad_ref, f"d{name}", seed, TOL32)


@pytest.mark.parametrize("dtype,tol", half_precisions(TOL16))
def test_half_precision_inputs(seed, dtype, tol):
    compare(seed, make_inputs(2, 40, 16, 16, 2), chunk_size=16, dtype=dtype, tol=tol)


# ---------------------------------------------------------------------------------------------------------
# Large gates: the stabiliser keeps every exponential <= 1


def test_large_input_gates_stay_finite(seed, bound):
    """i ~ 30 + 10 N(0, 1) with 1% spikes of +800 (exp(830) overflows even float64), f ~ 2 + 3 N(0, 1).

    Everything stays finite; and since h = C^T q / |n . q| amplifies rounding where n . q nearly cancels
    (|h| reaches 1e2-1e3 here), the float32 Triton results are held to TOL32 or to the accuracy of the
    float32 chunked form on the same inputs (within a factor 10), whichever is looser."""
    batch, length = 2, 200
    inputs = make_inputs(batch, length, 8, 5, batch)
    i = 30 + 10 * torch.randn(batch, length, HEADS, dtype=F64)
    inputs[3] = i + 800 * (torch.rand(batch, length, HEADS) < 0.01)
    inputs[4] = 2 + 3 * torch.randn(batch, length, HEADS, dtype=F64)
    assert inputs[3].max() > 710, f"the test needs input gates whose exp overflows float64 (seed={seed})"

    names, results, expected, upstream = run_both(inputs, chunk_size=64)
    for name, result in zip(names, results):
        assert torch.isfinite(result).all(), f"{name} is not finite (seed={seed})"

    leaves = [x.float().requires_grad_() for x in inputs]
    h, final = mlstm_chunked(*leaves[:5], initial_state=tuple(leaves[5:]), output_final_state=True)
    loss = sum((out * d_out.float()).sum() for out, d_out in zip((h, *final), upstream))
    chunked = [h, *final, *torch.autograd.grad(loss, leaves)]
    for name, result, result_chunked, result_ref in zip(names, results, chunked, expected):
        error, baseline = relative_error(result, result_ref), relative_error(result_chunked, result_ref)
        bound(error, max(10 * baseline, TOL32), f"{name}: float32 Triton error vs 10 x the float32 chunked form's")


def test_very_negative_gates_and_initial_m(seed):
    """Input gates near -100 and an initial m near -120: the stabiliser falls below -88, where exp(-m)
    overflows float32. Everything stays finite and equals the float64 reference within TOL32 (worst seen over
    20 seeds: 7.9e-6, on df)."""
    inputs = make_inputs(2, 40, 16, 8, 2)
    inputs[3] = inputs[3] - 100
    inputs[7] = inputs[7] - 120
    compare(seed, inputs, chunk_size=16)


# ---------------------------------------------------------------------------------------------------------
# Arguments and dispatch


def test_rejects_what_the_kernels_do_not_take():
    q = torch.randn(1, 4, 1, 16, device=DEVICE)
    gate = torch.zeros(1, 4, 1, device=DEVICE)
    for bad in (8, 48):
        with pytest.raises(ValueError, match="chunk_size must be a power of two >= 16"):
            mlstm_triton(q, q, q, gate, gate, chunk_size=bad)
    with pytest.raises(ValueError, match="mlstm_triton cannot run this call: q has dtype torch.float64"):
        mlstm_triton(q.double(), q, q, gate, gate)
    with pytest.raises(ValueError, match="mlstm_triton: i has shape"):
        mlstm_triton(q, q, q, q, gate)
    with pytest.raises(ValueError, match="unknown forget_gate"):
        mlstm_triton(q, q, q, gate, gate, forget_gate="relu")


def test_dispatch_routes_triton_and_keeps_auto_on_torch_for_cpu_tensors():
    """backend="triton" runs the Triton form (here under the interpreter); "auto" on CPU is the chunked
    form."""
    q, k, v = (torch.randn(1, 40, 2, 16) for _ in range(3))
    i, f = torch.randn(1, 40, 2), torch.randn(1, 40, 2) + 3
    forced, state = mlstm_scan(q, k, v, i, f, backend="triton", chunk_size=16, output_final_state=True)
    direct, state_direct = mlstm_triton(q, k, v, i, f, chunk_size=16, output_final_state=True)
    assert torch.equal(forced, direct)
    assert all(torch.equal(a, b) for a, b in zip(state, state_direct))
    auto, _ = mlstm_scan(q, k, v, i, f, chunk_size=16)
    assert torch.equal(auto, mlstm_chunked(q, k, v, i, f, chunk_size=16)[0])
