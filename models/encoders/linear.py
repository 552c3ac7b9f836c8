"""The linear encoder: real-valued channels per step (time series, normalised pixels) mapped to d_model."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from zoo.models.config import ModelConfigError
from zoo.models.registry import register_encoder


@dataclass
class LinearEncoderConfig:
    """`in_channels` real values per step, mapped by one linear layer (S4's encoder for real-valued inputs)."""

    kind: str = "linear"
    in_channels: int = 1
    bias: bool = True


@register_encoder("linear", config=LinearEncoderConfig)
class LinearEncoder(nn.Module):
    """Values `[B, T, C]` -> `[B, T, d_model]`; one step's values `[B, C]` -> `[B, d_model]`."""

    reads = "channels"

    def __init__(self, d_model: int, config: LinearEncoderConfig):
        super().__init__()
        if isinstance(config.in_channels, bool) or config.in_channels < 1:
            raise ModelConfigError("encoder.in_channels", f"must be a positive int, got {config.in_channels!r}")
        self.in_channels = config.in_channels
        self.linear = nn.Linear(config.in_channels, d_model, bias=config.bias)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not inputs.is_floating_point() or inputs.shape[-1] != self.in_channels:
            raise ValueError(
                f"the linear encoder takes real values [..., {self.in_channels}] (channels last), got a "
                f"{inputs.dtype} tensor of shape {tuple(inputs.shape)}"
            )
        return self.linear(inputs.to(self.linear.weight.dtype))
