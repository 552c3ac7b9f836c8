"""The mLSTM in Triton, backward kernels (the math and notation: triton_mlstm.py and triton_mlstm_fwd.py).

The backward differentiates the same function as autograd does through the chunked form: every max is a
path, m_t being b_t + m_0 (the state's term, also on ties) or one D_tj (its first argmax), and m_t's
gradient flows along that path only. With du_t = dh_t / d_t, hh_t = dh_t . h_t and
ds_t = -hh_t / d_t sign(s_t) where |s_t| > exp(-m_t) (else 0):
  - the state gradients run backwards: dC_0 = exp(b_L + m_0 - m_L) dC' + sum_t exp(b_t + m_0 - m_t)
    q_t du_t^T, dn_0 likewise with ds_t (`_state_bwd_kernel`);
  - m_t's own gradient is dm_t = -eps hh_t / d_t (h depends on the stabiliser only through eps: this is
    the weights' -u_t . du_t - s_t ds_t plus the denominator's gm_t = hh_t exp(-m_t) / d_t where
    exp(-m_t) wins); at L add G = dm' - <dC', C'> - <dn', n'>, the gradient of m' beyond the explicit
    m'-dependence of the stabilised C', n'. G obeys a scalar recursion over the chunks, independent of
    dC: G_prev = sum of (dm_t + [t = L] G) over the tokens whose m_t is the state's term
    (`_bwd_prep_kernel`, `_dm_scan_kernel`);
  - per chunk: dv, dq, dk from the masked score blocks (`_dv_kernel`, `_dqk_kernel`), and the gates
    (`_dgate_kernel`): di_t = k_t . dk_t + r_t and db_t = gm_t - k_t . dk_t - r_t + [t = L] (<dC', C'> +
    <dn', n'> + G), with r_t the sum of dm_u + [u = L] G over the tokens u whose m_u is D_ut; df is the
    reverse cumulative sum of db inside the chunk times d log f / d f;
  - the initial state: dC_init = dC_0, dn_init = dn_0 of the first chunk, and
    dm_init = <dC_init, C_init> + <dn_init, n_init> + G_prev of the first chunk.
The chunk-start states are recomputed by the forward's state kernel rather than kept from the forward.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..triton_common.chunk_output import CHUNK_CONFIGS, CHUNK_KEY
from ..triton_common.chunk_state import STATE_CONFIGS
from ..triton_common.configs import dot_precision
from ..triton_common.layout import ChunkLayout
from ..triton_common.prologue import chunk_rows, sequence_chunks, state_tile
from ..triton_support import interpreting
from .triton_mlstm_fwd import EXP_CAP, chunk_states

# The dq/dk kernel writes its K-block's shares into slots: as many as the smallest BK of the configs needs.
MIN_BK = min(config.kwargs["BK"] for config in CHUNK_CONFIGS)
# The backward's preparation kernel reads h and dh in V-blocks of this size.
TOKEN_BV = 32 if interpreting() else 64


# ---------------------------------------------------------------------------------------------------------
# Kernels (layout as in triton_mlstm_fwd.py)


@triton.jit
def _bwd_prep_kernel(
    h, dh, b, ms, ss, m0s, rd, ds, gm, dmt, ys, ws, cu_seqlens, chunk_indices, eps, H,
    V: tl.constexpr, BT: tl.constexpr, BV: tl.constexpr,
):
    """Per token: rd = 1 / d, ds (gradient of s), gm (of m_t through the denominator), dmt (m_t's own
    gradient); per chunk: ys = the sum of dmt over the tokens whose m_t is the state's term, ws = whether
    m_L is. Grid (chunks, H)."""
    i_c = tl.program_id(0)
    i_h = tl.program_id(1)
    o_t, m_t, last = chunk_rows(cu_seqlens, chunk_indices, i_c, BT)
    r_v = (o_t * H + i_h) * V
    b_hh = tl.zeros([BT], dtype=tl.float32)
    for i_v in range(0, tl.cdiv(V, BV)):
        o_v = i_v * BV + tl.arange(0, BV)
        m_tv = m_t[:, None] & (o_v < V)[None, :]
        b_h = tl.load(h + r_v[:, None] + o_v[None, :], mask=m_tv, other=0).to(tl.float32)
        b_dh = tl.load(dh + r_v[:, None] + o_v[None, :], mask=m_tv, other=0).to(tl.float32)
        b_hh += tl.sum(b_h * b_dh, axis=1)

    b_m = tl.load(ms + o_t * H + i_h, mask=m_t, other=0)
    b_s = tl.load(ss + o_t * H + i_h, mask=m_t, other=0)
    b_exp = tl.exp(tl.minimum(-b_m, EXP_CAP))  # the floor, finite
    b_rd = 1.0 / (tl.maximum(tl.abs(b_s), b_exp) + eps)
    s_wins = tl.abs(b_s) > b_exp
    b_ds = tl.where(s_wins, -b_hh * b_rd * tl.where(b_s > 0, 1.0, -1.0), 0.0)
    b_gm = tl.where(s_wins, 0.0, b_hh * (b_exp / (b_exp + eps)))
    b_dmt = tl.where(m_t, -eps * b_hh * b_rd, 0.0)
    tl.store(rd + o_t * H + i_h, b_rd, mask=m_t)
    tl.store(ds + o_t * H + i_h, b_ds, mask=m_t)
    tl.store(gm + o_t * H + i_h, b_gm, mask=m_t)
    tl.store(dmt + o_t * H + i_h, b_dmt, mask=m_t)

    p = i_c.to(tl.int64) * H + i_h
    m_0 = tl.load(m0s + p)
    b_b = tl.load(b + o_t * H + i_h, mask=m_t, other=0)
    state_wins = (b_b + m_0 >= b_m) & m_t  # m_t = b_t + m_0 (on ties too: the state's)
    tl.store(ys + p, tl.sum(tl.where(state_wins, b_dmt, 0.0), axis=0))
    tl.store(ws + p, tl.where(tl.load(b + last * H + i_h) + m_0 >= tl.load(ms + last * H + i_h), 1.0, 0.0))


@triton.jit
def _dm_scan_kernel(ys, ws, gs, g_fin, g_init, chunk_offsets, H):
    """gs[chunk] = G of the chunk (the gradient of its m' beyond its stabilised C', n'), from
    G = g_fin at the last chunk and G_prev = ys + ws * G; g_init = G before the first chunk. Grid (N*H,)."""
    i_nh = tl.program_id(0)
    i_h = i_nh % H
    c0 = tl.load(chunk_offsets + i_nh // H).to(tl.int64)
    n_chunks = tl.load(chunk_offsets + i_nh // H + 1) - tl.load(chunk_offsets + i_nh // H)
    b_g = tl.load(g_fin + i_nh)
    for j in range(0, n_chunks):
        p = (c0 + n_chunks - 1 - j) * H + i_h
        tl.store(gs + p, b_g)
        b_g = tl.load(ys + p) + tl.load(ws + p) * b_g
    tl.store(g_init + i_nh, b_g)


@triton.autotune(configs=STATE_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _state_bwd_kernel(
    q, dh, rd, ds, b, ms, m0s, dc_end, dn_end, dc_fin, dn_fin, dc_init, dn_init, cu_seqlens, chunk_offsets,
    scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    HAS_DFIN: tl.constexpr, STORE_DINIT: tl.constexpr,
):
    """dC', dn' (the gradients of the state after each chunk) and those of the initial state. Grid
    (K/BK, V/BV, N*H); each program loops over the chunks of its sequence in reverse:
    dC <- exp(b_L + m_0 - m_L) dC + sum_t exp(b_t + m_0 - m_t) q_t du_t^T, dn likewise with ds_t q_t."""
    i_k = tl.program_id(0)
    i_v = tl.program_id(1)
    i_nh = tl.program_id(2)
    i_h = i_nh % H
    bos, eos, c0, n_chunks = sequence_chunks(cu_seqlens, chunk_offsets, i_nh // H)

    o_k, o_v, m_k, m_v, m_kv, kv = state_tile(i_k, i_v, K, V, BK, BV)
    first_v = i_v == 0
    b_dc = tl.zeros([BK, BV], dtype=tl.float32)
    b_dn = tl.zeros([BK], dtype=tl.float32)
    if HAS_DFIN:
        b_dc += tl.load(dc_fin + i_nh.to(tl.int64) * K * V + kv, mask=m_kv, other=0).to(tl.float32)
        b_dn += tl.load(dn_fin + i_nh.to(tl.int64) * K + o_k, mask=m_k, other=0).to(tl.float32)

    for j in range(0, n_chunks):
        c = n_chunks - 1 - j
        p = (c0 + c) * H + i_h
        tl.store(dc_end + p * K * V + kv, b_dc, mask=m_kv)
        tl.store(dn_end + p * K + o_k, b_dn, mask=m_k & first_v)
        t0 = bos + c * BT
        o_t = t0 + tl.arange(0, BT)
        m_t = o_t < eos
        last = (tl.minimum(t0 + BT, eos) - 1) * H + i_h
        m_0 = tl.load(m0s + p)
        b_b = tl.load(b + o_t * H + i_h, mask=m_t, other=0)
        b_m = tl.load(ms + o_t * H + i_h, mask=m_t, other=0)
        b_e = tl.exp(tl.where(m_t, b_b + m_0 - b_m, float("-inf"))) * scale
        keep = tl.exp(tl.load(b + last) + m_0 - tl.load(ms + last))
        r_k = (o_t * H + i_h) * K
        r_v = (o_t * H + i_h) * V
        b_qt = tl.load(q + r_k[None, :] + o_k[:, None], mask=m_k[:, None] & m_t[None, :], other=0)
        b_qe = b_qt.to(tl.float32) * b_e[None, :]  # [BK, BT]
        b_dh = tl.load(dh + r_v[:, None] + o_v[None, :], mask=m_t[:, None] & m_v[None, :], other=0)
        b_du = b_dh.to(tl.float32) * tl.load(rd + o_t * H + i_h, mask=m_t, other=0)[:, None]
        b_ds = tl.load(ds + o_t * H + i_h, mask=m_t, other=0)
        b_dc = b_dc * keep + tl.dot(b_qe, b_du, input_precision=DOT)
        b_dn = b_dn * keep + tl.sum(b_qe * b_ds[None, :], axis=1)

    if STORE_DINIT:
        tl.store(dc_init + i_nh.to(tl.int64) * K * V + kv, b_dc, mask=m_kv)
        tl.store(dn_init + i_nh.to(tl.int64) * K + o_k, b_dn, mask=m_k & first_v)


@triton.autotune(configs=CHUNK_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _dv_kernel(
    q, k, i, b, ms, dh, rd, dc_end, dv, cu_seqlens, chunk_indices, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
):
    """dv_j = sum_{t >= j} exp(D_tj - m_t) (q_t . k_j) du_t + exp(D_Lj - m_L) dC'^T k_j for one chunk and
    V-block. Grid (V/BV, chunks, H)."""
    i_v = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    o_t, m_t, last = chunk_rows(cu_seqlens, chunk_indices, i_c, BT)
    o_i = tl.arange(0, BT)
    r_k = (o_t * H + i_h) * K
    r_v = (o_t * H + i_h) * V
    o_v = i_v * BV + tl.arange(0, BV)
    m_v = o_v < V
    m_tv = m_t[:, None] & m_v[None, :]
    p = i_c.to(tl.int64) * H + i_h

    b_kd = tl.zeros([BT, BV], dtype=tl.float32)  # K dC'
    b_at = tl.zeros([BT, BT], dtype=tl.float32)  # [j, t] = k_j . q_t
    for i_k in range(0, tl.cdiv(K, BK)):
        o_k = i_k * BK + tl.arange(0, BK)
        m_k = o_k < K
        b_k = tl.load(k + r_k[:, None] + o_k[None, :], mask=m_t[:, None] & m_k[None, :], other=0)
        b_qt = tl.load(q + r_k[None, :] + o_k[:, None], mask=m_k[:, None] & m_t[None, :], other=0)
        m_kv = m_k[:, None] & m_v[None, :]
        b_dce = tl.load(dc_end + p * K * V + o_k[:, None] * V + o_v[None, :], mask=m_kv, other=0)
        b_at += tl.dot(b_k, b_qt, input_precision=DOT)
        b_kd += tl.dot(b_k.to(tl.float32), b_dce, input_precision="ieee")

    b_b = tl.load(b + o_t * H + i_h, mask=m_t, other=0)
    b_i = tl.load(i + o_t * H + i_h, mask=m_t, other=0).to(tl.float32)
    b_m = tl.load(ms + o_t * H + i_h, mask=m_t, other=0)
    b_last = tl.load(b + last * H + i_h)
    m_last = tl.load(ms + last * H + i_h)
    b_w = tl.exp(tl.where(m_t, b_last - b_b + b_i - m_last, float("-inf")))  # exp(D_Lj - m_L)
    causal = (o_i[:, None] <= o_i[None, :]) & m_t[None, :]  # [j, t]: j <= t < end
    b_ldt = tl.where(causal, b_b[None, :] - b_b[:, None] + b_i[:, None] - b_m[None, :], float("-inf"))
    b_at = b_at * tl.exp(b_ldt) * scale
    b_dh = tl.load(dh + r_v[:, None] + o_v[None, :], mask=m_tv, other=0).to(tl.float32)
    b_du = b_dh * tl.load(rd + o_t * H + i_h, mask=m_t, other=0)[:, None]
    b_dv = tl.dot(b_at, b_du, input_precision="ieee") + b_w[:, None] * b_kd
    tl.store(dv + r_v[:, None] + o_v[None, :], b_dv, mask=m_tv)


@triton.autotune(configs=CHUNK_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _dqk_kernel(
    q, k, v, i, b, ms, m0s, c0s, n0s, dh, rd, ds, dc_end, dn_end, dq, dk, kdk, xs, cu_seqlens, chunk_indices,
    scale, T, NT, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    PARTS: tl.constexpr,
):
    """dq, dk for one chunk and K-block; and this K-block's share of k_t . dk_t (into kdk[i_k]) and of
    <dC', C'> + <dn', n'> (into xs[i_k]), among PARTS slots (the K-blocks of the smallest BK: the block-0
    program zeroes the slots its config leaves unused, so that nothing depends on which configs ran
    before, autotuning included). Grid (K/BK, chunks, H)."""
    i_k = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    o_t, m_t, last = chunk_rows(cu_seqlens, chunk_indices, i_c, BT)
    o_i = tl.arange(0, BT)
    r_k = (o_t * H + i_h) * K
    r_v = (o_t * H + i_h) * V
    o_k = i_k * BK + tl.arange(0, BK)
    m_k = o_k < K
    m_tk = m_t[:, None] & m_k[None, :]
    p = i_c.to(tl.int64) * H + i_h
    b_rd = tl.load(rd + o_t * H + i_h, mask=m_t, other=0)

    b_dp = tl.zeros([BT, BT], dtype=tl.float32)  # [t, j] = du_t . v_j
    b_dqc = tl.zeros([BT, BK], dtype=tl.float32)  # dU C_0^T
    b_dkv = tl.zeros([BT, BK], dtype=tl.float32)  # V dC'^T
    b_cdc = tl.zeros([BK], dtype=tl.float32)  # <C_0, dC'> over this K-block, per key channel
    for i_v in range(0, tl.cdiv(V, BV)):
        o_v = i_v * BV + tl.arange(0, BV)
        m_v = o_v < V
        m_tv = m_t[:, None] & m_v[None, :]
        m_vk = m_v[:, None] & m_k[None, :]
        kv_t = p * K * V + o_k[None, :] * V + o_v[:, None]
        b_c0t = tl.load(c0s + kv_t, mask=m_vk, other=0)  # C_0^T [BV, BK]
        b_dcet = tl.load(dc_end + kv_t, mask=m_vk, other=0)  # dC'^T
        b_du = tl.load(dh + r_v[:, None] + o_v[None, :], mask=m_tv, other=0).to(tl.float32) * b_rd[:, None]
        b_v = tl.load(v + r_v[:, None] + o_v[None, :], mask=m_tv, other=0).to(tl.float32)
        b_dp += tl.dot(b_du, tl.trans(b_v), input_precision="ieee")
        b_dqc += tl.dot(b_du, b_c0t, input_precision="ieee")
        b_dkv += tl.dot(b_v, b_dcet, input_precision="ieee")
        b_cdc += tl.sum(b_c0t * b_dcet, axis=0)

    m_0 = tl.load(m0s + p)
    b_b = tl.load(b + o_t * H + i_h, mask=m_t, other=0)
    b_i = tl.load(i + o_t * H + i_h, mask=m_t, other=0).to(tl.float32)
    b_m = tl.load(ms + o_t * H + i_h, mask=m_t, other=0)
    b_last = tl.load(b + last * H + i_h)
    m_last = tl.load(ms + last * H + i_h)
    b_e = tl.exp(tl.where(m_t, b_b + m_0 - b_m, float("-inf")))
    b_w = tl.exp(tl.where(m_t, b_last - b_b + b_i - m_last, float("-inf")))  # exp(D_Lj - m_L)
    keep = tl.exp(b_last + m_0 - m_last)
    b_ds = tl.load(ds + o_t * H + i_h, mask=m_t, other=0)
    causal = (o_i[:, None] >= o_i[None, :]) & m_t[:, None]  # [t, j]: j <= t < end
    b_ld = tl.where(causal, b_b[:, None] - b_b[None, :] + b_i[None, :] - b_m[:, None], float("-inf"))
    b_dsc = (b_dp + b_ds[:, None]) * tl.exp(b_ld)

    b_q = tl.load(q + r_k[:, None] + o_k[None, :], mask=m_tk, other=0).to(tl.float32)
    b_k = tl.load(k + r_k[:, None] + o_k[None, :], mask=m_tk, other=0).to(tl.float32)
    b_n0 = tl.load(n0s + p * K + o_k, mask=m_k, other=0)
    b_dne = tl.load(dn_end + p * K + o_k, mask=m_k, other=0)
    b_dq = tl.dot(b_dsc, b_k, input_precision="ieee") + b_e[:, None] * (b_dqc + b_ds[:, None] * b_n0[None, :])
    b_dk_inter = b_w[:, None] * (b_dkv + b_dne[None, :])
    b_dk = tl.dot(tl.trans(b_dsc), b_q, input_precision="ieee") * scale + b_dk_inter
    tl.store(dq + r_k[:, None] + o_k[None, :], b_dq * scale, mask=m_tk)
    tl.store(dk + r_k[:, None] + o_k[None, :], b_dk, mask=m_tk)

    part = (i_k.to(tl.int64) * 0 + T) * H  # int64 stride between the kdk slots
    tl.store(kdk + i_k * part + o_t * H + i_h, tl.sum(b_k * b_dk, axis=1), mask=m_t)
    b_x = keep * (tl.sum(b_cdc, axis=0) + tl.sum(b_n0 * b_dne, axis=0))
    b_x += tl.sum(tl.sum(b_k * b_dk_inter, axis=1), axis=0)
    part_x = (i_k.to(tl.int64) * 0 + NT) * H
    tl.store(xs + i_k * part_x + p, b_x)
    if i_k == 0:
        for i_p in range(tl.cdiv(K, BK), PARTS):
            tl.store(kdk + i_p * part + o_t * H + i_h, tl.zeros([BT], dtype=tl.float32), mask=m_t)
            tl.store(xs + i_p * part_x + p, 0.0)


@triton.jit
def _dgate_kernel(
    i, f, b, ms, m0s, gm, dmt, gs, kdk, xs, di, df, cu_seqlens, chunk_indices, T, NT, H,
    BT: tl.constexpr, PARTS: tl.constexpr, EXP_FORGET: tl.constexpr,
):
    """di, df of one chunk: the K-block shares of k . dk and of the end-state term summed, each m_t's
    gradient routed to its argmax D_tj (the state's share went to G), and the reverse cumulative sum of
    db times d log f / d f. Grid (chunks, H)."""
    i_c = tl.program_id(0)
    i_h = tl.program_id(1)
    o_t, m_t, last = chunk_rows(cu_seqlens, chunk_indices, i_c, BT)
    o_i = tl.arange(0, BT)
    p = i_c.to(tl.int64) * H + i_h

    part = (i_c.to(tl.int64) * 0 + T) * H  # int64 strides between the slots
    part_x = (i_c.to(tl.int64) * 0 + NT) * H
    b_kdk = tl.load(kdk + o_t * H + i_h, mask=m_t, other=0)
    b_x = tl.load(xs + p)
    for i_p in range(1, PARTS):
        b_kdk += tl.load(kdk + i_p * part + o_t * H + i_h, mask=m_t, other=0)
        b_x += tl.load(xs + i_p * part_x + p)

    m_0 = tl.load(m0s + p)
    b_g = tl.load(gs + p)
    b_b = tl.load(b + o_t * H + i_h, mask=m_t, other=0)
    b_i = tl.load(i + o_t * H + i_h, mask=m_t, other=0).to(tl.float32)
    b_m = tl.load(ms + o_t * H + i_h, mask=m_t, other=0)
    # Which term is m_t's maximum: the state's (b_t + m_0, also on ties), or D_tj of its first argmax j
    # (formed as the output kernel formed it, so that equality is exact).
    token_wins = (b_b + m_0 < b_m) & m_t
    causal = (o_i[:, None] >= o_i[None, :]) & m_t[:, None]
    b_ld = tl.where(causal, b_b[:, None] - b_b[None, :] + b_i[None, :], float("-inf"))
    b_arg = tl.min(tl.where(b_ld == b_m[:, None], o_i[None, :], BT), axis=1)
    is_last = o_t == last
    b_dm = tl.load(dmt + o_t * H + i_h, mask=m_t, other=0) + tl.where(is_last, b_g, 0.0)
    routed = (b_arg[:, None] == o_i[None, :]) & token_wins[:, None]  # [t, j]: m_t is D_tj
    b_route = tl.sum(tl.where(routed, b_dm[:, None], 0.0), axis=0)

    b_di = b_kdk + b_route
    b_db = tl.load(gm + o_t * H + i_h, mask=m_t, other=0) - b_di + tl.where(is_last, b_x + b_g, 0.0)
    b_db = tl.where(m_t, b_db, 0.0)
    b_df = tl.sum(b_db, axis=0) - tl.cumsum(b_db, axis=0) + b_db
    if not EXP_FORGET:  # d logsigmoid(f) / df = sigmoid(-f)
        b_f = tl.load(f + o_t * H + i_h, mask=m_t, other=0).to(tl.float32)
        b_df = b_df / (1.0 + tl.exp(b_f))
    tl.store(di + o_t * H + i_h, b_di, mask=m_t)
    tl.store(df + o_t * H + i_h, b_df, mask=m_t)


def _inner(a: Tensor | None, b: Tensor | None, dims: int) -> Tensor | int:
    """<a, b> over the last `dims` axes (0 when either is None)."""
    if a is None or b is None:
        return 0
    return (a.float() * b.float()).sum(tuple(range(-dims, 0)))



# ---------------------------------------------------------------------------------------------------------
# Host side


def mlstm_backward(
    q, k, v, i, f, state, h, saved, dh, final, d_final, scale, eps, exp_forget, layout: ChunkLayout, chunk_size
):
    """The backward pass on packed rows: state (C, n, m) or (None, None, m) float32 as the forward took it, h
    and saved = (b, m_t, s_t) from the forward, dh [T, H, V], final = the forward's final (C, n) or Nones, and
    d_final = their gradients and that of the final m (each None when absent). Returns (dq, dk, dv in their
    inputs' dtype, di, df [T, H] float32, and (dC, dn, dm) of the initial state float32, or None without one)."""
    length, heads, key_dim = q.shape
    value_dim = v.shape[-1]
    num_chunks, num_states = layout.num_chunks, layout.num_sequences
    chunks, sequences = (layout.cu_seqlens, layout.chunk_indices), (layout.cu_seqlens, layout.chunk_offsets)
    dot = dot_precision(q.dtype)
    b, ms, ss = saved
    c_init, n_init, m_start = state
    c_fin, n_fin = final
    dc_fin, dn_fin, dm_fin = d_final
    has_dfin = dc_fin is not None or dn_fin is not None
    if has_dfin:
        dc_fin = torch.zeros_like(c_fin) if dc_fin is None else dc_fin.float().contiguous()
        dn_fin = torch.zeros_like(n_fin) if dn_fin is None else dn_fin.float().contiguous()
    # G of the last chunk: the gradient of the final m beyond the explicit m-dependence of C = exp(-m) C~.
    g_fin = -_inner(dc_fin, c_fin, 2) - _inner(dn_fin, n_fin, 1)
    g_fin = (torch.zeros_like(m_start) + g_fin + (0 if dm_fin is None else dm_fin.float())).contiguous()

    (c0s, n0s, m0s), _ = chunk_states(k, v, i, b, state, layout, chunk_size, store_final=False)
    token = lambda: torch.empty(length, heads, device=q.device, dtype=torch.float32)  # noqa: E731
    rd, ds, gm, dmt = token(), token(), token(), token()
    ys, ws, gs = (torch.empty(num_chunks, heads, device=q.device, dtype=torch.float32) for _ in range(3))
    g_init = torch.empty_like(m_start)
    if num_chunks:
        _bwd_prep_kernel[(num_chunks, heads)](
            h, dh, b, ms, ss, m0s, rd, ds, gm, dmt, ys, ws, *chunks, eps, heads,
            V=value_dim, BT=chunk_size, BV=TOKEN_BV,
        )
    _dm_scan_kernel[(num_states * heads,)](ys, ws, gs, g_fin, g_init, layout.chunk_offsets, heads)

    dc_end = torch.empty_like(c0s)
    dn_end = torch.empty_like(n0s)
    has_init = c_init is not None
    dc_init = torch.empty_like(c_init, dtype=torch.float32) if has_init else None
    dn_init = torch.empty_like(n_init, dtype=torch.float32) if has_init else None

    def state_grid(meta):
        return (triton.cdiv(key_dim, meta["BK"]), triton.cdiv(value_dim, meta["BV"]), num_states * heads)

    _state_bwd_kernel[state_grid](
        q, dh, rd, ds, b, ms, m0s, dc_end, dn_end, dc_fin, dn_fin, dc_init, dn_init, *sequences, scale, heads,
        K=key_dim, V=value_dim, BT=chunk_size, DOT=dot, HAS_DFIN=has_dfin, STORE_DINIT=has_init,
    )

    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    di = torch.empty(length, heads, device=q.device, dtype=torch.float32)
    df = torch.empty_like(di)
    parts = triton.cdiv(key_dim, MIN_BK)
    kdk = torch.empty(parts, length, heads, device=q.device, dtype=torch.float32)
    xs = torch.empty(parts, num_chunks, heads, device=q.device, dtype=torch.float32)
    if num_chunks:
        grid = lambda meta: (triton.cdiv(value_dim, meta["BV"]), num_chunks, heads)  # noqa: E731
        _dv_kernel[grid](
            q, k, i, b, ms, dh, rd, dc_end, dv, *chunks, scale, heads, K=key_dim, V=value_dim, BT=chunk_size, DOT=dot,
        )
        grid = lambda meta: (triton.cdiv(key_dim, meta["BK"]), num_chunks, heads)  # noqa: E731
        _dqk_kernel[grid](
            q, k, v, i, b, ms, m0s, c0s, n0s, dh, rd, ds, dc_end, dn_end, dq, dk, kdk, xs, *chunks,
            scale, length, num_chunks, heads, K=key_dim, V=value_dim, BT=chunk_size, DOT=dot, PARTS=parts,
        )
        _dgate_kernel[(num_chunks, heads)](
            i, f, b, ms, m0s, gm, dmt, gs, kdk, xs, di, df, *chunks, length, num_chunks, heads,
            BT=chunk_size, PARTS=parts, EXP_FORGET=exp_forget,
        )
    if not has_init:
        return dq, dk, dv, di, df, None
    # C = exp(-m) C~ for the true memory C~: m's gradient holds <dC, C> + <dn, n>.
    dm_init = _inner(dc_init, c_init, 2) + _inner(dn_init, n_init, 1) + g_init
    return dq, dk, dv, di, df, (dc_init, dn_init, dm_init)
