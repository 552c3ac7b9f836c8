"""xLSTM's mLSTM layer (matrix memory, pre-up-projection), laid out as xlstm's `mLSTMLayer` (xlstm 2.0.6) so that
its weights map one to one (`zoo.models.families.xlstm.convert`); the mixer `mlstm`.

How an xLSTM block maps onto our `Block` (pre-norm mixer, residual, optional pre-norm gated MLP, residual): xlstm's
`mLSTMBlock` is `x + mLSTMLayer(LayerNorm(x))` and has no feed-forward part (its up- and down-projection live inside
the layer): our Block with the `mlstm` mixer and no MLP. The mLSTM mixer leaves the MLP to
`ModelConfig.d_intermediate`, which xLSTM stacks set to 0 (a positive value gives the mLSTM + MLP block of later xLSTM
models). xlstm's norms are LayerNorms without bias: `ModelConfig.norm: layernorm` (the xLSTM presets set it).

Initialisation follows xlstm where it matters for training: the gate projections (zero weights, forget-gate biases
spaced over [3, 6], input-gate biases ~ N(0, 0.1)) keep their values through the model's re-initialisation.
Dropout is not modelled (xlstm's default is 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from zoo.kernels import mlstm_scan, mlstm_step
from zoo.kernels import MLSTM_BACKENDS
from zoo.models.families.xlstm.layers import (
    HeadwiseLinear,
    MultiHeadLayerNorm,
    bad_key,
    round_up_dim,
    small_init_std,
)
from zoo.models.layers.conv import ShortConv
from zoo.models.registry import register_mixer


@dataclass
class MLSTMConfig:
    """Hyperparameters of an mLSTM layer (names as in xlstm's `mLSTMLayerConfig`).

    The inner width is `proj_factor * d_model` rounded up to a multiple of `round_to`; it is split into
    `num_heads` heads for the cell, and into blocks of `qkv_proj_blocksize` channels for the block-diagonal
    q/k/v projections. `bias` adds biases to the up/down and q/k/v projections (xlstm's stack-level `bias`).
    `eps` is the cell's denominator epsilon; `chunk_size` and `backend` go to `zoo.kernels.mlstm_scan`.
    """

    num_heads: int = 4
    proj_factor: float = 2.0
    round_to: int = 64
    conv1d_kernel_size: int = 4
    qkv_proj_blocksize: int = 4
    bias: bool = False
    norm_eps: float = 1e-5
    eps: float = 1e-6
    chunk_size: int = 64
    backend: str = "auto"  # auto | torch | triton | reference


@dataclass
class MLSTMLayerState:
    """Decoding state of an mLSTM layer: conv inputs `[B, D_inner, W - 1]` and the cell's (C `[B, H, K, V]`,
    n `[B, H, K]`, m `[B, H]`)."""

    conv: torch.Tensor
    cell: tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@register_mixer("mlstm", config=MLSTMConfig)
class MLSTM(nn.Module):
    """xLSTM's mLSTM layer (pre-up-projection): `[B, T, d_model] -> [B, T, d_model]`.

        x_m, z = proj_up(x)                          each [.., D_inner]
        c = silu(conv1d(x_m))                        causal depthwise conv
        q, k = q_proj(c), k_proj(c);  v = v_proj(x_m)    block-diagonal, blocks of qkv_proj_blocksize
        i, f = igate([q, k, v]), fgate([q, k, v])    one pre-activation per head
        h = mLSTM cell(q, k, v, i, f)                zoo.kernels.mlstm_scan, heads of D_inner / num_heads
        y = proj_down((outnorm(h) + learnable_skip * c) * silu(z))
    """

    papers = ("beck2024xlstm",)  # zoo.models.citations

    def __init__(self, d_model: int, config: MLSTMConfig):
        super().__init__()
        self.config = config
        for key in ("num_heads", "round_to", "conv1d_kernel_size", "qkv_proj_blocksize"):
            if getattr(config, key) < 1:
                raise bad_key("mlstm", key, f"must be at least 1, got {getattr(config, key)}")
        if config.proj_factor <= 0:
            raise bad_key("mlstm", "proj_factor", f"must be positive, got {config.proj_factor}")
        if config.backend not in MLSTM_BACKENDS:
            raise bad_key("mlstm", "backend", f"'{config.backend}' is not a backend; choose one of: "
                       f"{', '.join(MLSTM_BACKENDS)}")
        inner = round_up_dim(config.proj_factor, d_model, config.round_to)
        for key in ("num_heads", "qkv_proj_blocksize"):
            if inner % getattr(config, key):
                raise bad_key("mlstm", key, f"must divide the inner width {inner} (proj_factor * d_model rounded up "
                           f"to a multiple of {config.round_to}), got {getattr(config, key)}")
        self.d_inner, self.num_heads = inner, config.num_heads
        qkv_std = small_init_std(d_model)  # xlstm initialises q/k/v by the embedding width

        self.proj_up = nn.Linear(d_model, 2 * inner, bias=config.bias)
        self.conv1d = ShortConv(inner, config.conv1d_kernel_size, bias=True, activation="silu")
        blocks = inner // config.qkv_proj_blocksize
        self.q_proj = HeadwiseLinear(inner, blocks, config.bias, qkv_std)
        self.k_proj = HeadwiseLinear(inner, blocks, config.bias, qkv_std)
        self.v_proj = HeadwiseLinear(inner, blocks, config.bias, qkv_std)
        self.igate = nn.Linear(3 * inner, config.num_heads)
        self.fgate = nn.Linear(3 * inner, config.num_heads)
        with torch.no_grad():
            nn.init.zeros_(self.igate.weight)
            nn.init.normal_(self.igate.bias, std=0.1)
            nn.init.zeros_(self.fgate.weight)
            self.fgate.bias.copy_(torch.linspace(3.0, 6.0, config.num_heads))
        for gate in (self.igate, self.fgate):
            gate.weight._no_reinit = gate.bias._no_reinit = True
        self.outnorm = MultiHeadLayerNorm(inner, config.num_heads, config.norm_eps)
        self.learnable_skip = nn.Parameter(torch.ones(inner))
        self.proj_down = nn.Linear(inner, d_model, bias=config.bias)

    def _cell_inputs(self, x_mlstm: torch.Tensor, x_conv: torch.Tensor):
        """x_mlstm, x_conv `[..., D_inner]` -> q, k, v `[..., H, Dh]` and gate pre-activations i, f `[..., H]`."""
        q, k, v = self.q_proj(x_conv), self.k_proj(x_conv), self.v_proj(x_mlstm)
        qkv = torch.cat([q, k, v], dim=-1)
        i, f = self.igate(qkv), self.fgate(qkv)
        heads = (self.num_heads, -1)
        return q.unflatten(-1, heads), k.unflatten(-1, heads), v.unflatten(-1, heads), i, f

    def _output(self, h: torch.Tensor, x_conv: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """h `[..., H, Dh]` -> y `[..., d_model]`: head norm, learnable skip, output gate, down-projection."""
        h = self.outnorm(h) + self.learnable_skip * x_conv
        return self.proj_down(h * F.silu(z))

    def forward(
        self,
        x: torch.Tensor,
        state: MLSTMLayerState | None = None,
        cu_seqlens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, MLSTMLayerState]:
        """x `[B, T, d_model]`, state of the tokens before (or per packed sequence with cu_seqlens `[N + 1]`)
        -> (y `[B, T, d_model]`, state after the last token of each sequence)."""
        x_mlstm, z = self.proj_up(x).chunk(2, dim=-1)
        x_conv, conv_state = self.conv1d(x_mlstm, None if state is None else state.conv, cu_seqlens)
        q, k, v, i, f = self._cell_inputs(x_mlstm, x_conv)
        h, cell_state = mlstm_scan(
            q, k, v, i, f,
            eps=self.config.eps,
            initial_state=None if state is None else state.cell,
            output_final_state=True,
            cu_seqlens=cu_seqlens,
            chunk_size=self.config.chunk_size,
            backend=self.config.backend,
        )
        return self._output(h, x_conv, z), MLSTMLayerState(conv_state, cell_state)

    def step(self, x: torch.Tensor, state: MLSTMLayerState | None) -> tuple[torch.Tensor, MLSTMLayerState]:
        """One decoding step: x `[B, d_model]` -> (y `[B, d_model]`, new state)."""
        x_mlstm, z = self.proj_up(x).chunk(2, dim=-1)
        x_conv, conv_state = self.conv1d.step(x_mlstm, None if state is None else state.conv)
        q, k, v, i, f = self._cell_inputs(x_mlstm, x_conv)
        h, cell_state = mlstm_step(q, k, v, i, f, None if state is None else state.cell, eps=self.config.eps)
        return self._output(h, x_conv, z), MLSTMLayerState(conv_state, cell_state)


# ----------------------------------------------------------------------------------------------------------
