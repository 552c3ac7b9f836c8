"""zoo.models.Mamba (Mamba-1) against mamba_ssm's `Mamba(use_fast_path=False)` on the same weights, in float32.

mamba_ssm's unfused path runs in_proj, the depthwise conv (nn.Conv1d when `causal_conv1d_fn` is None, as we
set it here: the CPU build of causal_conv1d has no kernel), x_proj, dt_proj, `selective_scan_fn` (its CUDA
extension; replaced here by mamba_ssm's own `selective_scan_ref`, the loop that defines it) and out_proj.
B=2, T=37, d_model=32, expand 2 (64 channels), d_state 16, dt_rank 4.
"""

from __future__ import annotations

import pytest
import torch

from zoo.models.families.mamba import Mamba, MambaConfig

from .oracles import require

pytestmark = pytest.mark.peers

HPARAMS = dict(d_state=16, d_conv=4, expand=2, dt_rank=4)

# Float32: the layers agree up to the order of summation (the scan's blocked recurrence against the loop);
# errors near 1e-6, while a mis-mapped weight (conv taps reversed, dt bias applied twice, A's sign) shows at
# 1e-1. Parameter gradients sum over all B*T positions: 5e-4.
FWD_TOL = dict(rtol=1e-4, atol=1e-4)
GRAD_TOL = dict(rtol=5e-4, atol=5e-4)


def convert_mamba_ssm_mamba(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mamba_ssm `Mamba` state dict -> zoo.models.Mamba state dict: same names; the conv weight goes from
    nn.Conv1d's [D, 1, W] to ShortConv's [D, W] (the last tap multiplies the current token in both)."""
    names = {"in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight", "dt_proj.bias",
             "A_log", "D", "out_proj.weight"}
    unexpected = set(state_dict) - names
    assert not unexpected, f"mamba_ssm Mamba keys with no counterpart: {sorted(unexpected)}"
    converted = dict(state_dict)
    converted["conv1d.weight"] = state_dict["conv1d.weight"].squeeze(1)
    return converted


def test_mamba_matches_mamba_ssm(compare, monkeypatch):
    simple = require("mamba_ssm.modules.mamba_simple")
    interface = require("mamba_ssm.ops.selective_scan_interface")
    monkeypatch.setattr(simple, "causal_conv1d_fn", None)
    monkeypatch.setattr(simple, "selective_scan_fn", interface.selective_scan_ref)
    d_model = 32
    reference = simple.Mamba(d_model, **HPARAMS, use_fast_path=False)
    with torch.no_grad():  # move the parameters that mamba_ssm initialises to constants off them
        reference.D.normal_()
        reference.A_log.add_(0.3 * torch.randn_like(reference.A_log))
    ours = Mamba(d_model, MambaConfig(**HPARAMS))
    ours.load_state_dict(convert_mamba_ssm_mamba(reference.state_dict()), strict=True)

    x = torch.randn(2, 37, d_model)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref = reference(x_ref)
    y, _ = ours(x_ours)
    compare(y, y_ref, "y", **FWD_TOL)

    grad = torch.randn_like(y_ref)
    y_ref.backward(grad)
    y.backward(grad)
    compare(x_ours.grad, x_ref.grad, "dx", **GRAD_TOL)
    grads_ref = convert_mamba_ssm_mamba({name: p.grad for name, p in reference.named_parameters()})
    for name, parameter in ours.named_parameters():
        compare(parameter.grad, grads_ref[name], f"d{name}", **GRAD_TOL)
