"""Initialisation of the discretisation step dt, shared by the selective state-space mixers (Mamba-1, Mamba-2) and
the layers that borrow Mamba-2's decay (Gated DeltaNet)."""

from __future__ import annotations

import math

import torch


def inverse_softplus_dt(size: int, dt_min: float, dt_max: float, floor: float) -> torch.Tensor:
    """A bias b `[size]` with softplus(b) log-uniform in [dt_min, dt_max] (at least `floor`), as Mamba initialises dt."""
    dt = torch.exp(torch.rand(size) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))
