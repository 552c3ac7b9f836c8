"""The forward kernel of the Triton attention, and the in-kernel mask rule the three kernels share.

Layout: one packed row of tokens. q [TQ, H, D], k [TK, H_kv, D], v [TK, H_kv, Dv] (contiguous), where a dense batch
[B, T] is B sequences of T tokens back to back (cu_q = [0, T, 2T, ...], cu_k likewise with S); token t of head h
starts at (t * H + h) * D. lse and delta are [H, TQ] float32 (natural-log lse). Query head h reads key/value head
h // G (G = H / H_kv). Sequence n's queries are cu_q[n]..cu_q[n+1], its keys cu_k[n]..cu_k[n+1]; query row i sits at
absolute position p = i + S_n - T_n (bottom-right alignment).

Tile tables (kernels/attention/tiles.py) are [NT, tiles, ...] with NT = N under varlen and NT = 1 for a dense batch
(every row shares the lengths): the kernels read sequence n's lists at n * PER_SEQ. The BigBird block layout is
[NT, NB, NB] int8 likewise; the global-token flags are [max S_n] int8 over positions within a sequence.
"""

from __future__ import annotations

import triton
import triton.language as tl

LOG2E = tl.constexpr(1.4426950408889634)
LN2 = tl.constexpr(0.6931471805599453)


@triton.jit
def _seen(
    p, j, m_p, m_j, glob, lay, i_t, lay_nb, lay_bs, left, right,
    BM: tl.constexpr, BN: tl.constexpr,
    CAUSAL: tl.constexpr, DENSE: tl.constexpr,
    HAS_WINDOW: tl.constexpr, HAS_GLOBAL: tl.constexpr, HAS_LAYOUT: tl.constexpr,
):
    """`mask.allowed` on a tile: p [BM] absolute query positions, j [BN] key positions (m_p, m_j: which exist)
    -> [BM, BN] bool. left/right: the effective window (-1 unbounded); lay: the [NT, NB, NB] layouts, of which
    this sequence reads number i_t."""
    if DENSE:
        seen = tl.full([BM, BN], 1, tl.int1)
    else:
        seen = tl.full([BM, BN], 0, tl.int1)
        if HAS_WINDOW:
            d = j[None, :] - p[:, None]
            seen = seen | (((left < 0) | (d >= -left)) & ((right < 0) | (d <= right)))
        if HAS_GLOBAL:
            g_q = tl.load(glob + p, mask=m_p, other=0) != 0
            g_k = tl.load(glob + j, mask=m_j, other=0) != 0
            seen = seen | g_q[:, None] | g_k[None, :]
        if HAS_LAYOUT:
            blocks = (p // lay_bs)[:, None] * lay_nb + (j // lay_bs)[None, :]
            p_lay = lay + i_t.to(tl.int64) * lay_nb * lay_nb + blocks
            b_lay = tl.load(p_lay, mask=m_p[:, None] & m_j[None, :], other=0)
            seen = seen | (b_lay != 0)
    if CAUSAL:
        seen = seen & (j[None, :] <= p[:, None])
    return seen


@triton.jit
def _fwd_kernel(
    q, k, v, o, lse, cu_q, cu_k, glob, lay, kv_count, kv_index, kv_full, trace,
    qk_scale, H, G, TQ, QT, KT, MAX_KV, PER_SEQ, left, right, lay_nb, lay_bs,
    D: tl.constexpr, DV: tl.constexpr, BD: tl.constexpr, BDV: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
    CAUSAL: tl.constexpr, DENSE: tl.constexpr, HAS_WINDOW: tl.constexpr, HAS_GLOBAL: tl.constexpr,
    HAS_LAYOUT: tl.constexpr, TRACE: tl.constexpr, DOT: tl.constexpr,
):
    """o and lse of one query tile of one (sequence, head). Grid (QT, N * H). Online softmax in base 2
    (qk_scale = scale * log2 e) over the key tiles of the tile table's visit list, float32 accumulation; the token
    mask only on tiles the table does not mark full (the key range is masked on every tile). Rows that see no
    key give o = 0 and lse = -inf."""
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
    i_t = i_n * PER_SEQ  # this sequence's tables

    o_m = i_m * BM + tl.arange(0, BM)
    m_m = o_m < q_len
    pos = o_m + (k_len - q_len)
    o_d = tl.arange(0, BD)
    o_dv = tl.arange(0, BDV)
    m_d = o_d < D
    m_dv = o_dv < DV
    r_q = (q_bos + o_m) * H + i_h
    b_q = tl.load(q + r_q[:, None] * D + o_d[None, :], mask=m_m[:, None] & m_d[None, :], other=0)

    b_mx = tl.full([BM], float("-inf"), tl.float32)
    b_l = tl.zeros([BM], dtype=tl.float32)
    b_acc = tl.zeros([BM, BDV], dtype=tl.float32)
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
        b_kt = tl.load(k + r_k[None, :] * D + o_d[:, None], mask=m_d[:, None] & m_n[None, :], other=0)  # [BD, BN]
        b_v = tl.load(v + r_k[:, None] * DV + o_dv[None, :], mask=m_n[:, None] & m_dv[None, :], other=0)
        b_s = tl.dot(b_q, b_kt, input_precision=DOT) * qk_scale
        b_s = tl.where(m_n[None, :], b_s, float("-inf"))
        if full == 0:
            seen = _seen(pos, o_n, m_m, m_n, glob, lay, i_t, lay_nb, lay_bs, left, right, BM, BN,
                         CAUSAL, DENSE, HAS_WINDOW, HAS_GLOBAL, HAS_LAYOUT)
            b_s = tl.where(seen, b_s, float("-inf"))
        b_new = tl.maximum(b_mx, tl.max(b_s, 1))
        b_ref = tl.where(b_new == float("-inf"), 0.0, b_new)  # rows with nothing seen yet: exp2(-inf) = 0
        b_p = tl.exp2(b_s - b_ref[:, None])
        b_alpha = tl.exp2(b_mx - b_ref)
        b_l = b_l * b_alpha + tl.sum(b_p, 1)
        b_acc = b_acc * b_alpha[:, None] + tl.dot(b_p.to(b_v.dtype), b_v, input_precision=DOT)
        b_mx = b_new

    some = b_l > 0
    b_o = b_acc / tl.where(some, b_l, 1.0)[:, None]
    b_lse = tl.where(some, (b_mx + tl.log2(tl.where(some, b_l, 1.0))) * LN2, float("-inf"))
    r_o = (q_bos + o_m) * H + i_h
    tl.store(o + r_o[:, None] * DV + o_dv[None, :], b_o.to(o.dtype.element_ty), mask=m_m[:, None] & m_dv[None, :])
    tl.store(lse + i_h.to(tl.int64) * TQ + q_bos + o_m, b_lse, mask=m_m)
