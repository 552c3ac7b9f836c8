"""The Mamba-1 mixer (`mamba`): selective scan per channel, short conv and SiLU gate, laid out as mamba_ssm's `Mamba`
so that its weights map one to one."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from zoo.kernels import selective_scan, selective_scan_step
from zoo.models.layers.conv import ShortConv
from zoo.models.layers.dt_init import inverse_softplus_dt
from zoo.models.registry import register_mixer


@dataclass
class MambaConfig:
    """Hyperparameters of a Mamba-1 layer (names as in mamba_ssm's `Mamba`); dt_rank 0 = ceil(d_model / 16)."""

    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int = 0
    dt_min: float = 0.001
    dt_max: float = 0.1
    dt_init_floor: float = 1e-4
    dt_scale: float = 1.0
    conv_bias: bool = True
    bias: bool = False
    chunk_size: int = 64


@dataclass
class MambaState:
    """Decoding state of a Mamba-1 layer: conv inputs `[B, D_inner, W - 1]` and SSM state `[B, D_inner, N]`."""

    conv: torch.Tensor
    ssm: torch.Tensor


@register_mixer("mamba", config=MambaConfig)
class Mamba(nn.Module):
    """Mamba-1 mixer (selective SSM): `[B, T, d_model] -> [B, T, d_model]`."""

    papers = ("gu2023mamba",)  # zoo.models.citations

    def __init__(self, d_model: int, config: MambaConfig):
        super().__init__()
        self.config = config
        self.d_inner = config.expand * d_model
        self.dt_rank = config.dt_rank or math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=config.bias)
        self.conv1d = ShortConv(self.d_inner, config.d_conv, bias=config.conv_bias, activation="silu")
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * config.d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        bound = self.dt_rank**-0.5 * config.dt_scale
        nn.init.uniform_(self.dt_proj.weight, -bound, bound)
        with torch.no_grad():
            self.dt_proj.bias.copy_(
                inverse_softplus_dt(self.d_inner, config.dt_min, config.dt_max, config.dt_init_floor)
            )
        self.dt_proj.weight._no_reinit = self.dt_proj.bias._no_reinit = True
        A = torch.arange(1, config.d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))  # [D_inner, N], S4D-real initialisation
        self.D = nn.Parameter(torch.ones(self.d_inner))
        for parameter in (self.A_log, self.D):
            parameter._no_weight_decay = True
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=config.bias)

    def _project(self, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """xs `[..., D_inner]` (after the conv) -> (delta `[..., D_inner]` before bias, B, C `[..., N]`)."""
        dt, b, c = self.x_proj(xs).split([self.dt_rank, self.config.d_state, self.config.d_state], dim=-1)
        return dt @ self.dt_proj.weight.t(), b, c

    def _scan_kwargs(self) -> dict:
        return dict(A=-torch.exp(self.A_log.float()), D=self.D.float(), delta_bias=self.dt_proj.bias.float(),
                    delta_softplus=True)

    def forward(
        self,
        x: torch.Tensor,
        state: MambaState | None = None,
        cu_seqlens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, MambaState]:
        """x `[B, T, d_model]`, state of the tokens before (or per packed sequence with cu_seqlens `[N + 1]`)
        -> (y `[B, T, d_model]`, state after the last token of each sequence)."""
        xs, z = self.in_proj(x).chunk(2, dim=-1)
        xs, conv_state = self.conv1d(xs, None if state is None else state.conv, cu_seqlens)
        delta, b, c = self._project(xs)
        y, ssm_state = selective_scan(
            xs, delta, B=b, C=c, z=z,
            initial_state=None if state is None else state.ssm,
            output_final_state=True,
            cu_seqlens=cu_seqlens,
            chunk_size=self.config.chunk_size,
            **self._scan_kwargs(),
        )
        return self.out_proj(y), MambaState(conv_state, ssm_state)

    def step(self, x: torch.Tensor, state: MambaState | None) -> tuple[torch.Tensor, MambaState]:
        """One decoding step: x `[B, d_model]` -> (y `[B, d_model]`, new state)."""
        xs, z = self.in_proj(x).chunk(2, dim=-1)
        xs, conv_state = self.conv1d.step(xs, None if state is None else state.conv)
        delta, b, c = self._project(xs)
        y, ssm_state = selective_scan_step(
            xs, delta, B_t=b, C_t=c, z_t=z, state=None if state is None else state.ssm, **self._scan_kwargs()
        )
        return self.out_proj(y), MambaState(conv_state, ssm_state)
