"""One decoding step of the selective scan: O(1) in the sequence length."""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_shape
from .checks import check_selective_scan_inputs
from ..precision import accumulation_dtype
from .preprocess import grouped, per_channel, process_delta, skip_and_gate


def selective_scan_step(
    u_t: Tensor,
    delta_t: Tensor,
    A: Tensor,
    B_t: Tensor,
    C_t: Tensor,
    D: Tensor | None = None,
    z_t: Tensor | None = None,
    *,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    state: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Advance the selective scan by one token (same conventions as `selective_scan`):

        dt = softplus(delta_t + delta_bias),    h = exp(dt * A) * h + dt * B_t * u_t,
        y_t = <C_t, h> + D * u_t,    y_t *= silu(z_t)

    u_t, delta_t, z_t: [B, D]; A: [D, N]; B_t, C_t: [B, N] or [B, G, N] (channel d reads group
    d // (D // G)); D, delta_bias: [D]; state: [B, D, N] (zeros when None).
    Computes in float64 when an input is float64, else float32.

    Returns (y_t [B, D] in u_t's dtype, new state [B, D, N] in the compute dtype).
    """
    op = "selective_scan_step"
    check_shape(op, "u_t", u_t, "B, D", [None, None])
    check_selective_scan_inputs(
        op, u_t, delta_t, A, B_t, C_t, D, z_t, delta_bias, state,
        lead="B", num_states=u_t.shape[0], state_name="state", state_source="u_t and A", suffix="_t",
    )
    dtype = accumulation_dtype(u_t, delta_t, A, B_t, C_t, D, z_t, delta_bias, state)
    batch, channels = u_t.shape
    x = u_t.to(dtype)
    dt = process_delta(delta_t.to(dtype), delta_bias, delta_softplus)[..., None]  # [B, D, 1]
    B_t, C_t = (grouped(t.to(dtype), 1) for t in (B_t, C_t))  # [B, G, N]
    if B_t.shape[1] > 1:  # one group broadcasts over the channels as it is
        B_t, C_t = per_channel(B_t, channels), per_channel(C_t, channels)  # [B, D, N]
    if state is None:
        state = torch.zeros(batch, channels, A.shape[1], dtype=dtype, device=u_t.device)
    state = torch.exp(dt * A.to(dtype)) * state.to(dtype) + dt * x[..., None] * B_t
    y_t = skip_and_gate((state * C_t).sum(-1), x, D, z_t)
    return y_t.to(u_t.dtype), state
