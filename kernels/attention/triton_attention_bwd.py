"""The backward kernels of the Triton attention (FlashAttention-2's split): with P = exp(scale Q K^T - lse) under the
mask, dP = dO V^T and dS = P o (dP - delta),

    delta_i = sum_d dO_id O_id - dlse_i,    dV = P^T dO,    dK = scale dS^T Q,    dQ = scale dS K.

(An incoming gradient on lse adds P o dlse to dS, which is the `- dlse` in delta.) Rows with lse = -inf saw no key:
their P is 0 (lse is replaced by +inf before the exponential), so they add nothing and get dq = 0.

Kernels (layout as in triton_attention_fwd):
  1. `_delta_kernel`  delta [H, TQ] float32, grid (query blocks, H).
  2. `_dkdv_kernel`   one program per (key tile, sequence x key/value head): for each query head of the GQA group in
                      turn and each query tile in the tile table's list of tiles that see this key tile (q_count,
                      q_index, q_full), accumulates dK and dV in float32 registers; stores them once. Summing the
                      group inside the program keeps dK/dV deterministic without atomics or a [TK, H, D] float32
                      buffer per query head, at the price of G times less parallelism over heads (the key tiles
                      and sequences still give KT * N * H_kv programs).
  3. `_dq_kernel`     one program per (query tile, sequence x head) over its key visit list (kv_count, kv_index,
                      kv_full), as the forward.
"""

from __future__ import annotations

import triton
import triton.language as tl

from .triton_attention_fwd import LOG2E, _seen


@triton.jit
def _delta_kernel(o, do, dlse, delta, TQ, H, DV: tl.constexpr, BDV: tl.constexpr, BT: tl.constexpr,
                  HAS_DLSE: tl.constexpr):
    """delta[h, t] = sum_d o[t, h, d] dO[t, h, d] (- dlse[h, t]). Grid (cdiv(TQ, BT), H)."""
    i_t = tl.program_id(0)
    i_h = tl.program_id(1)
    o_t = i_t * BT + tl.arange(0, BT)
    m_t = o_t < TQ
    o_dv = tl.arange(0, BDV)
    r = (o_t.to(tl.int64) * H + i_h)[:, None] * DV + o_dv[None, :]
    m = m_t[:, None] & (o_dv < DV)[None, :]
    b_o = tl.load(o + r, mask=m, other=0).to(tl.float32)
    b_do = tl.load(do + r, mask=m, other=0).to(tl.float32)
    b_delta = tl.sum(b_o * b_do, 1)
    r_h = i_h.to(tl.int64) * TQ + o_t
    if HAS_DLSE:
        b_delta -= tl.load(dlse + r_h, mask=m_t, other=0)
    tl.store(delta + r_h, b_delta, mask=m_t)


