"""One decoding step of Mamba-2's SSD: O(1) in the sequence length."""

from __future__ import annotations

from torch import Tensor

from ..precision import accumulation_dtype
from ..scan import scan_step
from .checks import check_ssd_inputs
from .inputs import NO_LIMIT, scan_inputs, skip_and_gate


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
    dt_limit: tuple[float, float] = NO_LIMIT,
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
    q, k, v, g = scan_inputs(x_t, dt_t, A, B_t, C_t, dt_bias, dt_softplus, dt_limit, dtype)
    y_t, state = scan_step(q, k, v, g, state, scale=1.0)
    return skip_and_gate(y_t, v, D, z_t).to(x_t.dtype), state
