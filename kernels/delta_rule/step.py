"""One decoding step of the delta rule: O(1) in the sequence length."""

from __future__ import annotations

import torch
from torch import Tensor

from ..precision import accumulation_dtype
from .checks import check_delta_rule_inputs, l2_normalize


def delta_rule_step(
    q_t: Tensor,
    k_t: Tensor,
    v_t: Tensor,
    *,
    beta_t: Tensor,
    g_t: Tensor | None = None,
    state: Tensor | None = None,
    scale: float | None = None,
    use_qk_l2norm_in_kernel: bool = False,
) -> tuple[Tensor, Tensor]:
    """Advance the (gated) delta rule by one token:

        S_t = exp(g_t) (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T,    o_t = S_t^T (scale * q_t)

    q_t, k_t: [B, H, K]; v_t: [B, H, V]; beta_t: [B, H]; g_t: [B, H] log-decay (any sign) or None (no decay);
    state: [B, H, K, V] (zeros when None); scale None means K ** -0.5; use_qk_l2norm_in_kernel:
    L2-normalise q_t and k_t first. Computes in float64 when an input is float64, else float32.
    beta_t and g_t are keyword-only (one shape, and fla orders them g, beta), as in `delta_rule`.

    Returns (o_t [B, H, V] in q_t's dtype, new state [B, H, K, V] in the compute dtype).
    """
    check_delta_rule_inputs(
        "delta_rule_step", q_t, k_t, v_t, beta_t, g_t, state,
        lead="B", num_states=q_t.shape[0], state_name="state", state_source="q_t and v_t", g_name="g_t",
    )
    dtype = accumulation_dtype(q_t, k_t, v_t, beta_t, g_t, state)
    batch, heads, key_dim = q_t.shape
    scale = key_dim**-0.5 if scale is None else scale
    if state is None:
        state = torch.zeros(batch, heads, key_dim, v_t.shape[-1], dtype=dtype, device=q_t.device)
    q, k, v, beta, state = q_t.to(dtype), k_t.to(dtype), v_t.to(dtype), beta_t.to(dtype), state.to(dtype)
    if use_qk_l2norm_in_kernel:
        q, k = l2_normalize(q), l2_normalize(k)
    if g_t is not None:
        state = g_t.to(dtype).exp()[..., None, None] * state
    u = beta[..., None] * (v - torch.einsum("bhkv,bhk->bhv", state, k))
    state = state + k[..., :, None] * u[..., None, :]
    o_t = torch.einsum("bhkv,bhk->bhv", state, q * scale)
    return o_t.to(q_t.dtype), state
