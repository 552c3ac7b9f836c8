"""The table of token mixers a `ModelConfig.layers` entry can name."""

from __future__ import annotations

import dataclasses

from torch import nn

from zoo.models.attention import Attention
from zoo.models.bidirectional import BidirectionalMixer
from zoo.models.based import BasedConv, BasedLinearAttention
from zoo.models.deltanet import DeltaNet, GatedDeltaNet
from zoo.models.mamba import Mamba, Mamba2
from zoo.models.mlp_layer import MLPLayer
from zoo.models.xlstm import MLSTM, SLSTM

# layer name -> (mixer class, the ModelConfig section holding its hyperparameters)
MIXERS: dict[str, tuple[type[nn.Module], str]] = {
    "attention": (Attention, "attention"),
    "mamba": (Mamba, "mamba"),
    "mamba2": (Mamba2, "mamba2"),
    "based": (BasedLinearAttention, "based"),
    "based_conv": (BasedConv, "based"),
    "deltanet": (DeltaNet, "deltanet"),
    "gated_deltanet": (GatedDeltaNet, "gated_deltanet"),
    "mlstm": (MLSTM, "mlstm"),
    "slstm": (SLSTM, "slstm"),
    "mlp": (MLPLayer, "mlp"),  # a standalone MLP layer (Megatron-style hybrids; see zoo.models.mlp_layer)
}


def build_mixer(name: str, d_model: int, config) -> nn.Module:
    """Instantiate mixer `name` with its section of `config` (a ModelConfig). With `config.bidirectional`,
    attention layers drop their causal mask and the other mixers run both ways (`BidirectionalMixer`, the
    backward direction with its own weights unless `config.bidirectional_tied`)."""
    if name not in MIXERS:
        raise ValueError(f"unknown mixer '{name}' in layers; choose from: {', '.join(sorted(MIXERS))}")
    cls, section = MIXERS[name]
    settings = getattr(config, section)
    if config.bidirectional_tied and not config.bidirectional:
        raise ValueError("model config key 'bidirectional_tied' is true but 'bidirectional' is false: set both")
    if not config.bidirectional or cls is MLPLayer:  # position-wise: the same in both directions
        return cls(d_model, settings)
    if cls is Attention:
        return cls(d_model, dataclasses.replace(settings, causal=False))
    backward = None if config.bidirectional_tied else cls(d_model, settings)
    return BidirectionalMixer(cls(d_model, settings), backward)
