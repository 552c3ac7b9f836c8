"""Mamba mixers: Mamba-1 (selective scan per channel, short conv, SiLU gate) and Mamba-2 (SSD with
multi-head, grouped B/C and a gated RMSNorm), laid out as mamba_ssm's `Mamba` and `Mamba2` so that their
weights map one to one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from zoo.kernels import selective_scan, selective_scan_step, ssd_scan, ssd_step
from zoo.models.conv import ShortConv
from zoo.models.norm import GatedRMSNorm


def _inverse_softplus_dt(size: int, dt_min: float, dt_max: float, floor: float) -> torch.Tensor:
    """A bias b with softplus(b) log-uniform in [dt_min, dt_max] (at least `floor`), as Mamba initialises dt."""
    dt = torch.exp(torch.rand(size) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))


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


class Mamba(nn.Module):
    """Mamba-1 mixer (selective SSM): `[B, T, d_model] -> [B, T, d_model]`."""

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
                _inverse_softplus_dt(self.d_inner, config.dt_min, config.dt_max, config.dt_init_floor)
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


class Mamba2(nn.Module):
    """Mamba-2 mixer: `[B, T, d_model] -> [B, T, d_model]`."""

    def __init__(self, d_model: int, config: Mamba2Config):
        super().__init__()
        self.config = config
        self.d_inner = config.expand * d_model
        if self.d_inner % config.headdim:
            raise ValueError(f"mamba2: expand * d_model ({self.d_inner}) must be a multiple of headdim ({config.headdim})")
        self.nheads = self.d_inner // config.headdim
        if self.nheads % config.ngroups:
            raise ValueError(f"mamba2: the number of heads ({self.nheads}) must be a multiple of ngroups ({config.ngroups})")
        bc_dim = 2 * config.ngroups * config.d_state
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner + bc_dim + self.nheads, bias=config.bias)
        self.conv1d = ShortConv(self.d_inner + bc_dim, config.d_conv, bias=config.conv_bias, activation="silu")

        self.dt_bias = nn.Parameter(
            _inverse_softplus_dt(self.nheads, config.dt_min, config.dt_max, config.dt_init_floor)
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
