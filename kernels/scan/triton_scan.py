"""The scan in Triton: chunk-parallel forward and backward kernels in a `torch.autograd.Function`.

    S_t = exp(g_t) * S_{t-1} + k_t v_t^T,    o_t = S_t^T (scale * q_t)

The math per chunk of C tokens, with b_i the cumulative log decay inside the chunk (inclusive),
L the chunk's last token and S_0 the state before the chunk (q already scaled):

    o_i   = sum_{j <= i} exp(b_i - b_j) (q_i . k_j) v_j + exp(b_i) S_0^T q_i
    S_end = exp(b_L) S_0 + sum_j exp(b_L - b_j) k_j v_j^T

Forward kernels:
  1. `_chunk_cumsum_kernel`  b = within-chunk cumulative sum of g (float32), grid (chunks, H).
  2. `_state_fwd_kernel`     one program per (K-block, V-block, sequence x head) loops over the chunks of
                             its sequence: stores the state at every chunk start and the final state.
  3. `_output_kernel`        one program per (V-block, chunk, head): the intra-chunk masked term plus the
                             inter-chunk term from the chunk-start state.

Backward (the chunk-start states are recomputed by kernel 2, not stored by the forward):
  4. `_state_bwd_kernel`     reverse pass over chunks: dS_start = exp(b_L) dS_end + sum_i exp(b_i) q_i dO_i^T;
                             stores dS_end of every chunk and d initial_state.
  5. `_dv_kernel`            dV = (A o D)^T dO + diag(exp(b_L - b)) K dS_end, with A = Q K^T and
                             D_ij = exp(b_i - b_j) for j <= i, else 0.
  6. `_dqk_kernel`           dQ = (dP o D) K + diag(exp(b)) dO S_0^T, with dP = dO V^T,
                             dK = (dP o D)^T Q + diag(exp(b_L - b)) V dS_end^T, and the chunk's dg (below).

The decay gradient. Inside a chunk every term of o_i carries exp(+b_i) and every term holding k_j carries
exp(-b_j); b_L also scales all of S_end. Taking the b_i as independent variables:

    dL/db_i = q_i . dq_i - k_i . dk_i + [i == L] <dS_end, S_end>

and b_i = sum_{u <= i, u in chunk} g_u, so dg_t = sum_{u >= t in chunk} dL/db_u + <dS_end, S_end>
(a reverse cumsum inside the chunk; the earlier chunks see g_t only through their state gradient, which
the reverse pass carries). <dS_end, S_end> = exp(b_L) <dS_end, S_0> + sum_j k_j . (exp(b_L - b_j) dS_end v_j),
the second sum being the inter-chunk part of k . dk, so a chunk needs no state but its own S_0.
Every term is a sum over K, so each K-block program writes its partial dg and the host sums the blocks.

Varlen is native: the dense batch [B, T] is viewed as one packed row with cu_seqlens = [0, T, 2T, ...],
so every kernel works on a list of chunks (sequence, chunk within the sequence) and masks by the end of
its sequence; no padding copies.

Runs on CUDA, and on CPU under TRITON_INTERPRET=1 (set before this module is imported: `triton.jit`
reads it when the kernels are defined), where every kernel has a single config instead of autotuning.
"""

from __future__ import annotations


import torch
import triton
import triton.language as tl
from torch import Tensor

from ..checks import check_log_decay
from ..triton_support import interpreting
from ..varlen import check_cu_seqlens

_INTERPRET = interpreting()


def _configs(blocks: list[tuple[int, int]], warps: list[int], stages: list[int]) -> list[triton.Config]:
    """Autotuning configs over (BK, BV) x num_warps x num_stages; one small config under the interpreter."""
    if _INTERPRET:
        return [triton.Config({"BK": 32, "BV": 32}, num_warps=4, num_stages=1)]
    return [
        triton.Config({"BK": bk, "BV": bv}, num_warps=w, num_stages=s)
        for bk, bv in blocks
        for w in warps
        for s in stages
    ]


