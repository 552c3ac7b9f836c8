"""xLSTM mixers: the mLSTM layer (matrix memory, pre-up-projection) and the sLSTM layer (scalar memory with
recurrent head-wise mixing), laid out as xlstm's `mLSTMLayer` and `sLSTMLayer` (xlstm 2.0.6) so that their
weights map one to one (`zoo.models.xlstm_convert`).

How an xLSTM block maps onto our `Block` (pre-norm mixer, residual, optional pre-norm gated MLP, residual):

- xlstm's `mLSTMBlock` is `x + mLSTMLayer(LayerNorm(x))` and has no feed-forward part (its up- and
  down-projection live inside the layer): our Block with the `mlstm` mixer and no MLP. The mLSTM mixer leaves
  the MLP to `ModelConfig.d_intermediate`, which xLSTM stacks set to 0 (a positive value gives the
  mLSTM + MLP block of later xLSTM models).
- xlstm's `sLSTMBlock` is `x + sLSTMLayer(LayerNorm(x))`, then `x + GatedFeedForward(LayerNorm(x))`: our Block
  with the `slstm` mixer and its MLP. The sLSTM mixer sets the width of its block's MLP itself
  (`block_d_intermediate`, from `slstm.ffn_proj_factor`, rounded up as xlstm rounds it), whatever
  `ModelConfig.d_intermediate` says; `ffn_proj_factor: 0` drops the MLP.
- xlstm's norms are LayerNorms without bias and its feed-forward gate is GELU: `ModelConfig.norm: layernorm`
  and `mlp_activation: gelu` (the xLSTM presets set both); its final `post_blocks_norm` is our `norm_f`.

Initialisation follows xlstm where it matters for training: the mLSTM's gate projections (zero weights,
forget-gate biases spaced over [3, 6], input-gate biases ~ N(0, 0.1)) and the sLSTM's zero recurrent kernel
and power-law forget-gate bias keep their values through `LMHeadModel`'s re-initialisation. xlstm spaces the
sLSTM forget-gate bias by the block's depth; a mixer here does not know its depth and uses the first block's
spacing. Dropout is not modelled (xlstm's default is 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo.kernels import mlstm_scan, mlstm_step, slstm, slstm_step
from zoo.kernels.scan.checks import MLSTM_BACKENDS
from zoo.kernels.slstm.checks import BACKENDS as SLSTM_BACKENDS
from zoo.models.conv import ShortConv


def round_up_dim(factor: float, dim: int, multiple: int) -> int:
    """`factor * dim` rounded up to a multiple of `multiple` (xlstm's `UpProjConfigMixin` with its default
    `round_proj_up_dim_up=True`)."""
    return int(math.ceil(factor * dim / multiple) * multiple)


def _bad(section: str, key: str, message: str) -> ValueError:
    return ValueError(f"{section} config key '{section}.{key}': {message}")


def _small_init_std(dim: int) -> float:
    """xlstm's `small_init_init_`: N(0, sqrt(2 / (5 dim)))."""
    return math.sqrt(2 / (5 * dim))


