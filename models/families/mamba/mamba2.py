"""The Mamba-2 mixer (`mamba2`): SSD with multiple heads, grouped B/C and a gated RMSNorm, laid out as mamba_ssm's
`Mamba2` so that its weights map one to one."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from zoo.kernels import ssd_scan, ssd_step
from zoo.models.config import ModelConfigError
from zoo.models.layers.conv import ShortConv
from zoo.models.layers.dt_init import inverse_softplus_dt
from zoo.models.layers.norm import GatedRMSNorm
from zoo.models.registry import register_mixer


@dataclass
class Mamba2Config:
    """Hyperparameters of a Mamba-2 layer (names as in mamba_ssm's `Mamba2`)."""

    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    headdim: int = 64
    ngroups: int = 1
    chunk_size: int = 64
    dt_min: float = 0.001
    dt_max: float = 0.1
    dt_init_floor: float = 1e-4
    dt_limit: list[float] = field(default_factory=lambda: [0.0, float("inf")])
    A_init_range: list[float] = field(default_factory=lambda: [1.0, 16.0])
    conv_bias: bool = True
    bias: bool = False
    norm_before_gate: bool = False


@dataclass
class Mamba2State:
    """Decoding state of a Mamba-2 layer: conv inputs `[B, D_conv, W - 1]` and SSM state `[B, H, N, P]`."""

    conv: torch.Tensor
    ssm: torch.Tensor


@register_mixer("mamba2", config=Mamba2Config)
class Mamba2(nn.Module):
    """Mamba-2 mixer: `[B, T, d_model] -> [B, T, d_model]`."""

    papers = ("dao2024transformers",)  # zoo.models.citations

    def __init__(self, d_model: int, config: Mamba2Config):
        super().__init__()
        self.config = config
        self.d_inner = config.expand * d_model
        if self.d_inner % config.headdim:
            raise ModelConfigError(
                "mixers.mamba2.headdim", f"expand * d_model ({self.d_inner}) must be a multiple of headdim ({config.headdim})"
            )
        self.nheads = self.d_inner // config.headdim
        if self.nheads % config.ngroups:
            raise ModelConfigError(
                "mixers.mamba2.ngroups", f"the number of heads ({self.nheads}) must be a multiple of ngroups ({config.ngroups})"
            )
        bc_dim = 2 * config.ngroups * config.d_state
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner + bc_dim + self.nheads, bias=config.bias)
        self.conv1d = ShortConv(self.d_inner + bc_dim, config.d_conv, bias=config.conv_bias, activation="silu")

        self.dt_bias = nn.Parameter(
            inverse_softplus_dt(self.nheads, config.dt_min, config.dt_max, config.dt_init_floor)
        )
        low, high = config.A_init_range
        self.A_log = nn.Parameter(torch.log(torch.empty(self.nheads).uniform_(low, high)))
        self.D = nn.Parameter(torch.ones(self.nheads))
        for parameter in (self.dt_bias, self.A_log, self.D):
            parameter._no_weight_decay = True

        self.norm = GatedRMSNorm(
            self.d_inner, group_size=self.d_inner // config.ngroups, norm_before_gate=config.norm_before_gate
        )
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=config.bias)

    def _split(self, zxbcdt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        bc_dim = 2 * self.config.ngroups * self.config.d_state
        return zxbcdt.split([self.d_inner, self.d_inner + bc_dim, self.nheads], dim=-1)

    def _ssd_kwargs(self) -> dict:
        return dict(
            A=-torch.exp(self.A_log.float()),
            D=self.D,
            dt_bias=self.dt_bias,
            dt_softplus=True,
            dt_limit=tuple(self.config.dt_limit),
        )

    def forward(
        self,
        x: torch.Tensor,
        state: Mamba2State | None = None,
        cu_seqlens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, Mamba2State]:
        """x `[B, T, d_model]`, state of the tokens before (or per packed sequence with cu_seqlens `[N + 1]`)
        -> (y `[B, T, d_model]`, state after the last token of each sequence)."""
        batch, length, _ = x.shape
        cfg = self.config
        z, xbc, dt = self._split(self.in_proj(x))
        xbc, conv_state = self.conv1d(xbc, None if state is None else state.conv, cu_seqlens)
        xs, b, c = xbc.split([self.d_inner, cfg.ngroups * cfg.d_state, cfg.ngroups * cfg.d_state], dim=-1)
        y, ssm_state = ssd_scan(
            xs.view(batch, length, self.nheads, cfg.headdim),
            dt,
            B=b.view(batch, length, cfg.ngroups, cfg.d_state),
            C=c.view(batch, length, cfg.ngroups, cfg.d_state),
            initial_state=None if state is None else state.ssm,
            output_final_state=True,
            cu_seqlens=cu_seqlens,
            chunk_size=cfg.chunk_size,
            **self._ssd_kwargs(),
        )
        y = self.norm(y.reshape(batch, length, self.d_inner), z)
        return self.out_proj(y), Mamba2State(conv_state, ssm_state)

    def step(self, x: torch.Tensor, state: Mamba2State | None) -> tuple[torch.Tensor, Mamba2State]:
        """One decoding step: x `[B, d_model]` -> (y `[B, d_model]`, new state)."""
        batch = x.shape[0]
        cfg = self.config
        z, xbc, dt = self._split(self.in_proj(x))
        xbc, conv_state = self.conv1d.step(xbc, None if state is None else state.conv)
        xs, b, c = xbc.split([self.d_inner, cfg.ngroups * cfg.d_state, cfg.ngroups * cfg.d_state], dim=-1)
        y, ssm_state = ssd_step(
            xs.view(batch, self.nheads, cfg.headdim),
            dt,
            B_t=b.view(batch, cfg.ngroups, cfg.d_state),
            C_t=c.view(batch, cfg.ngroups, cfg.d_state),
            state=None if state is None else state.ssm,
            **self._ssd_kwargs(),
        )
        y = self.norm(y.reshape(batch, self.d_inner), z)
        return self.out_proj(y), Mamba2State(conv_state, ssm_state)
