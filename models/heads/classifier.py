"""The pooled classifier head: one class per sequence from features pooled over its real positions."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from zoo.models.heads.checks import check_head_config
from zoo.models.heads.pooling import pool
from zoo.models.registry import register_head


@dataclass
class ClassifierConfig:
    """`num_outputs` classes per sequence: features pooled (`last`, `mean` or `first` real position), dropout, linear."""

    kind: str = "classifier"
    num_outputs: int = 2
    pool: str = "mean"
    dropout: float = 0.0


@register_head("classifier", config=ClassifierConfig)
class Classifier(nn.Module):
    """features `[B, T, d_model]`, real lengths `[B]` -> logits `[B, num_outputs]`."""

    per_token = False

    def __init__(self, d_model: int, config: ClassifierConfig, encoder: nn.Module):
        super().__init__()
        check_head_config(config)
        self.num_outputs = config.num_outputs
        self.pool = config.pool
        self.dropout = nn.Dropout(config.dropout)
        self.linear = nn.Linear(d_model, config.num_outputs)

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor | None = None, pre_logits: bool = False
    ) -> torch.Tensor:
        """With pre_logits, the pooled features `[B, d_model]` instead of logits (timm's convention)."""
        pooled = pool(features, lengths, self.pool)
        return pooled if pre_logits else self.linear(self.dropout(pooled))
