"""The causal depthwise short convolution layer shared by Mamba, xLSTM and DeltaNet mixers."""

from __future__ import annotations

import math

import torch
from torch import nn
from zoo.kernels import short_conv, short_conv_step


class ShortConv(nn.Module):
    """Causal depthwise conv1d over `[B, T, D]` with kernel width `W` and an optional SiLU.

    The weight is `[D, W]`, the last tap multiplying the current token; the decoding state holds
    the last `W - 1` inputs, `[B, D, W - 1]`.
    """

    def __init__(self, dim: int, width: int, bias: bool = True, activation: str | None = "silu"):
        super().__init__()
        self.activation = activation
        bound = 1.0 / math.sqrt(width)  # nn.Conv1d's default for a depthwise kernel
        self.weight = nn.Parameter(torch.empty(dim, width).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(dim).uniform_(-bound, bound)) if bias else None

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None, cu_seqlens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x `[B, T, D]`, state `[N, D, W - 1]` -> (y `[B, T, D]`, final state `[N, D, W - 1]`)."""
        return short_conv(
            x,
            self.weight,
            self.bias,
            activation=self.activation,
            initial_state=state,
            output_final_state=True,
            cu_seqlens=cu_seqlens,
        )

    def step(self, x: torch.Tensor, state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """x `[B, D]`, state `[B, D, W - 1]` -> (y `[B, D]`, new state)."""
        return short_conv_step(x, state, self.weight, self.bias, activation=self.activation)
