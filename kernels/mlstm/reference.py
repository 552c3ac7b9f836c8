"""The mLSTM as defined: the stabilised recurrence, one token at a time. Exact (float64-capable); the
oracle of the tests. Conventions as mlstm_kernels' native recurrent form."""

from __future__ import annotations

import torch
from torch import Tensor

from ..precision import accumulation_dtype
from .gates import log_forget_gate
from .step import MLSTMState, mlstm_cell, zero_state


def _recurrence(
    q: Tensor, k: Tensor, v: Tensor, i: Tensor, f_log: Tensor, state: MLSTMState, eps: float
) -> tuple[Tensor, MLSTMState]:
    """q (already scaled), k: [B, T, H, K], v: [B, T, H, V], i, f_log: [B, T, H],
    state (C [B, H, K, V], n [B, H, K], m [B, H]) -> (h [B, T, H, V], final state)."""
    outputs = []
    for t in range(q.shape[1]):
        h_t, state = mlstm_cell(q[:, t], k[:, t], v[:, t], i[:, t], f_log[:, t], state, eps)
        outputs.append(h_t)
    if not outputs:
        return v.new_empty(v.shape), state
    return torch.stack(outputs, dim=1), state


def mlstm_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    i: Tensor,
    f: Tensor,
    *,
    scale: float | None = None,
    forget_gate: str = "sigmoid",
    eps: float = 1e-6,
    initial_state: MLSTMState | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
) -> tuple[Tensor, MLSTMState | None]:
    """The mLSTM (xLSTM's matrix-memory cell) with max-stabilised exponential gating, one token at a time:

        m_t = max(log f_t + m_{t-1}, i_t)
        C_t = exp(log f_t + m_{t-1} - m_t) C_{t-1} + exp(i_t - m_t) k_t v_t^T
        n_t = exp(log f_t + m_{t-1} - m_t) n_{t-1} + exp(i_t - m_t) k_t
        h_t = C_t^T (scale q_t) / (max(|n_t . (scale q_t)|, exp(-m_t)) + eps)

    q, k: [B, T, H, K]; v: [B, T, H, V]; i: [B, T, H] input-gate pre-activation (the log input gate);
    f: [B, T, H] forget-gate pre-activation, log f = logsigmoid(f) (forget_gate "sigmoid") or f ("exp");
    scale None means K ** -0.5 (only q is scaled); eps is added outside the max.
    initial_state: (C [N, H, K, V], n [N, H, K], m [N, H]), zeros (m = 0 too) when None, N = B, or the
    number of sequences when cu_seqlens ([N + 1], B == 1) packs several; every sequence starts afresh.
    Computes in float64 when an input is float64, else float32.

    Returns (h [B, T, H, V] in q's dtype, final state (C, n, m) in the compute dtype, or None unless
    output_final_state).
    """
    dtype, out_dtype = accumulation_dtype(q, k, v, i, f, *(initial_state or ())), q.dtype
    batch, _, heads, key_dim = q.shape
    scale = key_dim**-0.5 if scale is None else scale
    q, k, v, i, f = (t.to(dtype) for t in (q, k, v, i, f))
    q, f_log = q * scale, log_forget_gate(f, forget_gate)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    if initial_state is None:
        initial_state = zero_state(num_states, heads, key_dim, v.shape[-1], q)
    initial_state = tuple(s.to(dtype) for s in initial_state)

    if cu_seqlens is None:
        h, final_state = _recurrence(q, k, v, i, f_log, initial_state, eps)
    else:
        bounds = cu_seqlens.tolist()
        pieces = [
            _recurrence(
                q[:, s:e], k[:, s:e], v[:, s:e], i[:, s:e], f_log[:, s:e],
                tuple(part[n : n + 1] for part in initial_state), eps,
            )
            for n, (s, e) in enumerate(zip(bounds, bounds[1:]))
        ]
        h = torch.cat([piece[0] for piece in pieces], dim=1)
        final_state = tuple(torch.cat([piece[1][j] for piece in pieces], dim=0) for j in range(3))
    return h.to(out_dtype), (final_state if output_final_state else None)
