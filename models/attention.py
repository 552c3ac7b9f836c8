"""Softmax attention mixers. This file holds the full causal attention baseline (torch SDPA) with
rotary embeddings, grouped-query heads and a KV cache for decoding."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from zoo.models.rotary import RotaryEmbedding


@dataclass
class AttentionConfig:
    """Hyperparameters of an attention layer."""

    num_heads: int = 4
    num_kv_heads: int = 0  # 0: as many as num_heads (no grouped-query attention)
    head_dim: int = 0  # 0: d_model // num_heads
    rope_base: float = 10000.0
    qkv_bias: bool = False
    out_bias: bool = False


@dataclass
class AttentionState:
    """KV cache of one attention layer: rotated keys and values `[B, S, H_kv, D]` of the S tokens seen."""

    key: torch.Tensor
    value: torch.Tensor

    @property
    def length(self) -> int:
        return self.key.shape[1]


def _varlen_positions_and_mask(cu_seqlens: torch.Tensor, total: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions `[T]` restarting at each sequence and a block-diagonal causal mask `[T, T]` (True = attend)."""
    index = torch.arange(total, device=cu_seqlens.device)
    sequence = torch.searchsorted(cu_seqlens[1:], index, right=True)
    positions = index - cu_seqlens[sequence]
    mask = (sequence[:, None] == sequence[None, :]) & (index[None, :] <= index[:, None])
    return positions, mask


class Attention(nn.Module):
    """Causal multi-head softmax attention: `[B, T, d_model] -> [B, T, d_model]`."""

    def __init__(self, d_model: int, config: AttentionConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.num_kv_heads = config.num_kv_heads or config.num_heads
        self.head_dim = config.head_dim or d_model // config.num_heads
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"attention: num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.num_kv_heads})"
            )
        q_dim, kv_dim = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        self.in_proj = nn.Linear(d_model, q_dim + 2 * kv_dim, bias=config.qkv_bias)
        self.out_proj = nn.Linear(q_dim, d_model, bias=config.out_bias)
        self.rotary = RotaryEmbedding(self.head_dim, config.rope_base)

    def forward(
        self,
        x: torch.Tensor,
        state: AttentionState | None = None,
        cu_seqlens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, AttentionState | None]:
        """x: `[B, T, d_model]`; state: the KV cache of earlier tokens (queries then sit after them);
        cu_seqlens: `[N + 1]` boundaries of packed sequences (B == 1, no cache).
        Returns y `[B, T, d_model]` and the cache extended by these T tokens (None for packed input)."""
        batch, length, _ = x.shape
        q_dim, kv_dim = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        q, k, v = self.in_proj(x).split([q_dim, kv_dim, kv_dim], dim=-1)
        q = q.view(batch, length, self.num_heads, self.head_dim)
        k = k.view(batch, length, self.num_kv_heads, self.head_dim)
        v = v.view(batch, length, self.num_kv_heads, self.head_dim)

        mask, is_causal = None, False
        if cu_seqlens is not None:
            if state is not None:
                raise ValueError("attention: a KV cache cannot be combined with packed sequences (cu_seqlens)")
            positions, mask = _varlen_positions_and_mask(cu_seqlens, length)
        else:
            offset = state.length if state is not None else 0
            positions = torch.arange(offset, offset + length, device=x.device)
            is_causal = offset == 0
            if not is_causal:
                # queries sit after the cached tokens: query i sees keys up to offset + i
                keys = torch.arange(offset + length, device=x.device)
                mask = keys[None, :] <= positions[:, None]
        q, k = self.rotary(q, positions), self.rotary(k, positions)
        if state is not None:
            k, v = torch.cat((state.key, k), dim=1), torch.cat((state.value, v), dim=1)

        y = F.scaled_dot_product_attention(
            rearrange(q, "b t h d -> b h t d"),
            rearrange(k, "b s h d -> b h s d"),
            rearrange(v, "b s h d -> b h s d"),
            attn_mask=mask,
            is_causal=is_causal,
            enable_gqa=self.num_kv_heads != self.num_heads,
        )
        y = self.out_proj(rearrange(y, "b h t d -> b t (h d)"))
        return y, (None if cu_seqlens is not None else AttentionState(k, v))

    def step(self, x: torch.Tensor, state: AttentionState | None) -> tuple[torch.Tensor, AttentionState]:
        """One decoding step: x `[B, d_model]` -> y `[B, d_model]` and the cache grown by one token."""
        y, state = self.forward(x[:, None], state)
        return y[:, 0], state
