"""The table of token mixers a `ModelConfig.layers` entry can name."""

from __future__ import annotations

from torch import nn

from zoo.models.attention import Attention
from zoo.models.based import BasedConv, BasedLinearAttention
from zoo.models.deltanet import DeltaNet, GatedDeltaNet
from zoo.models.mamba import Mamba, Mamba2

# layer name -> (mixer class, the ModelConfig section holding its hyperparameters)
MIXERS: dict[str, tuple[type[nn.Module], str]] = {
    "attention": (Attention, "attention"),
    "mamba": (Mamba, "mamba"),
    "mamba2": (Mamba2, "mamba2"),
    "based": (BasedLinearAttention, "based"),
    "based_conv": (BasedConv, "based"),
    "deltanet": (DeltaNet, "deltanet"),
    "gated_deltanet": (GatedDeltaNet, "gated_deltanet"),
}


def build_mixer(name: str, d_model: int, config) -> nn.Module:
    """Instantiate mixer `name` with its section of `config` (a ModelConfig)."""
    if name not in MIXERS:
        raise ValueError(f"unknown mixer '{name}' in layers; choose from: {', '.join(sorted(MIXERS))}")
    cls, section = MIXERS[name]
    return cls(d_model, getattr(config, section))
