"""The delta rule as defined: a plain loop over time. Exact (float64-capable); the oracle of the tests.

Orientation: our states are [N, H, K, V] (fla's), so DeltaNet's S_t = S_{t-1} (I - b k k^T) + b v k^T
(state [V, K] in the paper) reads S_t = (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T here. The gated form
applies the decay before the delta update, as fla's naive recurrences:
    S' = exp(g_t) S_{t-1};  S_t = S' + k_t (b_t (v_t - S'^T k_t))^T.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..precision import accumulation_dtype
from .checks import l2_normalize


def _recurrence(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None, state: Tensor
) -> tuple[Tensor, Tensor]:
    """q (already scaled), k: [B, T, H, K], v: [B, T, H, V], beta, g: [B, T, H] (g may be None),
    state: [B, H, K, V] -> (o [B, T, H, V], state [B, H, K, V])."""
    outputs = []
    for t in range(q.shape[1]):
        if g is not None:
            state = g[:, t].exp()[..., None, None] * state
        k_t = k[:, t]
        u_t = beta[:, t, :, None] * (v[:, t] - torch.einsum("bhkv,bhk->bhv", state, k_t))
        state = state + k_t[..., :, None] * u_t[..., None, :]
        outputs.append(torch.einsum("bhkv,bhk->bhv", state, q[:, t]))
    if not outputs:
        return v.new_empty(v.shape), state
    return torch.stack(outputs, dim=1), state


def prepare(q, k, v, beta, g, scale, initial_state, cu_seqlens, use_qk_l2norm_in_kernel):
    """Cast to the compute dtype, L2-normalise q and k if asked, scale q, and build the zero state.
    Returns (q, k, v, beta, g, initial_state, out_dtype)."""
    dtype, out_dtype = accumulation_dtype(q, k, v, beta, g, initial_state), q.dtype
    batch, _, heads, key_dim = q.shape
    scale = key_dim**-0.5 if scale is None else scale
    q, k, v, beta = q.to(dtype), k.to(dtype), v.to(dtype), beta.to(dtype)
    g = None if g is None else g.to(dtype)
    if use_qk_l2norm_in_kernel:
        q, k = l2_normalize(q), l2_normalize(k)
    q = q * scale
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    if initial_state is None:
        initial_state = q.new_zeros(num_states, heads, key_dim, v.shape[-1])
    return q, k, v, beta, g, initial_state.to(dtype), out_dtype


def delta_rule_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    beta: Tensor,
    g: Tensor | None = None,
    scale: float | None = None,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    use_qk_l2norm_in_kernel: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """The (gated) delta rule, one token at a time:

        S_t = exp(g_t) (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T,    o_t = S_t^T (scale * q_t)

    (g None: no decay, DeltaNet). q, k: [B, T, H, K]; v: [B, T, H, V]; beta: [B, T, H]; g: [B, T, H]
    log-decay (any sign: > 0 grows) or None; scale None means K ** -0.5; use_qk_l2norm_in_kernel: L2-normalise q and k
    (before the scale); initial_state: [N, H, K, V] (zeros when None), N = B, or the number of
    sequences when cu_seqlens ([N + 1], B == 1) packs several; the state restarts at every sequence start.
    Computes in float64 when an input is float64, else float32.

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] in the compute dtype, or None
    unless output_final_state).
    """
    q, k, v, beta, g, initial_state, out_dtype = prepare(
        q, k, v, beta, g, scale, initial_state, cu_seqlens, use_qk_l2norm_in_kernel
    )
    if cu_seqlens is None:
        o, final_state = _recurrence(q, k, v, beta, g, initial_state)
    else:
        bounds = cu_seqlens.tolist()
        pieces = [
            _recurrence(
                q[:, s:e], k[:, s:e], v[:, s:e], beta[:, s:e], None if g is None else g[:, s:e],
                initial_state[i : i + 1],
            )
            for i, (s, e) in enumerate(zip(bounds, bounds[1:]))
        ]
        o = torch.cat([piece[0] for piece in pieces], dim=1)
        final_state = torch.cat([piece[1] for piece in pieces], dim=0)
    return o.to(out_dtype), (final_state if output_final_state else None)
