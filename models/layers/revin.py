"""Reversible instance normalisation (RevIN, Kim et al., ICLR 2022) for forecasting: each input window is normalised
by its own per-channel mean and standard deviation (then a learned per-channel affine map), and the forecast is mapped
back with the same statistics, so that a shift in level or scale between windows does not reach the network."""

from __future__ import annotations

import torch
from torch import nn


class RevIN(nn.Module):
    """`normalize`: values `[B, T, C]` (and real lengths `[B]`) -> normalised values, statistics;
    `denormalize`: forecasts `[B, H, C]`, statistics -> forecasts in the input's units."""

    def __init__(self, channels: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if affine else None

    def normalize(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x `[B, T, C]` -> (normalised x `[B, T, C]`, (mean, std) `[B, 1, C]` each), over the first `lengths[b]`
        steps of each window (all T when None; padded steps come out zero)."""
        values = x.to(torch.promote_types(x.dtype, torch.float32))
        if lengths is None:
            mask = torch.ones_like(values[..., :1])
        else:
            mask = (torch.arange(values.shape[1], device=x.device) < lengths[:, None])[..., None].to(values.dtype)
        count = mask.sum(1, keepdim=True).clamp_min(1)
        mean = (values * mask).sum(1, keepdim=True) / count
        std = (((values - mean) * mask).square().sum(1, keepdim=True) / count + self.eps).sqrt()
        normalized = (values - mean) / std
        if self.weight is not None:
            normalized = normalized * self.weight + self.bias
        return (normalized * mask).to(x.dtype), (mean, std)

    def denormalize(self, y: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """y `[B, H, C]` (normalised units) -> y in the units of the window the statistics came from."""
        mean, std = stats
        values = y.to(torch.promote_types(y.dtype, torch.float32))
        if self.weight is not None:
            values = (values - self.bias) / (self.weight + self.eps * self.eps)
        return (values * std + mean).to(y.dtype)
