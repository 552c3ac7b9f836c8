"""The language-model head: next-token logits over the token encoder's vocabulary, tied to its embedding."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from zoo.models.config import ModelConfigError
from zoo.models.encoders.tokens import TokenEncoderConfig
from zoo.models.registry import register_head


@dataclass
class LMHeadConfig:
    """tie_embeddings: the output projection is the token embedding itself (one `[vocab, d_model]` matrix)."""

    kind: str = "lm"
    tie_embeddings: bool = True


@register_head("lm", config=LMHeadConfig)
class LMHead(nn.Module):
    """features `[B, T, d_model]` -> logits `[B, T, vocab]` (one step: `[B, d_model]` -> `[B, vocab]`)."""

    per_token = True

    def __init__(self, d_model: int, config: LMHeadConfig, encoder: nn.Module):
        super().__init__()
        embedding = getattr(encoder, "embedding", None)
        if not isinstance(embedding, nn.Embedding):
            raise ModelConfigError(
                "head.kind", "the 'lm' head predicts tokens and needs the 'tokens' encoder; choose another head "
                "(e.g. token_classifier) for other inputs"
            )
        self.num_outputs = embedding.num_embeddings
        self.linear = nn.Linear(d_model, self.num_outputs, bias=False)
        self.tied = config.tie_embeddings
        self._embedding = [embedding]  # a plain list: not a submodule (the encoder owns it)

    def tie(self) -> None:
        """Share the embedding matrix (called after initialisation, so that it is initialised once)."""
        if self.tied:
            self.linear.weight = self._embedding[0].weight

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(features)


def language_model_parts(vocab_size: int, tie_embeddings: bool = True) -> dict[str, object]:
    """The encoder and head of a language model over `vocab_size` tokens, as `ModelConfig` fields (presets of
    published checkpoints, converters): `ModelConfig(..., **language_model_parts(50280))`."""
    return {"encoder": TokenEncoderConfig(vocab_size=vocab_size), "head": LMHeadConfig(tie_embeddings=tie_embeddings)}
