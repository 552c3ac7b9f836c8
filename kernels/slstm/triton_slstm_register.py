"""The sLSTM kernels for small heads (Dh <= REGISTER_MAX_HEAD_DIM in triton_slstm.py): R[h] in registers.

One program per (sequence, head) runs over the tokens of its sequence with the head's recurrent block R[h]
([Dh, 4*Dh], as four [Dh, Dh] gate tiles, padded to a power of two) and the state (y, c, n, m) in
registers; the recurrent input y_{t-1} R is a broadcast product and a sum over the tile's first axis, and
nothing goes through memory between tokens but the stored histories. R[h] costs 4 * Dh^2 float32 registers
per program (16K at Dh = 64, spread over up to 8 warps), which bounds Dh; larger heads take the tiled kernels
(triton_slstm_tiled.py). Layouts, buffers and the host side: triton_slstm.py.
"""

from __future__ import annotations

import triton
import triton.language as tl

from ..triton_common.configs import block_configs
from .triton_slstm_cell import _cell_backward, _cell_forward


_CONFIGS = block_configs((), [()], warps=[1, 2, 4, 8], stages=[1])


@triton.jit
def _load_tiles(R, i_h, o_k, m_k, DH: tl.constexpr):
    """The head's gate tiles R[h, :, g*Dh:(g+1)*Dh], [BLOCK, BLOCK] each (rows j: the unit of y_{t-1})."""
    p_R = R + i_h * (4 * DH * DH) + o_k[:, None] * (4 * DH) + o_k[None, :]
    m_R = m_k[:, None] & m_k[None, :]
    r_i = tl.load(p_R, mask=m_R, other=0).to(tl.float32)
    r_f = tl.load(p_R + DH, mask=m_R, other=0).to(tl.float32)
    r_z = tl.load(p_R + 2 * DH, mask=m_R, other=0).to(tl.float32)
    r_o = tl.load(p_R + 3 * DH, mask=m_R, other=0).to(tl.float32)
    return r_i, r_f, r_z, r_o


@triton.autotune(configs=_CONFIGS, key=["DH", "EXP_FORGET", "SAVE"])
@triton.jit
def _fwd_kernel(
    x, R, bias, y0, c0, n0, m0, raw, y_hist, c_hist, n_hist, m_hist, yT, cT, nT, mT, cu_seqlens, H,
    DH: tl.constexpr, BLOCK: tl.constexpr, EXP_FORGET: tl.constexpr, HAS_BIAS: tl.constexpr,
    HAS_INIT: tl.constexpr, SAVE: tl.constexpr, STORE_FINAL: tl.constexpr,
):
    """y of every token (and raw, c, n, m when SAVE), the final state. Grid (sequences * H,)."""
    pid = tl.program_id(0)
    i_h = pid % H
    i_n = pid // H
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    o_k = tl.arange(0, BLOCK)
    m_k = o_k < DH
    r_i, r_f, r_z, r_o = _load_tiles(R, i_h, o_k, m_k, DH)
    b_i = tl.zeros([BLOCK], dtype=tl.float32)
    b_f = tl.zeros([BLOCK], dtype=tl.float32)
    b_z = tl.zeros([BLOCK], dtype=tl.float32)
    b_o = tl.zeros([BLOCK], dtype=tl.float32)
    if HAS_BIAS:
        p_b = bias + i_h * (4 * DH) + o_k
        b_i += tl.load(p_b, mask=m_k, other=0).to(tl.float32)
        b_f += tl.load(p_b + DH, mask=m_k, other=0).to(tl.float32)
        b_z += tl.load(p_b + 2 * DH, mask=m_k, other=0).to(tl.float32)
        b_o += tl.load(p_b + 3 * DH, mask=m_k, other=0).to(tl.float32)

    p_s = (i_n * H + i_h) * DH + o_k
    s_y = tl.zeros([BLOCK], dtype=tl.float32)
    s_c = tl.zeros([BLOCK], dtype=tl.float32)
    s_n = tl.zeros([BLOCK], dtype=tl.float32)
    s_m = tl.zeros([BLOCK], dtype=tl.float32)
    if HAS_INIT:
        s_y += tl.load(y0 + p_s, mask=m_k, other=0).to(tl.float32)
        s_c += tl.load(c0 + p_s, mask=m_k, other=0).to(tl.float32)
        s_n += tl.load(n0 + p_s, mask=m_k, other=0).to(tl.float32)
        s_m += tl.load(m0 + p_s, mask=m_k, other=0).to(tl.float32)

    for t in range(bos, eos):
        p_x = x + (t * H + i_h) * (4 * DH) + o_k
        y_col = s_y[:, None]
        a_i = tl.load(p_x, mask=m_k, other=0).to(tl.float32) + b_i + tl.sum(y_col * r_i, axis=0)
        a_f = tl.load(p_x + DH, mask=m_k, other=0).to(tl.float32) + b_f + tl.sum(y_col * r_f, axis=0)
        a_z = tl.load(p_x + 2 * DH, mask=m_k, other=0).to(tl.float32) + b_z + tl.sum(y_col * r_z, axis=0)
        a_o = tl.load(p_x + 3 * DH, mask=m_k, other=0).to(tl.float32) + b_o + tl.sum(y_col * r_o, axis=0)
        s_y, s_c, s_n, s_m = _cell_forward(a_i, a_f, a_z, a_o, s_c, s_n, s_m, EXP_FORGET)
        p_h = (t * H + i_h) * DH + o_k
        tl.store(y_hist + p_h, s_y, mask=m_k)
        if SAVE:
            p_raw = raw + (t * H + i_h) * (4 * DH) + o_k
            tl.store(p_raw, a_i, mask=m_k)
            tl.store(p_raw + DH, a_f, mask=m_k)
            tl.store(p_raw + 2 * DH, a_z, mask=m_k)
            tl.store(p_raw + 3 * DH, a_o, mask=m_k)
            tl.store(c_hist + p_h, s_c, mask=m_k)
            tl.store(n_hist + p_h, s_n, mask=m_k)
            tl.store(m_hist + p_h, s_m, mask=m_k)
    if STORE_FINAL:
        tl.store(yT + p_s, s_y, mask=m_k)
        tl.store(cT + p_s, s_c, mask=m_k)
        tl.store(nT + p_s, s_n, mask=m_k)
        tl.store(mT + p_s, s_m, mask=m_k)


