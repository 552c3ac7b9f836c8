"""The per-token classifier head: a class for every position (tagging, per-token labels)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from zoo.models.heads.checks import check_head_config
from zoo.models.registry import register_head


@dataclass
class TokenClassifierConfig:
    """`num_outputs` classes at every position, after dropout."""

    kind: str = "token_classifier"
    num_outputs: int = 2
    dropout: float = 0.0


@register_head("token_classifier", config=TokenClassifierConfig)
class TokenClassifier(nn.Module):
    """features `[B, T, d_model]` -> logits `[B, T, num_outputs]` (one step: `[B, d_model]` -> `[B, num_outputs]`)."""

    per_token = True

    def __init__(self, d_model: int, config: TokenClassifierConfig, encoder: nn.Module):
        super().__init__()
        check_head_config(config)
        self.num_outputs = config.num_outputs
        self.dropout = nn.Dropout(config.dropout)
        self.linear = nn.Linear(d_model, config.num_outputs)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(self.dropout(features))
