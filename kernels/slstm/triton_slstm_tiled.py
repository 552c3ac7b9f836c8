"""The sLSTM kernels for large heads (Dh > REGISTER_MAX_HEAD_DIM in triton_slstm.py, any Dh): R[h] from memory.

xLSTM's sLSTM heads have Dh = 128..512 units, and R[h] ([Dh, 4*Dh], 0.6 MB in float32 at Dh = 192) fits
neither in registers nor in shared memory. So each program, one per (sequence, head) as in the register
kernels, reloads R[h] every token in [BJ, BK] tiles (rows j: units of y_{t-1}; columns k: units of a gate)
from global memory, where it stays L2-resident (H heads of 4 Dh^2 elements), and keeps its running state in
a small scratch buffer of its own in global memory instead of registers:

    state  [N*H, 2, P, Dh] float32, two slots of P parts: the state before token s (of the sequence) is slot
           s % 2, the state after it slot (s + 1) % 2. Forward: P = 4, (y, c, n, m); backward: P = 3, the
           adjoint (dL/dc, dL/dn, dL/dm).

Forward, token t, one block of BK gate units k at a time: the four accumulators [BJ, BK] collect
y_{t-1}[j] R[h, j, g*Dh + k] over the row blocks j (y_{t-1} read back from the previous slot), one sum over
j gives raw_t = x_t + b + y_{t-1} R for the block, and the cell updates the block's units (c, n, m read from
the previous slot), writing y_t, c_t, n_t, m_t to the other slot (and the outputs and histories).
Backward, token t (last to first), one block of BJ units j at a time: dL/dy_t[j] = dy_t + sum_{g,k}
R[h, j, g*Dh + k] draw_{t+1}[g, k] (draw_{t+1} read back from the output buffer, written the token before;
the final state's gradient instead at the last token), then the adjoint of the cell for the block's units
(cell.py, recurrent.py) writes draw_t (the output) and the adjoint before token t to the other slot.
Between tokens one `tl.debug_barrier()` (a CTA-wide barrier, which also orders the program's global memory
accesses) makes a token's writes visible to every thread of the program before the next token reads them;
the two slots mean that no block overwrites what another block of the same token still has to read. The
loads of what the kernel itself wrote bypass L1 (cache_modifier ".cg"). The initial state (forward) and the
final state's gradient (backward) are copied into slot 0 before the first token, behind a barrier too.

Everything is float32; dR and db are computed afterwards from the stored draw as for the register kernels
(triton_slstm.py). Per token a program reads 4 Dh^2 elements of R from L2 and does 4 Dh^2 multiply-adds
twice (forward and backward): the kernels are L2-bandwidth- and latency-bound, with parallelism
sequences x heads as the register kernels.
"""

from __future__ import annotations

import triton
import triton.language as tl

from ..triton_support import interpreting
from .triton_slstm_cell import _cell_backward, _cell_forward

# Floats of scratch per program (the host allocates [N*H, SCRATCH_PARTS * Dh]): 2 slots of 4 parts.
SCRATCH_PARTS = 8


def _configs() -> list[triton.Config]:
    """Tile shapes [BJ, BK] and warps. Under the interpreter one small config with BJ != BK, so that for
    Dh = 48 the row blocks are full (3 x 16) and the column blocks are not (2 x 32, 16 lanes masked).
    num_stages stays 1: a software-pipelined loop would issue the next iteration's loads early, and the
    scratch state must not be read before the barrier that ends the token."""
    if interpreting():
        return [triton.Config({"BJ": 16, "BK": 32}, num_warps=1, num_stages=1)]
    shapes = ((32, 32, 4), (32, 64, 4), (64, 64, 8), (32, 128, 8))
    return [triton.Config({"BJ": bj, "BK": bk}, num_warps=w, num_stages=1) for bj, bk, w in shapes]


