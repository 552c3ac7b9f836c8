"""Tests of the Triton delta rule (kernels/delta_rule/triton_delta*.py) against the float64 reference loop.

On CPU the kernels run under the Triton interpreter: TRITON_INTERPRET must be set before triton_delta is
first imported (triton.jit reads it when the kernels are defined); tests/conftest.py sets it where CUDA is
absent. The interpreter uses one config per kernel (BK = BV = 32), so K, V > 32 exercise the K- and
V-block loops (the state kernels hold the whole key axis, padded to a power of two).

Every test draws fresh random inputs: the `seed` fixture reseeds torch from a new random seed (or from
SEQZOO_SEED when set) and every comparison names that seed when it fails, so that
`SEQZOO_SEED=<seed> pytest tests/kernels/test_delta_rule_triton.py` replays the failure.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from triton_checks import DEVICE, assert_close, half_precisions, poisoned
from zoo.kernels.delta_rule import delta_rule, delta_rule_chunked, delta_rule_reference
from zoo.kernels.delta_rule import triton_delta, triton_delta_bwd
from zoo.kernels.delta_rule.triton_delta import delta_rule_triton

pytestmark = pytest.mark.interpreter

if os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
    pytest.skip("Triton needs CUDA or TRITON_INTERPRET=1", allow_module_level=True)

F64 = torch.float64
# Tolerances relative to the largest entry of each expected tensor (atol = TOL * max(max |expected|, 1),
# rtol = TOL): a sum over T tokens has rounding errors of the size of its largest terms, not of the entry.
# float32: observed errors at these sizes (T <= 200, unit keys, beta in (0.05, 0.95), K <= 48) are
# 1e-7 to 8e-7 of the largest entry, the UT transform's triangular inverse included; 1e-4 leaves over two
# orders of magnitude, while a wrong decay, mask, chunk boundary, state hand-over or a missing gradient
# term shows at 1e-2 or more.
TOL32 = 1e-4
# float16 inputs: q, k, v, W, U, dU, the inverse M and the masked score blocks enter the matmuls in float16,
# and o, dq, dk, dv are stored in float16: observed errors are 5e-4 to 1e-3 of the largest entry (T <= 200).
TOL16 = 5e-3
NAMES = ("q", "k", "v", "beta", "g", "initial_state")


def make_inputs(batch, length, heads, key_dim, value_dim, num_states, *, gated=True, unit_keys=True):
    """float64 q, k [B, T, H, K], v [B, T, H, V], beta [B, T, H] in (0.05, 0.95), g [B, T, H] (log-decays
    per head from fast, mean ~ -0.8, to slow, ~ -0.008; None unless gated) and initial_state [N, H, K, V]
    or None. Keys are unit vectors (as DeltaNet feeds them) unless unit_keys is False (for the in-kernel
    L2 norm)."""
    q = torch.randn(batch, length, heads, key_dim, dtype=F64)
    k = torch.randn(batch, length, heads, key_dim, dtype=F64)
    k = F.normalize(k, dim=-1) if unit_keys else k
    v = torch.randn(batch, length, heads, value_dim, dtype=F64)
    beta = torch.rand(batch, length, heads, dtype=F64) * 0.9 + 0.05
    g = -F.softplus(torch.randn(batch, length, heads, dtype=F64)) * torch.logspace(0, -2, heads, dtype=F64)
    h0 = None if num_states is None else torch.randn(num_states, heads, key_dim, value_dim, dtype=F64)
    return q, k, v, beta, g if gated else None, h0


def compare(seed, inputs, *, dtype=torch.float32, tol=TOL32, final_state=True, side_dtype=None, **options):
    """Run delta_rule_triton on `inputs` (q, k, v cast to `dtype`; beta, g and initial_state to
    `side_dtype`, default `dtype`) and the reference in float64 on the same (rounded) values; compare the
    output, the final state and the gradients of <o, dO> (+ <final_state, dS>) for every input."""
    side_dtype = side_dtype or dtype
    leaves = [
        None if x is None else x.to(DEVICE, dtype if i < 3 else side_dtype).requires_grad_()
        for i, x in enumerate(inputs)
    ]
    oracle = [None if x is None else x.detach().cpu().to(F64).requires_grad_() for x in leaves]
    cu = options.pop("cu_seqlens", None)

    o, state = delta_rule_triton(*leaves[:3], beta=leaves[3], g=leaves[4], initial_state=leaves[5],
                                 output_final_state=final_state,
                                 cu_seqlens=None if cu is None else cu.to(DEVICE), **options)
    options.pop("chunk_size", None)
    o_ref, state_ref = delta_rule_reference(*oracle[:3], beta=oracle[3], g=oracle[4], initial_state=oracle[5],
                                            output_final_state=True,
                                            cu_seqlens=cu, **options)
    assert o.dtype == dtype and o.shape == o_ref.shape
    d_out = torch.randn(o_ref.shape, dtype=F64)
    loss_ref = (o_ref * d_out).sum()
    loss = (o * d_out.to(DEVICE, o.dtype)).sum()
    if final_state:
        assert state.dtype == torch.float32
        assert_close(state.cpu(), state_ref, "final_state", seed, tol)
        d_state = torch.randn(state_ref.shape, dtype=F64)
        loss_ref = loss_ref + (state_ref * d_state).sum()
        loss = loss + (state * d_state.to(DEVICE, state.dtype)).sum()
    else:
        assert state is None
    assert_close(o.cpu(), o_ref, "o", seed, tol)

    wanted = [i for i, x in enumerate(leaves) if x is not None]
    grads = torch.autograd.grad(loss, [leaves[i] for i in wanted])
    grads_ref = torch.autograd.grad(loss_ref, [oracle[i] for i in wanted])
    for i, grad, grad_ref in zip(wanted, grads, grads_ref):
        assert grad.dtype == leaves[i].dtype, NAMES[i]
        assert_close(grad.cpu(), grad_ref, f"d{NAMES[i]}", seed, tol)


@pytest.mark.parametrize("with_state", [True, False], ids=["h0", "no-h0"])
@pytest.mark.parametrize("gated", [True, False], ids=["gated", "deltanet"])
@pytest.mark.parametrize("length", [1, 63, 64, 65, 200])
def test_matches_reference(seed, length, gated, with_state):
    compare(seed, make_inputs(2, length, 2, 32, 16, 2 if with_state else None, gated=gated), chunk_size=16)


def test_several_key_and_value_blocks(seed, monkeypatch):
    """K = 48, V = 40: two partly masked blocks each (BK = BV = 32 under the interpreter; the state kernels'
    key axis padded to 64); chunk 32; a scale.

    New buffers start as NaN, so any entry a kernel leaves unwritten shows; and the dbeta and dg buffers get
    a third slot (as when autotuning may pick BK = 16), which the kernel must zero itself."""
    monkeypatch.setattr(triton_delta_bwd, "MIN_BK", 16)
    for name in ("empty", "empty_like"):
        monkeypatch.setattr(torch, name, poisoned(getattr(torch, name)))
    compare(seed, make_inputs(2, 45, 2, 48, 40, 2), chunk_size=32, scale=0.3)


def test_chunk_size_64(seed):
    """The largest chunk (a 64 x 64 UT transform), a partial last chunk, keys of 8 channels (padded)."""
    compare(seed, make_inputs(1, 100, 1, 8, 16, 1), chunk_size=64)


@pytest.mark.parametrize("gated", [True, False], ids=["gated", "deltanet"])
def test_varlen(seed, gated):
    """Three sequences, one empty, one crossing chunk boundaries; each starts from its own initial state."""
    lengths = (37, 0, 26)
    cu_seqlens = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    compare(seed, make_inputs(1, sum(lengths), 2, 16, 32, len(lengths), gated=gated), chunk_size=16,
            cu_seqlens=cu_seqlens)


@pytest.mark.parametrize("gated", [True, False], ids=["gated", "deltanet"])
def test_qk_l2norm_in_kernel(seed, gated):
    """Raw keys, L2-normalised first (in torch, differentiated by autograd)."""
    compare(seed, make_inputs(2, 40, 2, 16, 16, 2, gated=gated, unit_keys=False), chunk_size=16,
            use_qk_l2norm_in_kernel=True)
    q, k, v, beta, g, _ = (None if t is None else t.to(DEVICE) for t in make_inputs(1, 20, 2, 16, 16, None, gated=gated))
    o, _ = delta_rule_triton(q.half(), k.half(), v.half(), beta=beta.float(), g=None if g is None else g.float(),
                             use_qk_l2norm_in_kernel=True, chunk_size=16)
    assert o.dtype == torch.float16, "the output keeps q's dtype (the norm is taken in float32)"


def test_strong_decays_stay_finite(seed):
    """Log-decays down to -60 per token: a chunk's cumulative decay passes float32's exp range (~ -104),
    so any exponential of a positive difference would overflow; the kernels take exp of numbers <= 0 only."""
    q, k, v, beta, _, h0 = make_inputs(2, 40, 2, 16, 16, 2)
    g = -60 * torch.rand(2, 40, 2, dtype=F64)
    compare(seed, (q, k, v, beta, g, h0), chunk_size=16)


def test_without_final_state(seed):
    """No final state: no gradient flows into it (the backward's dS_T is absent)."""
    compare(seed, make_inputs(2, 40, 2, 16, 16, 2), chunk_size=16, final_state=False)


@pytest.mark.parametrize("dtype,tol", half_precisions(TOL16))
def test_half_precision_inputs(seed, dtype, tol):
    """q, k, v in float16 or bfloat16; beta, g and the initial state in float32 (their gradients too)."""
    compare(seed, make_inputs(2, 40, 2, 16, 16, 2), chunk_size=16, dtype=dtype, tol=tol,
            side_dtype=torch.float32)


def test_rejects_what_the_kernels_do_not_take():
    q = torch.randn(1, 4, 1, 16, device=DEVICE)
    v = torch.randn(1, 4, 1, 16, device=DEVICE)
    beta = torch.rand(1, 4, 1, device=DEVICE)
    for bad in (8, 48, 128):
        with pytest.raises(ValueError, match=r"chunk_size must be one of \(16, 32, 64\)"):
            delta_rule_triton(q, q, v, beta=beta, chunk_size=bad)
    with pytest.raises(ValueError, match="beta has dtype torch.float64"):
        delta_rule_triton(q, q, v, beta=beta.double())
    wide = torch.randn(1, 4, 1, 257, device=DEVICE)
    with pytest.raises(ValueError, match="key dimension K = 257 exceeds 256"):
        delta_rule_triton(wide, wide, v, beta=beta)
    with pytest.raises(ValueError, match=r"g has shape \(1, 4, 1, 16\) but expected \(B, T, H\)"):
        delta_rule_triton(q, q, v, beta=beta, g=q)
    with pytest.raises(ValueError, match=r"delta_rule_triton: g has entries > 0 \(the largest is 0.5\)"):
        delta_rule_triton(q, q, v, beta=beta, g=torch.full_like(beta, 0.5))


def test_dispatch_routes_triton_and_keeps_auto_on_torch_for_cpu_tensors():
    """backend="triton" runs the Triton form (here under the interpreter); "auto" on CPU is the chunked
    torch form, as is float64 (not a Triton dtype)."""
    q, v = torch.randn(1, 40, 2, 16), torch.randn(1, 40, 2, 16)
    k = F.normalize(torch.randn(1, 40, 2, 16), dim=-1)
    beta, g = torch.rand(1, 40, 2), -torch.rand(1, 40, 2)
    forced, _ = delta_rule(q, k, v, beta=beta, g=g, backend="triton", chunk_size=16)
    direct, _ = delta_rule_triton(q, k, v, beta=beta, g=g, chunk_size=16)
    assert torch.equal(forced, direct)
    auto, _ = delta_rule(q, k, v, beta=beta, g=g, chunk_size=16)
    assert torch.equal(auto, delta_rule_chunked(q, k, v, beta=beta, g=g, chunk_size=16)[0])
    q, k, v, beta, g = (t.double() for t in (q, k, v, beta, g))
    auto64, _ = delta_rule(q, k, v, beta=beta, g=g, chunk_size=16)
    assert auto64.dtype == F64
    assert torch.equal(auto64, delta_rule_chunked(q, k, v, beta=beta, g=g, chunk_size=16)[0])


def test_forcing_triton_on_cpu_without_the_interpreter_is_a_clear_error(monkeypatch):
    """As if TRITON_INTERPRET had not been set when the kernels were defined."""
    if DEVICE != "cpu":
        pytest.skip("the tensors of this machine's Triton tests are on CUDA")
    monkeypatch.setattr(triton_delta, "INTERPRET", False)
    q, v, beta = torch.randn(1, 4, 1, 16), torch.randn(1, 4, 1, 16), torch.rand(1, 4, 1)
    with pytest.raises(ValueError, match="needs a CUDA tensor .*TRITON_INTERPRET=1"):
        delta_rule(q, q, v, beta=beta, backend="triton", chunk_size=16)
