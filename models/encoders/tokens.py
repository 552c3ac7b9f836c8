"""The token encoder: an embedding of integer ids (text bytes, DNA letters, pixel intensities as tokens, ...)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from zoo.models.config import ModelConfigError
from zoo.models.registry import register_encoder


@dataclass
class TokenEncoderConfig:
    """`vocab_size` ids, each embedded in d_model channels."""

    kind: str = "tokens"
    vocab_size: int = 256


@register_encoder("tokens", config=TokenEncoderConfig)
class TokenEncoder(nn.Module):
    """Token ids `[B, T]` (long) -> embeddings `[B, T, d_model]`; one step's ids `[B]` -> `[B, d_model]`."""

    reads = "tokens"

    def __init__(self, d_model: int, config: TokenEncoderConfig):
        super().__init__()
        if isinstance(config.vocab_size, bool) or config.vocab_size < 1:
            raise ModelConfigError("encoder.vocab_size", f"must be a positive int, got {config.vocab_size!r}")
        self.embedding = nn.Embedding(config.vocab_size, d_model)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.is_floating_point() or inputs.is_complex() or inputs.dtype == torch.bool:
            raise ValueError(
                f"the token encoder takes integer ids, got a {inputs.dtype} tensor of shape {tuple(inputs.shape)}; "
                "real-valued inputs need the 'linear' encoder (model.encoder.kind=linear)"
            )
        vocab = self.embedding.num_embeddings
        if not torch.compiler.is_compiling() and inputs.numel() and not (0 <= int(inputs.min()) and int(inputs.max()) < vocab):
            raise ValueError(
                f"token ids must lie in [0, {vocab - 1}] (the encoder's vocab_size is {vocab}), got ids from "
                f"{int(inputs.min())} to {int(inputs.max())}; fit the model to the data's vocabulary (model.encoder.vocab_size)"
            )
        return self.embedding(inputs)
