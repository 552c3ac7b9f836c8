"""The delta rule in Triton, forward kernels: the WY/UT representation per chunk and the pass over chunks.

    S_t = exp(g_t) (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T,    o_t = S_t^T (scale * q_t)

The math per chunk of C tokens (Yang et al., "Parallelizing Linear Transformers with the Delta Rule over
Sequence Length"; the gated form as in gated DeltaNet), with b_i the cumulative log decay inside the chunk
(inclusive; 0 without g), gamma_i = exp(b_i), L the chunk's last token and S_0 the state before the chunk:

    A   = strict_tril(diag(beta) (K K^T o G)),   G_ij = exp(b_i - b_j)     (the UT transform's matrix)
    M   = (I + A)^{-1}                           (unit lower triangular; T_c = M diag(beta))
    W   = M diag(beta * gamma) K,   U~ = M diag(beta) V
    U   = U~ - W S_0                             (the "new values": S_t = exp(g_t) S_{t-1} + k_t u_t^T)
    o_i = scale [gamma_i S_0^T q_i + sum_{j <= i} exp(b_i - b_j) (q_i . k_j) u_j]
    S_end = gamma_L S_0 + sum_j exp(b_L - b_j) k_j u_j^T

so once U is known the output and the state are those of the plain gated scan with values U (the chunk
cumsum and output kernels are the shared ones of kernels/triton_common).

Forward kernels:
  1. `cumsum.chunk_local_cumsum`  b = within-chunk cumulative sum of g (float32), gated only.
  2. `_wy_kernel`          one program per (chunk, head): A, then M by forward substitution row by row
                           (M_i = e_i - sum_{j < i} A_ij M_j), stored [T, H, C] float32 (and kept for the
                           backward, which reruns this kernel reading M); W and U~ in the inputs' dtype.
  3. `_state_fwd_kernel`   one program per (V-block, sequence x head) loops over the chunks of its sequence
                           holding the whole key axis of the state ([K, BV]: W S_0 sums over it): stores
                           the state before every chunk (float32), U (inputs' dtype) and the final state.
  4. `chunk_output.chunk_output`  o from q, k, U and the chunk-start states.

Every exponential is of a number <= 0 when g <= 0 (ratios are masked to the causal triangle before exp).
Varlen is native, with the chunk layout of `triton_common.layout`: every kernel works on a list of chunks
(sequence, chunk within the sequence) and masks by the end of its sequence, so chunks never cross sequences.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..triton_common.chunk_output import chunk_output
from ..triton_common.configs import block_configs, dot_precision
from ..triton_common.cumsum import chunk_local_cumsum
from ..triton_common.layout import ChunkLayout
from ..triton_common.prologue import chunk_rows, sequence_chunks, state_tile

_WY_CONFIGS = block_configs(("BK", "BV"), [(32, 32), (64, 64)], warps=[2, 4, 8], stages=[2, 3])
# The state kernels keep [K, BV] tiles in registers: small BV for large K.
STATE_CONFIGS = block_configs(("BV",), [(16,), (32,), (64,)], warps=[4, 8], stages=[2, 3])
KEY = ["K", "V", "BT"]


def padded_key_dim(key_dim: int) -> int:
    """The key axis as the state kernels tile it: a power of two >= 16 (tl.dot's smallest tile)."""
    return max(16, triton.next_power_of_2(key_dim))


# ---------------------------------------------------------------------------------------------------------
# Kernels. Layout: one packed row, q, k, w [T, H, K], v, u, vn [T, H, V], beta, gc [T, H]: token t of head
# h starts at (t * H + h) * K. ai [T, H, BT] float32 (row t, column j: token j of t's chunk). States
# [chunks or N, H, K, V] float32. A chunk program finds its tokens with `prologue.chunk_rows`.


@triton.autotune(configs=_WY_CONFIGS, key=[*KEY, "COMPUTE_M"])
@triton.jit
def _wy_kernel(
    k, v, beta, gc, ai, w, u, cu_seqlens, chunk_indices, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    COMPUTE_M: tl.constexpr,
):
    """For one chunk: M = (I + A)^{-1} with A = strict_tril(diag(beta) (K K^T o G)) into ai (COMPUTE_M;
    else M is read from ai), W = M diag(beta exp(b)) K into w, U~ = M diag(beta) V into u. Grid (chunks, H)."""
    i_c = tl.program_id(0)
    i_h = tl.program_id(1)
    o_i = tl.arange(0, BT)
    o_t, m_t, _ = chunk_rows(cu_seqlens, chunk_indices, i_c, BT)
    r_k = (o_t * H + i_h) * K
    r_v = (o_t * H + i_h) * V
    b_beta = tl.load(beta + o_t * H + i_h, mask=m_t, other=0).to(tl.float32)
    b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)

    p_ai = ai + (o_t * H + i_h)[:, None] * BT + o_i[None, :]
    if COMPUTE_M:
        b_a = tl.zeros([BT, BT], dtype=tl.float32)  # K K^T
        for i_k in range(0, tl.cdiv(K, BK)):
            o_k = i_k * BK + tl.arange(0, BK)
            b_k = tl.load(k + r_k[:, None] + o_k[None, :], mask=m_t[:, None] & (o_k < K)[None, :], other=0)
            b_a += tl.dot(b_k, tl.trans(b_k), input_precision=DOT)
        strict = (o_i[:, None] > o_i[None, :]) & m_t[:, None]
        b_a = b_a * b_beta[:, None] * tl.exp(tl.where(strict, b_b[:, None] - b_b[None, :], float("-inf")))

        # Forward substitution: row i of M is e_i - A[i, :] M, rows j < i being final (A[i, j >= i] = 0).
        b_m = tl.where(o_i[:, None] == o_i[None, :], 1.0, 0.0)
        for i in range(1, BT):
            row = o_i[:, None] == i
            b_ai = tl.sum(tl.where(row, b_a, 0.0), axis=0)  # A[i, :]
            b_mi = tl.sum(b_ai[:, None] * b_m, axis=0)  # A[i, :] M
            b_m = tl.where(row, b_m - b_mi[None, :], b_m)
        tl.store(p_ai, b_m, mask=m_t[:, None])
    else:
        b_m = tl.load(p_ai, mask=m_t[:, None], other=0)

    b_wk = b_beta * tl.where(m_t, tl.exp(b_b), 0)  # beta * gamma
    for i_k in range(0, tl.cdiv(K, BK)):
        o_k = i_k * BK + tl.arange(0, BK)
        m_tk = m_t[:, None] & (o_k < K)[None, :]
        b_k = tl.load(k + r_k[:, None] + o_k[None, :], mask=m_tk, other=0)
        b_x = (b_k * b_wk[:, None]).to(b_k.dtype)
        b_w = tl.dot(b_m.to(b_k.dtype), b_x, input_precision=DOT)
        tl.store(w + r_k[:, None] + o_k[None, :], b_w.to(w.dtype.element_ty), mask=m_tk)
    for i_v in range(0, tl.cdiv(V, BV)):
        o_v = i_v * BV + tl.arange(0, BV)
        m_tv = m_t[:, None] & (o_v < V)[None, :]
        b_v = tl.load(v + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
        b_y = (b_v * b_beta[:, None]).to(b_v.dtype)
        b_u = tl.dot(b_m.to(b_v.dtype), b_y, input_precision=DOT)
        tl.store(u + r_v[:, None] + o_v[None, :], b_u.to(u.dtype.element_ty), mask=m_tv)


@triton.autotune(configs=STATE_CONFIGS, key=KEY)
@triton.jit
def _state_fwd_kernel(
    k, w, u, gc, h, vn, h0, ht, cu_seqlens, chunk_offsets, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, KP: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    HAS_H0: tl.constexpr, STORE_HT: tl.constexpr,
):
    """h[chunk] = the state before each chunk, vn = U = U~ - W S_0, ht = the state after the last chunk.
    Grid (V/BV, N*H); each program loops over the chunks of its sequence with the whole key axis (KP >= K):
    S <- exp(b_L) S + sum_j exp(b_L - b_j) k_j u_j^T."""
    i_v = tl.program_id(0)
    i_nh = tl.program_id(1)
    i_h = i_nh % H
    bos, eos, c0, n_chunks = sequence_chunks(cu_seqlens, chunk_offsets, i_nh // H)

    o_k, o_v, m_k, m_v, m_kv, kv = state_tile(0, i_v, K, V, KP, BV)  # the whole key axis
    b_s = tl.zeros([KP, BV], dtype=tl.float32)
    if HAS_H0:
        b_s += tl.load(h0 + i_nh.to(tl.int64) * K * V + kv, mask=m_kv, other=0).to(tl.float32)

    for c in range(0, n_chunks):
        tl.store(h + ((c0 + c) * H + i_h) * K * V + kv, b_s, mask=m_kv)
        t0 = bos + c * BT
        o_t = t0 + tl.arange(0, BT)
        m_t = o_t < eos
        m_tk = m_t[:, None] & m_k[None, :]
        m_tv = m_t[:, None] & m_v[None, :]
        r_k = (o_t * H + i_h) * K
        r_v = (o_t * H + i_h) * V
        b_w = tl.load(w + r_k[:, None] + o_k[None, :], mask=m_tk, other=0)
        b_u = tl.load(u + r_v[:, None] + o_v[None, :], mask=m_tv, other=0).to(tl.float32)
        b_u = (b_u - tl.dot(b_w, b_s.to(b_w.dtype), input_precision=DOT)).to(b_w.dtype)
        tl.store(vn + r_v[:, None] + o_v[None, :], b_u, mask=m_tv)
        b_kt = tl.load(k + r_k[None, :] + o_k[:, None], mask=m_k[:, None] & m_t[None, :], other=0)  # [KP, BT]
        b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)
        b_last = tl.load(gc + (tl.minimum(t0 + BT, eos) - 1) * H + i_h)
        b_kt = (b_kt * tl.where(m_t, tl.exp(b_last - b_b), 0)[None, :]).to(b_w.dtype)
        b_s = b_s * tl.exp(b_last) + tl.dot(b_kt, b_u, input_precision=DOT)

    if STORE_HT:
        tl.store(ht + i_nh.to(tl.int64) * K * V + kv, b_s, mask=m_kv)


# ---------------------------------------------------------------------------------------------------------
# Host side. Tensors are packed rows: q, k [T, H, K], v [T, H, V] in one dtype, beta [T, H], gc [T, H]
# float32; the chunks of `layout.chunk_layout`.


def chunk_cumsum(g: Tensor | None, layout: ChunkLayout, chunk_size: int, shape) -> Tensor:
    """b = the within-chunk cumulative sum of g [T, H] (float32), zeros of `shape` when g is None (DeltaNet)."""
    if g is None:
        return torch.zeros(shape, device=layout.cu_seqlens.device, dtype=torch.float32)
    return chunk_local_cumsum(g, layout, chunk_size)


def wy_states(k, v, beta, gc, h0, layout: ChunkLayout, chunk_size, *, store_final, ai=None):
    """Kernels 2 and 3. Returns (ai [T, H, C] float32: M row by row (computed unless given: the backward
    passes the forward's), w [T, H, K], vn [T, H, V] = U (both in k's dtype), h [chunks, H, K, V] float32:
    the state before every chunk, ht [N, H, K, V] float32 or None unless store_final)."""
    length, heads, key_dim = k.shape
    value_dim = v.shape[-1]
    num_chunks, num_states = layout.num_chunks, layout.num_sequences
    dot = dot_precision(k.dtype)
    compute_m = ai is None
    if compute_m:
        ai = torch.empty(length, heads, chunk_size, device=k.device, dtype=torch.float32)
    w, u, vn = torch.empty_like(k), torch.empty_like(v), torch.empty_like(v)
    if num_chunks:
        _wy_kernel[(num_chunks, heads)](
            k, v, beta, gc, ai, w, u, layout.cu_seqlens, layout.chunk_indices, heads,
            K=key_dim, V=value_dim, BT=chunk_size, DOT=dot, COMPUTE_M=compute_m,
        )
    h = k.new_empty(num_chunks, heads, key_dim, value_dim, dtype=torch.float32)
    ht = k.new_empty(num_states, heads, key_dim, value_dim, dtype=torch.float32) if store_final else None

    def grid(meta):
        return (triton.cdiv(value_dim, meta["BV"]), num_states * heads)

    _state_fwd_kernel[grid](
        k, w, u, gc, h, vn, h0, ht, layout.cu_seqlens, layout.chunk_offsets, heads,
        K=key_dim, V=value_dim, BT=chunk_size, KP=padded_key_dim(key_dim), DOT=dot,
        HAS_H0=h0 is not None, STORE_HT=store_final,
    )
    return ai, w, vn, h, ht


def delta_forward(q, k, v, beta, gc, h0, scale, layout: ChunkLayout, chunk_size, output_final_state):
    """The forward pass on packed rows. Returns (o [T, H, V] in v's dtype, final state [N, H, K, V]
    float32 or None, ai [T, H, C] float32: the UT transforms M, kept for the backward)."""
    ai, _, vn, h, ht = wy_states(k, v, beta, gc, h0, layout, chunk_size, store_final=output_final_state)
    return chunk_output(q, k, vn, gc, h, layout, scale, chunk_size), ht, ai