@triton.autotune(configs=_CONFIGS, key=["DH", "EXP_FORGET"])
@triton.jit
def _bwd_kernel(
    R, c0, n0, m0, raw, y_hist, c_hist, n_hist, m_hist, dy, dyT, dcT, dnT, dmT,
    draw, dy0, dc0, dn0, dm0, cu_seqlens, H,
    DH: tl.constexpr, BLOCK: tl.constexpr, EXP_FORGET: tl.constexpr,
    HAS_INIT: tl.constexpr, HAS_DY: tl.constexpr, HAS_DFINAL: tl.constexpr, STORE_DINIT: tl.constexpr,
):
    """draw of every token and the gradients of the initial state. Grid (sequences * H,)."""
    pid = tl.program_id(0)
    i_h = pid % H
    i_n = pid // H
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    o_k = tl.arange(0, BLOCK)
    m_k = o_k < DH
    r_i, r_f, r_z, r_o = _load_tiles(R, i_h, o_k, m_k, DH)

    p_s = (i_n * H + i_h) * DH + o_k
    init_c = tl.zeros([BLOCK], dtype=tl.float32)
    init_n = tl.zeros([BLOCK], dtype=tl.float32)
    init_m = tl.zeros([BLOCK], dtype=tl.float32)
    if HAS_INIT:
        init_c += tl.load(c0 + p_s, mask=m_k, other=0).to(tl.float32)
        init_n += tl.load(n0 + p_s, mask=m_k, other=0).to(tl.float32)
        init_m += tl.load(m0 + p_s, mask=m_k, other=0).to(tl.float32)
    # The adjoint: dL/dy_t from after token t (the next token's gates, the final state), dL/d(c, n, m)_t.
    d_y = tl.zeros([BLOCK], dtype=tl.float32)
    d_c = tl.zeros([BLOCK], dtype=tl.float32)
    d_n = tl.zeros([BLOCK], dtype=tl.float32)
    d_m = tl.zeros([BLOCK], dtype=tl.float32)
    if HAS_DFINAL:
        d_y += tl.load(dyT + p_s, mask=m_k, other=0).to(tl.float32)
        d_c += tl.load(dcT + p_s, mask=m_k, other=0).to(tl.float32)
        d_n += tl.load(dnT + p_s, mask=m_k, other=0).to(tl.float32)
        d_m += tl.load(dmT + p_s, mask=m_k, other=0).to(tl.float32)

    for tt in range(0, eos - bos):
        t = eos - 1 - tt
        p_h = (t * H + i_h) * DH + o_k
        # The state before token t: the history's previous row, or the initial state at the first token.
        first = t == bos
        m_prev_row = m_k & (t > bos)
        p_prev = (tl.maximum(t - 1, bos) * H + i_h) * DH + o_k
        c_prev = tl.where(first, init_c, tl.load(c_hist + p_prev, mask=m_prev_row, other=0))
        n_prev = tl.where(first, init_n, tl.load(n_hist + p_prev, mask=m_prev_row, other=0))
        m_prev = tl.where(first, init_m, tl.load(m_hist + p_prev, mask=m_prev_row, other=0))
        y_new = tl.load(y_hist + p_h, mask=m_k, other=0)
        n_new = tl.load(n_hist + p_h, mask=m_k, other=1)
        m_new = tl.load(m_hist + p_h, mask=m_k, other=0)
        p_raw = raw + (t * H + i_h) * (4 * DH) + o_k
        a_i = tl.load(p_raw, mask=m_k, other=0)
        a_f = tl.load(p_raw + DH, mask=m_k, other=0)
        a_z = tl.load(p_raw + 2 * DH, mask=m_k, other=0)
        a_o = tl.load(p_raw + 3 * DH, mask=m_k, other=0)
        gy = d_y
        if HAS_DY:
            gy += tl.load(dy + p_h, mask=m_k, other=0).to(tl.float32)
        d_i, d_f, d_z, d_o, d_c, d_n, d_m = _cell_backward(
            a_i, a_f, a_z, a_o, c_prev, n_prev, m_prev, y_new, n_new, m_new, gy, d_c, d_n, d_m, EXP_FORGET
        )
        p_d = draw + (t * H + i_h) * (4 * DH) + o_k
        tl.store(p_d, d_i, mask=m_k)
        tl.store(p_d + DH, d_f, mask=m_k)
        tl.store(p_d + 2 * DH, d_z, mask=m_k)
        tl.store(p_d + 3 * DH, d_o, mask=m_k)
        # dL/dy_{t-1} = R[h] draw_t: one reduction over the four gate tiles.
        d_y = tl.sum(r_i * d_i[None, :] + r_f * d_f[None, :] + r_z * d_z[None, :] + r_o * d_o[None, :], axis=1)
    if STORE_DINIT:
        tl.store(dy0 + p_s, d_y, mask=m_k)
        tl.store(dc0 + p_s, d_c, mask=m_k)
        tl.store(dn0 + p_s, d_n, mask=m_k)
        tl.store(dm0 + p_s, d_m, mask=m_k)