@triton.autotune(configs=_configs(), key=["DH", "EXP_FORGET", "SAVE"])
@triton.jit
def _fwd_tiled_kernel(
    x, R, bias, y0, c0, n0, m0, raw, y_hist, c_hist, n_hist, m_hist, yT, cT, nT, mT, state, cu_seqlens, H,
    DH: tl.constexpr, EXP_FORGET: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_INIT: tl.constexpr,
    SAVE: tl.constexpr, STORE_FINAL: tl.constexpr, BJ: tl.constexpr, BK: tl.constexpr,
):
    """y of every token (and raw, c, n, m when SAVE), the final state. Grid (sequences * H,)."""
    pid = tl.program_id(0).to(tl.int64)
    i_h = pid % H
    i_n = pid // H
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    p_R = R + i_h * (4 * DH * DH)
    p_state = state + pid * (8 * DH)
    o_j = tl.arange(0, BJ)
    o_k = tl.arange(0, BK)

    # Slot 0: the initial state (zeros when there is none).
    for kb in range(0, DH, BK):
        o_u = kb + o_k
        m_u = o_u < DH
        s_y = tl.zeros([BK], dtype=tl.float32)
        s_c = tl.zeros([BK], dtype=tl.float32)
        s_n = tl.zeros([BK], dtype=tl.float32)
        s_m = tl.zeros([BK], dtype=tl.float32)
        if HAS_INIT:
            p_s = pid * DH + o_u
            s_y += tl.load(y0 + p_s, mask=m_u, other=0).to(tl.float32)
            s_c += tl.load(c0 + p_s, mask=m_u, other=0).to(tl.float32)
            s_n += tl.load(n0 + p_s, mask=m_u, other=0).to(tl.float32)
            s_m += tl.load(m0 + p_s, mask=m_u, other=0).to(tl.float32)
        tl.store(p_state + o_u, s_y, mask=m_u)
        tl.store(p_state + DH + o_u, s_c, mask=m_u)
        tl.store(p_state + 2 * DH + o_u, s_n, mask=m_u)
        tl.store(p_state + 3 * DH + o_u, s_m, mask=m_u)
    tl.debug_barrier()

    for t in range(bos, eos):
        p_old = p_state + ((t - bos) % 2) * (4 * DH)
        p_new = p_state + ((t - bos + 1) % 2) * (4 * DH)
        for kb in range(0, DH, BK):
            o_u = kb + o_k
            m_u = o_u < DH
            acc_i = tl.zeros([BJ, BK], dtype=tl.float32)
            acc_f = tl.zeros([BJ, BK], dtype=tl.float32)
            acc_z = tl.zeros([BJ, BK], dtype=tl.float32)
            acc_o = tl.zeros([BJ, BK], dtype=tl.float32)
            for jb in tl.static_range(0, DH, BJ):
                o_r = jb + o_j
                m_r = o_r < DH
                y_r = tl.load(p_old + o_r, mask=m_r, other=0, cache_modifier=".cg")[:, None]
                p_t = p_R + o_r[:, None] * (4 * DH) + o_u[None, :]
                m_t = m_r[:, None] & m_u[None, :]
                acc_i += y_r * tl.load(p_t, mask=m_t, other=0).to(tl.float32)
                acc_f += y_r * tl.load(p_t + DH, mask=m_t, other=0).to(tl.float32)
                acc_z += y_r * tl.load(p_t + 2 * DH, mask=m_t, other=0).to(tl.float32)
                acc_o += y_r * tl.load(p_t + 3 * DH, mask=m_t, other=0).to(tl.float32)
            p_x = x + (t * H + i_h) * (4 * DH) + o_u
            a_i = tl.sum(acc_i, axis=0) + tl.load(p_x, mask=m_u, other=0).to(tl.float32)
            a_f = tl.sum(acc_f, axis=0) + tl.load(p_x + DH, mask=m_u, other=0).to(tl.float32)
            a_z = tl.sum(acc_z, axis=0) + tl.load(p_x + 2 * DH, mask=m_u, other=0).to(tl.float32)
            a_o = tl.sum(acc_o, axis=0) + tl.load(p_x + 3 * DH, mask=m_u, other=0).to(tl.float32)
            if HAS_BIAS:
                p_b = bias + i_h * (4 * DH) + o_u
                a_i += tl.load(p_b, mask=m_u, other=0).to(tl.float32)
                a_f += tl.load(p_b + DH, mask=m_u, other=0).to(tl.float32)
                a_z += tl.load(p_b + 2 * DH, mask=m_u, other=0).to(tl.float32)
                a_o += tl.load(p_b + 3 * DH, mask=m_u, other=0).to(tl.float32)
            s_c = tl.load(p_old + DH + o_u, mask=m_u, other=0, cache_modifier=".cg")
            s_n = tl.load(p_old + 2 * DH + o_u, mask=m_u, other=0, cache_modifier=".cg")
            s_m = tl.load(p_old + 3 * DH + o_u, mask=m_u, other=0, cache_modifier=".cg")
            s_y, s_c, s_n, s_m = _cell_forward(a_i, a_f, a_z, a_o, s_c, s_n, s_m, EXP_FORGET)
            tl.store(p_new + o_u, s_y, mask=m_u)
            tl.store(p_new + DH + o_u, s_c, mask=m_u)
            tl.store(p_new + 2 * DH + o_u, s_n, mask=m_u)
            tl.store(p_new + 3 * DH + o_u, s_m, mask=m_u)
            p_h = (t * H + i_h) * DH + o_u
            tl.store(y_hist + p_h, s_y, mask=m_u)
            if SAVE:
                p_raw = raw + (t * H + i_h) * (4 * DH) + o_u
                tl.store(p_raw, a_i, mask=m_u)
                tl.store(p_raw + DH, a_f, mask=m_u)
                tl.store(p_raw + 2 * DH, a_z, mask=m_u)
                tl.store(p_raw + 3 * DH, a_o, mask=m_u)
                tl.store(c_hist + p_h, s_c, mask=m_u)
                tl.store(n_hist + p_h, s_n, mask=m_u)
                tl.store(m_hist + p_h, s_m, mask=m_u)
        tl.debug_barrier()  # token t's state is complete before token t + 1 reads it

    if STORE_FINAL:
        p_last = p_state + ((eos - bos) % 2) * (4 * DH)
        for kb in range(0, DH, BK):
            o_u = kb + o_k
            m_u = o_u < DH
            p_s = pid * DH + o_u
            tl.store(yT + p_s, tl.load(p_last + o_u, mask=m_u, cache_modifier=".cg"), mask=m_u)
            tl.store(cT + p_s, tl.load(p_last + DH + o_u, mask=m_u, cache_modifier=".cg"), mask=m_u)
            tl.store(nT + p_s, tl.load(p_last + 2 * DH + o_u, mask=m_u, cache_modifier=".cg"), mask=m_u)
            tl.store(mT + p_s, tl.load(p_last + 3 * DH + o_u, mask=m_u, cache_modifier=".cg"), mask=m_u)


