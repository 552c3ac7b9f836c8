"""zoo.kernels.scan with a decay per key channel (GLA; g [B, T, H, K]) against flash-linear-attention's GLA:
`chunk_gla` (Triton; on a CPU machine under the interpreter) for outputs, final states and every gradient,
dense and varlen, for our chunked torch form and for our Triton form (triton_gla; on a CPU machine under the
interpreter too); and `naive_recurrent_gla` (plain torch, a loop over time) for outputs, final states and
every gradient, dense and (one sequence at a time) varlen, in float32.

fla's conventions are ours: q, k, g [B, T, H, K], v [B, T, H, V], g the log-decay applied to the state before
the update (S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T), o_t = S_t^T (scale q_t), scale None meaning
K ** -0.5, initial_state and final state [N, H, K, V], cu_seqlens [N + 1] with B == 1. naive_recurrent_gla
takes no scale (always K ** -0.5) and no cu_seqlens, and names g `gk`.
Shapes: T=77 (not a multiple of any chunk size used: ours 8 and 32, fla's 64, so every form hands a state
across a chunk boundary and ends on a partial chunk), H=3, K=16, V=8 (K != V, so a transposed state
cannot pass).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.kernels import scan

from .oracles import require, triton_device

pytestmark = pytest.mark.peers

# Float32 tolerances. Both sides compute in float32 and differ in the order of summation (chunk sizes and
# the factorisation of the per-channel decay inside a chunk); with entries of order 1 and 77 tokens the
# rounding stays near 1e-6 to 1e-5 (see the max abs errors printed), while a wrong decay, scale or state
# layout shows at 1e-1. Gradients sum over more terms (dg over a reversed cumulative sum): 5e-4.
FWD_TOL = dict(rtol=1e-4, atol=1e-4)
GRAD_TOL = dict(rtol=5e-4, atol=5e-4)

LENGTH = 77  # fla: a chunk of 64 and a partial one; ours: 9 chunks of 8 + 5, or 2 of 32 + 13
CASES = {
    # name: (batch, cu_seqlens, scale)
    "dense": (2, None, None),
    "varlen": (1, [0, 9, 75, 77], 0.3),  # the middle sequence crosses chunk boundaries
}
# Our forms: backend and chunk size (8: several chunks of the chunked torch form; 32: the Triton form's
# sub-blocks of 16 and a second, partial chunk).
FORMS = {"torch": ("torch", 8), "triton": ("triton", 32)}


def gla_inputs(batch, num_states, length=LENGTH, heads=3, key_dim=16, value_dim=8, device="cpu"):
    tensors = dict(
        q=torch.randn(batch, length, heads, key_dim),
        k=torch.randn(batch, length, heads, key_dim),
        v=torch.randn(batch, length, heads, value_dim),
        g=F.logsigmoid(torch.randn(batch, length, heads, key_dim)),  # per-channel log-decays, mean ~ -0.8
        initial_state=torch.randn(num_states, heads, key_dim, value_dim),
    )
    return {name: t.to(device).requires_grad_() for name, t in tensors.items()}


def fresh(inputs):
    """Detached copies of `inputs` that collect their own gradients."""
    return {name: t.detach().clone().requires_grad_() for name, t in inputs.items()}


def compare_all(compare, ours, out, final, inputs, out_ref, final_ref):
    """Compare outputs and final states, then the gradients of <out, dO> + <final, dS> for every input."""
    compare(out, out_ref, "out", **FWD_TOL)
    compare(final, final_ref, "final_state", **FWD_TOL)
    grad_out, grad_final = torch.randn_like(out_ref), torch.randn_like(final_ref)
    torch.autograd.backward((out_ref, final_ref), (grad_out, grad_final))
    torch.autograd.backward((out, final), (grad_out.to(out.device), grad_final.to(final.device)))
    for name in inputs:
        compare(ours[name].grad, inputs[name].grad, f"d{name}", **GRAD_TOL)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case", CASES)
def test_scan_matches_fla_chunk_gla(case, form, compare):
    gla = require("fla.ops.gla")
    device = triton_device()
    batch, offsets, scale = CASES[case]
    backend, chunk_size = FORMS[form]
    cu_seqlens = None if offsets is None else torch.tensor(offsets, dtype=torch.long, device=device)
    inputs = gla_inputs(batch, batch if offsets is None else len(offsets) - 1, device=device)

    out_ref, final_ref = gla.chunk_gla(**inputs, scale=scale, output_final_state=True, cu_seqlens=cu_seqlens)
    ours = fresh(inputs)
    out, final = scan(
        **ours, scale=scale, output_final_state=True, cu_seqlens=cu_seqlens, chunk_size=chunk_size,
        backend=backend,
    )
    compare_all(compare, ours, out, final, inputs, out_ref, final_ref)


@pytest.mark.parametrize("case", CASES)
def test_scan_matches_fla_naive_recurrent_gla(case, compare):
    naive = require("fla.ops.gla.naive")
    batch, offsets, _ = CASES[case]  # the naive form has no scale argument: K ** -0.5 on both sides
    inputs = gla_inputs(batch, batch if offsets is None else len(offsets) - 1)

    if offsets is None:
        out_ref, final_ref = naive.naive_recurrent_gla(
            *(inputs[name] for name in ("q", "k", "v", "g")), initial_state=inputs["initial_state"],
            output_final_state=True,
        )
    else:  # no cu_seqlens upstream: one sequence at a time
        pieces = [
            naive.naive_recurrent_gla(
                *(inputs[name][:, start:end] for name in ("q", "k", "v", "g")),
                initial_state=inputs["initial_state"][n : n + 1], output_final_state=True,
            )
            for n, (start, end) in enumerate(zip(offsets, offsets[1:]))
        ]
        out_ref = torch.cat([piece[0] for piece in pieces], dim=1)
        final_ref = torch.cat([piece[1] for piece in pieces], dim=0)
    cu_seqlens = None if offsets is None else torch.tensor(offsets, dtype=torch.long)
    ours = fresh(inputs)
    out, final = scan(**ours, output_final_state=True, cu_seqlens=cu_seqlens, chunk_size=8, backend="torch")
    compare_all(compare, ours, out, final, inputs, out_ref, final_ref)
