"""zoo.models.Mamba2 against mamba_ssm's `Mamba2(use_mem_eff_path=False)` on the same weights, in float32.

mamba_ssm's unfused path runs in_proj, a depthwise nn.Conv1d (causal_conv1d's kernel is not built on a
CPU machine), `mamba_chunk_scan_combined` and its gated RMSNorm (both Triton; on a CPU machine under the
interpreter), then out_proj. B=2, T=37 (not a multiple of the chunk size 16), d_model=32, expand 2,
headdim 16 (4 heads) in 2 groups, d_state 16.
"""

from __future__ import annotations

import pytest
import torch

from zoo.models.families.mamba import Mamba2, Mamba2Config

from .oracles import require, triton_device

pytestmark = pytest.mark.peers

HPARAMS = dict(d_state=16, d_conv=4, expand=2, headdim=16, ngroups=2, chunk_size=16)

# Float32 tolerances. The layers agree up to the order of summation inside the scan, the convolution and
# the norm; the output is a projection of 64 channels after an RMSNorm, entries of order 1, and the
# rounding stays near 1e-6 (see the max abs errors printed), while a mis-mapped weight (a conv tap
# reversed, heads or groups permuted, the norm grouped differently) shows at 1e-1. Parameter gradients
# sum over all B*T positions: 5e-4.
FWD_TOL = dict(rtol=1e-4, atol=1e-4)
GRAD_TOL = dict(rtol=5e-4, atol=5e-4)


def convert_mamba_ssm_mamba2(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mamba_ssm `Mamba2` state dict -> zoo.models.Mamba2 state dict.

    The names are the same; only the depthwise conv weight changes shape, nn.Conv1d's [D, 1, W] to our
    ShortConv's [D, W] (same tap order: the last tap multiplies the current token).
    """
    names = {"in_proj.weight", "conv1d.weight", "conv1d.bias", "dt_bias", "A_log", "D", "norm.weight", "out_proj.weight"}
    unexpected = set(state_dict) - names
    assert not unexpected, f"mamba_ssm Mamba2 keys with no counterpart: {sorted(unexpected)}"
    converted = dict(state_dict)
    converted["conv1d.weight"] = state_dict["conv1d.weight"].squeeze(1)
    return converted


def test_mamba2_matches_mamba_ssm(compare):
    modules = require("mamba_ssm.modules.mamba2")
    device = triton_device()
    d_model = 32
    reference = modules.Mamba2(d_model, **HPARAMS, use_mem_eff_path=False, device=device)
    with torch.no_grad():  # move the parameters that mamba_ssm initialises to constants off them
        reference.D.normal_()
        reference.norm.weight.normal_(1.0, 0.2)
        reference.conv1d.bias.normal_(0.0, 0.2)
    ours = Mamba2(d_model, Mamba2Config(**HPARAMS)).to(device)
    ours.load_state_dict(convert_mamba_ssm_mamba2(reference.state_dict()), strict=True)

    x = torch.randn(2, 37, d_model, device=device)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref = reference(x_ref)
    y, _ = ours(x_ours)
    compare(y, y_ref, "y", **FWD_TOL)

    grad = torch.randn_like(y_ref)
    y_ref.backward(grad)
    y.backward(grad)
    compare(x_ours.grad, x_ref.grad, "dx", **GRAD_TOL)
    grads_ref = convert_mamba_ssm_mamba2({name: p.grad for name, p in reference.named_parameters()})
    for name, parameter in ours.named_parameters():
        compare(parameter.grad, grads_ref[name], f"d{name}", **GRAD_TOL)
