"""A standalone MLP layer, named `mlp` in `ModelConfig.layers`: the MLP layers of Megatron-LM's hybrid models.

Our `Block` is `x + mixer(norm(x))`, then `+ mlp(norm2(.))` when `ModelConfig.d_intermediate > 0`: every mixer
carries one MLP or none. Hybrids built as Megatron-LM builds them (NVIDIA's Mamba-2-Hybrid, "An Empirical Study
of Mamba-based Language Models", Waleffe et al. 2024) instead stack three kinds of single-sublayer layers, Mamba-2
(`M`), self-attention (`*`) and MLP (`-`), each `x + f(norm(x))`, in a pattern such as `M-M-M--M-*M-...` where two
MLP layers may follow each other. Used as a mixer, `MLPLayer` makes such a layer: its block is
`x + mlp(norm(x))` and adds no second MLP (`block_d_intermediate = 0`), so that with `d_intermediate: 0` each
entry of `layers` is one of Megatron's layers, one to one (`zoo.models.families.mamba.hybrid_presets.hybrid_layers` spells a pattern).

The MLP is Megatron's default, `fc2(act(fc1(x)))` with GELU and 4 * d_model hidden channels, or, with
`gated: true`, our block's gated form `fc2(a * act(g))`, `[a, g] = fc1(x)` (SwiGLU with `activation: silu`).
It is position-wise: it keeps no state, and a decoding step is the same map on one token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from zoo.models.config import ModelConfigError
from zoo.models.layers.mlp import ACTIVATIONS
from zoo.models.registry import register_mixer


@dataclass
class MLPLayerConfig:
    """Hyperparameters of the `mlp` layers: hidden width (0: 4 * d_model), gated or plain, activation, biases."""

    d_intermediate: int = 0
    gated: bool = False
    activation: str = "gelu"  # silu | gelu (exact)
    bias: bool = False


def _bad(key: str, message: str) -> ModelConfigError:
    return ModelConfigError(f"mixers.mlp.{key}", message)


@register_mixer("mlp", config=MLPLayerConfig)
class MLPLayer(nn.Module):
    """A position-wise MLP used as a token mixer: `[B, T, d_model] -> [B, T, d_model]`, no state."""

    positionwise = True  # the same map in both directions: bidirectional models use it as is
    block_d_intermediate = 0  # the block around it adds no second MLP (see zoo.models.backbone)

    def __init__(self, d_model: int, config: MLPLayerConfig):
        super().__init__()
        if config.activation not in ACTIVATIONS:
            choices = ", ".join(ACTIVATIONS)
            raise _bad("activation", f"'{config.activation}' is not an activation; choose one of: {choices}")
        hidden = config.d_intermediate or 4 * d_model
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise _bad("d_intermediate", f"must be a positive int (0: 4 * d_model), got {config.d_intermediate!r}")
        self.gated = config.gated
        self.activation = ACTIVATIONS[config.activation]
        self.fc1 = nn.Linear(d_model, 2 * hidden if config.gated else hidden, bias=config.bias)
        self.fc2 = nn.Linear(hidden, d_model, bias=config.bias)

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        if self.gated:
            a, g = h.chunk(2, dim=-1)
            return self.fc2(a * self.activation(g))
        return self.fc2(self.activation(h))

    def forward(
        self, x: torch.Tensor, state: Any = None, cu_seqlens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, None]:
        """x `[B, T, d_model]` -> (y `[B, T, d_model]`, None); packed sequences need nothing (position-wise)."""
        return self._mlp(x), None

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, None]:
        """One token: x `[B, d_model]` -> (y `[B, d_model]`, None)."""
        return self._mlp(x), None
