"""Tests of the Triton scan (kernels/scan/triton_scan.py) against the float64 reference loop.

On CPU the kernels run under the Triton interpreter: TRITON_INTERPRET must be set before triton_scan is
first imported (triton.jit reads it when the kernels are defined); tests/conftest.py sets it where CUDA is absent. The
interpreter uses one config per kernel (BK = BV = 32), so K, V > 32 exercise the K- and V-block loops.

Every test draws fresh random inputs: the `seed` fixture reseeds torch from a new random seed (or from
SEQZOO_SEED when set) and every comparison names that seed when it fails, so that
`SEQZOO_SEED=<seed> pytest tests/kernels/test_scan_triton.py` replays the failure.
"""

from __future__ import annotations

import os

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from triton_checks import DEVICE, assert_close, half_precisions, poisoned  # noqa: E402
from zoo.kernels.scan import scan_reference  # noqa: E402
from zoo.kernels.scan import triton_scan  # noqa: E402
from zoo.kernels.scan.triton_scan import scan_triton  # noqa: E402

pytestmark = pytest.mark.interpreter

if os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
    pytest.skip("Triton needs CUDA or TRITON_INTERPRET=1", allow_module_level=True)

F64 = torch.float64
# Tolerances relative to the largest entry of each expected tensor (atol = TOL * max(max |expected|, 1),
# rtol = TOL): a sum over T tokens has rounding errors of the size of its largest terms, not of the entry.
# float32: observed errors at these sizes (T <= 200, entries of order 1-100, K <= 48) are ~3e-7 of the
# largest entry; 1e-4 leaves over two orders of magnitude, while a wrong decay, mask, chunk boundary or
# state hand-over shows at 1e-2 or more.
TOL32 = 1e-4
# float16 inputs: q, k, v, the states and the masked score blocks enter the matmuls in float16, and o and
# the gradients are stored in float16: observed errors are 2e-4 to 8e-4 of the largest entry.
TOL16 = 5e-3
NAMES = ("q", "k", "v", "g", "initial_state")


def make_inputs(batch, length, heads, key_dim, value_dim, num_states):
    """float64 q, k [B, T, H, K], v [B, T, H, V], g [B, T, H] (log-decays per head from fast, mean
    ~ -0.8, to slow, ~ -0.008) and initial_state [N, H, K, V] or None."""
    q = torch.randn(batch, length, heads, key_dim, dtype=F64)
    k = torch.randn(batch, length, heads, key_dim, dtype=F64)
    v = torch.randn(batch, length, heads, value_dim, dtype=F64)
    g = -F.softplus(torch.randn(batch, length, heads, dtype=F64)) * torch.logspace(0, -2, heads, dtype=F64)
    h0 = None if num_states is None else torch.randn(num_states, heads, key_dim, value_dim, dtype=F64)
    return q, k, v, g, h0


def compare(seed, inputs, *, dtype=torch.float32, tol=TOL32, final_state=True, **options):
    """Run scan_triton on `inputs` cast to `dtype` and the reference in float64 on the same (rounded)
    values; compare the output, the final state and the gradients of
    <o, dO> (+ <final_state, dS>) for every input."""
    leaves = [None if x is None else x.to(DEVICE, dtype).requires_grad_() for x in inputs]
    oracle = [None if x is None else x.detach().to(F64).requires_grad_() for x in leaves]
    cu = options.pop("cu_seqlens", None)

    o, state = scan_triton(*leaves[:4], initial_state=leaves[4], output_final_state=final_state,
                           cu_seqlens=None if cu is None else cu.to(DEVICE), **options)
    options.pop("chunk_size", None)
    o_ref, state_ref = scan_reference(*oracle[:4], initial_state=oracle[4], output_final_state=True,
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
@pytest.mark.parametrize("length", [1, 63, 64, 65, 200])
def test_matches_reference(seed, length, with_state):
    compare(seed, make_inputs(2, length, 2, 32, 16, 2 if with_state else None), chunk_size=16)


def test_several_key_and_value_blocks(seed, monkeypatch):
    """K = 48, V = 40: two partly masked blocks each (BK = BV = 32 under the interpreter); chunk 32.

    New buffers start as NaN, so any entry a kernel leaves unwritten shows; and the dg buffer gets a
    third slot (as when autotuning may pick BK = 16), which the kernel must zero itself."""
    monkeypatch.setattr(triton_scan, "MIN_BK", 16)
    for name in ("empty", "empty_like"):
        monkeypatch.setattr(torch, name, poisoned(getattr(torch, name)))
    compare(seed, make_inputs(2, 45, 2, 48, 40, 2), chunk_size=32, scale=0.3)


@pytest.mark.parametrize("lengths", [(37, 1, 26), (16, 0, 33)], ids=["37-1-26", "16-0-33"])
def test_varlen(seed, lengths):
    cu_seqlens = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    compare(seed, make_inputs(1, sum(lengths), 2, 16, 32, len(lengths)), chunk_size=16, cu_seqlens=cu_seqlens)


def test_without_final_state(seed):
    """No final state: no gradient flows into it (the backward's dS_T is absent)."""
    compare(seed, make_inputs(2, 40, 2, 16, 16, 2), chunk_size=16, final_state=False)


@pytest.mark.parametrize("dtype,tol", half_precisions(TOL16))
def test_half_precision_inputs(seed, dtype, tol):
    compare(seed, make_inputs(2, 40, 2, 16, 16, 2), chunk_size=16, dtype=dtype, tol=tol)


def test_rejects_what_the_kernels_do_not_take():
    q = torch.randn(1, 4, 1, 16, device=DEVICE)
    v = torch.randn(1, 4, 1, 16, device=DEVICE)
    g = torch.zeros(1, 4, 1, device=DEVICE)
    for bad in (8, 48):
        with pytest.raises(ValueError, match="chunk_size must be a power of two >= 16"):
            scan_triton(q, q, v, g, chunk_size=bad)
    with pytest.raises(ValueError, match="float64"):
        scan_triton(q.double(), q, v, g)
    with pytest.raises(ValueError, match="scalar decay per head"):
        scan_triton(q, q, v, q)
    with pytest.raises(ValueError, match=r"scan_triton: g has entries > 0 \(the largest is 0.5\)"):
        scan_triton(q, q, v, torch.full_like(g, 0.5))


def test_dispatch_routes_triton_and_keeps_auto_on_torch_for_cpu_tensors():
    """backend="triton" runs the Triton form (here under the interpreter); "auto" on CPU is the chunked torch form."""
    from zoo.kernels.scan import scan, scan_chunked

    q, k, v = (torch.randn(1, 40, 2, 16) for _ in range(3))
    g = -torch.rand(1, 40, 2)
    forced, _ = scan(q, k, v, g, backend="triton", chunk_size=16)
    direct, _ = scan_triton(q, k, v, g, chunk_size=16)
    assert torch.equal(forced, direct)
    auto, _ = scan(q, k, v, g, chunk_size=16)
    assert torch.equal(auto, scan_chunked(q, k, v, g, chunk_size=16)[0])