_STATE_CONFIGS = _configs([(32, 32), (64, 64), (32, 64)], warps=[2, 4], stages=[2, 3])
_CHUNK_CONFIGS = _configs([(32, 32), (64, 64), (64, 128), (128, 64)], warps=[4, 8], stages=[2, 3])
_MIN_BK = min(config.kwargs["BK"] for config in _CHUNK_CONFIGS)
_KEY = ["K", "V", "BT"]

# float32 inputs multiply exactly ("ieee") rather than in TF32 (a 10-bit mantissa, ~1e-3 relative), so that
# float32 results match the reference to ~1e-6 on GPUs too; float16/bfloat16 take the backend default.
FP32_DOT_PRECISION = "ieee"


def _dot_precision(dtype: torch.dtype) -> str | None:
    return FP32_DOT_PRECISION if dtype == torch.float32 else None


# ---------------------------------------------------------------------------------------------------------
# Kernels. Layout: one packed row, q, k [T, H, K], v [T, H, V], g [T, H]: token t of head h starts at
# (t * H + h) * K. States [chunks or N, H, K, V] float32. A chunk program finds its sequence n and its
# chunk c within it in chunk_indices[i_c] = (n, c); its tokens are bos + c * BT + i, valid below eos.


@triton.jit
def _chunk_cumsum_kernel(g, gc, cu_seqlens, chunk_indices, H, BT: tl.constexpr):
    """gc[t, h] = sum of g[s, h] over the chunk's tokens s <= t. Grid (chunks, H)."""
    i_c = tl.program_id(0)
    i_h = tl.program_id(1)
    i_n = tl.load(chunk_indices + 2 * i_c)
    c = tl.load(chunk_indices + 2 * i_c + 1).to(tl.int64)
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    o_t = bos + c * BT + tl.arange(0, BT)
    m_t = o_t < eos
    b_g = tl.load(g + o_t * H + i_h, mask=m_t, other=0).to(tl.float32)
    tl.store(gc + o_t * H + i_h, tl.cumsum(b_g, axis=0), mask=m_t)


@triton.autotune(configs=_STATE_CONFIGS, key=_KEY)
@triton.jit
def _state_fwd_kernel(
    k, v, gc, h, h0, ht, cu_seqlens, chunk_offsets, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    HAS_H0: tl.constexpr, STORE_HT: tl.constexpr,
):
    """h[chunk] = the state before each chunk; ht = the state after the last. Grid (K/BK, V/BV, N*H);
    each program loops over the chunks of its sequence: S <- exp(b_L) S + sum_j exp(b_L - b_j) k_j v_j^T."""
    i_k = tl.program_id(0)
    i_v = tl.program_id(1)
    i_nh = tl.program_id(2)
    i_n = i_nh // H
    i_h = i_nh % H
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    c0 = tl.load(chunk_offsets + i_n).to(tl.int64)
    n_chunks = tl.load(chunk_offsets + i_n + 1) - tl.load(chunk_offsets + i_n)

    o_k = i_k * BK + tl.arange(0, BK)
    o_v = i_v * BV + tl.arange(0, BV)
    m_k = o_k < K
    m_v = o_v < V
    m_kv = m_k[:, None] & m_v[None, :]
    kv = o_k[:, None] * V + o_v[None, :]
    b_s = tl.zeros([BK, BV], dtype=tl.float32)
    if HAS_H0:
        b_s += tl.load(h0 + i_nh.to(tl.int64) * K * V + kv, mask=m_kv, other=0).to(tl.float32)

    for c in range(0, n_chunks):
        tl.store(h + ((c0 + c) * H + i_h) * K * V + kv, b_s, mask=m_kv)
        t0 = bos + c * BT
        o_t = t0 + tl.arange(0, BT)
        m_t = o_t < eos
        r_k = (o_t * H + i_h) * K
        r_v = (o_t * H + i_h) * V
        b_kt = tl.load(k + r_k[None, :] + o_k[:, None], mask=m_k[:, None] & m_t[None, :], other=0)  # [BK, BT]
        b_v = tl.load(v + r_v[:, None] + o_v[None, :], mask=m_t[:, None] & m_v[None, :], other=0)
        b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)
        b_last = tl.load(gc + (tl.minimum(t0 + BT, eos) - 1) * H + i_h)
        b_kt = (b_kt * tl.where(m_t, tl.exp(b_last - b_b), 0)[None, :]).to(b_v.dtype)
        b_s = b_s * tl.exp(b_last) + tl.dot(b_kt, b_v, input_precision=DOT)

    if STORE_HT:
        tl.store(ht + i_nh.to(tl.int64) * K * V + kv, b_s, mask=m_kv)


