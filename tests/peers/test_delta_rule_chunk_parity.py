"""zoo.kernels.delta_rule against flash-linear-attention's chunked Triton kernels, `chunk_delta_rule`
(DeltaNet) and `chunk_gated_delta_rule` (gated DeltaNet), on a CPU machine under the Triton interpreter:
outputs, final states and every gradient fla gives (q, k, v, beta, g, initial state), dense and varlen
(with an empty sequence, the in-kernel L2 norm of q and k, and a scale), for our reference (float64, on
the same rounded inputs) and our Triton form (the same inputs as fla's).

fla's conventions are ours: q, k [B, T, H, K], v [B, T, H, V], beta and g [B, T, H], the decay applied to
the state before the delta update, o_t = S_t^T (scale q_t), states [N, H, K, V], cu_seqlens [N + 1] with
B == 1; only the argument order differs (chunk_gated_delta_rule takes g before beta).

Precisions: `chunk_delta_rule` refuses float32 (it asserts `q.dtype != torch.float32`, on any device) and
the interpreter does not compute bfloat16 correctly, so DeltaNet is compared in float16; gated DeltaNet in
float16 and in float32 (`chunk_gated_delta_rule` takes float32, and runs it exactly under the interpreter:
no TF32 there). q, k, v and beta are in that precision; g and the initial state float32 (as gated DeltaNet
feeds them).
Shapes: T=77 (fla's chunks of 64: a full and a partial one; ours of 32: two full and a partial one),
H=2, K=32, V=16 (K != V, so a transposed state cannot pass).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.kernels.delta_rule import delta_rule, delta_rule_reference

from .oracles import require, triton_device

pytestmark = pytest.mark.peers

# Tolerances relative to the largest entry of each expected tensor (atol = TOL * max(max |expected|, 1),
# rtol = TOL). float16: fla keeps q, k, v, W, U and the UT transform's blocks in float16 and stores o, dq,
# dk, dv, dbeta in float16; ours too (with M in float32): over 24 runs (6 seeds x 4 cases) fla was off from
# the float64 reference by up to 1.1e-3 of the largest entry, and from ours by up to 1.5e-3; a wrong decay
# order, scale, beta or state layout shows at 1e-1. float32: both sides compute in float32 in a different
# order (chunks of 64 against 32, fla's blocked triangular inverse against our row-by-row one): up to
# 7e-7 of the largest entry (over the same 24 runs); 1e-4 leaves over two orders of magnitude.
TOLERANCES = {torch.float16: 1e-2, torch.float32: 1e-4}
# (gated, dtype): DeltaNet has no float32 case (see above).
PRECISIONS = {
    "gated-float16": (True, torch.float16),
    "deltanet-float16": (False, torch.float16),
    "gated-float32": (True, torch.float32),
}
LENGTH, HEADS, KEY_DIM, VALUE_DIM = 77, 2, 32, 16
CASES = {
    # name: (batch, cu_seqlens, scale, use_qk_l2norm_in_kernel)
    "dense": (2, None, None, False),
    "varlen-l2norm": (1, [0, 9, 9, 77], 0.3, True),  # an empty sequence; the last crosses chunk boundaries
}
NAMES = ("q", "k", "v", "beta", "g", "initial_state")


def delta_inputs(batch, num_states, gated, dtype, l2norm, device):
    """Leaf tensors: q, k, v, beta in `dtype`, g (None unless gated) and initial_state float32. Keys are unit
    vectors (as DeltaNet feeds them) unless the kernel L2-normalises them."""
    k = torch.randn(batch, LENGTH, HEADS, KEY_DIM)
    tensors = dict(
        q=torch.randn(batch, LENGTH, HEADS, KEY_DIM).to(dtype),
        k=(k if l2norm else F.normalize(k, dim=-1)).to(dtype),
        v=torch.randn(batch, LENGTH, HEADS, VALUE_DIM).to(dtype),
        beta=torch.rand(batch, LENGTH, HEADS).sigmoid().to(dtype),
        g=F.logsigmoid(torch.randn(batch, LENGTH, HEADS) + 2) if gated else None,
        initial_state=torch.randn(num_states, HEADS, KEY_DIM, VALUE_DIM),
    )
    return {n: None if t is None else t.to(device).requires_grad_() for n, t in tensors.items()}


def fresh(inputs, dtype=None, device=None):
    """Detached copies of `inputs` (cast to `dtype` and moved to `device` when given) with their own grads."""
    return {
        n: None if t is None else t.detach().to(device=device or t.device, dtype=dtype or t.dtype).requires_grad_()
        for n, t in inputs.items()
    }


def run_fla(inputs, gated, **options):
    if gated:
        fla = require("fla.ops.gated_delta_rule")
        return fla.chunk_gated_delta_rule(
            inputs["q"], inputs["k"], inputs["v"], inputs["g"], inputs["beta"],
            initial_state=inputs["initial_state"], output_final_state=True, **options,
        )
    fla = require("fla.ops.delta_rule")
    return fla.chunk_delta_rule(
        inputs["q"], inputs["k"], inputs["v"], inputs["beta"],
        initial_state=inputs["initial_state"], output_final_state=True, **options,
    )


def grads_of(inputs, out, final, d_out, d_final):
    """The gradients of <out, d_out> + <final, d_final> for every input that is given."""
    names = [n for n in NAMES if inputs[n] is not None]
    loss = (out * d_out.to(out.device, out.dtype)).sum() + (final * d_final.to(final.device, final.dtype)).sum()
    return dict(zip(names, torch.autograd.grad(loss, [inputs[n] for n in names])))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_delta_rule_matches_fla_chunk(precision, case, compare):
    device = triton_device()
    gated, dtype = PRECISIONS[precision]
    batch, offsets, scale, l2norm = CASES[case]
    num_states = batch if offsets is None else len(offsets) - 1
    inputs = delta_inputs(batch, num_states, gated, dtype, l2norm, device)
    options = dict(scale=scale, use_qk_l2norm_in_kernel=l2norm)

    def cu_seqlens(dev):
        return None if offsets is None else torch.tensor(offsets, dtype=torch.long, device=dev)

    theirs = fresh(inputs)
    out_fla, final_fla = run_fla(theirs, gated, cu_seqlens=cu_seqlens(device), **options)
    d_out = torch.randn(out_fla.shape, dtype=torch.float64)
    d_final = torch.randn(final_fla.shape, dtype=torch.float64)
    grads_fla = grads_of(theirs, out_fla, final_fla, d_out, d_final)

    exact = fresh(inputs, torch.float64, "cpu")
    ours = fresh(inputs)
    forms = {
        "reference": (exact, delta_rule_reference(
            *(exact[n] for n in NAMES[:3]), beta=exact["beta"], g=exact["g"], initial_state=exact["initial_state"],
            output_final_state=True,
            cu_seqlens=cu_seqlens("cpu"), **options,
        )),
        "triton": (ours, delta_rule(
            *(ours[n] for n in NAMES[:3]), beta=ours["beta"], g=ours["g"], initial_state=ours["initial_state"],
            output_final_state=True,
            cu_seqlens=cu_seqlens(device), chunk_size=32, backend="triton", **options,
        )),
    }
    for form, (leaves, (out, final)) in forms.items():
        assert out.dtype == leaves["q"].dtype
        assert final.dtype == (torch.float64 if form == "reference" else torch.float32)
        grads = grads_of(leaves, out, final, d_out, d_final)
        pairs = [("output", out, out_fla), ("final state", final, final_fla)]
        pairs += [(f"grad of {n}", grads[n], grads_fla[n]) for n in grads_fla]
        for what, actual, expected in pairs:
            assert actual.dtype == (torch.float64 if form == "reference" else expected.dtype), what
            tol = TOLERANCES[dtype]
            compare(actual, expected, f"{form} vs fla: {what}", rtol=tol,
                    atol=tol * max(expected.detach().abs().max().item(), 1.0))
