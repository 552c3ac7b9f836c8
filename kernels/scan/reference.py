"""The scan as defined: a plain loop over time. Exact (float64-capable); the oracle of the tests.

The decay is a scalar per head (g: [B, T, H]) or one per key channel (g: [B, T, H, K], GLA's gates).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..precision import accumulation_dtype


def _recurrence(q: Tensor, k: Tensor, v: Tensor, g: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
    """q (already scaled), k: [B, T, H, K], v: [B, T, H, V], g: [B, T, H] or [B, T, H, K],
    state: [B, H, K, V] -> (o [B, T, H, V], state [B, H, K, V])."""
    decay = g.exp()[..., None] if g.ndim == q.ndim else g.exp()[..., None, None]  # [B, T, H, K or 1, 1]
    outputs = []
    for t in range(q.shape[1]):
        state = decay[:, t] * state + k[:, t, :, :, None] * v[:, t, :, None, :]
        outputs.append(torch.einsum("bhkv,bhk->bhv", state, q[:, t]))
    if not outputs:
        return v.new_empty(v.shape), state
    return torch.stack(outputs, dim=1), state


def scan_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    *,
    scale: float | None = None,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Gated linear attention with a matrix state, one token at a time:

        S_t = exp(g_t) * S_{t-1} + k_t v_t^T,    o_t = S_t^T (scale * q_t)

    with g_t a scalar per head, or per key channel (S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T).
    q, k: [B, T, H, K]; v: [B, T, H, V]; g: [B, T, H] or [B, T, H, K] log-decay (any sign: > 0 grows);
    scale None means K ** -0.5;
    initial_state: [N, H, K, V] (zeros when None), N = B, or the number of sequences when
    cu_seqlens ([N + 1], B == 1) packs several; the state restarts at every sequence start.
    Computes in float64 when an input is float64, else float32.

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] in the compute dtype, or None
    unless output_final_state).
    """
    dtype, out_dtype = accumulation_dtype(q, k, v, g, initial_state), q.dtype
    batch, _, heads, key_dim = q.shape
    scale = key_dim**-0.5 if scale is None else scale
    q, k, v, g = q.to(dtype) * scale, k.to(dtype), v.to(dtype), g.to(dtype)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    if initial_state is None:
        initial_state = q.new_zeros(num_states, heads, key_dim, v.shape[-1])
    initial_state = initial_state.to(dtype)

    if cu_seqlens is None:
        o, final_state = _recurrence(q, k, v, g, initial_state)
    else:
        bounds = cu_seqlens.tolist()
        pieces = [
            _recurrence(q[:, s:e], k[:, s:e], v[:, s:e], g[:, s:e], initial_state[i : i + 1])
            for i, (s, e) in enumerate(zip(bounds, bounds[1:]))
        ]
        o = torch.cat([piece[0] for piece in pieces], dim=1)
        final_state = torch.cat([piece[1] for piece in pieces], dim=0)
    return o.to(out_dtype), (final_state if output_final_state else None)
