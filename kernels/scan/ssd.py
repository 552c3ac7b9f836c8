"""Mamba-2's SSD on the scan, with mamba_ssm's `mamba_chunk_scan_combined` conventions.

Per head h, reading group h // (H // G) of B and C, with dt' the processed dt:

    h_t = exp(dt'_t A) h_{t-1} + dt'_t B_t x_t^T,    y_t = h_t^T C_t + D x_t,    y_t *= silu(z_t)

which is the scan with q = C, k = dt' B, v = x, g = dt' A and scale 1. The state is laid out
[.., H, N, P] (the scan's [.., H, K, V]): the transpose of mamba_ssm's own [.., H, P, N].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..varlen import check_cu_seqlens
from ..checks import check_backend, check_log_decay, check_shape
from .checks import BACKENDS, check_ssd_inputs
from .dispatch import scan
from ..precision import accumulation_dtype
from .step import scan_step

_NO_LIMIT = (0.0, float("inf"))


def _process_dt(dt: Tensor, dt_bias: Tensor | None, dt_softplus: bool, dt_limit: tuple[float, float]) -> Tensor:
    """dt [.., H] -> dt + dt_bias, then softplus if dt_softplus, then clamped to dt_limit, always (as mamba_ssm's
    `_chunk_cumsum_fwd`): the default (0, inf) turns a negative step, which would make exp(dt A) grow, into 0."""
    if dt_bias is not None:
        dt = dt + dt_bias
    if dt_softplus:
        dt = F.softplus(dt)
    return dt.clamp(min=dt_limit[0], max=dt_limit[1])


def _scan_inputs(
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
    dt = _process_dt(dt, None if dt_bias is None else dt_bias.to(dtype), dt_softplus, dt_limit)
    heads_per_group = x.shape[-2] // B.shape[-2]
    B, C = B.repeat_interleave(heads_per_group, dim=-2), C.repeat_interleave(heads_per_group, dim=-2)
    return C, B * dt[..., None], x, dt * A


def _skip_and_gate(y: Tensor, x: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    """y, x, z: [.., H, P]; D: [H] or [H, P] -> y + D x, times silu(z) when z is given."""
    if D is not None:
        y = y + x * (D[:, None] if D.ndim == 1 else D).to(y.dtype)
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y


def ssd_scan(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    *,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    dt_limit: tuple[float, float] = _NO_LIMIT,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    chunk_size: int = 64,
    backend: str = "auto",
) -> tuple[Tensor, Tensor | None]:
    """Mamba-2 SSD over a sequence, as mamba_ssm's `mamba_chunk_scan_combined`.

    x: [B, T, H, P]; dt: [B, T, H]; A: [H], <= 0 (the log-decay dt * A must be <= 0 for the "torch" and "triton"
    forms: a ValueError otherwise); B, C: [B, T, G, N] with H % G == 0 (head h reads group
    h // (H // G)); D: [H] or [H, P]; z: [B, T, H, P] (y *= silu(z)); dt_bias: [H].
    dt is processed as dt + dt_bias, then softplus if dt_softplus, then clamped to dt_limit (the default
    (0, inf) clamps a negative dt to 0, as mamba_ssm does). initial_state: [N_seq, H, N, P], N_seq = B, or the number of sequences in
    cu_seqlens ([N_seq + 1], B == 1). Note the state layout [.., H, N, P]: the transpose of
    mamba_ssm's [.., H, P, N]. chunk_size and backend as in `scan`. D and z are keyword-only: z has x's shape,
    and mamba_ssm's sixth positional argument is chunk_size.
    Computes in float64 when an input is float64, else float32.

    Returns (y [B, T, H, P] in x's dtype, final_state [N_seq, H, N, P] or None unless output_final_state).
    """
    check_backend("ssd_scan", backend, BACKENDS)
    check_shape("ssd_scan", "x", x, "B, T, H, P", [None] * 4)
    batch, length = x.shape[:2]
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    check_ssd_inputs(
        "ssd_scan", x, dt, A, B, C, D, z, dt_bias, initial_state,
        lead="B, T", num_states=num_states, state_name="initial_state",
        state_source="x and B" if cu_seqlens is None else "cu_seqlens, x and B",
    )
    dtype = accumulation_dtype(x, dt, A, B, C, D, z, dt_bias, initial_state)
    q, k, v, g = _scan_inputs(x, dt, A, B, C, dt_bias, dt_softplus, dt_limit, dtype)
    if backend != "reference":
        check_log_decay("ssd_scan", "dt * A", g, "A must be <= 0 (and dt_limit[0] >= 0)")
    y, final_state = scan(
        q, k, v, g,
        scale=1.0, initial_state=initial_state, output_final_state=output_final_state,
        cu_seqlens=cu_seqlens, chunk_size=chunk_size, backend=backend,
    )
    return _skip_and_gate(y, v, D, z).to(x.dtype), final_state


def ssd_step(
    x_t: Tensor,
    dt_t: Tensor,
    A: Tensor,
    B_t: Tensor,
    C_t: Tensor,
    *,
    D: Tensor | None = None,
    z_t: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    dt_limit: tuple[float, float] = _NO_LIMIT,
    state: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One decoding step of Mamba-2 SSD (same conventions as `ssd_scan`).

    x_t: [B, H, P]; dt_t: [B, H]; A: [H]; B_t, C_t: [B, G, N]; D: [H] or [H, P]; z_t: [B, H, P];
    dt_bias: [H]; state: [B, H, N, P] (zeros when None; the transpose of mamba_ssm's [B, H, P, N]).

    Returns (y_t [B, H, P] in x_t's dtype, new state [B, H, N, P] in float32, float64 when an input is).
    """
    check_ssd_inputs(
        "ssd_step", x_t, dt_t, A, B_t, C_t, D, z_t, dt_bias, state,
        lead="B", num_states=x_t.shape[0], state_name="state", state_source="x_t and B_t",
    )
    dtype = accumulation_dtype(x_t, dt_t, A, B_t, C_t, D, z_t, dt_bias, state)
    q, k, v, g = _scan_inputs(x_t, dt_t, A, B_t, C_t, dt_bias, dt_softplus, dt_limit, dtype)
    y_t, state = scan_step(q, k, v, g, state, scale=1.0)
    return _skip_and_gate(y_t, v, D, z_t).to(x_t.dtype), state