@triton.jit
def _dkdv_kernel(
    q, k, v, do, lse, delta, dk, dv, cu_q, cu_k, glob, lay, q_count, q_index, q_full, trace,
    qk_scale, scale, H, G, TQ, QT, KT, MAX_Q, PER_SEQ, left, right, lay_nb, lay_bs,
    D: tl.constexpr, DV: tl.constexpr, BD: tl.constexpr, BDV: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
    CAUSAL: tl.constexpr, DENSE: tl.constexpr, HAS_WINDOW: tl.constexpr, HAS_GLOBAL: tl.constexpr,
    HAS_LAYOUT: tl.constexpr, TRACE: tl.constexpr, DOT: tl.constexpr,
):
    """dK, dV of one key tile of one (sequence, key/value head), summed over the G query heads that read it.
    Grid (KT, N * H_kv)."""
    i_kt = tl.program_id(0)
    i_nh = tl.program_id(1)
    H_KV = H // G
    i_n = i_nh // H_KV
    i_hk = i_nh % H_KV
    q_bos = tl.load(cu_q + i_n).to(tl.int64)
    q_len = tl.load(cu_q + i_n + 1).to(tl.int64) - q_bos
    k_bos = tl.load(cu_k + i_n).to(tl.int64)
    k_len = tl.load(cu_k + i_n + 1).to(tl.int64) - k_bos
    i_t = i_n * PER_SEQ

    o_n = i_kt * BN + tl.arange(0, BN)
    m_n = o_n < k_len
    o_d = tl.arange(0, BD)
    o_dv = tl.arange(0, BDV)
    m_d = o_d < D
    m_dv = o_dv < DV
    r_k = (k_bos + o_n) * H_KV + i_hk
    b_k = tl.load(k + r_k[:, None] * D + o_d[None, :], mask=m_n[:, None] & m_d[None, :], other=0)
    b_v = tl.load(v + r_k[:, None] * DV + o_dv[None, :], mask=m_n[:, None] & m_dv[None, :], other=0)
    b_dk = tl.zeros([BN, BD], dtype=tl.float32)
    b_dv = tl.zeros([BN, BDV], dtype=tl.float32)

    col = (i_t * KT + i_kt).to(tl.int64)
    count = tl.load(q_count + col)
    for g in range(0, G):
        i_h = i_hk * G + g
        for t in range(0, count):
            i_m = tl.load(q_index + col * MAX_Q + t)
            full = tl.load(q_full + col * MAX_Q + t)
            if TRACE:
                tl.store(trace + ((i_n.to(tl.int64) * H + i_h) * KT + i_kt) * QT + i_m, 1)
            o_m = i_m * BM + tl.arange(0, BM)
            m_m = o_m < q_len
            pos = o_m + (k_len - q_len)
            r_q = (q_bos + o_m) * H + i_h
            b_q = tl.load(q + r_q[:, None] * D + o_d[None, :], mask=m_m[:, None] & m_d[None, :], other=0)
            b_do = tl.load(do + r_q[:, None] * DV + o_dv[None, :], mask=m_m[:, None] & m_dv[None, :], other=0)
            r_h = i_h.to(tl.int64) * TQ + q_bos + o_m
            b_lse = tl.load(lse + r_h, mask=m_m, other=float("-inf"))
            b_lse = tl.where(b_lse == float("-inf"), float("inf"), b_lse * LOG2E)
            b_delta = tl.load(delta + r_h, mask=m_m, other=0)

            b_s = tl.dot(b_q, tl.trans(b_k), input_precision=DOT) * qk_scale
            b_s = tl.where(m_n[None, :], b_s, float("-inf"))
            if full == 0:
                seen = _seen(pos, o_n, m_m, m_n, glob, lay, i_t, lay_nb, lay_bs, left, right, BM, BN,
                             CAUSAL, DENSE, HAS_WINDOW, HAS_GLOBAL, HAS_LAYOUT)
                b_s = tl.where(seen, b_s, float("-inf"))
            b_p = tl.exp2(b_s - b_lse[:, None])
            b_dv += tl.dot(tl.trans(b_p.to(b_do.dtype)), b_do, input_precision=DOT)
            b_dp = tl.dot(b_do, tl.trans(b_v), input_precision=DOT)
            b_ds = b_p * (b_dp - b_delta[:, None])
            b_dk += tl.dot(tl.trans(b_ds.to(b_q.dtype)), b_q, input_precision=DOT)

    tl.store(dk + r_k[:, None] * D + o_d[None, :], (b_dk * scale).to(dk.dtype.element_ty),
             mask=m_n[:, None] & m_d[None, :])
    tl.store(dv + r_k[:, None] * DV + o_dv[None, :], b_dv.to(dv.dtype.element_ty), mask=m_n[:, None] & m_dv[None, :])


