"""The mLSTM in Triton, forward kernels (the math and notation: triton_mlstm.py).

Per chunk of C tokens (q already scaled), with b_t the cumulative log forget gate inside the chunk
(inclusive), L the chunk's last token and (C_0, n_0, m_0) the state before the chunk, as `mlstm_chunked`:

    D_tj = b_t - b_j + i_j  (j <= t),   m_t = max(b_t + m_0, max_j D_tj)   (the recurrent m_t exactly)
    u_t = sum_{j <= t} exp(D_tj - m_t) (q_t . k_j) v_j + exp(b_t + m_0 - m_t) C_0^T q_t      (= C_t^T q_t)
    s_t = sum_{j <= t} exp(D_tj - m_t) (q_t . k_j)     + exp(b_t + m_0 - m_t) n_0 . q_t      (= n_t . q_t)
    h_t = u_t / d_t,   d_t = max(|s_t|, exp(-m_t)) + eps
    m' = m_L,   C' = exp(b_L + m_0 - m_L) C_0 + sum_j exp(D_Lj - m_L) k_j v_j^T,   n' likewise with k_j

Kernels:
  1. `cumsum.chunk_local_cumsum`  b from f (logsigmoid or identity), summed in float64 (kernels/triton_common).
  2. `_state_fwd_kernel`   one program per (K-block, V-block, sequence x head) loops over the chunks of
                           its sequence: stores (C_0, n_0, m_0) of every chunk and the final state.
  3. `_output_kernel`      one program per (V-block, chunk, head): h, and m_t, s_t for the backward.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..triton_common.chunk_output import CHUNK_CONFIGS, CHUNK_KEY
from ..triton_common.chunk_state import STATE_CONFIGS
from ..triton_common.configs import dot_precision
from ..triton_common.cumsum import chunk_local_cumsum
from ..triton_common.layout import ChunkLayout
from ..triton_common.prologue import chunk_rows, sequence_chunks, state_tile
from .gates import FLOOR_EXPONENT_CAP

# The floor exp(-m) of the denominator has its exponent capped as in `gates.stabiliser_floor` (float32).
EXP_CAP = tl.constexpr(FLOOR_EXPONENT_CAP[torch.float32])


# ---------------------------------------------------------------------------------------------------------
# Kernels. Layout: one packed row, q, k [T, H, K], v, h [T, H, V], i, f and the per-token float32 arrays
# [T, H]; per chunk [NT, H, ...] float32; per sequence [N, H, ...].


@triton.autotune(configs=STATE_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _state_fwd_kernel(
    k, v, i, b, c0s, n0s, m0s, c_init, n_init, m_init, c_fin, n_fin, m_fin, cu_seqlens, chunk_offsets, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    HAS_INIT: tl.constexpr, STORE_FINAL: tl.constexpr,
):
    """(C_0, n_0, m_0) of every chunk and the final state. Grid (K/BK, V/BV, N*H); each program loops over
    the chunks of its sequence. n is kept by the V-block 0 programs, m (the same in all) stored by (0, 0)."""
    i_k = tl.program_id(0)
    i_v = tl.program_id(1)
    i_nh = tl.program_id(2)
    i_h = i_nh % H
    bos, eos, c0, n_chunks = sequence_chunks(cu_seqlens, chunk_offsets, i_nh // H)

    o_k, o_v, m_k, m_v, m_kv, kv = state_tile(i_k, i_v, K, V, BK, BV)
    first_v = i_v == 0
    b_c = tl.zeros([BK, BV], dtype=tl.float32)
    b_n = tl.zeros([BK], dtype=tl.float32)
    b_m = tl.load(m_init + i_nh).to(tl.float32)
    if HAS_INIT:
        b_c += tl.load(c_init + i_nh.to(tl.int64) * K * V + kv, mask=m_kv, other=0).to(tl.float32)
        b_n += tl.load(n_init + i_nh.to(tl.int64) * K + o_k, mask=m_k, other=0).to(tl.float32)

    for c in range(0, n_chunks):
        p = (c0 + c) * H + i_h
        tl.store(c0s + p * K * V + kv, b_c, mask=m_kv)
        tl.store(n0s + p * K + o_k, b_n, mask=m_k & first_v)
        tl.store(m0s + p, b_m, mask=(i_k == 0) & first_v)
        t0 = bos + c * BT
        o_t = t0 + tl.arange(0, BT)
        m_t = o_t < eos
        b_last = tl.load(b + (tl.minimum(t0 + BT, eos) - 1) * H + i_h)
        b_i = tl.load(i + o_t * H + i_h, mask=m_t, other=0).to(tl.float32)
        b_b = tl.load(b + o_t * H + i_h, mask=m_t, other=0)
        b_a = tl.where(m_t, b_last - b_b + b_i, float("-inf"))  # D_Lj, as the output kernel forms it
        m_next = tl.maximum(b_last + b_m, tl.max(b_a, axis=0))  # m_L
        b_w = tl.exp(b_a - m_next)  # <= 1, 0 past the end
        keep = tl.exp(b_last + b_m - m_next)  # <= 1
        r_k = (o_t * H + i_h) * K
        b_kt = tl.load(k + r_k[None, :] + o_k[:, None], mask=m_k[:, None] & m_t[None, :], other=0)  # [BK, BT]
        r_v = (o_t * H + i_h) * V
        b_v = tl.load(v + r_v[:, None] + o_v[None, :], mask=m_t[:, None] & m_v[None, :], other=0)
        b_kw = b_kt.to(tl.float32) * b_w[None, :]
        b_c = b_c * keep + tl.dot(b_kw.to(b_v.dtype), b_v, input_precision=DOT)
        b_n = b_n * keep + tl.sum(b_kw, axis=1)
        b_m = m_next

    if STORE_FINAL:
        tl.store(c_fin + i_nh.to(tl.int64) * K * V + kv, b_c, mask=m_kv)
        tl.store(n_fin + i_nh.to(tl.int64) * K + o_k, b_n, mask=m_k & first_v)
        tl.store(m_fin + i_nh, b_m, mask=(i_k == 0) & first_v)


@triton.autotune(configs=CHUNK_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _output_kernel(
    q, k, v, i, b, c0s, n0s, m0s, h, ms, ss, cu_seqlens, chunk_indices, scale, eps, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
):
    """h_t = u_t / (max(|s_t|, exp(-m_t)) + eps) for one chunk and V-block; the V-block 0 programs also
    store m_t and s_t. Grid (V/BV, chunks, H)."""
    i_v = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    o_t, m_t, _ = chunk_rows(cu_seqlens, chunk_indices, i_c, BT)
    o_i = tl.arange(0, BT)
    r_k = (o_t * H + i_h) * K
    r_v = (o_t * H + i_h) * V
    o_v = i_v * BV + tl.arange(0, BV)
    m_v = o_v < V
    m_tv = m_t[:, None] & m_v[None, :]
    p = i_c.to(tl.int64) * H + i_h

    b_o = tl.zeros([BT, BV], dtype=tl.float32)  # Q C_0
    b_a = tl.zeros([BT, BT], dtype=tl.float32)  # [t, j] = q_t . k_j
    b_qn = tl.zeros([BT], dtype=tl.float32)  # Q n_0
    for i_k in range(0, tl.cdiv(K, BK)):
        o_k = i_k * BK + tl.arange(0, BK)
        m_k = o_k < K
        b_q = tl.load(q + r_k[:, None] + o_k[None, :], mask=m_t[:, None] & m_k[None, :], other=0)
        b_kt = tl.load(k + r_k[None, :] + o_k[:, None], mask=m_k[:, None] & m_t[None, :], other=0)
        m_kv = m_k[:, None] & m_v[None, :]
        b_c0 = tl.load(c0s + p * K * V + o_k[:, None] * V + o_v[None, :], mask=m_kv, other=0)
        b_n0 = tl.load(n0s + p * K + o_k, mask=m_k, other=0)
        b_o += tl.dot(b_q, b_c0.to(b_q.dtype), input_precision=DOT)
        b_a += tl.dot(b_q, b_kt, input_precision=DOT)
        b_qn += tl.sum(b_q.to(tl.float32) * b_n0[None, :], axis=1)

    m_0 = tl.load(m0s + p)
    b_b = tl.load(b + o_t * H + i_h, mask=m_t, other=0)
    b_i = tl.load(i + o_t * H + i_h, mask=m_t, other=0).to(tl.float32)
    # D_tj = b_t - b_j + i_j, masked before exp: above the diagonal and past the end it may be large.
    causal = (o_i[:, None] >= o_i[None, :]) & m_t[:, None]
    b_ld = tl.where(causal, b_b[:, None] - b_b[None, :] + b_i[None, :], float("-inf"))
    b_from_state = b_b + m_0
    b_m = tl.maximum(b_from_state, tl.max(b_ld, axis=1))  # m_t
    b_e = tl.exp(b_from_state - b_m)
    b_p = b_a * tl.exp(b_ld - b_m[:, None])
    b_v = tl.load(v + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
    b_u = (tl.dot(b_p.to(b_v.dtype), b_v, input_precision=DOT) + b_e[:, None] * b_o) * scale
    b_s = (tl.sum(b_p, axis=1) + b_e * b_qn) * scale
    b_d = tl.maximum(tl.abs(b_s), tl.exp(tl.minimum(-b_m, EXP_CAP))) + eps
    tl.store(h + r_v[:, None] + o_v[None, :], b_u / b_d[:, None], mask=m_tv)
    tl.store(ms + o_t * H + i_h, b_m, mask=m_t & (i_v == 0))
    tl.store(ss + o_t * H + i_h, b_s, mask=m_t & (i_v == 0))


# ---------------------------------------------------------------------------------------------------------
# Host side. Packed rows as above; the chunks of `layout.chunk_layout`.


def chunk_states(k, v, i, b, state, layout: ChunkLayout, chunk_size, *, store_final):
    """The pass over the chunks: (C_0 [NT, H, K, V], n_0 [NT, H, K], m_0 [NT, H]) of every chunk, float32, and the final
    state ((C, n, m) [N, H, ...] float32, or None unless store_final). state: (C, n, m) or (None, None, m)."""
    _, heads, key_dim = k.shape
    value_dim = v.shape[-1]
    num_chunks, num_states = layout.num_chunks, layout.num_sequences
    c_init, n_init, m_init = state

    def buffers(rows):
        return tuple(
            torch.empty(*shape, device=k.device, dtype=torch.float32)
            for shape in ((rows, heads, key_dim, value_dim), (rows, heads, key_dim), (rows, heads))
        )

    c0s, n0s, m0s = buffers(num_chunks)
    final = buffers(num_states) if store_final else None

    def grid(meta):
        return (triton.cdiv(key_dim, meta["BK"]), triton.cdiv(value_dim, meta["BV"]), num_states * heads)

    _state_fwd_kernel[grid](
        k, v, i, b, c0s, n0s, m0s, c_init, n_init, m_init, *(final or (None, None, None)),
        layout.cu_seqlens, layout.chunk_offsets, heads,
        K=key_dim, V=value_dim, BT=chunk_size, DOT=dot_precision(k.dtype),
        HAS_INIT=c_init is not None, STORE_FINAL=store_final,
    )
    return (c0s, n0s, m0s), final


def mlstm_forward(q, k, v, i, f, state, scale, eps, exp_forget, layout: ChunkLayout, chunk_size, *, store_final):
    """The forward pass: state (C, n, m) or (None, None, m) float32. Returns (h [T, H, V] in v's dtype, the
    final (C, n, m) float32 or None unless store_final, and for the backward b, m_t, s_t [T, H] float32)."""
    length, heads, key_dim = q.shape
    value_dim = v.shape[-1]
    b = chunk_local_cumsum(f, layout, chunk_size, log_sigmoid=not exp_forget, float64_sum=True)
    starts, final = chunk_states(k, v, i, b, state, layout, chunk_size, store_final=store_final)
    h = torch.empty_like(v)
    ms, ss = (torch.empty(length, heads, device=q.device, dtype=torch.float32) for _ in range(2))
    if layout.num_chunks:
        grid = lambda meta: (triton.cdiv(value_dim, meta["BV"]), layout.num_chunks, heads)  # noqa: E731
        _output_kernel[grid](
            q, k, v, i, b, *starts, h, ms, ss, layout.cu_seqlens, layout.chunk_indices, scale, eps, heads,
            K=key_dim, V=value_dim, BT=chunk_size, DOT=dot_precision(q.dtype),
        )
    return h, final, (b, ms, ss)
