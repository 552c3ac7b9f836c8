"""Mamba-2's SSD as the scan's inputs: with dt' the processed dt, per head h reading group h // (H // G) of
B and C,

    h_t = exp(dt'_t A) h_{t-1} + dt'_t B_t x_t^T,    y_t = h_t^T C_t + D x_t,    y_t *= silu(z_t)

is the scan with q = C, k = dt' B, v = x, g = dt' A and scale 1. The state is laid out [.., H, N, P] (the
scan's [.., H, K, V]): the transpose of mamba_ssm's own [.., H, P, N].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

NO_LIMIT = (0.0, float("inf"))


def process_dt(dt: Tensor, dt_bias: Tensor | None, dt_softplus: bool, dt_limit: tuple[float, float]) -> Tensor:
    """dt [.., H] -> dt + dt_bias, then softplus if dt_softplus, then clamped to dt_limit, always (as mamba_ssm's
    `_chunk_cumsum_fwd`): the default (0, inf) turns a negative step, which would make exp(dt A) grow, into 0."""
    if dt_bias is not None:
        dt = dt + dt_bias
    if dt_softplus:
        dt = F.softplus(dt)
    return dt.clamp(min=dt_limit[0], max=dt_limit[1])


def scan_inputs(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    dt_bias: Tensor | None,
    dt_softplus: bool,
    dt_limit: tuple[float, float],
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Map SSD inputs ([.., H, P], [.., H], [H], [.., G, N], [.., G, N], [H]) onto the scan's
    (q [.., H, N], k [.., H, N], v [.., H, P], g [.., H]) in `dtype`."""
    x, dt, A, B, C = (t.to(dtype) for t in (x, dt, A, B, C))
    dt = process_dt(dt, None if dt_bias is None else dt_bias.to(dtype), dt_softplus, dt_limit)
    heads_per_group = x.shape[-2] // B.shape[-2]
    B, C = B.repeat_interleave(heads_per_group, dim=-2), C.repeat_interleave(heads_per_group, dim=-2)
    return C, B * dt[..., None], x, dt * A


def skip_and_gate(y: Tensor, x: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    """y, x, z: [.., H, P]; D: [H] or [H, P] -> y + D x, times silu(z) when z is given."""
    if D is not None:
        y = y + x * (D[:, None] if D.ndim == 1 else D).to(y.dtype)
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y
