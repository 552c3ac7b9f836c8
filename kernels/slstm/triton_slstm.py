"""The sLSTM in Triton: a sequential forward and a reverse-time backward kernel in a `torch.autograd.Function`,
with the semantics of `slstm_reference` (the update and the layouts: cell.py).

One program per (sequence, head) runs over the tokens of its sequence with the head's recurrent block R[h]
([Dh, 4*Dh], as four [Dh, Dh] gate tiles) and the state (y, c, n, m) in registers; the recurrent input
y_{t-1} R is a broadcast product and a sum over the tile's first axis. Parallelism is sequences x heads
(the recurrence leaves nothing else), so the kernels are latency-bound; the head's block must fit in
registers: Dh <= MAX_HEAD_DIM.

Kernels:
  1. `_fwd_kernel`  the recurrence; stores y_t (float32, the output) and, when a gradient is needed, the
                    pre-activations raw_t = x_t + b + y_{t-1} R[h] ([T, H, 4*Dh]) and c_t, n_t, m_t
                    ([T, H, Dh]) of every token, all float32: what the backward reads; and the final state.
  2. `_bwd_kernel`  runs the tokens last to first. Per token it reloads raw_t and the states around it,
                    recomputes the gates, and runs the adjoint of recurrent.py (the module docstring there):
                        gy = dL/dy_t = dy_t + draw_{t+1} R^T (+ the final state's gradient at the last token)
                        dc += gy o / n_t,  dn -= gy y_t / n_t,  d raw_o = gy y_t (1 - o),
                        a_i = (dc tanh(z) + dn) i,  a_f = (dc c_{t-1} + dn n_{t-1}) f~,  d raw_z = dc i (1 - tanh^2)
                        d raw_i = a_i + sel (dm - a_i - a_f),  dm <- dm - d raw_i,  d raw_f = dm sigmoid(-raw_f)
                        dc <- f dc,  dn <- f dn
                    and stores draw_t [T, H, 4*Dh] (float32), which is dx; the gradients of the initial state
                    are the adjoint after the first token.
dR = sum_t y_{t-1}^T draw_t and db = sum_t draw_t are one einsum and one sum in torch afterwards (no
atomics: deterministic).

Layout: a dense batch [B, T] is one packed row of B sequences with cu_seqlens = [0, T, 2T, ...], so varlen
is native: each program reads its sequence's bounds and never touches another's tokens.

Runs on CUDA, and on CPU under TRITON_INTERPRET=1 set before this module is first imported (`triton.jit`
reads it when the kernels are defined), where each kernel has one config instead of autotuning.
Inputs float32, float16 or bfloat16 (the interpreter computes bfloat16 wrongly: test in float32/float16);
everything is computed and accumulated in float32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..triton_support import interpreting
from .cell import SLSTMState
from .checks import check_forget_gate, check_sequence_inputs

INTERPRET = interpreting()
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
# R[h] lives in registers: 4 * Dh^2 float32 per program (16K at Dh = 64, spread over up to 8 warps).
MAX_HEAD_DIM = 64


def _configs() -> list[triton.Config]:
    if INTERPRET:
        return [triton.Config({}, num_warps=1, num_stages=1)]
    return [triton.Config({}, num_warps=w, num_stages=1) for w in (1, 2, 4, 8)]


def triton_unsupported(
    x: Tensor, R: Tensor, b: Tensor | None = None, initial_state: SLSTMState | None = None
) -> str | None:
    """Why `slstm_triton` cannot run this (otherwise valid) call, or None if it can."""
    if not x.is_cuda and not INTERPRET:
        return (
            "the triton backend needs a CUDA tensor (or TRITON_INTERPRET=1, set before "
            f"zoo.kernels.slstm.triton_slstm is first imported, to run on CPU); x is on {x.device}"
        )
    named = dict(x=x, R=R, b=b)
    named.update({f"initial_state {p}": s for p, s in zip("ycnm", initial_state or ())})
    for name, t in named.items():
        if t is not None and t.dtype not in DTYPES:
            return f"it supports {DTYPES}, got {name} {t.dtype}"
        if t is not None and t.device != x.device:
            return f"all tensors must be on one device, got x on {x.device} and {name} on {t.device}"
    if R.shape[1] > MAX_HEAD_DIM:
        return f"it keeps R[h] in registers and supports head dims Dh <= {MAX_HEAD_DIM}, got Dh = {R.shape[1]}"
    return None


# ---------------------------------------------------------------------------------------------------------
# Kernels. One packed row: x [T, H, 4*Dh]; y, c, n, m histories [T, H, Dh] float32; states [N, H, Dh].
# Program pid = n * H + h handles head h of sequence n, tokens cu_seqlens[n]..cu_seqlens[n + 1].
# Elementwise functions are written out (tanh, sigmoid, logsigmoid by exp and log): the interpreter's
# cost is mostly per call of a jit function, and the compiled kernels are the same either way.


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


@triton.autotune(configs=_configs(), key=["DH", "EXP_FORGET", "SAVE"])
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
        if EXP_FORGET:
            lf = a_f + s_m
        else:
            # logsigmoid(f) = min(f, 0) - log1p(e), e = exp(-|f|); log1p(e) = log(u) e / (u - 1), u = 1 + e
            e = tl.exp(-tl.abs(a_f))
            u = 1.0 + e
            lf = tl.minimum(a_f, 0.0) - tl.where(u == 1.0, e, tl.log(u) * (e / (u - 1.0))) + s_m
        m_new = tl.where(s_n == 0.0, a_i, tl.maximum(a_i, lf))
        g_i = tl.exp(a_i - m_new)
        g_f = tl.exp(tl.minimum(lf - m_new, 0.0))
        e2 = tl.exp(-2.0 * tl.abs(a_z))
        g_z = (1.0 - e2) / (1.0 + e2)
        g_z = tl.where(a_z < 0, -g_z, g_z)
        g_o = 1.0 / (1.0 + tl.exp(-a_o))
        s_c = g_f * s_c + g_i * g_z
        s_n = g_f * s_n + g_i
        s_m = m_new
        s_y = g_o * s_c / s_n
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


@triton.autotune(configs=_configs(), key=["DH", "EXP_FORGET"])
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
        if EXP_FORGET:
            lf = a_f + m_prev
        else:
            e = tl.exp(-tl.abs(a_f))
            u = 1.0 + e
            lf = tl.minimum(a_f, 0.0) - tl.where(u == 1.0, e, tl.log(u) * (e / (u - 1.0))) + m_prev
        take_i = (n_prev == 0.0) | (a_i >= lf)  # m_t = raw_i (else m_t = lf)
        g_i = tl.exp(a_i - m_new)
        f_exp = lf - m_new
        g_f = tl.exp(tl.minimum(f_exp, 0.0))
        f_deriv = tl.where(f_exp > 0.0, 0.0, g_f)  # the forget gate's min(., 0) has no gradient
        e2 = tl.exp(-2.0 * tl.abs(a_z))
        g_z = (1.0 - e2) / (1.0 + e2)
        g_z = tl.where(a_z < 0, -g_z, g_z)
        g_o = 1.0 / (1.0 + tl.exp(-a_o))

        gy = d_y
        if HAS_DY:
            gy += tl.load(dy + p_h, mask=m_k, other=0).to(tl.float32)
        d_c = d_c + gy * g_o / n_new
        d_n = d_n - gy * y_new / n_new
        d_o = gy * y_new * (1.0 - g_o)
        d_z = d_c * g_i * (1.0 - g_z * g_z)
        adj_i = (d_c * g_z + d_n) * g_i
        adj_f = (d_c * c_prev + d_n * n_prev) * f_deriv
        d_i = adj_i + tl.where(take_i, d_m - adj_i - adj_f, 0.0)
        d_m = d_m - d_i  # d lf, which is dL/dm_{t-1}
        if EXP_FORGET:
            d_f = d_m
        else:
            d_f = d_m / (1.0 + tl.exp(a_f))  # d logsigmoid(f) / df = sigmoid(-f)
        p_d = draw + (t * H + i_h) * (4 * DH) + o_k
        tl.store(p_d, d_i, mask=m_k)
        tl.store(p_d + DH, d_f, mask=m_k)
        tl.store(p_d + 2 * DH, d_z, mask=m_k)
        tl.store(p_d + 3 * DH, d_o, mask=m_k)
        d_c = d_c * g_f
        d_n = d_n * g_f
        # dL/dy_{t-1} = R[h] draw_t: one reduction over the four gate tiles.
        d_y = tl.sum(r_i * d_i[None, :] + r_f * d_f[None, :] + r_z * d_z[None, :] + r_o * d_o[None, :], axis=1)
    if STORE_DINIT:
        tl.store(dy0 + p_s, d_y, mask=m_k)
        tl.store(dc0 + p_s, d_c, mask=m_k)
        tl.store(dn0 + p_s, d_n, mask=m_k)
        tl.store(dm0 + p_s, d_m, mask=m_k)


# ---------------------------------------------------------------------------------------------------------
# Host side.


def _dummy(t: Tensor | None, like: Tensor) -> Tensor:
    """`like` stands in for an absent tensor: never read (its flag is off)."""
    return like if t is None else t


def _previous_outputs(y_hist: Tensor, init_y: Tensor | None, cu: Tensor) -> Tensor:
    """y_{t-1} of every packed token [T, H, Dh]: the previous row, or the sequence's initial y (zeros when
    None) at its first token."""
    y_prev = torch.empty_like(y_hist)
    y_prev[1:] = y_hist[:-1]
    starts = cu[:-1].long()
    nonempty = cu[1:] > cu[:-1]
    if init_y is None:
        y_prev[starts[nonempty]] = 0
    else:
        y_prev[starts[nonempty]] = init_y[nonempty].to(y_prev.dtype)
    return y_prev


class _SLSTMTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, R, b, y0, c0, n0, m0, cu_seqlens, exp_forget, output_final_state):
        batch, length, heads, _ = x.shape
        head_dim = R.shape[1]
        if cu_seqlens is None:
            index = torch.int32 if (batch + 1) * length < 2**31 else torch.int64
            cu = torch.arange(batch + 1, device=x.device, dtype=index) * length
        else:
            cu = cu_seqlens.to(device=x.device).contiguous()
        num_seqs = cu.numel() - 1
        x, R = x.contiguous(), R.contiguous()
        b = None if b is None else b.contiguous()
        init = None if y0 is None else [s.contiguous() for s in (y0, c0, n0, m0)]
        save = any(ctx.needs_input_grad[:7])  # keep raw, c, n, m of every token only for a backward
        f32 = dict(device=x.device, dtype=torch.float32)
        rows = batch * length
        y_hist = torch.empty(batch, length, heads, head_dim, **f32)  # the output in float32: not a view
        raw = torch.empty(rows, heads, 4 * head_dim, **f32) if save else y_hist
        hists = [torch.empty(rows, heads, head_dim, **f32) if save else y_hist for _ in range(3)]
        finals = [torch.empty(num_seqs, heads, head_dim, **f32) for _ in range(4)] if output_final_state else None
        if num_seqs * heads > 0:
            _fwd_kernel[(num_seqs * heads,)](
                x, R, _dummy(b, R), *(init or [y_hist] * 4), raw, y_hist, *hists, *(finals or [y_hist] * 4), cu,
                heads,
                DH=head_dim, BLOCK=triton.next_power_of_2(head_dim), EXP_FORGET=exp_forget,
                HAS_BIAS=b is not None, HAS_INIT=init is not None, SAVE=save, STORE_FINAL=finals is not None,
            )
        if save:
            ctx.save_for_backward(R, *(init or [None] * 4), raw, y_hist, *hists, cu)
        ctx.x_dtype, ctx.x_shape, ctx.has_bias = x.dtype, x.shape, b is not None
        ctx.b_dtype = None if b is None else b.dtype
        ctx.exp_forget = exp_forget
        ctx.set_materialize_grads(False)
        y = y_hist if x.dtype == torch.float32 else y_hist.to(x.dtype)
        return (y, *(finals or [None] * 4))

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dy_T, dc_T, dn_T, dm_T):
        R, y0, c0, n0, m0, raw, y_hist, c_hist, n_hist, m_hist, cu = ctx.saved_tensors
        batch, length, heads, _ = ctx.x_shape
        head_dim = R.shape[1]
        num_seqs = cu.numel() - 1
        f32 = dict(device=R.device, dtype=torch.float32)
        init = None if y0 is None else (y0, c0, n0, m0)
        d_final = None
        if any(g is not None for g in (dy_T, dc_T, dn_T, dm_T)):
            d_final = [
                torch.zeros(num_seqs, heads, head_dim, **f32) if g is None else g.contiguous()
                for g in (dy_T, dc_T, dn_T, dm_T)
            ]
        dy = None if dy is None else dy.contiguous()
        draw = torch.empty(batch * length, heads, 4 * head_dim, **f32)
        d_init = [torch.empty(num_seqs, heads, head_dim, **f32) for _ in range(4)] if init is not None else None
        if num_seqs * heads > 0:
            _bwd_kernel[(num_seqs * heads,)](
                R, *(init[1:] if init is not None else [y_hist] * 3), raw, y_hist, c_hist, n_hist, m_hist,
                _dummy(dy, y_hist), *(d_final or [y_hist] * 4), draw, *(d_init or [y_hist] * 4), cu, heads,
                DH=head_dim, BLOCK=triton.next_power_of_2(head_dim), EXP_FORGET=ctx.exp_forget,
                HAS_INIT=init is not None, HAS_DY=dy is not None,
                HAS_DFINAL=d_final is not None, STORE_DINIT=d_init is not None,
            )
        y_prev = _previous_outputs(y_hist.view(batch * length, heads, head_dim), y0, cu)
        dR = torch.einsum("thj,thk->hjk", y_prev, draw).to(R.dtype)
        db = draw.sum(0).to(ctx.b_dtype) if ctx.has_bias else None
        dx = draw.view(batch, length, heads, 4 * head_dim).to(ctx.x_dtype)
        if d_init is None:
            d_init = [None] * 4
        else:
            d_init = [g.to(s.dtype) for g, s in zip(d_init, init)]
        return dx, dR, db, *d_init, None, None, None


def slstm_triton(
    x: Tensor,
    R: Tensor,
    b: Tensor | None = None,
    *,
    forget_gate: str = "sigmoid",
    initial_state: SLSTMState | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
) -> tuple[Tensor, SLSTMState | None]:
    """The sLSTM in Triton, with Triton gradients (same arguments and results as `slstm_reference`).

    x: [B, T, H, 4*Dh] (gates i, f, z, o, gate-major per head); R: [H, Dh, 4*Dh] with Dh <= 64; b: [H, 4*Dh]
    (zeros when None); forget_gate "sigmoid" (xlstm) or "exp"; initial_state (y, c, n, m), each [N, H, Dh],
    zeros when None; N = B, or the number of sequences in cu_seqlens ([N + 1], B == 1). float32, float16
    or bfloat16 inputs, float32 computation; CUDA, or CPU under TRITON_INTERPRET=1.

    Returns (y [B, T, H, Dh] in x's dtype, final state (y, c, n, m) float32, or None unless
    output_final_state).
    """
    op = "slstm_triton"
    check_forget_gate(op, forget_gate)
    check_sequence_inputs(op, x, R, b, initial_state, cu_seqlens)
    reason = triton_unsupported(x, R, b, initial_state)
    if reason is not None:
        raise ValueError(f"{op} cannot run this call: {reason}")
    y, *final_state = _SLSTMTriton.apply(
        x, R, b, *(initial_state or [None] * 4), cu_seqlens, forget_gate == "exp", output_final_state
    )
    return y, (tuple(final_state) if output_final_state else None)

