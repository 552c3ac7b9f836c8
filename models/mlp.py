"""The gated MLP (SwiGLU) that follows the mixer in a block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GatedMLP(nn.Module):
    """`fc2(a * silu(g))` with `[a, g] = fc1(x)`: `[B, T, d] -> [B, T, d]`, hidden size `d_intermediate`."""

    def __init__(self, d_model: int, d_intermediate: int, bias: bool = False):
        super().__init__()
        self.fc1 = nn.Linear(d_model, 2 * d_intermediate, bias=bias)
        self.fc2 = nn.Linear(d_intermediate, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, g = self.fc1(x).chunk(2, dim=-1)
        return self.fc2(a * F.silu(g))
