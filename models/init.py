"""Weight initialisation shared by every network: GPT-2's scheme."""

from __future__ import annotations

import math

from torch import nn

# Linear layers that write into the residual stream; scaled down at init by 1/sqrt(2 * n_layers) (GPT-2).
# `o_proj`: the output projection of the mixers laid out as fla's layers (DeltaNet, Gated DeltaNet);
# `proj_down`: the mLSTM's (laid out as xlstm's layer).
RESIDUAL_OUTPUTS = ("out_proj", "fc2", "o_proj", "proj_down")


def init_weights(module: nn.Module, std: float, num_layers: int) -> None:
    """Normal(0, std) weights and zero biases for the linear layers and embeddings inside `module`, the residual
    outputs scaled by 1/sqrt(2 * num_layers), except the parameters a mixer marks `_no_reinit` (Mamba's dt
    projection keeps its own initialisation)."""
    residual_scale = 1.0 / math.sqrt(2 * num_layers)
    for name, child in module.named_modules():
        weight, bias = getattr(child, "weight", None), getattr(child, "bias", None)
        if isinstance(child, (nn.Linear, nn.Embedding)) and not getattr(weight, "_no_reinit", False):
            nn.init.normal_(weight, std=std)
            if name.rsplit(".", 1)[-1] in RESIDUAL_OUTPUTS:
                weight.data.mul_(residual_scale)
        if isinstance(child, nn.Linear) and bias is not None and not getattr(bias, "_no_reinit", False):
            nn.init.zeros_(bias)
