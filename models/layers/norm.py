"""Normalisation layers: RMSNorm and the gated RMSNorm of Mamba-2."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 for half-precision and float32 inputs, float64 for float64 ones (never lower than the input)."""
    return torch.promote_types(x.dtype, torch.float32)


def rms_normalize(x: torch.Tensor, eps: float) -> torch.Tensor:
    """x / rms(x) over the last dimension, computed in float32 (float64 for float64 x). Shape is kept."""
    x32 = x.to(_compute_dtype(x))
    return x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)


class RMSNorm(nn.Module):
    """RMSNorm with a learned scale: `[..., d] -> [..., d]`, statistics in float32 (float64 for float64 x)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = rms_normalize(x, self.eps)
        return (h * self.weight.to(h.dtype)).to(x.dtype)


class GatedRMSNorm(nn.Module):
    """Mamba-2's output norm: `norm(x * silu(z))`, normalised in groups of `group_size` channels.

    x, z: `[..., d]` -> `[..., d]`. With `norm_before_gate=True` it is `norm(x) * silu(z)` instead (the
    output norm of fla's DeltaNet and Gated DeltaNet, `FusedRMSNormGated`); `activation="sigmoid"` gates
    with `sigmoid(z)` instead of `silu(z)`.
    """

    ACTIVATIONS = ("silu", "sigmoid")

    def __init__(
        self, dim: int, group_size: int, eps: float = 1e-5, norm_before_gate: bool = False, activation: str = "silu"
    ):
        super().__init__()
        if dim % group_size:
            raise ValueError(f"GatedRMSNorm: dim {dim} is not a multiple of group_size {group_size}")
        if activation not in self.ACTIVATIONS:
            raise ValueError(f"GatedRMSNorm: activation must be one of {self.ACTIVATIONS}, got {activation!r}")
        self.eps = eps
        self.group_size = group_size
        self.norm_before_gate = norm_before_gate
        self.activation = activation
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        dtype = _compute_dtype(x)
        gate = F.silu(z.to(dtype)) if self.activation == "silu" else torch.sigmoid(z.to(dtype))
        h = x.to(dtype) if self.norm_before_gate else x.to(dtype) * gate
        grouped = h.unflatten(-1, (-1, self.group_size))
        h = rms_normalize(grouped, self.eps).flatten(-2) * self.weight.to(dtype)
        if self.norm_before_gate:
            h = h * gate
        return h.to(x.dtype)


class LayerNorm(nn.Module):
    """LayerNorm with a learned scale and no bias (xlstm's block norms): `[..., d] -> [..., d]`, statistics in
    float32 (float64 for float64 x). The scale is stored as is (init 1); xlstm stores it minus one."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = _compute_dtype(x)
        return F.layer_norm(x.to(dtype), x.shape[-1:], self.weight.to(dtype), None, self.eps).to(x.dtype)


# `ModelConfig.norm` -> the norm of every block and the final norm
NORMS = {"rmsnorm": RMSNorm, "layernorm": LayerNorm}


def build_norm(kind: str, dim: int, eps: float) -> nn.Module:
    """The block norm `kind` names (`NORMS`); a ValueError names the config key and the choices."""
    if kind not in NORMS:
        raise ValueError(f"model config key 'norm': '{kind}' is not a norm; choose one of: {', '.join(NORMS)}")
    return NORMS[kind](dim, eps)
