"""`SequenceModel`: encoder -> backbone -> head, each part chosen by the config; decoding for per-token heads."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from zoo.models.backbone import Backbone
from zoo.models.config import ModelConfig, ModelConfigError, merge_config
from zoo.models.generate import generate
from zoo.models.init import init_weights
from zoo.models.layers.revin import RevIN
from zoo.models.padding import check_cu_seqlens, check_lengths, pack, unpack
from zoo.models.registry import ENCODERS, HEADS

# An encoder's `reads` -> the shape of a batch of whole sequences of that kind
SEQUENCE_SHAPES = {"tokens": "[B, T] integer ids", "channels": "[B, T, C] real values", "image": "[B, C, H, W] images"}


def build_encoder(config: ModelConfig) -> nn.Module:
    """The encoder `config.encoder` names (a resolved config)."""
    return ENCODERS.get(config.encoder.kind).cls(config.d_model, config.encoder)


def build_head(config: ModelConfig, encoder: nn.Module) -> nn.Module:
    """The head `config.head` names (a resolved config); `encoder` for heads tied to it (the LM head)."""
    return HEADS.get(config.head.kind).cls(config.d_model, config.head, encoder)


def build_instance_norm(config: ModelConfig, encoder: nn.Module) -> RevIN | None:
    """RevIN over the encoder's channels when `config.instance_norm` asks for it; the forecast must hold the same
    channels (a regression head with one output per input channel)."""
    if not config.instance_norm:
        return None
    head = config.head
    if type(encoder).reads != "channels" or head.kind != "regression" or head.num_outputs != encoder.in_channels:
        raise ModelConfigError(
            "instance_norm", f"RevIN forecasts the channels it reads: it needs a channels encoder and a regression "
            f"head with one output per input channel; this model has the '{config.encoder.kind}' encoder and the "
            f"'{head.kind}' head with {getattr(head, 'num_outputs', '?')} outputs (forecasting features M or S, not "
            "MS); set model.instance_norm=false"
        )
    return RevIN(encoder.in_channels)


class SequenceModel(nn.Module):
    """A sequence network `encoder -> backbone -> head` (timm's `forward_features` / `forward_head` split).

    inputs: what the encoder reads (token ids `[B, T]`, values `[B, T, C]`, images `[B, C, H, W]`), with a pair axis
    for two-tower heads (`[B, 2, T]`); lengths: the real length of each padded sequence (`[B]`, or `[B, 2]` for
    pairs), so that padding changes no result; cu_seqlens: packed sequences `[1, T]` with boundaries `[N + 1]`.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        config = config.resolved()
        self.config = config
        self.encoder = build_encoder(config)
        self.backbone = Backbone(config)
        self.head = build_head(config, self.encoder)
        self.instance_norm = build_instance_norm(config, self.encoder)
        init_weights(self, config.initializer_range, len(config.layers))
        self._tie()

    def _tie(self) -> None:
        if hasattr(self.head, "tie"):
            self.head.tie()

    @property
    def towers(self) -> int:
        """How many sequences make one example: 2 for the matching head, else 1."""
        return getattr(self.head, "towers", 1)

    def _flatten_towers(
        self, inputs: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.towers == 1:
            return inputs, lengths
        if inputs.ndim < 2 or inputs.shape[1] != self.towers:
            raise ValueError(
                f"the '{self.config.head.kind}' head compares {self.towers} sequences per example: inputs must be "
                f"[B, {self.towers}, ...], got shape {tuple(inputs.shape)}"
            )
        return inputs.flatten(0, 1), None if lengths is None else lengths.flatten(0, 1)

    def forward_features(
        self, inputs: torch.Tensor, lengths: torch.Tensor | None = None, cu_seqlens: torch.Tensor | None = None
    ) -> torch.Tensor:
        """inputs -> backbone features `[B, T, d_model]` (`[B * 2, T, d_model]` for two towers, pair members
        adjacent), zero at padded positions of non-causal models."""
        inputs, lengths = self._flatten_towers(inputs, lengths)
        x = self.encoder(inputs)
        if x.ndim != 3:
            reads = type(self.encoder).reads
            raise ValueError(
                f"the '{self.config.encoder.kind}' encoder reads {reads}: a batch of sequences is {SEQUENCE_SHAPES[reads]}"
                f"{', with a pair axis after B' if self.towers > 1 else ''}; got shape {tuple(inputs.shape)} (one "
                "decoding position at a time: `step`)"
            )
        if 0 in x.shape[:2]:
            missing = "sequence" if x.shape[0] == 0 else "position"
            raise ValueError(f"inputs of shape {tuple(inputs.shape)} hold no {missing}: a batch needs at least one "
                             "sequence of at least one position")
        if lengths is None or cu_seqlens is not None:
            return self.backbone(x, None, cu_seqlens)[0]
        check_lengths(lengths, x.shape[0], x.shape[1])
        if self.backbone.causal or bool((lengths == x.shape[1]).all()):
            return self.backbone(x)[0]  # causal: a position never sees the padding after it
        packed, packed_cu_seqlens = pack(x, lengths)
        return unpack(self.backbone(packed, None, packed_cu_seqlens)[0], lengths, x.shape[1])

    def forward_head(
        self, features: torch.Tensor, lengths: torch.Tensor | None = None, pre_logits: bool = False
    ) -> torch.Tensor:
        """features `[B, T, d_model]` -> the head's outputs; with pre_logits, a pooled head's pooled features."""
        if lengths is not None and self.towers > 1:
            lengths = lengths.flatten(0, 1)
        if pre_logits:
            if getattr(self.head, "per_token", True):
                return features
            return self.head(features, lengths, pre_logits=True)
        return self.head(features, lengths)

    def forward(
        self, inputs: torch.Tensor, lengths: torch.Tensor | None = None, cu_seqlens: torch.Tensor | None = None
    ) -> torch.Tensor:
        """inputs -> outputs: logits `[B, T, V]` (lm), `[B, T, C]` (token_classifier), `[B, C]` (classifier,
        matching), values `[B, horizon, C]` (regression; with `instance_norm`, each window normalised by its own
        statistics and the forecast mapped back with them)."""
        if self.instance_norm is None and cu_seqlens is not None:
            return self._forward_packed(inputs, cu_seqlens)
        if self.instance_norm is None:
            return self.forward_head(self.forward_features(inputs, lengths, cu_seqlens), lengths)
        if cu_seqlens is not None:
            raise ValueError("instance_norm (RevIN) normalises each window on its own: pass windows [B, T, C] with "
                             "lengths, not packed sequences (cu_seqlens)")
        normalized, stats = self.instance_norm.normalize(inputs, lengths)
        outputs = self.forward_head(self.forward_features(normalized, lengths), lengths)
        return self.instance_norm.denormalize(outputs, stats)

    def _forward_packed(self, inputs: torch.Tensor, cu_seqlens: torch.Tensor) -> torch.Tensor:
        """Packed sequences `[1, total, ...]` with boundaries `[N + 1]` -> per-token outputs `[1, total, ...]`, or the
        pooled outputs of the N sequences `[N, ...]` (each pooled over its own positions)."""
        check_cu_seqlens(cu_seqlens, inputs.shape[0], inputs.shape[1])
        features = self.forward_features(inputs, None, cu_seqlens)
        if getattr(self.head, "per_token", False):
            return self.forward_head(features)
        lengths = cu_seqlens.diff()
        return self.forward_head(unpack(features, lengths, int(lengths.max())), lengths)

    def reset_head(self, kind: str | None = None, **fields: Any) -> None:
        """Replace the head (timm's `reset_classifier`): `reset_head(num_outputs=10)` keeps the kind and changes its
        fields, `reset_head("classifier", num_outputs=5, pool="last")` switches kind. The new head is freshly
        initialised; the encoder and backbone keep their weights (fine-tuning a pretrained backbone)."""
        head = dict(fields)
        if kind is not None:
            head["kind"] = kind
        config = merge_config(self.config, {"head": head})
        parameter = next(self.parameters())
        new_head = build_head(config, self.encoder)
        init_weights(new_head, config.initializer_range, len(config.layers))
        self.head = new_head.to(device=parameter.device, dtype=parameter.dtype)
        self.config = config
        self._tie()

    def _check_decoding(self) -> None:
        if not getattr(self.head, "per_token", False):
            raise ValueError(
                f"the '{self.config.head.kind}' head predicts once per sequence: only per-token heads (lm, "
                "token_classifier) decode step by step"
            )

    def prefill(
        self, inputs: torch.Tensor, states: list[Any] | None = None, cu_seqlens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[Any]]:
        """Parallel forward that also returns per-layer states for decoding: inputs `[B, T, ...]` -> (per-token
        outputs `[B, T, V]`, states)."""
        self._check_decoding()
        hidden, states = self.backbone(self.encoder(inputs), states, cu_seqlens)
        return self.head(hidden), states

    def step(self, inputs: torch.Tensor, states: list[Any] | None) -> tuple[torch.Tensor, list[Any]]:
        """One decoding step, O(1) in the length for recurrent layers: one position's inputs (`[B]` token ids, `[B, C]`
        values) -> (outputs `[B, V]`, states)."""
        self._check_decoding()
        hidden, states = self.backbone.step(self.encoder(inputs), states)
        return self.head(hidden), states

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
        return_logits): `zoo.models.generate.generate`. Needs the language-model head."""
        if self.config.head.kind != "lm":
            raise ValueError(f"generate needs the 'lm' head; this model's head is '{self.config.head.kind}'")
        return generate(self, input_ids, max_new_tokens, temperature, top_k, top_p, **options)

    @property
    def vocab_size(self) -> int | None:
        """The token encoder's vocabulary (what an LM head predicts); None for models that read no tokens."""
        return getattr(self.config.encoder, "vocab_size", None)

    def set_activation_checkpointing(self, enabled: bool = True) -> None:
        """Recompute each block's activations in the backward pass instead of keeping them (long sequences: peak
        training memory drops from every block's intermediates to one block's); outputs and gradients are unchanged."""
        self.backbone.checkpoint_blocks = bool(enabled)

    def num_parameters(self) -> int:
        """Number of distinct parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())
