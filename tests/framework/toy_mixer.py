"""A mixer defined outside the seqzoo package, as a user would write one: each token sees the one before it
(`y_t = scale * W x_{t-1}`, zero at the start of each sequence). tests/framework/test_user_mixer.py trains it from a
YAML that imports this file."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from zoo.models import register_mixer


@dataclass
class PreviousTokenConfig:
    scale: float = 1.0


@register_mixer("previous_token", config=PreviousTokenConfig)
class PreviousToken(nn.Module):
    """`[B, T, d] -> [B, T, d]`; the decoding state is the last token `[B, d]`."""

    def __init__(self, d_model: int, config: PreviousTokenConfig):
        super().__init__()
        self.scale = config.scale
        self.out_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x, state=None, cu_seqlens=None):
        first = torch.zeros_like(x[:, :1]) if state is None else state[:, None]
        previous = torch.cat([first, x[:, :-1]], dim=1)
        if cu_seqlens is not None:  # packed sequences: nothing comes before a sequence's first token
            starts = cu_seqlens[:-1][cu_seqlens[:-1] < x.shape[1]]
            previous = previous.index_fill(1, starts, 0.0)
            final = x[0, (cu_seqlens[1:] - 1).clamp(min=0)]
        else:
            final = x[:, -1]
        return self.scale * self.out_proj(previous), final

    def step(self, x, state):
        previous = torch.zeros_like(x) if state is None else state
        return self.scale * self.out_proj(previous), x
