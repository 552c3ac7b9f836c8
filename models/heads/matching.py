"""The two-tower matching head (LRA Retrieval): both sequences of a pair run through the same encoder and backbone,
are pooled to u and v, and `[u, v, u * v, u - v]` goes through an MLP (S4's: Linear -> GELU -> Linear)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from zoo.models.heads.checks import check_head_config
from zoo.models.heads.pooling import pool
from zoo.models.registry import register_head


@dataclass
class MatchingConfig:
    """`num_outputs` classes per pair; `hidden` the MLP's width (0: d_model); pooling as the classifier's."""

    kind: str = "matching"
    num_outputs: int = 2
    pool: str = "mean"
    hidden: int = 0
    dropout: float = 0.0


@register_head("matching", config=MatchingConfig)
class Matching(nn.Module):
    """features of both towers `[2B, T, d_model]` (pair member j of pair i at row 2i + j), real lengths `[2B]`
    -> logits `[B, num_outputs]`."""

    per_token = False
    towers = 2

    def __init__(self, d_model: int, config: MatchingConfig, encoder: nn.Module):
        super().__init__()
        check_head_config(config)
        self.num_outputs = config.num_outputs
        self.pool = config.pool
        hidden = config.hidden or d_model
        self.mlp = nn.Sequential(
            nn.Linear(4 * d_model, hidden), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(hidden, config.num_outputs)
        )

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor | None = None, pre_logits: bool = False
    ) -> torch.Tensor:
        """With pre_logits, the pair features `[B, 4 * d_model]` instead of logits."""
        u, v = pool(features, lengths, self.pool).unflatten(0, (-1, 2)).unbind(dim=1)
        pair = torch.cat([u, v, u * v, u - v], dim=-1)
        return pair if pre_logits else self.mlp(pair)