class HeadwiseLinear(nn.Module):
    """A block-diagonal linear map (xlstm's `LinearHeadwiseExpand` without expansion): the `dim` channels are
    split into `num_heads` groups, each mapped by its own `[dim/H, dim/H]` matrix.

    weight `[H, out/H, in/H]` (xlstm's layout: y_h = W_h x_h), bias `[dim]` or None; `[..., dim] -> [..., dim]`.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool, std: float):
        super().__init__()
        self.num_heads = num_heads
        block = dim // num_heads
        self.weight = nn.Parameter(torch.randn(num_heads, block, block) * std)
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("...hi,hoi->...ho", x.unflatten(-1, (self.num_heads, -1)), self.weight).flatten(-2)
        return y if self.bias is None else y + self.bias


class MultiHeadLayerNorm(nn.Module):
    """LayerNorm of each head's channels on their own, with a scale over all channels and no bias (xlstm's
    `MultiHeadLayerNorm`, a group norm with one group per head): `[..., H, Dh] -> [..., H * Dh]`.

    Statistics in float32 (float64 for float64 input). The scale is stored as is (init 1), where xlstm stores
    it minus one (`residual_weight`).
    """

    def __init__(self, dim: int, num_heads: int, eps: float = 1e-5):
        super().__init__()
        self.num_heads, self.eps = num_heads, eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = torch.promote_types(x.dtype, torch.float32)
        h = F.layer_norm(x.to(dtype), x.shape[-1:], eps=self.eps)
        h = h * self.weight.to(dtype).view(self.num_heads, -1)
        return h.flatten(-2).to(x.dtype)


# ----------------------------------------------------------------------------------------------------------
# mLSTM


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


class MLSTM(nn.Module):
    """xLSTM's mLSTM layer (pre-up-projection): `[B, T, d_model] -> [B, T, d_model]`.

        x_m, z = proj_up(x)                          each [.., D_inner]
        c = silu(conv1d(x_m))                        causal depthwise conv
        q, k = q_proj(c), k_proj(c);  v = v_proj(x_m)    block-diagonal, blocks of qkv_proj_blocksize
        i, f = igate([q, k, v]), fgate([q, k, v])    one pre-activation per head
        h = mLSTM cell(q, k, v, i, f)                zoo.kernels.mlstm_scan, heads of D_inner / num_heads
        y = proj_down((outnorm(h) + learnable_skip * c) * silu(z))
    """

    def __init__(self, d_model: int, config: MLSTMConfig):
        super().__init__()
        self.config = config
        for key in ("num_heads", "round_to", "conv1d_kernel_size", "qkv_proj_blocksize"):
            if getattr(config, key) < 1:
                raise _bad("mlstm", key, f"must be at least 1, got {getattr(config, key)}")
        if config.proj_factor <= 0:
            raise _bad("mlstm", "proj_factor", f"must be positive, got {config.proj_factor}")
        if config.backend not in MLSTM_BACKENDS:
            raise _bad("mlstm", "backend", f"'{config.backend}' is not a backend; choose one of: "
                       f"{', '.join(MLSTM_BACKENDS)}")
        inner = round_up_dim(config.proj_factor, d_model, config.round_to)
        for key in ("num_heads", "qkv_proj_blocksize"):
            if inner % getattr(config, key):
                raise _bad("mlstm", key, f"must divide the inner width {inner} (proj_factor * d_model rounded up "
                           f"to a multiple of {config.round_to}), got {getattr(config, key)}")
        self.d_inner, self.num_heads = inner, config.num_heads
        qkv_std = _small_init_std(d_model)  # xlstm initialises q/k/v by the embedding width

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
# sLSTM


@dataclass
class SLSTMConfig:
    """Hyperparameters of an sLSTM layer (xlstm's `sLSTMLayerConfig`) and of its block's feed-forward part
    (xlstm's `sLSTMBlockConfig.feedforward`).

    `conv1d_kernel_size` 0 means no conv (the input and forget gates then read the input itself).
    `ffn_proj_factor` sizes the gated MLP of the sLSTM's block: `ffn_proj_factor * d_model` rounded up to a
    multiple of `ffn_round_to` (xlstm's FeedForwardConfig default 1.3; the xLSTM paper describes 4/3, the same
    width at d_model 768); 0 = no MLP. The MLP's activation is `ModelConfig.mlp_activation` (xlstm: gelu).
    `backend` goes to `zoo.kernels.slstm`.
    """

    num_heads: int = 4
    conv1d_kernel_size: int = 4
    ffn_proj_factor: float = 1.3
    ffn_round_to: int = 64
    norm_eps: float = 1e-5
    backend: str = "auto"  # auto | torch | triton | reference


@dataclass
class SLSTMLayerState:
    """Decoding state of an sLSTM layer: conv inputs `[B, d_model, W - 1]` (None without a conv) and the
    cell's (y, c, n, m), each `[B, H, Dh]`."""

    conv: torch.Tensor | None
    cell: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def powerlaw_forget_bias(head_dim: int, ratio: float = 0.0) -> torch.Tensor:
    """xlstm's "powerlaw_blockdependent" forget-gate bias of one head, `[Dh]`: -(-5 + 12 (j / (Dh - 1)) ** (0.3 +
    1.3 ratio)), with ratio = block index / (number of blocks - 1)."""
    position = torch.arange(head_dim, dtype=torch.float32) / max(head_dim - 1, 1)
    return -(-5.0 + 12.0 * position ** (0.3 + 1.3 * ratio))


class SLSTM(nn.Module):
    """xLSTM's sLSTM layer (post-up-projection: the block's MLP follows it): `[B, T, d_model] -> [B, T, d_model]`.

        c = silu(conv1d(x))                              (c = x without a conv)
        gates = (igate(c), fgate(c), zgate(x), ogate(x))   block-diagonal per head
        h = sLSTM cell(gates; recurrent_kernel, gate_bias)   zoo.kernels.slstm, heads of d_model / num_heads
        y = group_norm(h)                                 LayerNorm per head

    `igate` and `fgate` are named by the gate they feed; xlstm's sLSTMLayer feeds the input gate from its
    projection named `fgate` and the forget gate from `igate` (the converter swaps them). Parameters in our
    kernel's layout: recurrent_kernel `[H, Dh, 4 * Dh]`, gate_bias `[H, 4 * Dh]` (gates i, f, z, o per head).
    """

    def __init__(self, d_model: int, config: SLSTMConfig):
        super().__init__()
        self.config = config
        if config.num_heads < 1 or d_model % config.num_heads:
            raise _bad("slstm", "num_heads", f"must divide d_model {d_model}, got {config.num_heads}")
        if config.conv1d_kernel_size < 0:
            raise _bad("slstm", "conv1d_kernel_size", f"must be 0 (no conv) or more, got {config.conv1d_kernel_size}")
        if config.ffn_proj_factor < 0:
            raise _bad("slstm", "ffn_proj_factor", f"must be 0 (no MLP) or positive, got {config.ffn_proj_factor}")
        if config.ffn_round_to < 1:
            raise _bad("slstm", "ffn_round_to", f"must be at least 1, got {config.ffn_round_to}")
        if config.backend not in SLSTM_BACKENDS:
            raise _bad("slstm", "backend", f"'{config.backend}' is not a backend; choose one of: "
                       f"{', '.join(SLSTM_BACKENDS)}")
        heads, head_dim = config.num_heads, d_model // config.num_heads
        self.num_heads, self.head_dim = heads, head_dim
        # the width of this block's gated MLP (read by the Backbone instead of ModelConfig.d_intermediate)
        self.block_d_intermediate = (
            round_up_dim(config.ffn_proj_factor, d_model, config.ffn_round_to) if config.ffn_proj_factor > 0 else 0
        )

        width = config.conv1d_kernel_size
        self.conv1d = ShortConv(d_model, width, bias=True, activation="silu") if width > 0 else None
        std = _small_init_std(d_model)
        self.igate = HeadwiseLinear(d_model, heads, False, std)
        self.fgate = HeadwiseLinear(d_model, heads, False, std)
        self.zgate = HeadwiseLinear(d_model, heads, False, std)
        self.ogate = HeadwiseLinear(d_model, heads, False, std)
        self.recurrent_kernel = nn.Parameter(torch.zeros(heads, head_dim, 4 * head_dim))
        bias = torch.zeros(heads, 4, head_dim)
        bias[:, 1] = powerlaw_forget_bias(head_dim)
        self.gate_bias = nn.Parameter(bias.reshape(heads, 4 * head_dim))
        # xlstm decays neither (its weight-decay rule keys on "weight" in the name)
        self.recurrent_kernel._no_weight_decay = self.gate_bias._no_weight_decay = True
        self.group_norm = MultiHeadLayerNorm(d_model, heads, config.norm_eps)

    def _gates(self, x: torch.Tensor, x_conv: torch.Tensor) -> torch.Tensor:
        """x, x_conv `[..., d_model]` -> the input part of the gate pre-activations `[..., H, 4 * Dh]`."""
        gates = (self.igate(x_conv), self.fgate(x_conv), self.zgate(x), self.ogate(x))
        heads = (self.num_heads, self.head_dim)
        return torch.stack([g.unflatten(-1, heads) for g in gates], dim=-2).flatten(-2)

    def forward(
        self,
        x: torch.Tensor,
        state: SLSTMLayerState | None = None,
        cu_seqlens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, SLSTMLayerState]:
        """x `[B, T, d_model]`, state of the tokens before (or per packed sequence with cu_seqlens `[N + 1]`)
        -> (y `[B, T, d_model]`, state after the last token of each sequence)."""
        conv_state = None
        x_conv = x
        if self.conv1d is not None:
            x_conv, conv_state = self.conv1d(x, None if state is None else state.conv, cu_seqlens)
        h, cell_state = slstm(
            self._gates(x, x_conv),
            self.recurrent_kernel,
            self.gate_bias,
            initial_state=None if state is None else state.cell,
            output_final_state=True,
            cu_seqlens=cu_seqlens,
            backend=self.config.backend,
        )
        return self.group_norm(h), SLSTMLayerState(conv_state, cell_state)

    def step(self, x: torch.Tensor, state: SLSTMLayerState | None) -> tuple[torch.Tensor, SLSTMLayerState]:
        """One decoding step: x `[B, d_model]` -> (y `[B, d_model]`, new state)."""
        conv_state = None
        x_conv = x
        if self.conv1d is not None:
            x_conv, conv_state = self.conv1d.step(x, None if state is None else state.conv)
        h, cell_state = slstm_step(
            self._gates(x, x_conv), self.recurrent_kernel, self.gate_bias, None if state is None else state.cell
        )
        return self.group_norm(h), SLSTMLayerState(conv_state, cell_state)