@triton.autotune(configs=_CHUNK_CONFIGS, key=_KEY)
@triton.jit
def _output_kernel(
    q, k, v, gc, h, o, cu_seqlens, chunk_indices, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
):
    """o = scale * [(Q K^T o D) V + diag(exp(b)) Q S_0] for one chunk. Grid (V/BV, chunks, H)."""
    i_v = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    i_n = tl.load(chunk_indices + 2 * i_c)
    c = tl.load(chunk_indices + 2 * i_c + 1).to(tl.int64)
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    o_i = tl.arange(0, BT)
    o_t = bos + c * BT + o_i
    m_t = o_t < eos
    r_k = (o_t * H + i_h) * K
    r_v = (o_t * H + i_h) * V
    o_v = i_v * BV + tl.arange(0, BV)
    m_v = o_v < V
    m_tv = m_t[:, None] & m_v[None, :]
    p_h = h + (i_c.to(tl.int64) * H + i_h) * K * V

    b_o = tl.zeros([BT, BV], dtype=tl.float32)  # Q S_0
    b_a = tl.zeros([BT, BT], dtype=tl.float32)  # [i, j] = q_i . k_j
    for i_k in range(0, tl.cdiv(K, BK)):
        o_k = i_k * BK + tl.arange(0, BK)
        m_k = o_k < K
        b_q = tl.load(q + r_k[:, None] + o_k[None, :], mask=m_t[:, None] & m_k[None, :], other=0)
        b_kt = tl.load(k + r_k[None, :] + o_k[:, None], mask=m_k[:, None] & m_t[None, :], other=0)
        b_h = tl.load(p_h + o_k[:, None] * V + o_v[None, :], mask=m_k[:, None] & m_v[None, :], other=0)
        b_o += tl.dot(b_q, b_h.to(b_q.dtype), input_precision=DOT)
        b_a += tl.dot(b_q, b_kt, input_precision=DOT)

    b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)
    b_o = b_o * tl.exp(b_b)[:, None]
    # Mask before exp: above the diagonal b_i - b_j > 0 could overflow.
    causal = (o_i[:, None] >= o_i[None, :]) & m_t[:, None]
    b_a = b_a * tl.exp(tl.where(causal, b_b[:, None] - b_b[None, :], float("-inf")))
    b_v = tl.load(v + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
    b_o += tl.dot(b_a.to(b_v.dtype), b_v, input_precision=DOT)
    tl.store(o + r_v[:, None] + o_v[None, :], b_o * scale, mask=m_tv)


@triton.autotune(configs=_STATE_CONFIGS, key=_KEY)
@triton.jit
def _state_bwd_kernel(
    q, do, gc, dh, dht, dh0, cu_seqlens, chunk_offsets, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    HAS_DHT: tl.constexpr, STORE_DH0: tl.constexpr,
):
    """dh[chunk] = the gradient of the state after each chunk; dh0 = that of the initial state.
    Grid (K/BK, V/BV, N*H); each program loops over the chunks of its sequence in reverse:
    dS <- exp(b_L) dS + scale * sum_i exp(b_i) q_i dO_i^T."""
    i_k = tl.program_id(0)
    i_v = tl.program_id(1)
    i_nh = tl.program_id(2)
    i_n = i_nh // H
    i_h = i_nh % H
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    c0 = tl.load(chunk_offsets + i_n).to(tl.int64)
    n_chunks = tl.load(chunk_offsets + i_n + 1) - tl.load(chunk_offsets + i_n)

    o_k = i_k * BK + tl.arange(0, BK)
    o_v = i_v * BV + tl.arange(0, BV)
    m_k = o_k < K
    m_v = o_v < V
    m_kv = m_k[:, None] & m_v[None, :]
    kv = o_k[:, None] * V + o_v[None, :]
    b_ds = tl.zeros([BK, BV], dtype=tl.float32)
    if HAS_DHT:
        b_ds += tl.load(dht + i_nh.to(tl.int64) * K * V + kv, mask=m_kv, other=0).to(tl.float32)

    for i in range(0, n_chunks):
        c = n_chunks - 1 - i
        tl.store(dh + ((c0 + c) * H + i_h) * K * V + kv, b_ds, mask=m_kv)
        t0 = bos + c * BT
        o_t = t0 + tl.arange(0, BT)
        m_t = o_t < eos
        r_k = (o_t * H + i_h) * K
        r_v = (o_t * H + i_h) * V
        b_qt = tl.load(q + r_k[None, :] + o_k[:, None], mask=m_k[:, None] & m_t[None, :], other=0)  # [BK, BT]
        b_do = tl.load(do + r_v[:, None] + o_v[None, :], mask=m_t[:, None] & m_v[None, :], other=0)
        b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)
        b_last = tl.load(gc + (tl.minimum(t0 + BT, eos) - 1) * H + i_h)
        b_qt = (b_qt * tl.where(m_t, tl.exp(b_b), 0)[None, :]).to(b_do.dtype)
        b_ds = b_ds * tl.exp(b_last) + tl.dot(b_qt, b_do, input_precision=DOT) * scale

    if STORE_DH0:
        tl.store(dh0 + i_nh.to(tl.int64) * K * V + kv, b_ds, mask=m_kv)