@triton.jit
def _dq_kernel(
    q, k, v, do, lse, delta, dq, cu_q, cu_k, glob, lay, kv_count, kv_index, kv_full, trace,
    qk_scale, scale, H, G, TQ, QT, KT, MAX_KV, PER_SEQ, left, right, lay_nb, lay_bs,
    D: tl.constexpr, DV: tl.constexpr, BD: tl.constexpr, BDV: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
    CAUSAL: tl.constexpr, DENSE: tl.constexpr, HAS_WINDOW: tl.constexpr, HAS_GLOBAL: tl.constexpr,
    HAS_LAYOUT: tl.constexpr, TRACE: tl.constexpr, DOT: tl.constexpr,
):
    """dQ of one query tile of one (sequence, head) over its key visit list. Grid (QT, N * H)."""
    i_m = tl.program_id(0)
    i_nh = tl.program_id(1)
    i_n = i_nh // H
    i_h = i_nh % H
    i_hk = i_h // G
    H_KV = H // G
    q_bos = tl.load(cu_q + i_n).to(tl.int64)
    q_len = tl.load(cu_q + i_n + 1).to(tl.int64) - q_bos
    k_bos = tl.load(cu_k + i_n).to(tl.int64)
    k_len = tl.load(cu_k + i_n + 1).to(tl.int64) - k_bos
    i_t = i_n * PER_SEQ

    o_m = i_m * BM + tl.arange(0, BM)
    m_m = o_m < q_len
    pos = o_m + (k_len - q_len)
    o_d = tl.arange(0, BD)
    o_dv = tl.arange(0, BDV)
    m_d = o_d < D
    m_dv = o_dv < DV
    r_q = (q_bos + o_m) * H + i_h
    b_q = tl.load(q + r_q[:, None] * D + o_d[None, :], mask=m_m[:, None] & m_d[None, :], other=0)
    b_do = tl.load(do + r_q[:, None] * DV + o_dv[None, :], mask=m_m[:, None] & m_dv[None, :], other=0)
    r_h = i_h.to(tl.int64) * TQ + q_bos + o_m
    b_lse = tl.load(lse + r_h, mask=m_m, other=float("-inf"))
    b_lse = tl.where(b_lse == float("-inf"), float("inf"), b_lse * LOG2E)
    b_delta = tl.load(delta + r_h, mask=m_m, other=0)
    b_dq = tl.zeros([BM, BD], dtype=tl.float32)

    row = (i_t * QT + i_m).to(tl.int64)
    count = tl.load(kv_count + row)
    for t in range(0, count):
        i_k = tl.load(kv_index + row * MAX_KV + t)
        full = tl.load(kv_full + row * MAX_KV + t)
        if TRACE:
            tl.store(trace + (i_nh.to(tl.int64) * QT + i_m) * KT + i_k, 1)
        o_n = i_k * BN + tl.arange(0, BN)
        m_n = o_n < k_len
        r_k = (k_bos + o_n) * H_KV + i_hk
        b_k = tl.load(k + r_k[:, None] * D + o_d[None, :], mask=m_n[:, None] & m_d[None, :], other=0)
        b_vt = tl.load(v + r_k[None, :] * DV + o_dv[:, None], mask=m_dv[:, None] & m_n[None, :], other=0)
        b_s = tl.dot(b_q, tl.trans(b_k), input_precision=DOT) * qk_scale
        b_s = tl.where(m_n[None, :], b_s, float("-inf"))
        if full == 0:
            seen = _seen(pos, o_n, m_m, m_n, glob, lay, i_t, lay_nb, lay_bs, left, right, BM, BN,
                         CAUSAL, DENSE, HAS_WINDOW, HAS_GLOBAL, HAS_LAYOUT)
            b_s = tl.where(seen, b_s, float("-inf"))
        b_p = tl.exp2(b_s - b_lse[:, None])
        b_dp = tl.dot(b_do, b_vt, input_precision=DOT)
        b_ds = b_p * (b_dp - b_delta[:, None])
        b_dq += tl.dot(b_ds.to(b_k.dtype), b_k, input_precision=DOT)

    tl.store(dq + r_q[:, None] * D + o_d[None, :], (b_dq * scale).to(dq.dtype.element_ty),
             mask=m_m[:, None] & m_d[None, :])
