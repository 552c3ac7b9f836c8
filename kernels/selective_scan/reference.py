"""The selective scan as defined (mamba_ssm's `selective_scan_ref`): a plain loop over time.
Exact (float64-capable); the oracle of the tests."""

from __future__ import annotations

import torch
from torch import Tensor

from ..precision import accumulation_dtype
from .preprocess import grouped, process_delta, skip_and_gate


def _recurrence(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, state: Tensor
) -> tuple[Tensor, Tensor]:
    """u, delta (processed): [B, T, D]; A: [D, N]; B, C: [B, T, G, N]; state: [B, D, N]
    -> (y [B, T, D] without skip and gate, final state [B, D, N]).

    Channel d = g * E + e (E = D // G) reads group g: the loop runs on [B, G, E, N] views."""
    batch, _, channels = u.shape
    groups = B.shape[-2]
    split = (groups, channels // groups)
    u, delta = u.unflatten(-1, split), delta.unflatten(-1, split)  # [B, T, G, E]
    A = A.unflatten(0, split)  # [G, E, N]
    state = state.unflatten(1, split)  # [B, G, E, N]
    outputs = []
    # unbind, not u[:, t]: the backward of T slices would write T zero-filled [B, T, ...] gradients.
    for u_t, dt_t, B_t, C_t in zip(u.unbind(1), delta.unbind(1), B.unbind(1), C.unbind(1)):
        dt_t = dt_t[..., None]  # [B, G, E, 1]
        state = torch.exp(dt_t * A) * state + dt_t * u_t[..., None] * B_t[:, :, None, :]
        outputs.append((state * C_t[:, :, None, :]).sum(-1).flatten(1))
    state = state.flatten(1, 2)
    if not outputs:
        return u.new_empty(batch, 0, channels), state
    return torch.stack(outputs, dim=1), state


def selective_scan_reference(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    *,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Mamba-1's selective scan, one token at a time. Per channel d and state n:

        dt_t = softplus(delta_t + delta_bias)    (bias and softplus only when given / asked for)
        h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t,    y_t = <C_t, h_t> + D * u_t,    y_t *= silu(z_t)

    u, delta, z: [B, T, D]; A: [D, N]; B, C: [B, T, N], or [B, T, G, N] with channel d reading group
    d // (D // G); D, delta_bias: [D]; initial_state: [N_seq, D, N] (zeros when None), N_seq = B, or the
    number of sequences when cu_seqlens ([N_seq + 1], B == 1) packs several; the state restarts at every
    sequence start. Computes in float64 when an input is float64, else float32.

    Returns (y [B, T, D] in u's dtype, final_state [N_seq, D, N] in the compute dtype, or None unless
    output_final_state).
    """
    dtype = accumulation_dtype(u, delta, A, B, C, D, z, delta_bias, initial_state)
    batch, _, channels = u.shape
    state_dim = A.shape[1]
    x, A = u.to(dtype), A.to(dtype)
    dt = process_delta(delta.to(dtype), delta_bias, delta_softplus)
    B, C = (grouped(t.to(dtype), 2) for t in (B, C))  # [B, T, G, N]
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    if initial_state is None:
        initial_state = x.new_zeros(num_states, channels, state_dim)
    initial_state = initial_state.to(dtype)

    if cu_seqlens is None:
        y, final_state = _recurrence(x, dt, A, B, C, initial_state)
    else:
        bounds = cu_seqlens.tolist()
        pieces = [
            _recurrence(x[:, s:e], dt[:, s:e], A, B[:, s:e], C[:, s:e], initial_state[i : i + 1])
            for i, (s, e) in enumerate(zip(bounds, bounds[1:]))
        ]
        y = torch.cat([piece[0] for piece in pieces], dim=1)
        final_state = torch.cat([piece[1] for piece in pieces], dim=0)
    y = skip_and_gate(y, x, D, z)
    return y.to(u.dtype), (final_state if output_final_state else None)
