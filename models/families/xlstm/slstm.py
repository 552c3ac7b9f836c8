"""xLSTM's sLSTM layer (scalar memory with recurrent head-wise mixing), laid out as xlstm's `sLSTMLayer` (xlstm
2.0.6) so that its weights map one to one (`zoo.models.families.xlstm.convert`); the mixer `slstm`.

xlstm's `sLSTMBlock` is `x + sLSTMLayer(LayerNorm(x))`, then `x + GatedFeedForward(LayerNorm(x))`: our Block with
the `slstm` mixer and its MLP. The sLSTM mixer sets the width of its block's MLP itself (`block_d_intermediate`, from
`ffn_proj_factor`, rounded up as xlstm rounds it), whatever `ModelConfig.d_intermediate` says; `ffn_proj_factor: 0`
drops the MLP. xlstm's feed-forward gate is GELU: `ModelConfig.mlp_activation: gelu` (the xLSTM presets set it).

The zero recurrent kernel and power-law forget-gate bias keep their values through the model's re-initialisation.
xlstm spaces the forget-gate bias by the block's depth; a mixer here does not know its depth and uses the first
block's spacing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from zoo.kernels import slstm, slstm_step
from zoo.kernels import SLSTM_BACKENDS
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


@register_mixer("slstm", config=SLSTMConfig)
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

    papers = ("beck2024xlstm",)  # zoo.models.citations

    def __init__(self, d_model: int, config: SLSTMConfig):
        super().__init__()
        self.config = config
        if config.num_heads < 1 or d_model % config.num_heads:
            raise bad_key("slstm", "num_heads", f"must divide d_model {d_model}, got {config.num_heads}")
        if config.conv1d_kernel_size < 0:
            raise bad_key("slstm", "conv1d_kernel_size", f"must be 0 (no conv) or more, got {config.conv1d_kernel_size}")
        if config.ffn_proj_factor < 0:
            raise bad_key("slstm", "ffn_proj_factor", f"must be 0 (no MLP) or positive, got {config.ffn_proj_factor}")
        if config.ffn_round_to < 1:
            raise bad_key("slstm", "ffn_round_to", f"must be at least 1, got {config.ffn_round_to}")
        if config.backend not in SLSTM_BACKENDS:
            raise bad_key("slstm", "backend", f"'{config.backend}' is not a backend; choose one of: "
                       f"{', '.join(SLSTM_BACKENDS)}")
        heads, head_dim = config.num_heads, d_model // config.num_heads
        self.num_heads, self.head_dim = heads, head_dim
        # the width of this block's gated MLP (read by the Backbone instead of ModelConfig.d_intermediate)
        self.block_d_intermediate = (
            round_up_dim(config.ffn_proj_factor, d_model, config.ffn_round_to) if config.ffn_proj_factor > 0 else 0
        )

        width = config.conv1d_kernel_size
        self.conv1d = ShortConv(d_model, width, bias=True, activation="silu") if width > 0 else None
        std = small_init_std(d_model)
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

