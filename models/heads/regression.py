"""The regression / multi-horizon forecasting head: `horizon` future steps of `num_outputs` channels from the pooled
features (the last real position by default: a causal model's summary of the whole input window)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from zoo.models.heads.checks import check_head_config
from zoo.models.heads.pooling import pool
from zoo.models.registry import register_head


@dataclass
class RegressionConfig:
    """`horizon` steps of `num_outputs` real values per sequence (horizon 1: plain regression)."""

    kind: str = "regression"
    num_outputs: int = 1
    horizon: int = 1
    pool: str = "last"
    dropout: float = 0.0


@register_head("regression", config=RegressionConfig)
class Regression(nn.Module):
    """features `[B, T, d_model]`, real lengths `[B]` -> values `[B, horizon, num_outputs]`."""

    per_token = False

    def __init__(self, d_model: int, config: RegressionConfig, encoder: nn.Module):
        super().__init__()
        check_head_config(config)
        self.num_outputs = config.num_outputs
        self.horizon = config.horizon
        self.pool = config.pool
        self.dropout = nn.Dropout(config.dropout)
        self.linear = nn.Linear(d_model, config.horizon * config.num_outputs)

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor | None = None, pre_logits: bool = False
    ) -> torch.Tensor:
        pooled = pool(features, lengths, self.pool)
        if pre_logits:
            return pooled
        return self.linear(self.dropout(pooled)).unflatten(-1, (self.horizon, self.num_outputs))
