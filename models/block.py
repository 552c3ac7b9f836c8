"""One residual block: pre-norm mixer, then an optional pre-norm gated MLP."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from zoo.models.layers.mlp import GatedMLP
from zoo.models.layers.norm import build_norm


class Block(nn.Module):
    """`x + mixer(norm(x))`, then `+ mlp(norm(.))` when `d_intermediate > 0`: `[B, T, d] -> [B, T, d]`.

    norm: "rmsnorm" or "layernorm" (bias-free, xLSTM's); mlp_activation: the gated MLP's "silu" or "gelu".
    """

    def __init__(
        self,
        d_model: int,
        mixer: nn.Module,
        d_intermediate: int,
        norm_eps: float,
        norm: str = "rmsnorm",
        mlp_activation: str = "silu",
    ):
        super().__init__()
        self.norm = build_norm(norm, d_model, norm_eps)
        self.mixer = mixer
        self.norm2 = build_norm(norm, d_model, norm_eps) if d_intermediate > 0 else None
        self.mlp = GatedMLP(d_model, d_intermediate, activation=mlp_activation) if d_intermediate > 0 else None

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mlp is None else x + self.mlp(self.norm2(x))

    def forward(
        self, x: torch.Tensor, state: Any = None, cu_seqlens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Any]:
        """x `[B, T, d]` and the mixer's state -> (y `[B, T, d]`, the mixer's new state)."""
        y, state = self.mixer(self.norm(x), state, cu_seqlens)
        return self._mlp(x + y), state

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """x `[B, d]` -> (y `[B, d]`, new state) for one token."""
        y, state = self.mixer.step(self.norm(x), state)
        return self._mlp(x + y), state
