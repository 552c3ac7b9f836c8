"""Building blocks shared by the xLSTM family's mLSTM and sLSTM layers (xlstm 2.0.6's layouts)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from zoo.models.config import ModelConfigError


def round_up_dim(factor: float, dim: int, multiple: int) -> int:
    """`factor * dim` rounded up to a multiple of `multiple` (xlstm's `UpProjConfigMixin` with its default
    `round_proj_up_dim_up=True`)."""
    return int(math.ceil(factor * dim / multiple) * multiple)


def bad_key(section: str, key: str, message: str) -> ModelConfigError:
    """The error of a wrong value in mixer section `section` (`mlstm`, `slstm`), naming the key."""
    return ModelConfigError(f"mixers.{section}.{key}", message)


def small_init_std(dim: int) -> float:
    """xlstm's `small_init_init_`: N(0, sqrt(2 / (5 dim)))."""
    return math.sqrt(2 / (5 * dim))


class HeadwiseLinear(nn.Module):
    """A block-diagonal linear map (xlstm's `LinearHeadwiseExpand` without expansion): the `dim` channels are
    split into `num_heads` groups, each mapped by its own `[dim/H, dim/H]` matrix.

    weight `[H, out/H, in/H]` (xlstm's layout: y_h = W_h x_h), bias `[dim]` or None; `[..., dim] -> [..., dim]`.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool, std: float):
        super().__init__()
        self.num_heads = num_heads
        block = dim // num_heads
        self.weight = nn.Parameter(torch.randn(num_heads, block, block) * std)
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("...hi,hoi->...ho", x.unflatten(-1, (self.num_heads, -1)), self.weight).flatten(-2)
        return y if self.bias is None else y + self.bias


class MultiHeadLayerNorm(nn.Module):
    """LayerNorm of each head's channels on their own, with a scale over all channels and no bias (xlstm's
    `MultiHeadLayerNorm`, a group norm with one group per head): `[..., H, Dh] -> [..., H * Dh]`.

    Statistics in float32 (float64 for float64 input). The scale is stored as is (init 1), where xlstm stores
    it minus one (`residual_weight`).
    """

    def __init__(self, dim: int, num_heads: int, eps: float = 1e-5):
        super().__init__()
        self.num_heads, self.eps = num_heads, eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = torch.promote_types(x.dtype, torch.float32)
        h = F.layer_norm(x.to(dtype), x.shape[-1:], eps=self.eps)
        h = h * self.weight.to(dtype).view(self.num_heads, -1)
        return h.flatten(-2).to(x.dtype)


