"""The gated MLP (SwiGLU) that follows the mixer in a block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# `ModelConfig.mlp_activation` -> the gate's activation (gelu is exact GELU, as xlstm's feed-forward uses)
ACTIVATIONS = {"silu": F.silu, "gelu": F.gelu}


class GatedMLP(nn.Module):
    """`fc2(a * act(g))` with `[a, g] = fc1(x)`: `[B, T, d] -> [B, T, d]`, hidden size `d_intermediate`;
    act is SiLU (SwiGLU, the default) or GELU (GeGLU, xLSTM's feed-forward)."""

    def __init__(self, d_model: int, d_intermediate: int, bias: bool = False, activation: str = "silu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"model config key 'mlp_activation': '{activation}' is not an activation; choose one of: "
                f"{', '.join(ACTIVATIONS)}"
            )
        self.activation = ACTIVATIONS[activation]
        self.fc1 = nn.Linear(d_model, 2 * d_intermediate, bias=bias)
        self.fc2 = nn.Linear(d_intermediate, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, g = self.fc1(x).chunk(2, dim=-1)
        return self.fc2(a * self.activation(g))
