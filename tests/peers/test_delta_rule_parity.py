"""zoo.kernels.delta_rule against flash-linear-attention's naive recurrences (plain torch, loops over time):
`naive_recurrent_gated_delta_rule` (gated DeltaNet) and `delta_rule_recurrence` (DeltaNet), for outputs,
final states and every gradient, in float32, for our chunked form (the CPU path), our reference and our
Triton form (on a CPU machine under the interpreter).

fla's conventions are ours: q, k [B, T, H, K], v [B, T, H, V], beta and g [B, T, H], the decay applied to
the state before the delta update, o_t = S_t^T (scale q_t), states [B, H, K, V]. delta_rule_recurrence
takes head-first tensors [B, H, T, *] and always scales by K ** -0.5.
Shapes: T=77 (ours in chunks of 32: two full and a partial one), H=3, K=16, V=8 (K != V, so a transposed
state cannot pass); keys L2-normalised as DeltaNet feeds them.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.kernels.delta_rule import delta_rule, delta_rule_chunked, delta_rule_reference

from .oracles import require, triton_device

pytestmark = pytest.mark.peers

# Float32 on both sides, differing in the order of summation (and, for the chunked form, a triangular
# solve instead of the loop): errors near 1e-6, while a wrong decay order, scale or layout shows at 1e-1.
FWD_TOL = dict(rtol=1e-4, atol=1e-4)
GRAD_TOL = dict(rtol=5e-4, atol=5e-4)
B, T, H, K, V = 2, 77, 3, 16, 8
FORMS = {
    "chunked": lambda *a, **o: delta_rule_chunked(*a, chunk_size=32, **o),
    "reference": delta_rule_reference,
    "triton": lambda *a, **o: delta_rule(*a, chunk_size=32, backend="triton", **o),
}


def make_inputs(gated: bool, device="cpu"):
    tensors = dict(
        q=torch.randn(B, T, H, K),
        k=F.normalize(torch.randn(B, T, H, K), dim=-1),
        v=torch.randn(B, T, H, V),
        beta=torch.rand(B, T, H).sigmoid(),
        g=F.logsigmoid(torch.randn(B, T, H) + 2) if gated else None,
        h0=torch.randn(B, H, K, V),
    )
    return {n: t if t is None else t.to(device).requires_grad_() for n, t in tensors.items()}


def clone(inputs):
    return {n: t if t is None else t.detach().clone().requires_grad_() for n, t in inputs.items()}


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("gated", [True, False], ids=["gated", "deltanet"])
def test_delta_rule_matches_fla_naive(form, gated, compare):
    inputs = make_inputs(gated, triton_device() if form == "triton" else "cpu")
    theirs = clone(inputs)
    if gated:
        naive = require("fla.ops.gated_delta_rule.naive")
        out_ref, final_ref = naive.naive_recurrent_gated_delta_rule(
            theirs["q"], theirs["k"], theirs["v"], theirs["beta"], theirs["g"],
            initial_state=theirs["h0"], output_final_state=True,
        )
    else:
        naive = require("fla.ops.delta_rule.naive")
        head_first = [theirs[n].transpose(1, 2) for n in ("q", "k", "v", "beta")]
        out_ref, final_ref = naive.delta_rule_recurrence(
            *head_first, initial_state=theirs["h0"], output_final_state=True
        )
        out_ref = out_ref.transpose(1, 2)
    out, final = FORMS[form](
        inputs["q"], inputs["k"], inputs["v"], beta=inputs["beta"], g=inputs["g"],
        initial_state=inputs["h0"], output_final_state=True,
    )
    compare(out, out_ref, "output", **FWD_TOL)
    compare(final, final_ref, "final state", **FWD_TOL)

    d_out, d_state = torch.randn_like(out), torch.randn_like(final)
    names = [n for n, t in inputs.items() if t is not None]
    ours = torch.autograd.grad((out * d_out).sum() + (final * d_state).sum(), [inputs[n] for n in names])
    ref = torch.autograd.grad((out_ref * d_out).sum() + (final_ref * d_state).sum(), [theirs[n] for n in names])
    for name, a, e in zip(names, ours, ref):
        compare(a, e, f"grad of {name}", **GRAD_TOL)
