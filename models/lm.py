"""`LMHeadModel`: token embedding, backbone and (tied) LM head, with prefill and one-token steps."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from zoo.models.backbone import Backbone
from zoo.models.config import ModelConfig
from zoo.models.generate import generate
from zoo.models.mixers import MIXERS

# Linear layers that write into the residual stream; scaled down at init by 1/sqrt(2 * n_layers) (GPT-2).
# `o_proj`: the output projection of the mixers laid out as fla's layers (DeltaNet, Gated DeltaNet);
# `proj_down`: the mLSTM's (laid out as xlstm's layer).
_RESIDUAL_OUTPUTS = ("out_proj", "fc2", "o_proj", "proj_down")


class LMHeadModel(nn.Module):
    """Token ids `[B, T]` -> next-token logits `[B, T, vocab_size]`."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        unknown = [name for name in config.layers if name not in MIXERS]
        if unknown:
            raise ValueError(f"unknown mixer(s) {unknown} in layers; choose from: {', '.join(sorted(MIXERS))}")
        if not config.layers:
            raise ValueError("layers is empty: a model needs at least one layer")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.backbone = Backbone(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self._init_weights()
        if config.tie_embeddings:
            self.lm_head.weight = self.embedding.weight

    def _init_weights(self) -> None:
        """Normal(0, initializer_range) weights and zero biases for linear layers and embeddings, except the
        parameters a mixer marks `_no_reinit` (Mamba's dt projection keeps its own initialisation)."""
        std = self.config.initializer_range
        residual_scale = 1.0 / math.sqrt(2 * len(self.config.layers))
        for name, module in self.named_modules():
            weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
            if isinstance(module, (nn.Linear, nn.Embedding)) and not getattr(weight, "_no_reinit", False):
                nn.init.normal_(weight, std=std)
                if name.rsplit(".", 1)[-1] in _RESIDUAL_OUTPUTS:
                    weight.data.mul_(residual_scale)
            if isinstance(module, nn.Linear) and bias is not None and not getattr(bias, "_no_reinit", False):
                nn.init.zeros_(bias)

    def forward(self, input_ids: torch.Tensor, cu_seqlens: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids `[B, T]` (or packed `[1, T]` with cu_seqlens `[N + 1]`) -> logits `[B, T, V]`."""
        return self.prefill(input_ids, cu_seqlens=cu_seqlens)[0]

    def prefill(
        self,
        input_ids: torch.Tensor,
        states: list[Any] | None = None,
        cu_seqlens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[Any]]:
        """Parallel forward that also returns per-layer states for decoding: `[B, T]` -> (`[B, T, V]`, states)."""
        hidden, states = self.backbone(self.embedding(input_ids), states, cu_seqlens)
        return self.lm_head(hidden), states

    def step(self, token: torch.Tensor, states: list[Any] | None) -> tuple[torch.Tensor, list[Any]]:
        """One decoding step, O(1) in the length for recurrent layers: token `[B]` -> (logits `[B, V]`, states)."""
        hidden, states = self.backbone.step(self.embedding(token), states)
        return self.lm_head(hidden), states

    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        **options: Any,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Sample up to max_new_tokens after the prompt input_ids `[B, T]` -> ids `[B, T + new]`: a parallel
        prefill, then O(1)-per-token steps; temperature 0 is greedy. Options (generator, eos_token_id,
        return_logits): `zoo.models.generate.generate`."""
        return generate(self, input_ids, max_new_tokens, temperature, top_k, top_p, **options)

    def num_parameters(self) -> int:
        """Number of distinct parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())
