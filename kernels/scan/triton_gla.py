"""The scan with a decay per key channel (GLA) in Triton: chunk-parallel forward and backward kernels in a
`torch.autograd.Function`.

    S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T,    o_t = S_t^T (scale * q_t),    g_t: [K]

The math per chunk of C tokens, with b_i [K] the cumulative log decay inside the chunk (inclusive), L the
chunk's last token, S_0 the state before the chunk and * acting on the key channel (q already scaled):

    o_i   = sum_{j <= i} ((q_i * exp(b_i - b_j)) . k_j) v_j + S_0^T (q_i * exp(b_i))
    S_end = diag(exp(b_L)) S_0 + sum_j (k_j * exp(b_L - b_j)) v_j^T

Overflow safety. With g <= 0, b is non-increasing, so exp(b_i - b_j) <= 1 for j <= i, but the scores
A_ij = sum_k q_ik k_jk exp(b_ik - b_jk) cannot be one matmul of q * exp(b) and k * exp(-b): exp(-b)
overflows once a chunk's accumulated decay passes ~88 (float32). The chunk is cut into sub-blocks of
BC = 16 tokens (secondary chunking, as in the GLA paper) and every exponential taken is of a number <= 0:
  * sub-block I against an earlier sub-block J < I: both sides relative to r_I, the cumulative decay at the
    last token before sub-block I:  A_IJ = (q_I * exp(b_I - r_I)) (k_J * exp(r_I - b_J))^T, a matmul with
    both exponents <= 0 (b_I <= r_I <= b_J);
  * inside a sub-block (J == I): the [BC, BC, BK] tensor q_ik k_jk exp(b_ik - b_jk), masked to j <= i
    before exponentiating, summed over k;
  * everything against the chunk-start state or the chunk end: exp(b_i) and exp(b_L - b_j).
A factor that underflows to 0 stands for a term smaller still, so nothing of size is lost.

Forward kernels (1, 2 and 5 are the shared building blocks of kernels/triton_common):
  1. `cumsum.chunk_local_cumsum`  b = within-chunk cumulative sum of g per channel (float32).
  2. `chunk_state.chunk_states`   per (K-block, V-block, sequence x head), a loop over its chunks: the state
                           at every chunk start, and the final state.
  3. `_intra_kernel`       A (scale included, [T, H, C] float32: row t against the tokens of its chunk),
                           one program per (sub-block pair, chunk, head), as above.
  4. `_output_kernel`      o = scale * (Q * exp(b)) S_0 + A V. Grid (V/BV, chunks, H).

Backward (the chunk-start states and A are recomputed by kernels 2 and 3, not stored by the forward):
  5. `chunk_state.chunk_state_grads`  reverse loop over chunks:
                           dS_start = diag(exp(b_L)) dS_end + scale (Q * exp(b))^T dO;
                           dS_end of every chunk and d initial_state.
  6. `_da_kernel`          dA = dO V^T, masked to j <= i. Grid (chunks, H).
  7. `_dv_kernel`          dV = A^T dO + (K * exp(b_L - b)) dS_end. Grid (V/BV, chunks, H).
  8. `_intra_bwd_kernel`   the intra-chunk parts of dq and dk from dA, per (sub-block, K-block, head), with
                           the same references as kernel 3: for dq_I the sub-blocks J < I relative to r_I;
                           for dk_I the sub-blocks J > I relative to the cumulative decay at I's last token.
  9. `_dqkg_kernel`        adds the state terms, dQ += scale exp(b) * (dO S_0^T), dK += exp(b_L - b) * (V dS_end^T),
                           and computes dg. Grid (K/BK, chunks, H).

The decay gradient, per channel. Every term of o_i carries exp(+b_ik) alongside q_ik, every term holding
k_j carries exp(-b_jk) alongside k_jk, and b_L also scales all of row k of S_end. Taking the b_ik as
independent variables:

    dL/db_ik = q_ik dq_ik - k_ik dk_ik + [i == L] <dS_end[k, :], S_end[k, :]>

and b_i = sum_{u <= i, u in chunk} g_u, so dg_t = sum_{u >= t in chunk} (q_u * dq_u - k_u * dk_u)
+ <dS_end, S_end>_k (a reverse cumsum inside the chunk; earlier chunks see g_t only through their state
gradient, which the reverse pass carries). <dS_end, S_end>_k = exp(b_Lk) <dS_end, S_0>_k
+ sum_j k_jk dk_jk^inter, with dk^inter = exp(b_L - b) * (V dS_end^T) the state part of dk, so a chunk
needs no state but its own S_0. Every term is per channel: a K-block program writes its own dg, no
partial sums across K-blocks.

Varlen is native (`layout.chunk_layout`): every kernel works on a list of chunks (sequence, chunk within the
sequence) and masks by the end of its sequence; no padding copies. The call is validated and packed by
triton_scan's `run_chunked_scan`, and `triton_unsupported` is the scan's.

Runs on CUDA, and on CPU under TRITON_INTERPRET=1 (set before this module is imported), where every kernel
has a single config instead of autotuning.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..triton_common.chunk_output import CHUNK_CONFIGS, CHUNK_KEY
from ..triton_common.chunk_state import chunk_state_grads, chunk_states
from ..triton_common.configs import block_configs, dot_precision
from ..triton_common.cumsum import chunk_local_cumsum
from ..triton_common.layout import ChunkLayout
from ..triton_common.prologue import chunk_tokens
from .triton_scan import run_chunked_scan, triton_unsupported

__all__ = ["scan_triton_gla", "triton_unsupported"]

SUB_BLOCK = 16  # BC: the tokens of a sub-block (the smallest tile tl.dot takes)
# The sub-block kernels hold [BC, BC, BK] tensors: keep BK small.
_INTRA_CONFIGS = block_configs(("BK",), [(16,), (32,), (64,)], warps=[2, 4], stages=[1])
_DQKG_CONFIGS = block_configs(("BK",), [(32,), (64,)], warps=[4, 8], stages=[2, 3])
_DA_CONFIGS = block_configs(("BV",), [(32,), (64,), (128,)], warps=[4, 8], stages=[2, 3])


# ---------------------------------------------------------------------------------------------------------
# Kernels. Layout: one packed row, q, k, g [T, H, K], v [T, H, V]: token t of head h starts at
# (t * H + h) * K. gc [T, H, K] float32; A, dA [T, H, BT] float32 (row t, column j: token j of t's chunk);
# states [chunks or N, H, K, V] float32. A chunk program finds its sequence n and its chunk c within it in
# `prologue.chunk_tokens`: t0 + i, valid below eos.


@triton.autotune(configs=_INTRA_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _intra_kernel(
    q, k, gc, a, cu_seqlens, chunk_indices, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BC: tl.constexpr, BK: tl.constexpr, DOT: tl.constexpr,
):
    """A[i, j] = scale * sum_k q_ik k_jk exp(b_ik - b_jk) for j <= i in the chunk, else 0: the block of
    sub-block I's rows and sub-block J's columns. Grid ((BT/BC)^2, chunks, H)."""
    i_p = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    i_i = i_p // (BT // BC)
    i_j = i_p % (BT // BC)
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    o_c = tl.arange(0, BC)
    o_ti = t0 + i_i * BC + o_c
    o_tj = t0 + i_j * BC + o_c
    m_ti = o_ti < eos
    m_tj = o_tj < eos

    b_a = tl.zeros([BC, BC], dtype=tl.float32)
    # (A sub-block I past the sequence's end is skipped: its reference token could lie past the end too.)
    if (i_j < i_i) & (t0 + i_i * BC < eos):
        # Both sides relative to r, the cumulative decay at the token just before sub-block I.
        t_ref = t0 + i_i * BC - 1
        for i_k in range(0, tl.cdiv(K, BK)):
            o_k = i_k * BK + tl.arange(0, BK)
            m_k = o_k < K
            m_ik = m_ti[:, None] & m_k[None, :]
            m_kj = m_k[:, None] & m_tj[None, :]
            p_i = (o_ti * H + i_h)[:, None] * K + o_k[None, :]  # [BC, BK]
            p_jt = (o_tj * H + i_h)[None, :] * K + o_k[:, None]  # [BK, BC]
            b_r = tl.load(gc + (t_ref * H + i_h) * K + o_k, mask=m_k, other=0)
            b_q = tl.load(q + p_i, mask=m_ik, other=0)
            b_bi = tl.load(gc + p_i, mask=m_ik, other=0)
            b_kt = tl.load(k + p_jt, mask=m_kj, other=0)
            b_bjt = tl.load(gc + p_jt, mask=m_kj, other=0)
            b_qs = (b_q * tl.where(m_ik, tl.exp(b_bi - b_r[None, :]), 0)).to(b_q.dtype)
            b_ks = (b_kt * tl.where(m_kj, tl.exp(b_r[:, None] - b_bjt), 0)).to(b_kt.dtype)
            b_a += tl.dot(b_qs, b_ks, input_precision=DOT)
    elif i_j == i_i:
        # Mask before exp: above the diagonal b_i - b_j > 0 could overflow.
        causal = (o_c[:, None] >= o_c[None, :]) & m_ti[:, None] & m_ti[None, :]
        for i_k in range(0, tl.cdiv(K, BK)):
            o_k = i_k * BK + tl.arange(0, BK)
            m_ik = m_ti[:, None] & (o_k < K)[None, :]
            p_i = (o_ti * H + i_h)[:, None] * K + o_k[None, :]
            b_q = tl.load(q + p_i, mask=m_ik, other=0).to(tl.float32)
            b_k = tl.load(k + p_i, mask=m_ik, other=0).to(tl.float32)
            b_b = tl.load(gc + p_i, mask=m_ik, other=0)
            b_e = tl.exp(tl.where(causal[:, :, None], b_b[:, None, :] - b_b[None, :, :], float("-inf")))
            b_a += tl.sum(b_q[:, None, :] * b_k[None, :, :] * b_e, axis=2)
    # J > I: zeros, so that every entry of A is written.
    p_a = (o_ti * H + i_h)[:, None] * BT + i_j * BC + o_c[None, :]
    tl.store(a + p_a, b_a * scale, mask=m_ti[:, None])


@triton.autotune(configs=CHUNK_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _output_kernel(
    q, v, gc, h, a, o, cu_seqlens, chunk_indices, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
):
    """o = scale * (Q * exp(b)) S_0 + A V for one chunk. Grid (V/BV, chunks, H)."""
    i_v = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    o_i = tl.arange(0, BT)
    o_t = t0 + o_i
    m_t = o_t < eos
    o_v = i_v * BV + tl.arange(0, BV)
    m_v = o_v < V
    m_tv = m_t[:, None] & m_v[None, :]
    p_h = h + (i_c.to(tl.int64) * H + i_h) * K * V

    b_o = tl.zeros([BT, BV], dtype=tl.float32)
    for i_k in range(0, tl.cdiv(K, BK)):
        o_k = i_k * BK + tl.arange(0, BK)
        m_k = o_k < K
        m_tk = m_t[:, None] & m_k[None, :]
        p_k = (o_t * H + i_h)[:, None] * K + o_k[None, :]
        b_q = tl.load(q + p_k, mask=m_tk, other=0)
        b_b = tl.load(gc + p_k, mask=m_tk, other=0)
        b_qs = (b_q * tl.where(m_tk, tl.exp(b_b), 0)).to(b_q.dtype)
        b_h = tl.load(p_h + o_k[:, None] * V + o_v[None, :], mask=m_k[:, None] & m_v[None, :], other=0)
        b_o += tl.dot(b_qs, b_h.to(b_q.dtype), input_precision=DOT)

    causal = (o_i[:, None] >= o_i[None, :]) & m_t[:, None] & m_t[None, :]
    b_a = tl.load(a + (o_t * H + i_h)[:, None] * BT + o_i[None, :], mask=causal, other=0)
    b_v = tl.load(v + (o_t * H + i_h)[:, None] * V + o_v[None, :], mask=m_tv, other=0)
    b_o = b_o * scale + tl.dot(b_a.to(b_v.dtype), b_v, input_precision=DOT)
    tl.store(o + (o_t * H + i_h)[:, None] * V + o_v[None, :], b_o, mask=m_tv)


@triton.autotune(configs=_DA_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _da_kernel(
    v, do, da, cu_seqlens, chunk_indices, H,
    V: tl.constexpr, BT: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr, K: tl.constexpr,
):
    """dA[i, j] = dO_i . v_j for j <= i in the chunk, else 0. Grid (chunks, H)."""
    i_c = tl.program_id(0)
    i_h = tl.program_id(1)
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    o_i = tl.arange(0, BT)
    o_t = t0 + o_i
    m_t = o_t < eos
    b_da = tl.zeros([BT, BT], dtype=tl.float32)
    for i_v in range(0, tl.cdiv(V, BV)):
        o_v = i_v * BV + tl.arange(0, BV)
        m_tv = m_t[:, None] & (o_v < V)[None, :]
        p_v = (o_t * H + i_h)[:, None] * V + o_v[None, :]
        b_do = tl.load(do + p_v, mask=m_tv, other=0)
        b_v = tl.load(v + p_v, mask=m_tv, other=0)
        b_da += tl.dot(b_do, tl.trans(b_v), input_precision=DOT)
    causal = (o_i[:, None] >= o_i[None, :]) & m_t[None, :]
    b_da = tl.where(causal, b_da, 0)
    tl.store(da + (o_t * H + i_h)[:, None] * BT + o_i[None, :], b_da, mask=m_t[:, None])


@triton.autotune(configs=CHUNK_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _dv_kernel(
    k, do, gc, a, dh, dv, cu_seqlens, chunk_indices, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
):
    """dV = A^T dO + (K * exp(b_L - b)) dS_end for one chunk. Grid (V/BV, chunks, H)."""
    i_v = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    o_i = tl.arange(0, BT)
    o_t = t0 + o_i
    m_t = o_t < eos
    o_v = i_v * BV + tl.arange(0, BV)
    m_v = o_v < V
    m_tv = m_t[:, None] & m_v[None, :]
    p_dh = dh + (i_c.to(tl.int64) * H + i_h) * K * V
    t_last = tl.minimum(t0 + BT, eos) - 1

    b_dv = tl.zeros([BT, BV], dtype=tl.float32)
    for i_k in range(0, tl.cdiv(K, BK)):
        o_k = i_k * BK + tl.arange(0, BK)
        m_k = o_k < K
        m_tk = m_t[:, None] & m_k[None, :]
        p_k = (o_t * H + i_h)[:, None] * K + o_k[None, :]
        b_k = tl.load(k + p_k, mask=m_tk, other=0)
        b_b = tl.load(gc + p_k, mask=m_tk, other=0)
        b_last = tl.load(gc + (t_last * H + i_h) * K + o_k, mask=m_k, other=0)
        b_ks = (b_k * tl.where(m_tk, tl.exp(b_last[None, :] - b_b), 0)).to(b_k.dtype)
        b_dh = tl.load(p_dh + o_k[:, None] * V + o_v[None, :], mask=m_k[:, None] & m_v[None, :], other=0)
        b_dv += tl.dot(b_ks, b_dh.to(b_k.dtype), input_precision=DOT)

    # A^T [j, i] = A[i, j], nonzero for i >= j.
    causal_t = (o_i[:, None] <= o_i[None, :]) & m_t[:, None] & m_t[None, :]
    b_at = tl.load(a + (o_t * H + i_h)[None, :] * BT + o_i[:, None], mask=causal_t, other=0)
    b_do = tl.load(do + (o_t * H + i_h)[:, None] * V + o_v[None, :], mask=m_tv, other=0)
    b_dv += tl.dot(b_at.to(b_do.dtype), b_do, input_precision=DOT)
    tl.store(dv + (o_t * H + i_h)[:, None] * V + o_v[None, :], b_dv, mask=m_tv)


@triton.autotune(configs=_INTRA_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _intra_bwd_kernel(
    q, k, gc, da, dq, dk, cu_seqlens, chunk_indices, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BC: tl.constexpr, BK: tl.constexpr, DOT: tl.constexpr,
):
    """The intra-chunk parts of dq and dk (float32) for the rows of sub-block I and one K-block:
        dq_i = scale * sum_{j <= i} dA_ij k_j * exp(b_i - b_j),
        dk_j = scale * sum_{i >= j} dA_ij q_i * exp(b_i - b_j).
    Grid (chunks * BT/BC, K/BK, H): the many sub-blocks on axis 0, which has no 65535 limit."""
    i_ci = tl.program_id(0)
    i_k = tl.program_id(1)
    i_h = tl.program_id(2)
    i_c = i_ci // (BT // BC)
    i_i = i_ci % (BT // BC)
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    n_sub = tl.cdiv(tl.minimum(eos - t0, BT), BC)  # sub-blocks holding valid tokens
    o_c = tl.arange(0, BC)
    o_k = i_k * BK + tl.arange(0, BK)
    m_k = o_k < K
    o_ti = t0 + i_i * BC + o_c
    m_ti = o_ti < eos
    m_ik = m_ti[:, None] & m_k[None, :]
    p_i = (o_ti * H + i_h)[:, None] * K + o_k[None, :]
    b_bi = tl.load(gc + p_i, mask=m_ik, other=0)
    b_dq = tl.zeros([BC, BK], dtype=tl.float32)
    b_dk = tl.zeros([BC, BK], dtype=tl.float32)

    # dq from the earlier sub-blocks J < I, relative to r = b at the token just before I (when I holds a
    # valid token, so that r is one too).
    if (i_i > 0) & (i_i < n_sub):
        t_ref = t0 + i_i * BC - 1
        b_r = tl.load(gc + (t_ref * H + i_h) * K + o_k, mask=m_k, other=0)
        for i_j in range(0, i_i):
            o_tj = t0 + i_j * BC + o_c
            m_jk = (o_tj < eos)[:, None] & m_k[None, :]
            p_j = (o_tj * H + i_h)[:, None] * K + o_k[None, :]
            b_k = tl.load(k + p_j, mask=m_jk, other=0)
            b_bj = tl.load(gc + p_j, mask=m_jk, other=0)
            b_ks = (b_k * tl.where(m_jk, tl.exp(b_r[None, :] - b_bj), 0)).to(b_k.dtype)
            b_da = tl.load(da + (o_ti * H + i_h)[:, None] * BT + i_j * BC + o_c[None, :], mask=m_ti[:, None], other=0)
            b_dq += tl.dot(b_da.to(b_k.dtype), b_ks, input_precision=DOT)
        b_dq *= tl.where(m_ik, tl.exp(b_bi - b_r[None, :]), 0)

    # dk from the later sub-blocks J > I, relative to r = b at I's last token (valid whenever a later
    # sub-block holds a valid token).
    if i_i + 1 < n_sub:
        t_ref = t0 + i_i * BC + BC - 1
        b_r = tl.load(gc + (t_ref * H + i_h) * K + o_k, mask=m_k, other=0)
        for i_j in range(i_i + 1, n_sub):
            o_tj = t0 + i_j * BC + o_c
            m_tj = o_tj < eos
            m_jk = m_tj[:, None] & m_k[None, :]
            p_j = (o_tj * H + i_h)[:, None] * K + o_k[None, :]
            b_q = tl.load(q + p_j, mask=m_jk, other=0)
            b_bj = tl.load(gc + p_j, mask=m_jk, other=0)
            b_qs = (b_q * tl.where(m_jk, tl.exp(b_bj - b_r[None, :]), 0)).to(b_q.dtype)
            # dA^T: [j in I, i in J] = dA[i, j]
            p_dat = (o_tj * H + i_h)[None, :] * BT + i_i * BC + o_c[:, None]
            b_dat = tl.load(da + p_dat, mask=m_tj[None, :], other=0)
            b_dk += tl.dot(b_dat.to(b_q.dtype), b_qs, input_precision=DOT)
        b_dk *= tl.where(m_ik, tl.exp(b_r[None, :] - b_bi), 0)

    # Inside sub-block I: the [BC, BC, BK] decays, masked to j <= i before exponentiating.
    b_q = tl.load(q + p_i, mask=m_ik, other=0).to(tl.float32)
    b_k = tl.load(k + p_i, mask=m_ik, other=0).to(tl.float32)
    b_da = tl.load(da + (o_ti * H + i_h)[:, None] * BT + i_i * BC + o_c[None, :], mask=m_ti[:, None], other=0)
    causal = (o_c[:, None] >= o_c[None, :]) & m_ti[:, None] & m_ti[None, :]
    b_da = tl.where(causal, b_da, 0)
    b_e = tl.exp(tl.where(causal[:, :, None], b_bi[:, None, :] - b_bi[None, :, :], float("-inf")))  # [i, j, k]
    b_dq += tl.sum(b_da[:, :, None] * b_e * b_k[None, :, :], axis=1)
    b_dk += tl.sum(b_da[:, :, None] * b_e * b_q[:, None, :], axis=0)

    tl.store(dq + p_i, b_dq * scale, mask=m_ik)
    tl.store(dk + p_i, b_dk * scale, mask=m_ik)


@triton.autotune(configs=_DQKG_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _dqkg_kernel(
    q, k, v, do, gc, h, dh, dq_intra, dk_intra, dq, dk, dg, cu_seqlens, chunk_indices, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, DOT: tl.constexpr, BV: tl.constexpr,
):
    """dq = dq_intra + scale exp(b) * (dO S_0^T), dk = dk_intra + exp(b_L - b) * (V dS_end^T) and
    dg_t = sum_{u >= t in chunk} (q_u * dq_u - k_u * dk_u) + <dS_end, S_end> per channel, for one chunk and
    K-block. Grid (K/BK, chunks, H)."""
    i_k = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    o_t = t0 + tl.arange(0, BT)
    m_t = o_t < eos
    o_k = i_k * BK + tl.arange(0, BK)
    m_k = o_k < K
    m_tk = m_t[:, None] & m_k[None, :]
    p_k = (o_t * H + i_h)[:, None] * K + o_k[None, :]
    p_state = (i_c.to(tl.int64) * H + i_h) * K * V

    b_dq = tl.zeros([BT, BK], dtype=tl.float32)  # dO S_0^T
    b_dk = tl.zeros([BT, BK], dtype=tl.float32)  # V dS_end^T
    b_hdh = tl.zeros([BK], dtype=tl.float32)  # <S_0, dS_end> per key channel
    for i_v in range(0, tl.cdiv(V, BV)):
        o_v = i_v * BV + tl.arange(0, BV)
        m_v = o_v < V
        m_tv = m_t[:, None] & m_v[None, :]
        m_vk = m_v[:, None] & m_k[None, :]
        p_v = (o_t * H + i_h)[:, None] * V + o_v[None, :]
        b_ht = tl.load(h + p_state + o_k[None, :] * V + o_v[:, None], mask=m_vk, other=0)  # S_0^T [BV, BK]
        b_dht = tl.load(dh + p_state + o_k[None, :] * V + o_v[:, None], mask=m_vk, other=0)  # dS_end^T
        b_do = tl.load(do + p_v, mask=m_tv, other=0)
        b_v = tl.load(v + p_v, mask=m_tv, other=0)
        b_dq += tl.dot(b_do, b_ht.to(b_do.dtype), input_precision=DOT)
        b_dk += tl.dot(b_v, b_dht.to(b_v.dtype), input_precision=DOT)
        b_hdh += tl.sum(b_ht * b_dht, axis=0)

    b_b = tl.load(gc + p_k, mask=m_tk, other=0)
    t_last = tl.minimum(t0 + BT, eos) - 1
    b_last = tl.load(gc + (t_last * H + i_h) * K + o_k, mask=m_k, other=0)
    b_dq = b_dq * tl.where(m_tk, tl.exp(b_b), 0) * scale + tl.load(dq_intra + p_k, mask=m_tk, other=0)
    b_dk_inter = b_dk * tl.where(m_tk, tl.exp(b_last[None, :] - b_b), 0)
    b_dk = b_dk_inter + tl.load(dk_intra + p_k, mask=m_tk, other=0)

    b_q = tl.load(q + p_k, mask=m_tk, other=0).to(tl.float32)
    b_k = tl.load(k + p_k, mask=m_tk, other=0).to(tl.float32)
    b_end = tl.exp(b_last) * b_hdh + tl.sum(b_k * b_dk_inter, axis=0)  # <dS_end, S_end> per channel
    b_dg = tl.cumsum(b_q * b_dq - b_k * b_dk, axis=0, reverse=True) + b_end[None, :]

    tl.store(dq + p_k, b_dq, mask=m_tk)
    tl.store(dk + p_k, b_dk, mask=m_tk)
    tl.store(dg + p_k, b_dg, mask=m_tk)


# ---------------------------------------------------------------------------------------------------------
# Host side


def _intra_scores(q, k, gc, layout: ChunkLayout, scale, chunk_size):
    """Kernel 3: A [T, H, chunk_size] float32, scale included, zero above the diagonal."""
    length, heads, key_dim = q.shape
    a = q.new_empty(length, heads, chunk_size, dtype=torch.float32)
    if layout.num_chunks:
        subs = chunk_size // SUB_BLOCK
        _intra_kernel[(subs * subs, layout.num_chunks, heads)](
            q, k, gc, a, layout.cu_seqlens, layout.chunk_indices, scale, heads,
            K=key_dim, V=0, BT=chunk_size, BC=SUB_BLOCK, DOT=dot_precision(q.dtype),
        )
    return a


class _GlaTriton(torch.autograd.Function):
    """On one packed row: q, k [T, H, K], v [T, H, V] (one dtype), g [T, H, K], h0 [N, H, K, V] or None."""

    @staticmethod
    def forward(ctx, q, k, v, g, h0, scale, layout: ChunkLayout, chunk_size, output_final_state):
        heads, key_dim = q.shape[1:]
        value_dim = v.shape[-1]
        gc = chunk_local_cumsum(g, layout, chunk_size)
        h, ht = chunk_states(k, v, gc, h0, layout, chunk_size, store_final=output_final_state)
        a = _intra_scores(q, k, gc, layout, scale, chunk_size)
        o = torch.empty_like(v)
        if layout.num_chunks:
            grid = lambda meta: (triton.cdiv(value_dim, meta["BV"]), layout.num_chunks, heads)  # noqa: E731
            _output_kernel[grid](
                q, v, gc, h, a, o, layout.cu_seqlens, layout.chunk_indices, scale, heads,
                K=key_dim, V=value_dim, BT=chunk_size, DOT=dot_precision(q.dtype),
            )
        ctx.save_for_backward(q, k, v, gc, h0)
        ctx.layout, ctx.scale, ctx.chunk_size, ctx.g_dtype = layout, scale, chunk_size, g.dtype
        return o, ht

    @staticmethod
    def backward(ctx, do, dht):
        q, k, v, gc, h0 = ctx.saved_tensors
        layout, scale, chunk_size = ctx.layout, ctx.scale, ctx.chunk_size
        length, heads, key_dim = q.shape
        value_dim = v.shape[-1]
        num_chunks = layout.num_chunks
        chunks = (layout.cu_seqlens, layout.chunk_indices)
        dot = dot_precision(q.dtype)
        do = torch.zeros_like(v) if do is None else do.to(v.dtype).contiguous()
        dht = None if dht is None else dht.float().contiguous()

        # The chunk-start states and the scores again (recomputed rather than kept from the forward).
        h, _ = chunk_states(k, v, gc, h0, layout, chunk_size, store_final=False)
        a = _intra_scores(q, k, gc, layout, scale, chunk_size)
        dh, dh0 = chunk_state_grads(
            q, do, gc, dht, layout, scale, chunk_size, initial_shape=None if h0 is None else h0.shape
        )
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        dg = torch.empty(length, heads, key_dim, device=q.device, dtype=torch.float32)
        if num_chunks:
            da = torch.empty_like(a)
            _da_kernel[(num_chunks, heads)](v, do, da, *chunks, heads, V=value_dim, BT=chunk_size, DOT=dot, K=key_dim)
            grid = lambda meta: (triton.cdiv(value_dim, meta["BV"]), num_chunks, heads)  # noqa: E731
            _dv_kernel[grid](k, do, gc, a, dh, dv, *chunks, heads, K=key_dim, V=value_dim, BT=chunk_size, DOT=dot)
            dq_intra = torch.empty_like(gc)
            dk_intra = torch.empty_like(gc)
            subs = chunk_size // SUB_BLOCK
            grid = lambda meta: (num_chunks * subs, triton.cdiv(key_dim, meta["BK"]), heads)  # noqa: E731
            _intra_bwd_kernel[grid](
                q, k, gc, da, dq_intra, dk_intra, *chunks, scale, heads,
                K=key_dim, V=value_dim, BT=chunk_size, BC=SUB_BLOCK, DOT=dot,
            )
            grid = lambda meta: (triton.cdiv(key_dim, meta["BK"]), num_chunks, heads)  # noqa: E731
            _dqkg_kernel[grid](
                q, k, v, do, gc, h, dh, dq_intra, dk_intra, dq, dk, dg, *chunks, scale, heads,
                K=key_dim, V=value_dim, BT=chunk_size, DOT=dot, BV=max(16, min(triton.next_power_of_2(value_dim), 64)),
            )
        dh0 = None if h0 is None else dh0.to(h0.dtype)
        return dq, dk, dv, dg.to(ctx.g_dtype), dh0, None, None, None, None


def scan_triton_gla(
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
    """Triton form of `scan_reference` with a decay per key channel (GLA), forward and backward in Triton:

        S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T,    o_t = S_t^T (scale * q_t)

    q, k: [B, T, H, K]; v: [B, T, H, V]; g: [B, T, H, K] log-decay, <= 0 (a ValueError otherwise): every
    exponential the kernels take is of a number <= 0, however strong the decay; scale None
    means K ** -0.5; initial_state: [N, H, K, V] (N = B, or the number of sequences in cu_seqlens [N + 1]
    with B == 1); chunk_size: tokens per chunk, a power of two >= 16 (cut into sub-blocks of 16). q, k, v:
    float16, bfloat16 or float32 (cast to one common dtype; float32 matmuls run in full float32, not TF32);
    matmuls accumulate in float32, and the states, scores and decays are float32. Gradients flow to q, k,
    v, g and initial_state (and from a gradient on the final state), in their dtypes. Varlen runs inside
    the kernels (no padding); reading the chunk count of cu_seqlens costs one device sync.

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] float32, or None unless
    output_final_state). Tensors must be on CUDA, or on CPU with TRITON_INTERPRET=1 set before import.
    """
    return run_chunked_scan(
        "scan_triton_gla", _GlaTriton, q, k, v, g, per_channel=True,
        scale=scale, initial_state=initial_state, output_final_state=output_final_state,
        cu_seqlens=cu_seqlens, chunk_size=chunk_size,
    )
