"""The backbone: a stack of blocks built from the per-layer mixer pattern, with a final norm."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint
from zoo.models.bidirectional import BidirectionalMixer
from zoo.models.block import Block
from zoo.models.config import ModelConfig
from zoo.models.layers.norm import build_norm
from zoo.models.registry import MIXERS


def build_mixer(name: str, config: ModelConfig) -> nn.Module:
    """Mixer `name` with its section of `config`. With `config.bidirectional`, a mixer with a non-causal form of its
    own (`bidirectional_config`, e.g. attention without the causal mask) takes it, a position-wise one stays as it
    is, and any other runs both ways (`BidirectionalMixer`, the backward direction with its own weights unless
    `config.bidirectional_tied`)."""
    entry = MIXERS.get(name)
    settings = config.section(entry.section)
    if not config.bidirectional or getattr(entry.cls, "positionwise", False):
        return entry.cls(config.d_model, settings)
    if hasattr(entry.cls, "bidirectional_config"):
        return entry.cls(config.d_model, entry.cls.bidirectional_config(dataclasses.replace(settings)))
    backward = None if config.bidirectional_tied else entry.cls(config.d_model, settings)
    return BidirectionalMixer(entry.cls(config.d_model, settings), backward)


def _build_block(name: str, config: ModelConfig) -> Block:
    """The block of layer `name`: its mixer, then a gated MLP of `config.d_intermediate` channels, unless the
    mixer sets its block's MLP width itself (a `block_d_intermediate` attribute: the sLSTM's feed-forward)."""
    mixer = build_mixer(name, config)
    d_intermediate = getattr(mixer, "block_d_intermediate", None)
    return Block(
        config.d_model,
        mixer,
        config.d_intermediate if d_intermediate is None else d_intermediate,
        config.norm_eps,
        norm=config.norm,
        mlp_activation=config.mlp_activation,
    )


class Backbone(nn.Module):
    """`[B, T, d_model] -> [B, T, d_model]` through `len(config.layers)` blocks and a final norm.

    States are a list with one entry per layer (a KV cache for attention, a recurrent state otherwise).
    `causal` is False when any layer's output at a position depends on later positions (bidirectional layers).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.layers = nn.ModuleList(_build_block(name, config) for name in config.layers)
        self.norm_f = build_norm(config.norm, config.d_model, config.norm_eps)
        self.causal = all(getattr(block.mixer, "causal", True) for block in self.layers)
        # activation checkpointing: while gradients are recorded, each block keeps only its input and recomputes
        # its activations in the backward pass (memory per block O(B T d) instead of every intermediate)
        self.checkpoint_blocks = False

    def forward(
        self,
        x: torch.Tensor,
        states: list[Any] | None = None,
        cu_seqlens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[Any]]:
        """x `[B, T, d]`, per-layer states -> (normalised hidden states `[B, T, d]`, new per-layer states)."""
        states = states if states is not None else [None] * len(self.layers)
        new_states = []
        recompute = self.checkpoint_blocks and torch.is_grad_enabled()
        for block, state in zip(self.layers, states):
            if recompute:
                x, state = checkpoint(block, x, state, cu_seqlens, use_reentrant=False)
            else:
                x, state = block(x, state, cu_seqlens)
            new_states.append(state)
        return self.norm_f(x), new_states

    def step(self, x: torch.Tensor, states: list[Any] | None) -> tuple[torch.Tensor, list[Any]]:
        """One token: x `[B, d]` -> (normalised hidden state `[B, d]`, new per-layer states)."""
        states = states if states is not None else [None] * len(self.layers)
        new_states = []
        for block, state in zip(self.layers, states):
            x, state = block.step(x, state)
            new_states.append(state)
        return self.norm_f(x), new_states
