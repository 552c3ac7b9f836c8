"""Normalisation layers: RMSNorm and the gated RMSNorm of Mamba-2."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def rms_normalize(x: torch.Tensor, eps: float) -> torch.Tensor:
    """x / rms(x) over the last dimension, computed in float32. Shape is kept."""
    x32 = x.float()
    return x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)


class RMSNorm(nn.Module):
    """RMSNorm with a learned scale: `[..., d] -> [..., d]`, statistics in float32."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (rms_normalize(x, self.eps) * self.weight.float()).to(x.dtype)


class GatedRMSNorm(nn.Module):
    """Mamba-2's output norm: `norm(x * silu(z))`, normalised in groups of `group_size` channels.

    x, z: `[..., d]` -> `[..., d]`. With `norm_before_gate=True` it is `norm(x) * silu(z)` instead.
    """

    def __init__(self, dim: int, group_size: int, eps: float = 1e-5, norm_before_gate: bool = False):
        super().__init__()
        if dim % group_size:
            raise ValueError(f"GatedRMSNorm: dim {dim} is not a multiple of group_size {group_size}")
        self.eps = eps
        self.group_size = group_size
        self.norm_before_gate = norm_before_gate
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        gate = F.silu(z.float())
        h = x.float() if self.norm_before_gate else x.float() * gate
        grouped = h.unflatten(-1, (-1, self.group_size))
        h = rms_normalize(grouped, self.eps).flatten(-2) * self.weight.float()
        if self.norm_before_gate:
            h = h * gate
        return h.to(x.dtype)
