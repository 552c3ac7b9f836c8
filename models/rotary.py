"""Rotary position embeddings (RoFormer), rotating the two halves of each head (GPT-NeoX layout)."""

from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    """Applies rotary embeddings to `[B, T, H, D]` queries or keys at absolute positions `offset + t`."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head_dim, got {head_dim}")
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x: `[B, T, H, D]`, positions: `[T]` or `[B, T]` integer positions -> rotated x, same shape."""
        angles = positions.to(torch.float32)[..., None] * self.inv_freq  # [(B,) T, D/2]
        cos, sin = angles.cos(), angles.sin()
        if cos.dim() == 2:
            cos, sin = cos[None], sin[None]
        cos, sin = cos[:, :, None, :], sin[:, :, None, :]  # [B|1, T, 1, D/2]
        x1, x2 = x.float().chunk(2, dim=-1)
        rotated = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
        return rotated.to(x.dtype)
