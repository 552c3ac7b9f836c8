"""The mLSTM in Triton: chunkwise forward and backward kernels in a `torch.autograd.Function`, with the
semantics and the stabilisation of `mlstm_chunked` (and so of `mlstm_reference`).

Per chunk of C tokens (q already scaled), with b_t the cumulative log forget gate inside the chunk
(inclusive), L the chunk's last token and (C_0, n_0, m_0) the state before the chunk, as `mlstm_chunked`:

    D_tj = b_t - b_j + i_j  (j <= t),   m_t = max(b_t + m_0, max_j D_tj)   (the recurrent m_t exactly)
    u_t = sum_{j <= t} exp(D_tj - m_t) (q_t . k_j) v_j + exp(b_t + m_0 - m_t) C_0^T q_t      (= C_t^T q_t)
    s_t = sum_{j <= t} exp(D_tj - m_t) (q_t . k_j)     + exp(b_t + m_0 - m_t) n_0 . q_t      (= n_t . q_t)
    h_t = u_t / d_t,   d_t = max(|s_t|, exp(-m_t)) + eps
    m' = m_L,   C' = exp(b_L + m_0 - m_L) C_0 + sum_j exp(D_Lj - m_L) k_j v_j^T,   n' likewise with k_j

Every exponent is <= 0, whatever the gates. b is summed in float64 (then stored in float32), as the
differences b_t - b_j set the accuracy of every weight.

Forward kernels:
  1. `_gates_kernel`       b from f (logsigmoid or identity), grid (chunks, H).
  2. `_state_fwd_kernel`   one program per (K-block, V-block, sequence x head) loops over the chunks of
                           its sequence: stores (C_0, n_0, m_0) of every chunk and the final state.
  3. `_output_kernel`      one program per (V-block, chunk, head): h, and m_t, s_t for the backward.

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
The chunk-start states are recomputed by kernel 2 rather than kept from the forward.

Varlen is native, as in `triton_scan`: a dense batch [B, T] is one packed row with cu_seqlens =
[0, T, 2T, ...]; every kernel walks a list of (sequence, chunk within the sequence) and masks by the end
of its sequence.

Runs on CUDA, and on CPU under TRITON_INTERPRET=1 (set before this module is imported), where every
kernel has a single config instead of autotuning.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..triton_support import interpreting
from ..varlen import check_cu_seqlens
from .checks import check_mlstm_inputs, check_mlstm_options
from .mlstm_gates import FLOOR_EXPONENT_CAP
from .triton_scan import _chunk_layout, _configs, _dot_precision

_INTERPRET = interpreting()
_STATE_CONFIGS = _configs([(32, 32), (64, 64), (32, 64)], warps=[2, 4], stages=[2, 3])
_CHUNK_CONFIGS = _configs([(32, 32), (64, 64), (64, 128), (128, 64)], warps=[4, 8], stages=[2, 3])
_MIN_BK = min(config.kwargs["BK"] for config in _CHUNK_CONFIGS)
_KEY = ["K", "V", "BT"]
# The backward's preparation kernel reads h and dh in V-blocks of this size.
_TOKEN_BV = 32 if _INTERPRET else 64
# The floor exp(-m) of the denominator has its exponent capped as in `mlstm_gates.stabiliser_floor` (float32).
_EXP_CAP = tl.constexpr(FLOOR_EXPONENT_CAP[torch.float32])


# ---------------------------------------------------------------------------------------------------------
# Kernels. Layout: one packed row, q, k [T, H, K], v, h [T, H, V], i, f and the per-token float32 arrays
# [T, H]; per chunk [NT, H, ...] float32; per sequence [N, H, ...]. A chunk program finds its sequence n and
# its chunk c within it in chunk_indices[i_c] = (n, c); its tokens are bos + c * BT + i, valid below eos.


@triton.jit
def _chunk_tokens(cu_seqlens, chunk_indices, i_c, BT: tl.constexpr):
    """(token offsets [BT] int64, valid [BT], last valid token) of chunk i_c."""
    i_n = tl.load(chunk_indices + 2 * i_c)
    c = tl.load(chunk_indices + 2 * i_c + 1).to(tl.int64)
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    t0 = bos + c * BT
    o_t = t0 + tl.arange(0, BT)
    return o_t, o_t < eos, tl.minimum(t0 + BT, eos) - 1


@triton.jit
def _gates_kernel(f, b, cu_seqlens, chunk_indices, H, BT: tl.constexpr, EXP_FORGET: tl.constexpr):
    """b = the within-chunk cumulative log forget gate. Grid (chunks, H)."""
    i_c = tl.program_id(0)
    i_h = tl.program_id(1)
    o_t, m_t, _ = _chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    b_f = tl.load(f + o_t * H + i_h, mask=m_t, other=0).to(tl.float32)
    if not EXP_FORGET:
        # logsigmoid(f) = min(f, 0) - log1p(x), x = exp(-|f|) in (0, 1]; log1p(x) = log(u) x / (u - 1) with
        # u = 1 + x (Kahan's formula: accurate to a few ulps where log(u) alone loses x's low bits).
        b_x = tl.exp(-tl.abs(b_f))
        b_u = 1.0 + b_x
        b_log1p = tl.where(b_u == 1.0, b_x, tl.log(b_u) * (b_x / (b_u - 1.0)))
        b_f = tl.minimum(b_f, 0.0) - b_log1p
    # Summed in float64: b enters every exponent as b_t - b_j, and b reaches tens within a chunk, where
    # float32 accumulation (sequential or a scan tree) adds several ulps of |b| to what the store rounds.
    b_b = tl.cumsum(tl.where(m_t, b_f, 0.0).to(tl.float64), axis=0)
    tl.store(b + o_t * H + i_h, b_b.to(tl.float32), mask=m_t)


@triton.autotune(configs=_STATE_CONFIGS, key=_KEY)
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


@triton.autotune(configs=_CHUNK_CONFIGS, key=_KEY)
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
    o_t, m_t, _ = _chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
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
    b_d = tl.maximum(tl.abs(b_s), tl.exp(tl.minimum(-b_m, _EXP_CAP))) + eps
    tl.store(h + r_v[:, None] + o_v[None, :], b_u / b_d[:, None], mask=m_tv)
    tl.store(ms + o_t * H + i_h, b_m, mask=m_t & (i_v == 0))
    tl.store(ss + o_t * H + i_h, b_s, mask=m_t & (i_v == 0))


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
    o_t, m_t, last = _chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
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
    b_exp = tl.exp(tl.minimum(-b_m, _EXP_CAP))  # the floor, finite
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
    i_n = i_nh // H
    i_h = i_nh % H
    c0 = tl.load(chunk_offsets + i_n).to(tl.int64)
    n_chunks = tl.load(chunk_offsets + i_n + 1) - tl.load(chunk_offsets + i_n)
    b_g = tl.load(g_fin + i_nh)
    for j in range(0, n_chunks):
        p = (c0 + n_chunks - 1 - j) * H + i_h
        tl.store(gs + p, b_g)
        b_g = tl.load(ys + p) + tl.load(ws + p) * b_g
    tl.store(g_init + i_nh, b_g)


@triton.autotune(configs=_STATE_CONFIGS, key=_KEY)
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


@triton.autotune(configs=_CHUNK_CONFIGS, key=_KEY)
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
    o_t, m_t, last = _chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
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


@triton.autotune(configs=_CHUNK_CONFIGS, key=_KEY)
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
    o_t, m_t, last = _chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
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
    o_t, m_t, last = _chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
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


# ---------------------------------------------------------------------------------------------------------
# Host side


def _chunk_states(k, v, i, b, state, cu, offsets, num_chunks, chunk_size, *, store_final):
    """Kernel 2: (C_0 [NT, H, K, V], n_0 [NT, H, K], m_0 [NT, H]) of every chunk, float32, and the final
    state ((C, n, m) [N, H, ...] float32, or None unless store_final). state: (C, n, m) or (None, None, m)."""
    _, heads, key_dim = k.shape
    value_dim = v.shape[-1]
    num_states = offsets.numel() - 1
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
        k, v, i, b, c0s, n0s, m0s, c_init, n_init, m_init, *(final or (None, None, None)), cu, offsets, heads,
        K=key_dim, V=value_dim, BT=chunk_size, DOT=_dot_precision(k.dtype),
        HAS_INIT=c_init is not None, STORE_FINAL=store_final,
    )
    return (c0s, n0s, m0s), final


def _inner(a: Tensor | None, b: Tensor | None, dims: int) -> Tensor | int:
    """<a, b> over the last `dims` axes (0 when either is None)."""
    if a is None or b is None:
        return 0
    return (a.float() * b.float()).sum(tuple(range(-dims, 0)))


class _MLSTMTriton(torch.autograd.Function):
    """On one packed row: q, k [T, H, K], v [T, H, V] (one dtype), i, f [T, H]; initial state C [N, H, K, V],
    n [N, H, K], m [N, H] or three Nones."""

    @staticmethod
    def forward(
        ctx, q, k, v, i, f, c_init, n_init, m_init, scale, eps, exp_forget, cu, chunk_indices, offsets,
        chunk_size, output_final_state,
    ):
        length, heads, key_dim = q.shape
        value_dim = v.shape[-1]
        num_chunks, num_states = chunk_indices.shape[0], offsets.numel() - 1
        dot = _dot_precision(q.dtype)
        b, ms, ss = (torch.empty(length, heads, device=q.device, dtype=torch.float32) for _ in range(3))
        m_start = m_init if m_init is not None else q.new_zeros(num_states, heads, dtype=torch.float32)
        m_start = m_start.float().contiguous()
        state = (c_init, n_init, m_start)
        if num_chunks:
            _gates_kernel[(num_chunks, heads)](
                f, b, cu, chunk_indices, heads, BT=chunk_size, EXP_FORGET=exp_forget
            )
        starts, final = _chunk_states(
            k, v, i, b, state, cu, offsets, num_chunks, chunk_size, store_final=output_final_state
        )
        h = torch.empty_like(v)
        if num_chunks:
            grid = lambda meta: (triton.cdiv(value_dim, meta["BV"]), num_chunks, heads)  # noqa: E731
            _output_kernel[grid](
                q, k, v, i, b, *starts, h, ms, ss, cu, chunk_indices, scale, eps, heads,
                K=key_dim, V=value_dim, BT=chunk_size, DOT=dot,
            )
        final = final or (None, None, None)
        ctx.save_for_backward(
            q, k, v, i, f, c_init, n_init, m_start, h, b, ms, ss, cu, chunk_indices, offsets, *final
        )
        ctx.options = (scale, eps, exp_forget, chunk_size)
        ctx.m_dtype = None if m_init is None else m_init.dtype
        return (h, *final)

    @staticmethod
    def backward(ctx, dh, dc_fin, dn_fin, dm_fin):
        (q, k, v, i, f, c_init, n_init, m_start, h, b, ms, ss, cu, chunk_indices, offsets,
         c_fin, n_fin, _) = ctx.saved_tensors
        scale, eps, exp_forget, chunk_size = ctx.options
        length, heads, key_dim = q.shape
        value_dim = v.shape[-1]
        num_chunks, num_states = chunk_indices.shape[0], offsets.numel() - 1
        dot = _dot_precision(q.dtype)
        dh = torch.zeros_like(v) if dh is None else dh.contiguous()
        has_dfin = dc_fin is not None or dn_fin is not None
        if has_dfin:
            dc_fin = torch.zeros_like(c_fin) if dc_fin is None else dc_fin.float().contiguous()
            dn_fin = torch.zeros_like(n_fin) if dn_fin is None else dn_fin.float().contiguous()
        # G of the last chunk: the gradient of the final m beyond the explicit m-dependence of C = exp(-m) C~.
        g_fin = -_inner(dc_fin, c_fin, 2) - _inner(dn_fin, n_fin, 1)
        g_fin = (torch.zeros_like(m_start) + g_fin + (0 if dm_fin is None else dm_fin.float())).contiguous()

        state = (c_init, n_init, m_start)
        (c0s, n0s, m0s), _ = _chunk_states(
            k, v, i, b, state, cu, offsets, num_chunks, chunk_size, store_final=False
        )
        token = lambda: torch.empty(length, heads, device=q.device, dtype=torch.float32)  # noqa: E731
        rd, ds, gm, dmt = token(), token(), token(), token()
        ys, ws, gs = (torch.empty(num_chunks, heads, device=q.device, dtype=torch.float32) for _ in range(3))
        g_init = torch.empty_like(m_start)
        if num_chunks:
            _bwd_prep_kernel[(num_chunks, heads)](
                h, dh, b, ms, ss, m0s, rd, ds, gm, dmt, ys, ws, cu, chunk_indices, eps, heads,
                V=value_dim, BT=chunk_size, BV=_TOKEN_BV,
            )
        _dm_scan_kernel[(num_states * heads,)](ys, ws, gs, g_fin, g_init, offsets, heads)

        dc_end = torch.empty_like(c0s)
        dn_end = torch.empty_like(n0s)
        has_init = c_init is not None
        dc_init = torch.empty_like(c_init, dtype=torch.float32) if has_init else None
        dn_init = torch.empty_like(n_init, dtype=torch.float32) if has_init else None

        def state_grid(meta):
            return (triton.cdiv(key_dim, meta["BK"]), triton.cdiv(value_dim, meta["BV"]), num_states * heads)

        _state_bwd_kernel[state_grid](
            q, dh, rd, ds, b, ms, m0s, dc_end, dn_end, dc_fin, dn_fin, dc_init, dn_init, cu, offsets,
            scale, heads,
            K=key_dim, V=value_dim, BT=chunk_size, DOT=dot, HAS_DFIN=has_dfin, STORE_DINIT=has_init,
        )

        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        di = torch.empty(length, heads, device=q.device, dtype=torch.float32)
        df = torch.empty_like(di)
        parts = triton.cdiv(key_dim, _MIN_BK)
        kdk = torch.empty(parts, length, heads, device=q.device, dtype=torch.float32)
        xs = torch.empty(parts, num_chunks, heads, device=q.device, dtype=torch.float32)
        if num_chunks:
            grid = lambda meta: (triton.cdiv(value_dim, meta["BV"]), num_chunks, heads)  # noqa: E731
            _dv_kernel[grid](
                q, k, i, b, ms, dh, rd, dc_end, dv, cu, chunk_indices, scale, heads,
                K=key_dim, V=value_dim, BT=chunk_size, DOT=dot,
            )
            grid = lambda meta: (triton.cdiv(key_dim, meta["BK"]), num_chunks, heads)  # noqa: E731
            _dqk_kernel[grid](
                q, k, v, i, b, ms, m0s, c0s, n0s, dh, rd, ds, dc_end, dn_end, dq, dk, kdk, xs, cu,
                chunk_indices, scale, length, num_chunks, heads,
                K=key_dim, V=value_dim, BT=chunk_size, DOT=dot, PARTS=parts,
            )
            _dgate_kernel[(num_chunks, heads)](
                i, f, b, ms, m0s, gm, dmt, gs, kdk, xs, di, df, cu, chunk_indices, length, num_chunks, heads,
                BT=chunk_size, PARTS=parts, EXP_FORGET=exp_forget,
            )
        grads_init = (None, None, None)
        if has_init:  # C = exp(-m) C~ for the true memory C~: m's gradient holds <dC, C> + <dn, n>
            dm_init = _inner(dc_init, c_init, 2) + _inner(dn_init, n_init, 1) + g_init
            grads_init = (dc_init.to(c_init.dtype), dn_init.to(n_init.dtype), dm_init.to(ctx.m_dtype))
        return (
            dq, dk, dv, di.to(i.dtype), df.to(f.dtype), *grads_init,
            None, None, None, None, None, None, None, None,
        )


def mlstm_triton(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    i: Tensor,
    f: Tensor,
    *,
    scale: float | None = None,
    forget_gate: str = "sigmoid",
    eps: float = 1e-6,
    initial_state: tuple[Tensor, Tensor, Tensor] | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor] | None]:
    """Triton form of `mlstm_chunked` (same arguments, results and stabilisation), forward and backward
    in Triton:

        m_t = max(log f_t + m_{t-1}, i_t)
        C_t = exp(log f_t + m_{t-1} - m_t) C_{t-1} + exp(i_t - m_t) k_t v_t^T
        n_t = exp(log f_t + m_{t-1} - m_t) n_{t-1} + exp(i_t - m_t) k_t
        h_t = C_t^T (scale q_t) / (max(|n_t . (scale q_t)|, exp(-m_t)) + eps)

    q, k: [B, T, H, K]; v: [B, T, H, V]; i, f: [B, T, H] gate pre-activations (log f = logsigmoid(f), or
    f when forget_gate == "exp"); scale None means K ** -0.5; initial_state: (C [N, H, K, V], n [N, H, K],
    m [N, H]), zeros when None (N = B, or the number of sequences in cu_seqlens [N + 1] with B == 1);
    chunk_size: tokens per chunk, a power of two >= 16. q, k, v: float16, bfloat16 or float32 (cast to one
    common dtype; float32 matmuls run in full float32, not TF32); gates, states and everything the
    backward accumulates are float32. Gradients flow to q, k, v, i, f and the initial C, n, m (and from
    gradients on the final C, n, m), in their dtypes; the gradient of a max goes to its argmax (the state
    on ties). Varlen runs inside the kernels (no padding); reading the chunk count of cu_seqlens costs one
    device sync.

    Returns (h [B, T, H, V] in q's dtype, final state (C, n, m) float32, or None unless
    output_final_state). Tensors must be on CUDA, or on CPU with TRITON_INTERPRET=1 set before import.
    """
    op = "mlstm_triton"
    check_mlstm_options(op, forget_gate, eps)
    if not isinstance(chunk_size, int) or chunk_size < 16 or chunk_size & (chunk_size - 1):
        raise ValueError(f"{op}: chunk_size must be a power of two >= 16, got {chunk_size}")
    batch, length = q.shape[:2] if q.ndim == 4 else (None, None)
    if cu_seqlens is not None and batch is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    source = "q and v" if cu_seqlens is None else "cu_seqlens, q and v"
    check_mlstm_inputs(
        op, q, k, v, i, f, initial_state,
        lead="B, T", num_states=num_states, state_name="initial_state", state_source=source,
    )
    named = dict(q=q, k=k, v=v, i=i, f=f)
    if initial_state is not None:
        named.update({f"initial_state {part}": t for part, t in zip("Cnm", initial_state)})
    for name, t in named.items():
        if t.dtype not in (torch.float16, torch.bfloat16, torch.float32):
            raise ValueError(
                f"{op}: {name} has dtype {t.dtype}; the Triton kernels take float16, bfloat16 or float32 "
                "(use backend='torch' or 'reference' for float64)"
            )
    if q.device.type != "cuda" and not _INTERPRET:
        raise ValueError(
            f"{op}: tensors are on {q.device}; Triton needs CUDA, or TRITON_INTERPRET=1 set before "
            "zoo.kernels.scan.triton_mlstm is first imported"
        )
    heads, key_dim = q.shape[2:]
    value_dim = v.shape[-1]
    scale = key_dim**-0.5 if scale is None else float(scale)
    dtype = torch.promote_types(torch.promote_types(q.dtype, k.dtype), v.dtype)

    def packed(x: Tensor, dt: torch.dtype) -> Tensor:
        return x.to(dt).reshape(batch * length, *x.shape[2:]).contiguous()

    cu, chunk_indices, offsets = _chunk_layout(cu_seqlens, batch, length, chunk_size, q.device)
    c_init, n_init, m_init = (None, None, None) if initial_state is None else (
        s.contiguous() for s in initial_state
    )
    h, c_fin, n_fin, m_fin = _MLSTMTriton.apply(
        packed(q, dtype), packed(k, dtype), packed(v, dtype), packed(i, i.dtype), packed(f, f.dtype),
        c_init, n_init, m_init, scale, float(eps), forget_gate == "exp", cu, chunk_indices, offsets,
        chunk_size, output_final_state,
    )
    h = h.view(batch, length, heads, value_dim).to(q.dtype)
    return h, ((c_fin, n_fin, m_fin) if output_final_state else None)