@triton.jit
def _recurrent_grad(p_R, p_d, valid, o_u, m_u, DH: tl.constexpr, BJ: tl.constexpr, BK: tl.constexpr):
    """[BJ]: sum over g, k of R[h, u, g*Dh + k] d[g*Dh + k] for the block's units u (rows of R), with d the
    gate gradients at p_d ([4*Dh], written by this program); zeros where `valid` is false."""
    o_k = tl.arange(0, BK)
    acc = tl.zeros([BJ, BK], dtype=tl.float32)
    for kb in tl.static_range(0, DH, BK):
        o_c = kb + o_k
        m_c = (o_c < DH) & valid
        p_t = p_R + o_u[:, None] * (4 * DH) + o_c[None, :]
        m_t = m_u[:, None] & m_c[None, :]
        for g in tl.static_range(4):
            d = tl.load(p_d + g * DH + o_c, mask=m_c, other=0, cache_modifier=".cg")
            acc += tl.load(p_t + g * DH, mask=m_t, other=0).to(tl.float32) * d[None, :]
    return tl.sum(acc, axis=1)


@triton.autotune(configs=_configs(), key=["DH", "EXP_FORGET"])
@triton.jit
def _bwd_tiled_kernel(
    R, c0, n0, m0, raw, y_hist, c_hist, n_hist, m_hist, dy, dyT, dcT, dnT, dmT,
    draw, dy0, dc0, dn0, dm0, state, cu_seqlens, H,
    DH: tl.constexpr, EXP_FORGET: tl.constexpr, HAS_INIT: tl.constexpr, HAS_DY: tl.constexpr,
    HAS_DFINAL: tl.constexpr, STORE_DINIT: tl.constexpr, BJ: tl.constexpr, BK: tl.constexpr,
):
    """draw of every token and the gradients of the initial state. Grid (sequences * H,)."""
    pid = tl.program_id(0).to(tl.int64)
    i_h = pid % H
    i_n = pid // H
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    p_R = R + i_h * (4 * DH * DH)
    p_state = state + pid * (8 * DH)
    o_j = tl.arange(0, BJ)

    # Slot 0: the final state's gradient dL/d(c, n, m)_T (zeros when there is none).
    for jb in range(0, DH, BJ):
        o_u = jb + o_j
        m_u = o_u < DH
        d_c = tl.zeros([BJ], dtype=tl.float32)
        d_n = tl.zeros([BJ], dtype=tl.float32)
        d_m = tl.zeros([BJ], dtype=tl.float32)
        if HAS_DFINAL:
            p_s = pid * DH + o_u
            d_c += tl.load(dcT + p_s, mask=m_u, other=0).to(tl.float32)
            d_n += tl.load(dnT + p_s, mask=m_u, other=0).to(tl.float32)
            d_m += tl.load(dmT + p_s, mask=m_u, other=0).to(tl.float32)
        tl.store(p_state + o_u, d_c, mask=m_u)
        tl.store(p_state + DH + o_u, d_n, mask=m_u)
        tl.store(p_state + 2 * DH + o_u, d_m, mask=m_u)
    tl.debug_barrier()

    for tt in range(0, eos - bos):
        t = eos - 1 - tt
        p_old = p_state + (tt % 2) * (3 * DH)  # the adjoint after token t
        p_new = p_state + ((tt + 1) % 2) * (3 * DH)  # before it
        p_d_next = draw + ((t + 1) * H + i_h) * (4 * DH)
        for jb in range(0, DH, BJ):
            o_u = jb + o_j
            m_u = o_u < DH
            p_s = pid * DH + o_u
            p_h = (t * H + i_h) * DH + o_u
            # dL/dy_t: the next token's gates (draw_{t+1} R^T), or the final state's gradient at the last token.
            gy = _recurrent_grad(p_R, p_d_next, t + 1 < eos, o_u, m_u, DH, BJ, BK)
            if HAS_DFINAL:
                gy += tl.load(dyT + p_s, mask=m_u & (t + 1 == eos), other=0).to(tl.float32)
            if HAS_DY:
                gy += tl.load(dy + p_h, mask=m_u, other=0).to(tl.float32)
            # The state before token t: the history's previous row, or the initial state at the first token.
            m_row = m_u & (t > bos)
            p_prev = (tl.maximum(t - 1, bos) * H + i_h) * DH + o_u
            c_prev = tl.load(c_hist + p_prev, mask=m_row, other=0)
            n_prev = tl.load(n_hist + p_prev, mask=m_row, other=0)
            m_prev = tl.load(m_hist + p_prev, mask=m_row, other=0)
            if HAS_INIT:
                m_first = m_u & (t == bos)
                c_prev += tl.load(c0 + p_s, mask=m_first, other=0).to(tl.float32)
                n_prev += tl.load(n0 + p_s, mask=m_first, other=0).to(tl.float32)
                m_prev += tl.load(m0 + p_s, mask=m_first, other=0).to(tl.float32)
            y_new = tl.load(y_hist + p_h, mask=m_u, other=0)
            n_new = tl.load(n_hist + p_h, mask=m_u, other=1)
            m_new = tl.load(m_hist + p_h, mask=m_u, other=0)
            p_raw = raw + (t * H + i_h) * (4 * DH) + o_u
            a_i = tl.load(p_raw, mask=m_u, other=0)
            a_f = tl.load(p_raw + DH, mask=m_u, other=0)
            a_z = tl.load(p_raw + 2 * DH, mask=m_u, other=0)
            a_o = tl.load(p_raw + 3 * DH, mask=m_u, other=0)
            d_c = tl.load(p_old + o_u, mask=m_u, other=0, cache_modifier=".cg")
            d_n = tl.load(p_old + DH + o_u, mask=m_u, other=0, cache_modifier=".cg")
            d_m = tl.load(p_old + 2 * DH + o_u, mask=m_u, other=0, cache_modifier=".cg")
            d_i, d_f, d_z, d_o, d_c, d_n, d_m = _cell_backward(
                a_i, a_f, a_z, a_o, c_prev, n_prev, m_prev, y_new, n_new, m_new, gy, d_c, d_n, d_m, EXP_FORGET
            )
            p_d = draw + (t * H + i_h) * (4 * DH) + o_u
            tl.store(p_d, d_i, mask=m_u)
            tl.store(p_d + DH, d_f, mask=m_u)
            tl.store(p_d + 2 * DH, d_z, mask=m_u)
            tl.store(p_d + 3 * DH, d_o, mask=m_u)
            tl.store(p_new + o_u, d_c, mask=m_u)
            tl.store(p_new + DH + o_u, d_n, mask=m_u)
            tl.store(p_new + 2 * DH + o_u, d_m, mask=m_u)
        tl.debug_barrier()  # draw_t and the adjoint before token t are complete before token t - 1 reads them

    if STORE_DINIT:
        p_first = p_state + ((eos - bos) % 2) * (3 * DH)
        p_d_first = draw + (bos * H + i_h) * (4 * DH)
        for jb in range(0, DH, BJ):
            o_u = jb + o_j
            m_u = o_u < DH
            p_s = pid * DH + o_u
            d_y = _recurrent_grad(p_R, p_d_first, bos < eos, o_u, m_u, DH, BJ, BK)
            if HAS_DFINAL:  # an empty sequence passes the final state's gradient through
                d_y += tl.load(dyT + p_s, mask=m_u & (bos == eos), other=0).to(tl.float32)
            tl.store(dy0 + p_s, d_y, mask=m_u)
            tl.store(dc0 + p_s, tl.load(p_first + o_u, mask=m_u, cache_modifier=".cg"), mask=m_u)
            tl.store(dn0 + p_s, tl.load(p_first + DH + o_u, mask=m_u, cache_modifier=".cg"), mask=m_u)
            tl.store(dm0 + p_s, tl.load(p_first + 2 * DH + o_u, mask=m_u, cache_modifier=".cg"), mask=m_u)