@triton.autotune(configs=_CHUNK_CONFIGS, key=_KEY)
@triton.jit
def _dv_kernel(
    q, k, do, gc, dh, dv, cu_seqlens, chunk_indices, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
):
    """dV = scale * (K Q^T o D^T) dO + diag(exp(b_L - b)) K dS_end for one chunk. Grid (V/BV, chunks, H)."""
    i_v = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    i_n = tl.load(chunk_indices + 2 * i_c)
    c = tl.load(chunk_indices + 2 * i_c + 1).to(tl.int64)
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    o_i = tl.arange(0, BT)
    t0 = bos + c * BT
    o_t = t0 + o_i
    m_t = o_t < eos
    r_k = (o_t * H + i_h) * K
    r_v = (o_t * H + i_h) * V
    o_v = i_v * BV + tl.arange(0, BV)
    m_v = o_v < V
    m_tv = m_t[:, None] & m_v[None, :]
    p_dh = dh + (i_c.to(tl.int64) * H + i_h) * K * V

    b_dv = tl.zeros([BT, BV], dtype=tl.float32)  # K dS_end
    b_at = tl.zeros([BT, BT], dtype=tl.float32)  # [j, i] = k_j . q_i
    for i_k in range(0, tl.cdiv(K, BK)):
        o_k = i_k * BK + tl.arange(0, BK)
        m_k = o_k < K
        b_k = tl.load(k + r_k[:, None] + o_k[None, :], mask=m_t[:, None] & m_k[None, :], other=0)
        b_qt = tl.load(q + r_k[None, :] + o_k[:, None], mask=m_k[:, None] & m_t[None, :], other=0)
        b_dh = tl.load(p_dh + o_k[:, None] * V + o_v[None, :], mask=m_k[:, None] & m_v[None, :], other=0)
        b_at += tl.dot(b_k, b_qt, input_precision=DOT)
        b_dv += tl.dot(b_k, b_dh.to(b_k.dtype), input_precision=DOT)

    b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)
    b_last = tl.load(gc + (tl.minimum(t0 + BT, eos) - 1) * H + i_h)
    b_dv = b_dv * tl.where(m_t, tl.exp(b_last - b_b), 0)[:, None]
    causal = (o_i[:, None] <= o_i[None, :]) & m_t[None, :]
    b_at = b_at * tl.exp(tl.where(causal, b_b[None, :] - b_b[:, None], float("-inf"))) * scale
    b_do = tl.load(do + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
    b_dv += tl.dot(b_at.to(b_do.dtype), b_do, input_precision=DOT)
    tl.store(dv + r_v[:, None] + o_v[None, :], b_dv, mask=m_tv)


@triton.autotune(configs=_CHUNK_CONFIGS, key=_KEY)
@triton.jit
def _dqk_kernel(
    q, k, v, do, gc, h, dh, dq, dk, dg, cu_seqlens, chunk_indices, scale, T, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    PARTS: tl.constexpr,
):
    """dq, dk for one chunk and K-block, and that block's share of dg (into dg[i_k], one of PARTS slots:
    the K-blocks of the smallest BK; the block-0 program zeroes the slots its config leaves unused, so
    the result never depends on which configs ran before, autotuning included). Grid (K/BK, chunks, H)."""
    i_k = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    i_n = tl.load(chunk_indices + 2 * i_c)
    c = tl.load(chunk_indices + 2 * i_c + 1).to(tl.int64)
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    o_i = tl.arange(0, BT)
    t0 = bos + c * BT
    o_t = t0 + o_i
    m_t = o_t < eos
    r_k = (o_t * H + i_h) * K
    r_v = (o_t * H + i_h) * V
    o_k = i_k * BK + tl.arange(0, BK)
    m_k = o_k < K
    m_tk = m_t[:, None] & m_k[None, :]
    p_state = (i_c.to(tl.int64) * H + i_h) * K * V

    b_dp = tl.zeros([BT, BT], dtype=tl.float32)  # [i, j] = dO_i . v_j
    b_dq = tl.zeros([BT, BK], dtype=tl.float32)  # dO S_0^T
    b_dk = tl.zeros([BT, BK], dtype=tl.float32)  # V dS_end^T
    b_hdh = tl.zeros([BK], dtype=tl.float32)  # <S_0, dS_end> over this K-block, per key channel
    for i_v in range(0, tl.cdiv(V, BV)):
        o_v = i_v * BV + tl.arange(0, BV)
        m_v = o_v < V
        m_tv = m_t[:, None] & m_v[None, :]
        m_vk = m_v[:, None] & m_k[None, :]
        b_ht = tl.load(h + p_state + o_k[None, :] * V + o_v[:, None], mask=m_vk, other=0)  # S_0^T [BV, BK]
        b_dht = tl.load(dh + p_state + o_k[None, :] * V + o_v[:, None], mask=m_vk, other=0)  # dS_end^T
        b_do = tl.load(do + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
        b_v = tl.load(v + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
        b_dp += tl.dot(b_do, tl.trans(b_v), input_precision=DOT)
        b_dq += tl.dot(b_do, b_ht.to(b_do.dtype), input_precision=DOT)
        b_dk += tl.dot(b_v, b_dht.to(b_v.dtype), input_precision=DOT)
        b_hdh += tl.sum(b_ht * b_dht, axis=0)

    b_q = tl.load(q + r_k[:, None] + o_k[None, :], mask=m_tk, other=0)
    b_k = tl.load(k + r_k[:, None] + o_k[None, :], mask=m_tk, other=0)
    b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)
    b_last = tl.load(gc + (tl.minimum(t0 + BT, eos) - 1) * H + i_h)
    causal = (o_i[:, None] >= o_i[None, :]) & m_t[:, None]
    b_ds = b_dp * tl.exp(tl.where(causal, b_b[:, None] - b_b[None, :], float("-inf")))
    b_ds = b_ds.to(b_q.dtype)

    b_dq = (b_dq * tl.exp(b_b)[:, None] + tl.dot(b_ds, b_k, input_precision=DOT)) * scale
    b_dk_inter = b_dk * tl.where(m_t, tl.exp(b_last - b_b), 0)[:, None]
    b_dk = b_dk_inter + tl.dot(tl.trans(b_ds), b_q, input_precision=DOT) * scale

    # dg_t = sum_{u >= t in chunk} (q_u . dq_u - k_u . dk_u) + <dS_end, S_end>: this K-block's share.
    b_q = b_q.to(tl.float32)
    b_k = b_k.to(tl.float32)
    b_db = tl.sum(b_q * b_dq - b_k * b_dk, axis=1)
    b_end = tl.exp(b_last) * tl.sum(b_hdh, axis=0) + tl.sum(tl.sum(b_k * b_dk_inter, axis=1), axis=0)
    b_dg = tl.sum(b_db, axis=0) - tl.cumsum(b_db, axis=0) + b_db + b_end

    tl.store(dq + r_k[:, None] + o_k[None, :], b_dq, mask=m_tk)
    tl.store(dk + r_k[:, None] + o_k[None, :], b_dk, mask=m_tk)
    part = (i_k.to(tl.int64) * 0 + T) * H  # int64 stride between the dg slots
    tl.store(dg + i_k * part + o_t * H + i_h, b_dg, mask=m_t)
    if i_k == 0:
        for i_p in range(tl.cdiv(K, BK), PARTS):
            tl.store(dg + i_p * part + o_t * H + i_h, tl.zeros([BT], dtype=tl.float32), mask=m_t)


# ---------------------------------------------------------------------------------------------------------
# Host side


def _chunk_layout(
    cu_seqlens: Tensor | None, batch: int, length: int, chunk_size: int, device: torch.device
) -> tuple[Tensor, Tensor, Tensor]:
    """The chunks of a packed row: (cu_seqlens int32 [N + 1], chunk_indices int32 [NT, 2] holding
    (sequence, chunk within the sequence), chunk_offsets int32 [N + 1]: the first chunk of each sequence).

    A dense batch [B, T] is the packed row of B sequences of length T (no device sync); varlen reads
    the number of chunks once on the host."""
    if cu_seqlens is None:
        per_seq = -(-length // chunk_size)
        cu = torch.arange(batch + 1, device=device, dtype=torch.int32) * length
        offsets = torch.arange(batch + 1, device=device, dtype=torch.int32) * per_seq
        seq = torch.arange(batch, device=device, dtype=torch.int32).repeat_interleave(per_seq)
        within = torch.arange(per_seq, device=device, dtype=torch.int32).repeat(batch)
        return cu, torch.stack([seq, within], dim=1).contiguous(), offsets
    cu = cu_seqlens.to(device=device, dtype=torch.int32)
    counts = (cu[1:] - cu[:-1] + chunk_size - 1) // chunk_size
    offsets = torch.cat([counts.new_zeros(1), counts.cumsum(0)]).to(torch.int32)
    total = int(offsets[-1])
    seq = torch.arange(counts.numel(), device=device).repeat_interleave(counts, output_size=total)
    within = torch.arange(total, device=device) - offsets[:-1].long()[seq]
    return cu, torch.stack([seq, within], dim=1).to(torch.int32).contiguous(), offsets


def _chunk_states(k, v, gc, h0, cu, offsets, num_chunks, num_states, chunk_size, *, store_final):
    """Kernel 2: the state before every chunk [NT, H, K, V] float32, and the final state [N, H, K, V]
    float32 (None unless store_final)."""
    _, heads, key_dim = k.shape
    value_dim = v.shape[-1]
    h = k.new_empty(num_chunks, heads, key_dim, value_dim, dtype=torch.float32)
    ht = k.new_empty(num_states, heads, key_dim, value_dim, dtype=torch.float32) if store_final else None

    def grid(meta):
        return (triton.cdiv(key_dim, meta["BK"]), triton.cdiv(value_dim, meta["BV"]), num_states * heads)

    _state_fwd_kernel[grid](
        k, v, gc, h, h0, ht, cu, offsets, heads,
        K=key_dim, V=value_dim, BT=chunk_size, DOT=_dot_precision(k.dtype),
        HAS_H0=h0 is not None, STORE_HT=store_final,
    )
    return h, ht


class _ScanTriton(torch.autograd.Function):
    """On one packed row: q, k [T, H, K], v [T, H, V] (one dtype), g [T, H], h0 [N, H, K, V] or None."""

    @staticmethod
    def forward(ctx, q, k, v, g, h0, scale, cu, chunk_indices, offsets, chunk_size, output_final_state):
        length, heads, key_dim = q.shape
        value_dim = v.shape[-1]
        num_chunks, num_states = chunk_indices.shape[0], offsets.numel() - 1
        dot = _dot_precision(q.dtype)
        gc = torch.empty(length, heads, device=q.device, dtype=torch.float32)
        if num_chunks:
            _chunk_cumsum_kernel[(num_chunks, heads)](g, gc, cu, chunk_indices, heads, BT=chunk_size)
        h, ht = _chunk_states(
            k, v, gc, h0, cu, offsets, num_chunks, num_states, chunk_size, store_final=output_final_state
        )
        o = torch.empty_like(v)
        if num_chunks:
            grid = lambda meta: (triton.cdiv(value_dim, meta["BV"]), num_chunks, heads)  # noqa: E731
            _output_kernel[grid](
                q, k, v, gc, h, o, cu, chunk_indices, scale, heads,
                K=key_dim, V=value_dim, BT=chunk_size, DOT=dot,
            )
        ctx.save_for_backward(q, k, v, gc, h0, cu, chunk_indices, offsets)
        ctx.scale, ctx.chunk_size, ctx.g_dtype = scale, chunk_size, g.dtype
        return o, ht

    @staticmethod
    def backward(ctx, do, dht):
        q, k, v, gc, h0, cu, chunk_indices, offsets = ctx.saved_tensors
        scale, chunk_size = ctx.scale, ctx.chunk_size
        length, heads, key_dim = q.shape
        value_dim = v.shape[-1]
        num_chunks, num_states = chunk_indices.shape[0], offsets.numel() - 1
        dot = _dot_precision(q.dtype)
        do = torch.zeros_like(v) if do is None else do.to(v.dtype).contiguous()
        dht = None if dht is None else dht.float().contiguous()

        # The chunk-start states again (recomputed rather than kept from the forward: [NT, H, K, V] float32).
        h, _ = _chunk_states(k, v, gc, h0, cu, offsets, num_chunks, num_states, chunk_size, store_final=False)
        dh = torch.empty_like(h)
        dh0 = None if h0 is None else torch.empty_like(h0, dtype=torch.float32)

        def state_grid(meta):
            return (triton.cdiv(key_dim, meta["BK"]), triton.cdiv(value_dim, meta["BV"]), num_states * heads)

        _state_bwd_kernel[state_grid](
            q, do, gc, dh, dht, dh0, cu, offsets, scale, heads,
            K=key_dim, V=value_dim, BT=chunk_size, DOT=dot, HAS_DHT=dht is not None, STORE_DH0=h0 is not None,
        )

        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        # One partial dg per K-block (as many slots as the smallest BK of the configs needs), summed below.
        parts = triton.cdiv(key_dim, _MIN_BK)
        dg_parts = torch.empty(parts, length, heads, device=q.device, dtype=torch.float32)
        if num_chunks:
            grid = lambda meta: (triton.cdiv(value_dim, meta["BV"]), num_chunks, heads)  # noqa: E731
            _dv_kernel[grid](
                q, k, do, gc, dh, dv, cu, chunk_indices, scale, heads,
                K=key_dim, V=value_dim, BT=chunk_size, DOT=dot,
            )
            grid = lambda meta: (triton.cdiv(key_dim, meta["BK"]), num_chunks, heads)  # noqa: E731
            _dqk_kernel[grid](
                q, k, v, do, gc, h, dh, dq, dk, dg_parts, cu, chunk_indices, scale, length, heads,
                K=key_dim, V=value_dim, BT=chunk_size, DOT=dot, PARTS=parts,
            )
        dg = dg_parts.sum(0).to(ctx.g_dtype)
        dh0 = None if h0 is None else dh0.to(h0.dtype)
        return dq, dk, dv, dg, dh0, None, None, None, None, None, None


def scan_triton(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    *,
    scale: float | None = None,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor | None]:
    """Triton form of `scan_reference` (same arguments and results), forward and backward in Triton:

        S_t = exp(g_t) * S_{t-1} + k_t v_t^T,    o_t = S_t^T (scale * q_t)

    q, k: [B, T, H, K]; v: [B, T, H, V]; g: [B, T, H] log-decay, <= 0 (a ValueError otherwise: every
    exponential the kernels take is of a number <= 0); scale None means K ** -0.5;
    initial_state: [N, H, K, V] (N = B, or the number of sequences in cu_seqlens [N + 1] with B == 1);
    chunk_size: tokens per chunk, a power of two >= 16. q, k, v: float16, bfloat16 or float32 (cast to
    one common dtype; float32 matmuls run in full float32, not TF32); matmuls accumulate in float32, and
    the states and decays are float32. Gradients flow to q, k, v, g and initial_state (and from a
    gradient on the final state), in their dtypes. Varlen runs inside the kernels (no padding); reading
    the chunk count of cu_seqlens costs one device sync.

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] float32, or None unless
    output_final_state). Tensors must be on CUDA, or on CPU with TRITON_INTERPRET=1 set before import.
    """
    return run_chunked_scan(
        "scan_triton", _ScanTriton, q, k, v, g,
        g_shape=q.shape[:3], g_dims="B, T, H",
        g_hint="these kernels take a scalar decay per head (per key channel: scan_triton_gla)",
        scale=scale, initial_state=initial_state, output_final_state=output_final_state,
        cu_seqlens=cu_seqlens, chunk_size=chunk_size,
    )


def run_chunked_scan(
    name: str,
    function: type[torch.autograd.Function],
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    *,
    g_shape: tuple[int, ...],
    g_dims: str,
    g_hint: str,
    scale: float | None,
    initial_state: Tensor | None,
    output_final_state: bool,
    cu_seqlens: Tensor | None,
    chunk_size: int,
) -> tuple[Tensor, Tensor | None]:
    """Validate a Triton scan call, pack the inputs as one row of tokens with the chunk layout, and run
    `function` (an autograd Function taking `(q, k, v, g, h0, scale, cu, chunk_indices, offsets,
    chunk_size, output_final_state)` on packed `[B*T, H, *]` tensors). Shared by scan_triton and
    scan_triton_gla, which differ in g's shape `g_shape` (axes `g_dims`; `g_hint` says what to use instead)."""
    if not isinstance(chunk_size, int) or chunk_size < 16 or chunk_size & (chunk_size - 1):
        raise ValueError(f"{name}: chunk_size must be a power of two >= 16, got {chunk_size}")
    tensors = dict(q=q, k=k, v=v, g=g, initial_state=initial_state)
    for arg, t in tensors.items():
        if t is not None and t.dtype not in (torch.float16, torch.bfloat16, torch.float32):
            raise ValueError(
                f"{name}: {arg} has dtype {t.dtype}; the Triton kernels take float16, bfloat16 or "
                "float32 (use backend='torch' or 'reference' for float64)"
            )
    if q.device.type != "cuda" and not _INTERPRET:
        raise ValueError(
            f"{name}: tensors are on {q.device}; Triton needs CUDA, or TRITON_INTERPRET=1 set before "
            "zoo.kernels.scan's Triton modules are first imported"
        )
    batch, length, heads, key_dim = q.shape
    if g.shape != g_shape:
        raise ValueError(f"{name}: g has shape {tuple(g.shape)} but expected ({g_dims}) = {tuple(g_shape)}: {g_hint}")
    check_log_decay(name, "g", g)
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    expected = (num_states, heads, key_dim, v.shape[-1])
    if initial_state is not None and tuple(initial_state.shape) != expected:
        raise ValueError(
            f"{name}: initial_state has shape {tuple(initial_state.shape)} "
            f"but expected (N, H, K, V) = {expected}"
        )
    scale = key_dim**-0.5 if scale is None else float(scale)
    dtype = torch.promote_types(torch.promote_types(q.dtype, k.dtype), v.dtype)
    out_dtype = q.dtype

    def packed(x: Tensor, dt: torch.dtype) -> Tensor:
        return x.to(dt).reshape(batch * length, *x.shape[2:]).contiguous()

    cu, chunk_indices, offsets = _chunk_layout(cu_seqlens, batch, length, chunk_size, q.device)
    h0 = None if initial_state is None else initial_state.contiguous()
    o, final_state = function.apply(
        packed(q, dtype), packed(k, dtype), packed(v, dtype), packed(g, g.dtype), h0,
        scale, cu, chunk_indices, offsets, chunk_size, output_final_state,
    )
    o = o.view(batch, length, heads, v.shape[-1]).to(out_dtype)
    return o, final_state
