"""Rotary position embeddings (RoFormer), rotating the two halves of each head (GPT-NeoX layout)."""

from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    """Applies rotary embeddings to `[B, T, H, D]` queries or keys at absolute positions `offset + t`.

    rotary_dim: how many leading channels of each head rotate (0: all `head_dim`); the rotated channels are split
    in two halves, channel i turning with channel i + rotary_dim / 2 at frequency `base ** (-2 i / rotary_dim)`, and
    the channels after them pass unchanged (flash_attn's partial, non-interleaved rotary, as mamba_ssm's MHA uses).
    """

    def __init__(self, head_dim: int, base: float = 10000.0, rotary_dim: int = 0):
        super().__init__()
        rotary_dim = rotary_dim or head_dim
        if rotary_dim % 2 or not 0 < rotary_dim <= head_dim:
            raise ValueError(
                f"rotary embeddings need an even number of rotated channels of at most head_dim ({head_dim}), "
                f"got {rotary_dim}"
            )
        self.rotary_dim, self.base = rotary_dim, base
        self.register_buffer("inv_freq", self._inv_freq(), persistent=False)

    def _inv_freq(self) -> torch.Tensor:
        return 1.0 / self.base ** (torch.arange(0, self.rotary_dim, 2, dtype=torch.float32) / self.rotary_dim)

    def init_buffers(self) -> None:
        """Compute the frequencies again (they are not saved: a model materialised from the meta device, as
        transformers' loading does, needs them recomputed)."""
        self.inv_freq = self._inv_freq().to("cpu" if self.inv_freq.is_meta else self.inv_freq.device)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x: `[B, T, H, D]`, positions: `[T]` or `[B, T]` integer positions -> rotated x, same shape."""
        angles = positions.to(torch.float32)[..., None] * self.inv_freq  # [(B,) T, R/2]
        cos, sin = angles.cos(), angles.sin()
        if cos.dim() == 2:
            cos, sin = cos[None], sin[None]
        cos, sin = cos[:, :, None, :], sin[:, :, None, :]  # [B|1, T, 1, R/2]
        rotated, passed = x.float().split([self.rotary_dim, x.shape[-1] - self.rotary_dim], dim=-1)
        x1, x2 = rotated.chunk(2, dim=-1)
        out = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin, passed), dim=-1)
        return out.to(x.dtype)
