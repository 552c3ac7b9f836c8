"""zoo.kernels.ssd_scan (chunked torch) against mamba_ssm's `mamba_chunk_scan_combined` (Triton; on a CPU
machine under the interpreter), outputs, final states and every gradient, in float32.

Shapes: B=2, T=37 (not a multiple of either chunk size), H=4 heads in G=2 groups, P=8, N=16; both sides
chunk differently (ours 8, mamba_ssm 16) so that agreement cannot come from a shared chunking.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.kernels import ssd_scan

from .oracles import require, triton_device

pytestmark = pytest.mark.peers

# Float32 tolerances. Both sides compute in float32 with different chunkings, so they differ by the order
# of summation only; with entries of order 1 and at most 37 terms per sum the rounding stays near 1e-6
# (see the max abs errors this test prints), while a wrong convention (dt processing, group mapping, D or
# z placement, a state transposed) shows at 1e-1. 1e-4 leaves room for rounding and none for such bugs.
FWD_TOL = dict(rtol=1e-4, atol=1e-4)
# Gradients sum over every position and head (dA, dD and ddt_bias over the whole batch), so their
# rounding grows with the number of terms: 5e-4.
GRAD_TOL = dict(rtol=5e-4, atol=5e-4)


def ssd_inputs(batch=2, length=37, heads=4, groups=2, headdim=8, dstate=16, device="cpu"):
    """Leaf float32 tensors in mamba_ssm's layout; A < 0, D, dt_bias and the initial state non-trivial."""
    tensors = dict(
        x=torch.randn(batch, length, heads, headdim),
        dt=torch.randn(batch, length, heads),
        A=-torch.empty(heads).uniform_(0.5, 4.0),
        B=torch.randn(batch, length, groups, dstate),
        C=torch.randn(batch, length, groups, dstate),
        D=torch.randn(heads),
        z=torch.randn(batch, length, heads, headdim),
        dt_bias=torch.randn(heads) * 0.5 - 1.0,
        initial_states=torch.randn(batch, heads, headdim, dstate),  # mamba_ssm's [B, H, P, N]
    )
    return {name: t.to(device).requires_grad_() for name, t in tensors.items()}


@pytest.mark.parametrize(
    "dt_softplus, dt_limit",
    [(True, (0.0, float("inf"))), (True, (0.05, 0.5)), (False, (0.0, float("inf")))],
    ids=["no-limit", "dt-limit", "raw-dt"],  # raw-dt: dt + dt_bias < 0 in places, clamped to 0 on both sides
)
def test_ssd_scan_matches_mamba_chunk_scan_combined(dt_softplus, dt_limit, compare):
    ssd_combined = require("mamba_ssm.ops.triton.ssd_combined")
    device = triton_device()
    inputs = ssd_inputs(device=device)

    out_ref, final_ref = ssd_combined.mamba_chunk_scan_combined(
        **{k: v for k, v in inputs.items()}, chunk_size=16, dt_softplus=dt_softplus, dt_limit=dt_limit,
        return_final_states=True,
    )
    ours = {name: t.detach().clone().requires_grad_() for name, t in inputs.items()}
    out, final = ssd_scan(
        ours["x"], ours["dt"], ours["A"], ours["B"], ours["C"], D=ours["D"], z=ours["z"],
        dt_bias=ours["dt_bias"], dt_softplus=dt_softplus, dt_limit=dt_limit,
        initial_state=ours["initial_states"].transpose(-1, -2),  # ours is [B, H, N, P]
        output_final_state=True, chunk_size=8, backend="torch",
    )
    compare(out, out_ref, "out", **FWD_TOL)
    compare(final.transpose(-1, -2), final_ref, "final_state", **FWD_TOL)

    # One random cotangent for both outputs, so every gradient path (through y and through the state) counts.
    grad_out, grad_final = torch.randn_like(out_ref), torch.randn_like(final_ref)
    torch.autograd.backward((out_ref, final_ref), (grad_out, grad_final))
    torch.autograd.backward((out, final), (grad_out, grad_final.transpose(-1, -2)))
    for name in inputs:
        compare(ours[name].grad, inputs[name].grad, f"d{name}", **GRAD_TOL)


def test_ssd_scan_varlen_matches_mamba_chunk_scan_combined(compare):
    """Three sequences packed in one row: mamba_ssm's seq_idx (+ cu_seqlens for the per-sequence final
    states) against our cu_seqlens. mamba_ssm 2.3 takes no per-sequence initial states and computes no
    gradient when it returns the per-sequence states, so the gradients come from a second call without them."""
    ssd_combined = require("mamba_ssm.ops.triton.ssd_combined")
    device = triton_device()
    inputs = ssd_inputs(batch=1, device=device)
    del inputs["initial_states"]
    lengths = torch.tensor([11, 19, 7], device=device)  # 37 tokens; boundaries inside mamba_ssm's chunks
    cu_seqlens = F.pad(lengths.cumsum(0), (1, 0)).to(torch.int32)
    seq_idx = torch.repeat_interleave(torch.arange(3, device=device, dtype=torch.int32), lengths)[None]
    options = dict(chunk_size=16, dt_softplus=True, seq_idx=seq_idx)

    with torch.no_grad():
        out_ref, states_ref = ssd_combined.mamba_chunk_scan_combined(
            **inputs, **options, cu_seqlens=cu_seqlens, return_varlen_states=True
        )
    ours = {name: t.detach().clone().requires_grad_() for name, t in inputs.items()}
    out, final = ssd_scan(
        ours["x"], ours["dt"], ours["A"], ours["B"], ours["C"], D=ours["D"], z=ours["z"],
        dt_bias=ours["dt_bias"], dt_softplus=True, cu_seqlens=cu_seqlens,
        output_final_state=True, chunk_size=8, backend="torch",
    )
    compare(out, out_ref, "out", **FWD_TOL)
    compare(final.transpose(-1, -2), states_ref, "final_states", **FWD_TOL)

    grad_out = torch.randn_like(out_ref)
    ssd_combined.mamba_chunk_scan_combined(**inputs, **options).backward(grad_out)
    out.backward(grad_out)
    for name in inputs:
        compare(ours[name].grad, inputs[name].grad, f"d{name}", **GRAD_TOL)
