"""zoo.kernels.scan (scalar decay per head, chunked torch) against flash-linear-attention's simple GLA:
`chunk_simple_gla` (Triton; on a CPU machine under the interpreter) for outputs, final states and every
gradient, and `naive_chunk_simple_gla` (plain torch) for outputs and final states, in float32.

fla's conventions are ours: q, k [B, T, H, K], v [B, T, H, V], g [B, T, H] log-decay, scale None meaning
K ** -0.5, initial_state and final state [N, H, K, V], cu_seqlens [N + 1] with B == 1.
Shapes: T=37 (not a multiple of either chunk size: ours 8, fla's 16), H=3, K=16, V=8 (K != V, so a
transposed state cannot pass).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.kernels import scan

from .oracles import require, triton_device

pytestmark = pytest.mark.peers

# Float32 tolerances. Both sides compute in float32 and differ in the order of summation (chunk sizes 8
# and 16, different chunk-local factorisations of the decay); with entries of order 1 and 37 tokens the
# rounding stays near 1e-6 (see the max abs errors printed), while a wrong decay, scale or state layout
# shows at 1e-1. Gradients sum over more terms (dg over a reversed cumulative sum): 5e-4.
FWD_TOL = dict(rtol=1e-4, atol=1e-4)
GRAD_TOL = dict(rtol=5e-4, atol=5e-4)

CASES = {
    # name: (batch, cu_seqlens, scale)
    "dense": (2, None, None),
    "varlen": (1, [0, 11, 30, 37], 0.3),
}


def gla_inputs(batch, num_states, length=37, heads=3, key_dim=16, value_dim=8, device="cpu"):
    tensors = dict(
        q=torch.randn(batch, length, heads, key_dim),
        k=torch.randn(batch, length, heads, key_dim),
        v=torch.randn(batch, length, heads, value_dim),
        g=F.logsigmoid(torch.randn(batch, length, heads)),  # log-decays in (-inf, 0), mean ~ -0.8
        initial_state=torch.randn(num_states, heads, key_dim, value_dim),
    )
    return {name: t.to(device).requires_grad_() for name, t in tensors.items()}


@pytest.mark.parametrize("case", CASES)
def test_scan_matches_fla_chunk_simple_gla(case, compare):
    simple_gla = require("fla.ops.simple_gla")
    device = triton_device()
    batch, offsets, scale = CASES[case]
    cu_seqlens = None if offsets is None else torch.tensor(offsets, dtype=torch.long, device=device)
    inputs = gla_inputs(batch, batch if offsets is None else len(offsets) - 1, device=device)

    out_ref, final_ref = simple_gla.chunk_simple_gla(
        **inputs, scale=scale, output_final_state=True, cu_seqlens=cu_seqlens, chunk_size=16
    )
    ours = {name: t.detach().clone().requires_grad_() for name, t in inputs.items()}
    out, final = scan(
        **ours, scale=scale, output_final_state=True, cu_seqlens=cu_seqlens, chunk_size=8, backend="torch"
    )
    compare(out, out_ref, "out", **FWD_TOL)
    compare(final, final_ref, "final_state", **FWD_TOL)

    grad_out, grad_final = torch.randn_like(out_ref), torch.randn_like(final_ref)
    torch.autograd.backward((out_ref, final_ref), (grad_out, grad_final))
    torch.autograd.backward((out, final), (grad_out, grad_final))
    for name in inputs:
        compare(ours[name].grad, inputs[name].grad, f"d{name}", **GRAD_TOL)


def test_scan_matches_fla_naive_simple_gla(compare):
    naive = require("fla.ops.simple_gla.naive")
    inputs = {name: t.detach() for name, t in gla_inputs(2, 2).items()}
    out_ref, final_ref = naive.naive_chunk_simple_gla(**inputs, output_final_state=True, chunk_size=16)
    out, final = scan(**inputs, output_final_state=True, chunk_size=8, backend="torch")
    compare(out, out_ref, "out", **FWD_TOL)
    compare(final, final_ref, "final_state", **FWD_TOL)
