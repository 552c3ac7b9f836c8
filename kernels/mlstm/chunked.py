"""The mLSTM, chunk-parallel in PyTorch with autograd: matmuls inside a chunk, the state (C, n, m) carried
across chunks by a short Python loop. The CPU path; memory is linear in T.

Stabilisation: every exponential is taken of a log weight minus a maximum over the same weights, so it
is <= 1 whatever the gates (large input gates, exponential forget gates): per chunk, the state update
is stabilised by its own largest weight, and each output by the running maximum m_t, which equals the
recurrent form's m_t exactly (so do the returned states).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..chunking import to_chunks
from ..precision import accumulation_dtype
from ..varlen import pad_packed, unpad_to_packed
from .gates import log_forget_gate, stabiliser_floor
from .step import MLSTMState, zero_state

# Stands in for the log weight -inf of a chunk made only of padding, whose exp(a - a_max) would be NaN.
_NO_WEIGHT = -1e30


def _chunk_mlstm(
    q: Tensor, k: Tensor, v: Tensor, i: Tensor, f_log: Tensor, state: MLSTMState, chunk_size: int, eps: float
) -> tuple[Tensor, MLSTMState]:
    """q (already scaled), k: [N, T, H, K], v: [N, T, H, V], i, f_log: [N, T, H] (i = -inf on padding),
    state (C [N, H, K, V], n [N, H, K], m [N, H]) -> (h [N, T, H, V], final state).

    n rides along as an extra column of C: v gets a column of ones, so that one matmul gives both
    C^T q and n . q. Within a chunk, with b_t the cumulative log forget gate up to t (inclusive) and
    (C_0, n_0, m_0) the state before the chunk (true memory exp(m_0) C_0):
        log weight of token j at t:  D_tj = b_t - b_j + i_j  (j <= t);  of the state: b_t + m_0
        m_t = max(b_t + m_0, max_j D_tj)
        C_t^T q_t = exp(b_t + m_0 - m_t) C_0^T q_t + sum_j exp(D_tj - m_t) (q_t . k_j) v_j
    and the state after the chunk, with a_j = b_C - b_j + i_j and a_max = max_j a_j:
        m' = max(b_C + m_0, a_max)
        C' = exp(b_C + m_0 - m') C_0 + exp(a_max - m') sum_j exp(a_j - a_max) k_j v_j^T
    """
    batch, length, heads, _ = q.shape
    value_dim = v.shape[-1]
    num_chunks = max(-(-length // chunk_size), 1)
    v = torch.cat([v, v.new_ones(*v.shape[:-1], 1)], dim=-1)  # [N, T, H, V + 1]
    q, k, v, f_log = (to_chunks(x, num_chunks, chunk_size) for x in (q, k, v, f_log))  # [N, H, n, C, *]
    i = to_chunks(i, num_chunks, chunk_size)
    if num_chunks * chunk_size != length:  # padding adds nothing: no input (i = -inf), no forgetting
        valid = torch.arange(num_chunks * chunk_size, device=i.device).view(num_chunks, chunk_size) < length
        i = i.masked_fill(~valid, float("-inf"))

    b = f_log.cumsum(-1)  # [N, H, n, C]
    b_last = b[..., -1]  # [N, H, n]
    a = b_last[..., None] - b + i  # [N, H, n, C]
    a_max = a.max(-1).values.clamp(min=_NO_WEIGHT)  # [N, H, n]
    updates = (k * (a - a_max[..., None]).exp()[..., None]).transpose(-1, -2) @ v  # [N, H, n, K, V + 1]

    memory, m = torch.cat([state[0], state[1][..., None]], dim=-1), state[2]  # [N, H, K, V + 1], [N, H]
    starts, start_m = [], []
    for update, go, top in zip(updates.unbind(2), b_last.unbind(2), a_max.unbind(2)):
        starts.append(memory)
        start_m.append(m)
        m_next = torch.maximum(go + m, top)
        keep, add = (go + m - m_next).exp(), (top - m_next).exp()  # both <= 1
        memory = keep[..., None, None] * memory + add[..., None, None] * update
        m = m_next
    starts = torch.stack(starts, dim=2)  # [N, H, n, K, V + 1]
    start_m = torch.stack(start_m, dim=2)  # [N, H, n]

    causal = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=q.device).tril()
    # Mask before anything else: above the diagonal D_tj is meaningless and may be large.
    log_d = (b[..., :, None] - b[..., None, :] + i[..., None, :]).masked_fill(~causal, float("-inf"))
    from_state = b + start_m[..., None]  # [N, H, n, C]
    m_t = torch.maximum(from_state, log_d.max(-1).values)  # [N, H, n, C]
    scores = (q @ k.transpose(-1, -2)) * (log_d - m_t[..., None]).exp()  # [N, H, n, C, C]
    out = scores @ v + (q * (from_state - m_t).exp()[..., None]) @ starts  # [N, H, n, C, V + 1]
    numerator, qn = out[..., :value_dim], out[..., value_dim]
    h = numerator / (torch.maximum(qn.abs(), stabiliser_floor(m_t)) + eps)[..., None]

    h = h.reshape(batch, heads, num_chunks * chunk_size, value_dim)[:, :, :length]
    final_state = (memory[..., :value_dim], memory[..., value_dim], m)
    return h.transpose(1, 2).contiguous(), final_state


def mlstm_chunked(
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
    chunk_size: int = 64,
) -> tuple[Tensor, MLSTMState | None]:
    """Chunk-parallel form of `mlstm_reference` (same arguments and results), with autograd.

        m_t = max(log f_t + m_{t-1}, i_t)
        C_t = exp(log f_t + m_{t-1} - m_t) C_{t-1} + exp(i_t - m_t) k_t v_t^T
        n_t = exp(log f_t + m_{t-1} - m_t) n_{t-1} + exp(i_t - m_t) k_t
        h_t = C_t^T (scale q_t) / (max(|n_t . (scale q_t)|, exp(-m_t)) + eps)

    q, k: [B, T, H, K]; v: [B, T, H, V]; i, f: [B, T, H] gate pre-activations (log f = logsigmoid(f), or
    f when forget_gate == "exp"); scale None means K ** -0.5; initial_state: (C [N, H, K, V],
    n [N, H, K], m [N, H]), zeros when None (N = B, or the number of sequences in cu_seqlens [N + 1] with
    B == 1); chunk_size: tokens per chunk. Accumulates in float64 when an input is float64, else float32.

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
        h, final_state = _chunk_mlstm(q, k, v, i, f_log, initial_state, chunk_size, eps)
    else:
        # Padding after each sequence's end (no input, no forgetting) leaves its final state unchanged.
        q, k, v, f_log = (pad_packed(x, cu_seqlens) for x in (q, k, v, f_log))
        i = pad_packed(i, cu_seqlens, pad_value=float("-inf"))
        h, final_state = _chunk_mlstm(q, k, v, i, f_log, initial_state, chunk_size, eps)
        h = unpad_to_packed(h, cu_seqlens)
    return h.to(out_dtype), (final_state if output_final_state else None)
