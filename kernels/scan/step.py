"""One decoding step of the scan: O(1) in the sequence length."""

from __future__ import annotations

import torch
from torch import Tensor

from .checks import check_scan_inputs
from ..precision import accumulation_dtype


def scan_step(
    q_t: Tensor, k_t: Tensor, v_t: Tensor, g_t: Tensor, state: Tensor | None, *, scale: float | None = None
) -> tuple[Tensor, Tensor]:
    """Advance the scan by one token:

        S_t = exp(g_t) * S_{t-1} + k_t v_t^T,    o_t = S_t^T (scale * q_t)

    q_t, k_t: [B, H, K]; v_t: [B, H, V]; g_t: [B, H] log-decay per head, or [B, H, K] per key channel
    (S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T), any sign (> 0 grows); state: [B, H, K, V] (zeros when None);
    scale None means K ** -0.5. Computes in float64 when an input is float64, else float32.

    Returns (o_t [B, H, V] in q_t's dtype, new state [B, H, K, V] in the compute dtype).
    """
    check_scan_inputs(
        "scan_step", q_t, k_t, v_t, g_t, state,
        lead="B", num_states=q_t.shape[0], state_name="state", state_source="q_t and v_t",
    )
    dtype = accumulation_dtype(q_t, k_t, v_t, g_t, state)
    batch, heads, key_dim = q_t.shape
    scale = key_dim**-0.5 if scale is None else scale
    if state is None:
        state = torch.zeros(batch, heads, key_dim, v_t.shape[-1], dtype=dtype, device=q_t.device)
    k_t, v_t, g_t = k_t.to(dtype), v_t.to(dtype), g_t.to(dtype)
    decay = g_t.exp()[..., None] if g_t.ndim == q_t.ndim else g_t.exp()[..., None, None]  # [B, H, K or 1, 1]
    state = decay * state.to(dtype) + k_t[..., :, None] * v_t[..., None, :]
    o_t = torch.einsum("bhkv,bhk->bhv", state, q_t.to(dtype) * scale)
    return o_t.to(q_t.dtype), state
