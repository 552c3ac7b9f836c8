"""The delta rule in Triton, backward kernels (the forward's math and notation: triton_delta_fwd.py).

Per chunk, with the gradients dO of the outputs and dS_end of the state after the chunk (q unscaled,
the scale written out):

    dU    = scale (Q K^T o D)^T dO + diag(exp(b_L - b)) K dS_end          (D_ij = exp(b_i - b_j), j <= i)
    dS_0  = gamma_L dS_end + scale (diag(gamma) Q)^T dO - W^T dU

(the sequential part: a reverse pass over the chunks), then, chunk-parallel, through U = U~ - W S_0 and
W = M X, U~ = M Y with X = diag(beta gamma) K, Y = diag(beta) V, M = (I + A)^{-1}:

    dY = M^T dU,   dX = -dY S_0^T,   dA = -strict_tril(dY U^T)      (dM = dW X^T + dU~ Y^T, dA = -M^T dM M^T)
    dV = diag(beta) dY
    dQ = scale [diag(gamma) dO S_0^T + ((dO U^T) o D) K]
    dK = scale ((dO U^T) o D)^T Q + diag(exp(b_L - b)) U dS_end^T + diag(beta gamma) dX + P K + P^T K,
         P = diag(beta) (dA o G),   G_ij = exp(b_i - b_j)
    dbeta_i = k_i . (gamma_i dX_i + ((dA o G) K)_i) + v_i . dY_i

The decay gradient. Taking the b_i as independent variables (every term of o_i and of A's row i carries
exp(+b_i), every term holding k_j as a column of A, a key of the scores or of S_end carries exp(-b_j),
X_i carries gamma_i, and b_L scales all of S_end):

    dL/db_i = q_i . dq_i - k_i . dk^o_i - k_i . dk^s_i + k_i . dk^x_i + k_i . (P K)_i - k_i . (P^T K)_i
              + [i == L] <dS_end, S_end>

with dk^o, dk^s, dk^x the three first terms of dK; dg_t = sum_{u >= t in chunk} dL/db_u (a reverse cumsum;
earlier chunks see g_t only through their state gradient, which the reverse pass carries), and
<dS_end, S_end> = gamma_L <dS_end, S_0> + sum_j k_j . dk^s_j. dbeta and dg are sums over the key axis: each
K-block program writes its partial sums into its own slot, and the host adds the slots.

Backward kernels (W, U and the chunk-start states are recomputed by the forward's kernels 2 and 3, from
the M the forward kept):
  5. `_state_bwd_kernel`   one program per (V-block, sequence x head), a reverse loop over the chunks with
                           the whole key axis: dU of every chunk, dS_end of every chunk, d initial_state.
  6. `_grad_kernel`        one program per (K-block, chunk, head), looping over the V-blocks: dq, dk, dv,
                           and the block's partial dbeta and dg.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..triton_common.configs import block_configs, dot_precision
from ..triton_common.layout import ChunkLayout
from ..triton_common.prologue import chunk_tokens, sequence_chunks, state_tile
from .triton_delta_fwd import KEY, STATE_CONFIGS, padded_key_dim, wy_states

_GRAD_CONFIGS = block_configs(("BK", "BV"), [(32, 32), (64, 64), (64, 32), (32, 64)], warps=[4, 8], stages=[2, 3])
MIN_BK = min(config.kwargs["BK"] for config in _GRAD_CONFIGS)  # sets the number of partial-sum slots


@triton.autotune(configs=STATE_CONFIGS, key=KEY)
@triton.jit
def _state_bwd_kernel(
    q, k, w, do, gc, dh, du, dht, dh0, cu_seqlens, chunk_offsets, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, KP: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    HAS_DHT: tl.constexpr, STORE_DH0: tl.constexpr,
):
    """dh[chunk] = the gradient of the state after each chunk, du = dU (the total gradient of U),
    dh0 = the gradient of the initial state. Grid (V/BV, N*H); each program loops over the chunks of its
    sequence in reverse with the whole key axis (KP >= K)."""
    i_v = tl.program_id(0)
    i_nh = tl.program_id(1)
    i_h = i_nh % H
    bos, eos, c0, n_chunks = sequence_chunks(cu_seqlens, chunk_offsets, i_nh // H)

    o_i = tl.arange(0, BT)
    o_k, o_v, m_k, m_v, m_kv, kv = state_tile(0, i_v, K, V, KP, BV)  # the whole key axis
    b_ds = tl.zeros([KP, BV], dtype=tl.float32)
    if HAS_DHT:
        b_ds += tl.load(dht + i_nh.to(tl.int64) * K * V + kv, mask=m_kv, other=0).to(tl.float32)

    for i in range(0, n_chunks):
        c = n_chunks - 1 - i
        tl.store(dh + ((c0 + c) * H + i_h) * K * V + kv, b_ds, mask=m_kv)
        t0 = bos + c * BT
        o_t = t0 + o_i
        m_t = o_t < eos
        m_tk = m_t[:, None] & m_k[None, :]
        m_tv = m_t[:, None] & m_v[None, :]
        r_k = (o_t * H + i_h) * K
        r_v = (o_t * H + i_h) * V
        b_q = tl.load(q + r_k[:, None] + o_k[None, :], mask=m_tk, other=0)
        b_k = tl.load(k + r_k[:, None] + o_k[None, :], mask=m_tk, other=0)
        b_w = tl.load(w + r_k[:, None] + o_k[None, :], mask=m_tk, other=0)
        b_do = tl.load(do + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
        b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)
        b_last = tl.load(gc + (tl.minimum(t0 + BT, eos) - 1) * H + i_h)

        # dU = scale (Q K^T o D)^T dO + diag(exp(b_L - b)) K dS_end; [j, i] = k_j . q_i for j <= i.
        b_at = tl.dot(b_k, tl.trans(b_q), input_precision=DOT)
        causal = (o_i[:, None] <= o_i[None, :]) & m_t[None, :]
        b_at = b_at * tl.exp(tl.where(causal, b_b[None, :] - b_b[:, None], float("-inf"))) * scale
        b_ke = (b_k * tl.where(m_t, tl.exp(b_last - b_b), 0)[:, None]).to(b_k.dtype)
        b_du = tl.dot(b_at.to(b_do.dtype), b_do, input_precision=DOT)
        b_du += tl.dot(b_ke, b_ds.to(b_k.dtype), input_precision=DOT)
        b_du = b_du.to(b_w.dtype)
        tl.store(du + r_v[:, None] + o_v[None, :], b_du, mask=m_tv)

        # dS_0 = gamma_L dS_end + scale (diag(gamma) Q)^T dO - W^T dU
        b_qg = (b_q * tl.where(m_t, tl.exp(b_b), 0)[:, None]).to(b_q.dtype)
        b_ds = b_ds * tl.exp(b_last) + tl.dot(tl.trans(b_qg), b_do.to(b_q.dtype), input_precision=DOT) * scale
        b_ds -= tl.dot(tl.trans(b_w), b_du, input_precision=DOT)

    if STORE_DH0:
        tl.store(dh0 + i_nh.to(tl.int64) * K * V + kv, b_ds, mask=m_kv)


@triton.autotune(configs=_GRAD_CONFIGS, key=KEY)
@triton.jit
def _grad_kernel(
    q, k, v, beta, gc, ai, vn, do, du, h, dh, dq, dk, dv, dbeta, dg,
    cu_seqlens, chunk_indices, scale, T, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    PARTS: tl.constexpr, HAS_G: tl.constexpr,
):
    """dq, dk for one chunk and K-block, dv (written by the K-block-0 program), and the block's partial
    dbeta and dg (into slot i_k of PARTS: the K-blocks of the smallest BK; the block-0 program zeroes the
    slots its config leaves unused, so the result never depends on which configs ran before, autotuning
    included). Grid (K/BK, chunks, H)."""
    i_k = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    o_i = tl.arange(0, BT)
    o_t = t0 + o_i
    m_t = o_t < eos
    r_k = (o_t * H + i_h) * K
    r_v = (o_t * H + i_h) * V
    o_k = i_k * BK + tl.arange(0, BK)
    m_k = o_k < K
    m_tk = m_t[:, None] & m_k[None, :]
    p_state = (i_c.to(tl.int64) * H + i_h) * K * V

    # M^T: [j, i] = M[i, j], row i of M stored at token i.
    b_mt = tl.load(ai + (o_t * H + i_h)[None, :] * BT + o_i[:, None], mask=m_t[None, :], other=0)
    b_beta = tl.load(beta + o_t * H + i_h, mask=m_t, other=0).to(tl.float32)

    b_dou = tl.zeros([BT, BT], dtype=tl.float32)  # dO U^T
    b_dyu = tl.zeros([BT, BT], dtype=tl.float32)  # dY U^T
    b_dq = tl.zeros([BT, BK], dtype=tl.float32)  # dO S_0^T
    b_dks = tl.zeros([BT, BK], dtype=tl.float32)  # U dS_end^T
    b_dx = tl.zeros([BT, BK], dtype=tl.float32)  # dX = -dY S_0^T
    b_dbv = tl.zeros([BT], dtype=tl.float32)  # v_i . dY_i
    b_hdh = tl.zeros([BK], dtype=tl.float32)  # <S_0, dS_end> over this K-block, per key channel
    for i_v in range(0, tl.cdiv(V, BV)):
        o_v = i_v * BV + tl.arange(0, BV)
        m_v = o_v < V
        m_tv = m_t[:, None] & m_v[None, :]
        m_vk = m_v[:, None] & m_k[None, :]
        b_du = tl.load(du + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
        b_un = tl.load(vn + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
        b_do = tl.load(do + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
        b_v = tl.load(v + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
        b_ht = tl.load(h + p_state + o_k[None, :] * V + o_v[:, None], mask=m_vk, other=0)  # S_0^T [BV, BK]
        b_dht = tl.load(dh + p_state + o_k[None, :] * V + o_v[:, None], mask=m_vk, other=0)  # dS_end^T

        b_dy = tl.dot(b_mt.to(b_du.dtype), b_du, input_precision=DOT)  # dY = M^T dU
        tl.store(dv + r_v[:, None] + o_v[None, :], b_dy * b_beta[:, None], mask=m_tv & (i_k == 0))
        b_dbv += tl.sum(b_v.to(tl.float32) * b_dy, axis=1)
        b_dy = b_dy.to(b_un.dtype)
        b_dou += tl.dot(b_do, tl.trans(b_un), input_precision=DOT)
        b_dyu += tl.dot(b_dy, tl.trans(b_un), input_precision=DOT)
        b_dq += tl.dot(b_do, b_ht.to(b_do.dtype), input_precision=DOT)
        b_dks += tl.dot(b_un, b_dht.to(b_un.dtype), input_precision=DOT)
        b_dx -= tl.dot(b_dy, b_ht.to(b_dy.dtype), input_precision=DOT)
        b_hdh += tl.sum(b_ht * b_dht, axis=0)

    b_q = tl.load(q + r_k[:, None] + o_k[None, :], mask=m_tk, other=0)
    b_k = tl.load(k + r_k[:, None] + o_k[None, :], mask=m_tk, other=0)
    b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)
    b_last = tl.load(gc + (tl.minimum(t0 + BT, eos) - 1) * H + i_h)
    b_gamma = tl.where(m_t, tl.exp(b_b), 0)
    diff = b_b[:, None] - b_b[None, :]
    inclusive = (o_i[:, None] >= o_i[None, :]) & m_t[:, None]
    strict = (o_i[:, None] > o_i[None, :]) & m_t[:, None]
    b_ds = (b_dou * tl.exp(tl.where(inclusive, diff, float("-inf"))) * scale).to(b_q.dtype)  # (dO U^T o D) scale
    b_pbar = -b_dyu * tl.exp(tl.where(strict, diff, float("-inf")))  # dA o G
    b_p = (b_pbar * b_beta[:, None]).to(b_k.dtype)  # P

    b_dq = b_dq * (scale * b_gamma)[:, None] + tl.dot(b_ds, b_k, input_precision=DOT)
    b_dko = tl.dot(tl.trans(b_ds), b_q, input_precision=DOT)
    b_dks = b_dks * tl.where(m_t, tl.exp(b_last - b_b), 0)[:, None]
    b_dxg = b_dx * b_gamma[:, None] + tl.dot(b_pbar.to(b_k.dtype), b_k, input_precision=DOT)  # gamma dX + Pbar K
    b_ptk = tl.dot(tl.trans(b_p), b_k, input_precision=DOT)  # P^T K
    b_dk = b_dko + b_dks + b_beta[:, None] * b_dxg + b_ptk
    tl.store(dq + r_k[:, None] + o_k[None, :], b_dq, mask=m_tk)
    tl.store(dk + r_k[:, None] + o_k[None, :], b_dk, mask=m_tk)

    b_k = b_k.to(tl.float32)
    part = (i_k.to(tl.int64) * 0 + T) * H  # int64 stride between the slots
    b_dbeta = tl.sum(b_k * b_dxg, axis=1) + tl.where(i_k == 0, b_dbv, 0)
    tl.store(dbeta + i_k * part + o_t * H + i_h, b_dbeta, mask=m_t)
    if HAS_G:
        # dL/db_i, this K-block's share: q.dq - k.(dk^o + dk^s) + k.(dk^x + P K) - k.(P^T K).
        b_db = tl.sum(b_q.to(tl.float32) * b_dq - b_k * (b_dko + b_dks + b_ptk - b_beta[:, None] * b_dxg), axis=1)
        b_end = tl.exp(b_last) * tl.sum(b_hdh, axis=0) + tl.sum(tl.sum(b_k * b_dks, axis=1), axis=0)
        b_dg = tl.sum(b_db, axis=0) - tl.cumsum(b_db, axis=0) + b_db + b_end
        tl.store(dg + i_k * part + o_t * H + i_h, b_dg, mask=m_t)
    if i_k == 0:
        for i_p in range(tl.cdiv(K, BK), PARTS):
            tl.store(dbeta + i_p * part + o_t * H + i_h, tl.zeros([BT], dtype=tl.float32), mask=m_t)
            if HAS_G:
                tl.store(dg + i_p * part + o_t * H + i_h, tl.zeros([BT], dtype=tl.float32), mask=m_t)


def delta_backward(q, k, v, beta, gc, ai, h0, do, dht, scale, layout: ChunkLayout, chunk_size, *, has_g):
    """The backward pass on packed rows; ai [T, H, C] float32: the forward's UT transforms M. Returns
    (dq, dk [T, H, K], dv [T, H, V] in their inputs' dtype, dbeta [T, H] float32, dg [T, H] float32 or
    None unless has_g, dh0 [N, H, K, V] float32 or None when h0 is None)."""
    length, heads, key_dim = q.shape
    value_dim = v.shape[-1]
    num_chunks, num_states = layout.num_chunks, layout.num_sequences
    dot = dot_precision(q.dtype)

    _, w, vn, h, _ = wy_states(k, v, beta, gc, h0, layout, chunk_size, store_final=False, ai=ai)
    dh = torch.empty_like(h)
    du = torch.empty_like(v)
    dh0 = None if h0 is None else torch.empty(h0.shape, device=q.device, dtype=torch.float32)

    def state_grid(meta):
        return (triton.cdiv(value_dim, meta["BV"]), num_states * heads)

    _state_bwd_kernel[state_grid](
        q, k, w, do, gc, dh, du, dht, dh0, layout.cu_seqlens, layout.chunk_offsets, scale, heads,
        K=key_dim, V=value_dim, BT=chunk_size, KP=padded_key_dim(key_dim), DOT=dot,
        HAS_DHT=dht is not None, STORE_DH0=h0 is not None,
    )

    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    parts = triton.cdiv(key_dim, MIN_BK)
    dbeta_parts = torch.empty(parts, length, heads, device=q.device, dtype=torch.float32)
    dg_parts = torch.empty(parts, length, heads, device=q.device, dtype=torch.float32) if has_g else None
    if num_chunks:
        grid = lambda meta: (triton.cdiv(key_dim, meta["BK"]), num_chunks, heads)  # noqa: E731
        _grad_kernel[grid](
            q, k, v, beta, gc, ai, vn, do, du, h, dh, dq, dk, dv, dbeta_parts, dg_parts,
            layout.cu_seqlens, layout.chunk_indices, scale, length, heads,
            K=key_dim, V=value_dim, BT=chunk_size, DOT=dot, PARTS=parts, HAS_G=has_g,
        )
    dbeta = dbeta_parts.sum(0)
    dg = dg_parts.sum(0) if has_g else None
    return dq, dk, dv, dbeta, dg, dh0
