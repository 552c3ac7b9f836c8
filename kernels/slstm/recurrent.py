"""The sLSTM for the CPU: the sequential recurrence, off the autograd tape, with a hand-written backward
through time. The CPU path (backend "torch").

The sLSTM is non-linear in its state (the gates read y_{t-1} through R), so there is no chunk-parallel
form: the work per token is one small matmul y_{t-1} R and a dozen elementwise ops on [H, N, Dh] tensors,
and at small sizes the cost is the number of ops per token, not their size. So:

- the layout inside is time-major and head-first, [T, H, N, ...]: the recurrent matmul of all heads is one
  `baddbmm_` (y_{t-1} [H, N, Dh] @ R [H, Dh, 4*Dh], added in place to x_t + b, computed once for all t);
- every per-token op writes into buffers made once per call (`out=` and in-place ops: no allocation, no
  graph), 13 of them per token; c and n sit side by side ([.., 2, Dh]) as do log f + m_{t-1} and raw_i,
  so that one op updates both: (c, n) <- f (c, n) + i (tanh(z), 1), (f, i) = exp((lf, raw_i) - m_t);
- the forward keeps the pre-activations raw_t [T, H, N, 4*Dh] and the states y, c, n, m of every token
  ([T + 1, H, N, Dh] each): 8 floats per token and unit, nothing else;
- the backward walks blocks of tokens last to first; per block it recomputes the gates and every
  coefficient of the adjoint for all the block's tokens at once (vectorised), so that its loop over the
  tokens is 11 in-place ops each: the adjoint (dL/dy_t, dL/dc_t, dL/dn_t, dL/dm_t) runs last to first,
  the recurrent part of dL/dy_t being one `baddbmm` draw_{t+1} R^T; dR, db and dx come after the loop
  from the gate gradients draw [T, H, N, 4*Dh] by one batched matmul and one sum.

The adjoint of one token (sel = 1 where m_t = raw_i, 0 where m_t = lf_t; f~ = f_t, or 0 where the
min(., 0) of the forget gate acts):

    gy  = dL/dy_t  (output, final state, and draw_{t+1} R^T)
    dc  = dc + gy o / n_t,          dn = dn - gy y_t / n_t,          d raw_o = gy y_t (1 - o)
    a_i = (dc tanh(z) + dn) i_t,    a_f = (dc c_{t-1} + dn n_{t-1}) f~,     d raw_z = dc i_t (1 - tanh(z)^2)
    d raw_i = a_i + sel (dm - a_i - a_f),   d lf = dm - d raw_i,   d raw_f = d lf * sigmoid(-raw_f) (or d lf)
    dL/dc_{t-1} = f_t dc,   dL/dn_{t-1} = f_t dn,   dL/dm_{t-1} = d lf

(with K_c = (1 - sel) tanh(z) i_t - sel f~ c_{t-1} and K_n = (1 - sel) i_t - sel f~ n_{t-1}, computed ahead,
d raw_i = K_c dc + K_n dn + sel dm: three ops in the loop).

Varlen batches are padded into [N, T_max] rows: every sequence starts at step 0, the final state of
sequence s is the state after its last token (gathered from the stored states), and the backward adds its
gradient to the adjoint at that step; tokens past a sequence's end get no gradient, so none flows from them.
The zero-state rule (m_t = raw_i where n_{t-1} == 0) is applied at the first token only: every state this
recurrence makes has n > 0 (where m_t = lf_t, f_t = 1 and n_t >= n_{t-1}; elsewhere i_t = 1 and n_t >= 1),
so for n_0 >= 0 the result is the reference's.

Speed (one thread, float32, forward + backward, against the reference loop with autograd): T = 1024, B = 1,
H = 4, Dh = 64: ~4x faster; B = 32, H = 4, Dh = 128, T = 128 (where the matmuls dominate): ~1.4x."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..precision import accumulation_dtype
from ..varlen import pad_packed, unpad_to_packed
from .cell import SLSTMState, zero_state


# Tokens per block of the backward, which computes the adjoint's coefficients of a block at once: at most
# _BLOCK, fewer when a block's [L, H, N, Dh] tensors would pass _BLOCK_ELEMENTS (they then stay in cache).
_BLOCK = 64
_BLOCK_ELEMENTS = 1 << 16


def _gate_steps(tensor: Tensor, head_dim: int) -> list[tuple[Tensor, ...]]:
    """[T, H, N, 4*Dh] -> per gate (i, f, z, o), the per-token views [H, N, Dh]."""
    gates = tensor.view(*tensor.shape[:-1], 4, head_dim).unbind(-2)
    return [g.unbind(0) for g in gates]


def _ends(lengths: list[int] | None, length: int) -> dict[int, list[int]]:
    """{step e: the sequences whose final state is the state after e tokens}; all at `length` when dense."""
    if lengths is None:
        return {length: None}
    ends: dict[int, list[int]] = {}
    for s, n in enumerate(lengths):
        ends.setdefault(n, []).append(s)
    return ends


class _SLSTMRecurrent(torch.autograd.Function):
    """(x, R, b, y0, c0, n0, m0, exp_forget, lengths) -> (y, final y, c, n, m).

    x: [T, H, N, 4*Dh] (time-major, head-first); R: [H, Dh, 4*Dh]; b: [H, 4*Dh]; y0, c0, n0, m0: [H, N, Dh];
    lengths: the number of real tokens of each row (None: all T). Returns y [N, T, H, Dh] and the final
    states [N, H, Dh] (row s after lengths[s] tokens).
    """

    @staticmethod
    def forward(ctx, x, R, b, y0, c0, n0, m0, exp_forget, lengths):
        length, heads, rows, _ = x.shape
        head_dim = R.shape[1]
        # [T, H, N, 4*Dh] contiguous (x is a permuted view; a plain x + b would keep its strides); y_{t-1} R
        # is added per token.
        raw = torch.add(x, b[:, None, :], out=x.new_empty(x.shape))
        # The states after every token (entry 0: the initial state); c and n side by side, [.., 2, Dh], so
        # that one op updates both: (c, n) <- f (c, n) + i (tanh(z), 1).
        ys, ms = (x.new_empty(length + 1, heads, rows, head_dim) for _ in range(2))
        cns = x.new_empty(length + 1, heads, rows, 2, head_dim)
        ys[0], cns[0, :, :, 0], cns[0, :, :, 1], ms[0] = y0, c0, n0, m0
        raw_steps = raw.unbind(0)
        i_steps, f_steps, z_steps, o_steps = _gate_steps(raw, head_dim)
        y_steps, m_steps, cn_steps = ys.unbind(0), ms.unbind(0), cns.unbind(0)
        c_steps, n_steps = cns[:, :, :, 0].unbind(0), cns[:, :, :, 1].unbind(0)
        m_cols = ms[:, :, :, None].unbind(0)  # [H, N, 1, Dh]
        # Work space: (log f + m_{t-1}, raw_i) side by side, then (f, i) = exp(. - m_t) in one op.
        logs = x.new_empty(heads, rows, 2, head_dim)
        log_f, log_i = logs.unbind(2)
        f_gate, i_gate = logs[:, :, 0:1], logs[:, :, 1:2]
        z_one = x.new_ones(heads, rows, 2, head_dim)  # (tanh(z), 1)
        tanh_z = z_one[:, :, 0]
        o_gate = x.new_empty(heads, rows, head_dim)
        fresh = n0 == 0
        any_fresh = bool(fresh.any()) if length else False
        for t in range(length):
            raw_steps[t].baddbmm_(y_steps[t], R)
            if exp_forget:
                torch.add(f_steps[t], m_steps[t], out=log_f)
            else:
                torch.add(F.logsigmoid(f_steps[t]), m_steps[t], out=log_f)
            log_i.copy_(i_steps[t])
            torch.maximum(log_f, log_i, out=m_steps[t + 1])
            if t == 0 and any_fresh:  # xlstm's zero-state rule: m_1 = raw_i where n_0 == 0
                m_steps[1].copy_(torch.where(fresh, log_i, m_steps[1]))
                torch.sub(logs, m_cols[1], out=logs)
                log_f.clamp_(max=0)
            else:
                torch.sub(logs, m_cols[t + 1], out=logs)
            logs.exp_()
            torch.tanh(z_steps[t], out=tanh_z)
            torch.mul(cn_steps[t], f_gate, out=cn_steps[t + 1]).addcmul_(z_one, i_gate)
            torch.sigmoid(o_steps[t], out=o_gate)
            torch.div(c_steps[t + 1], n_steps[t + 1], out=y_steps[t + 1]).mul_(o_gate)

        cs, ns = cns.unbind(3)
        ends = _ends(lengths, length)
        finals = [h.new_empty(rows, heads, head_dim) for h in (ys, cs, ns, ms)]  # [N, H, Dh]
        for step, seqs in ends.items():
            for final, history in zip(finals, (ys, cs, ns, ms)):
                if seqs is None:
                    final.copy_(history[step].transpose(0, 1))
                else:
                    final[seqs] = history[step][:, seqs].transpose(0, 1)
        ctx.save_for_backward(raw, R, ys, cns, ms)
        ctx.exp_forget, ctx.ends, ctx.any_fresh = exp_forget, ends, any_fresh
        ctx.set_materialize_grads(False)
        return (ys[1:].permute(2, 0, 1, 3).contiguous(), *finals)  # y [N, T, H, Dh]

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dy_T, dc_T, dn_T, dm_T):
        raw, R, ys, cns, ms = ctx.saved_tensors
        length, heads, rows, _ = raw.shape
        head_dim = R.shape[1]
        RT = R.transpose(1, 2)
        draw = raw.new_empty(length, heads, rows, 4, head_dim)  # the gates' gradients, (i, f, z, o)
        d_i, d_f, d_z, d_o = (g.unbind(0) for g in draw.unbind(3))
        draw_steps = draw.flatten(-2).unbind(0)  # [H, N, 4*Dh]
        dy_steps = None if dy is None else dy.permute(1, 2, 0, 3).contiguous().unbind(0)  # [H, N, Dh] each
        # The adjoint: dL/dy_t (gy), dL/dc_t and dL/dn_t side by side (dcn), dL/dm_t.
        gy = raw.new_zeros(heads, rows, head_dim)
        dcn = raw.new_zeros(heads, rows, 2, head_dim)
        dc, dn = dcn.unbind(2)
        dm = raw.new_zeros(heads, rows, head_dim)
        finals = [
            (carry, grad.transpose(0, 1))  # [H, N, Dh]
            for carry, grad in ((gy, dy_T), (dc, dc_T), (dn, dn_T), (dm, dm_T)) if grad is not None
        ]

        def add_final_grads(step: int) -> None:
            """Add the final state's gradients of the sequences that end after `step` tokens."""
            seqs = ctx.ends.get(step, ())
            for carry, grad in finals if seqs != () else ():
                if seqs is None:
                    carry.add_(grad)
                else:
                    carry[:, seqs] += grad[:, seqs]

        block = max(1, min(_BLOCK, _BLOCK_ELEMENTS // max(heads * rows * head_dim, 1)))
        for end in range(length, 0, -block):
            begin = max(0, end - block)
            coef = _adjoint_coefficients(ctx, raw, ys, cns, ms, begin, end)
            coef_cn, coef_o, coef_z, k_c, k_n, sel, f_col, coef_f = (
                None if c is None else c.unbind(0) for c in coef
            )
            for t in range(end - 1, begin - 1, -1):
                i = t - begin
                if t == length - 1 and dy is None:
                    gy.zero_()
                elif t == length - 1:
                    gy.copy_(dy_steps[t])
                elif dy is None:
                    torch.bmm(draw_steps[t + 1], RT, out=gy)
                else:
                    torch.baddbmm(dy_steps[t], draw_steps[t + 1], RT, out=gy)
                add_final_grads(t + 1)
                dcn.addcmul_(gy[:, :, None], coef_cn[i])
                torch.mul(gy, coef_o[i], out=d_o[t])
                torch.mul(dc, coef_z[i], out=d_z[t])
                torch.mul(dc, k_c[i], out=d_i[t]).addcmul_(dn, k_n[i]).addcmul_(dm, sel[i])
                dm.sub_(d_i[t])  # d lf, which is dL/dm_{t-1}
                if coef_f is None:
                    d_f[t].copy_(dm)
                else:
                    torch.mul(dm, coef_f[i], out=d_f[t])
                dcn.mul_(f_col[i])
        if length:
            torch.bmm(draw_steps[0], RT, out=gy)  # dL/dy_0 through the first token's gates
        add_final_grads(0)

        # dR = sum over tokens and rows of y_{t-1}^T draw_t; db = sum of draw; dx = draw.
        draw = draw.view(length, heads, rows, 4 * head_dim)
        y_prev = ys[:-1].permute(1, 0, 2, 3).reshape(heads, length * rows, head_dim)
        dR = y_prev.transpose(1, 2) @ draw.permute(1, 0, 2, 3).reshape(heads, length * rows, 4 * head_dim)
        db = draw.sum(0).sum(1)  # over T first: a contiguous reduction
        return draw, dR, db, gy, dc, dn, dm, None, None


def _adjoint_coefficients(ctx, raw, ys, cns, ms, begin, end):
    """The coefficients of the adjoint of tokens begin..end-1 (the module docstring's, expanded), for all of
    them at once: (A_cn [L, H, N, 2, Dh] = (o / n_t, -y_t / n_t), A_o = y_t (1 - o), A_z = i (1 - tanh(z)^2),
    K_c, K_n, sel, f [L, H, N, 1, Dh], s = sigmoid(-raw_f) or None for the exp forget gate), with

        K_c = (1 - sel) tanh(z) i - sel f~ c_{t-1},   K_n = (1 - sel) i - sel f~ n_{t-1}

    so that d raw_i = K_c dc + K_n dn + sel dm (dc, dn after adding gy A_cn)."""
    length, heads, rows, head_dim = end - begin, raw.shape[1], raw.shape[2], ms.shape[-1]
    raw_i, raw_f, raw_z, raw_o = raw[begin:end].view(length, heads, rows, 4, head_dim).unbind(-2)
    c_prev, n_prev = cns[begin:end].unbind(3)
    n_new = cns[begin + 1 : end + 1, :, :, 1]
    m_prev, m_new, y_new = ms[begin:end], ms[begin + 1 : end + 1], ys[begin + 1 : end + 1]
    lf = (raw_f if ctx.exp_forget else F.logsigmoid(raw_f)) + m_prev
    sel = (raw_i >= lf).to(raw.dtype)
    f_exponent = lf - m_new
    if begin == 0 and ctx.any_fresh:
        sel[0].masked_fill_(n_prev[0] == 0, 1.0)
        f_exponent[0].clamp_(max=0)
    f_gate = f_exponent.exp()
    f_deriv = f_gate.masked_fill((lf - m_new) > 0, 0.0)  # the forget gate's min(., 0) has no gradient
    i_gate = (raw_i - m_new).exp()
    z_act = raw_z.tanh()
    o_gate = raw_o.sigmoid()
    coef_cn = torch.stack((o_gate / n_new, -y_new / n_new), dim=3)
    keep = 1 - sel
    k_c = keep * z_act * i_gate - sel * f_deriv * c_prev
    k_n = keep * i_gate - sel * f_deriv * n_prev
    coef_f = None if ctx.exp_forget else torch.sigmoid(-raw_f)
    return (
        coef_cn, y_new * (1 - o_gate), i_gate * (1 - z_act * z_act), k_c, k_n, sel, f_gate[:, :, :, None], coef_f,
    )


def slstm_recurrent(
    x: Tensor,
    R: Tensor,
    b: Tensor | None = None,
    *,
    forget_gate: str = "sigmoid",
    initial_state: SLSTMState | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
) -> tuple[Tensor, SLSTMState | None]:
    """The sLSTM as `slstm_reference` (same arguments and results), run as a sequential loop off the
    autograd tape with a hand-written backward through time (module docstring).

    x: [B, T, H, 4*Dh] (gates i, f, z, o, gate-major per head); R: [H, Dh, 4*Dh]; b: [H, 4*Dh] (zeros when
    None); forget_gate "sigmoid" (xlstm) or "exp"; initial_state (y, c, n, m), each [N, H, Dh] with n >= 0,
    zeros when None; N = B, or the number of sequences in cu_seqlens ([N + 1], B == 1). Accumulates in
    float64 when an input is float64, else float32. Memory: 8 floats per token and unit (the
    pre-activations and states of every token). Not twice differentiable.

    Returns (y [B, T, H, Dh] in x's dtype, final state (y, c, n, m) in the compute dtype, or None unless
    output_final_state).
    """
    dtype = accumulation_dtype(x, R, b, *(initial_state or ()))
    batch, length, heads, _ = x.shape
    head_dim = R.shape[1]
    xs = x.to(dtype)
    b = xs.new_zeros(heads, 4 * head_dim) if b is None else b.to(dtype)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    if initial_state is None:
        initial_state = zero_state(num_states, heads, head_dim, xs)
    state = [s.to(dtype).transpose(0, 1) for s in initial_state]  # [H, N, Dh]

    lengths = None
    if cu_seqlens is not None:
        bounds = cu_seqlens.tolist()
        lengths = [e - s for s, e in zip(bounds, bounds[1:])]
        xs = pad_packed(xs, cu_seqlens)  # [N, T_max, H, 4*Dh]
    y, *final_state = _SLSTMRecurrent.apply(
        xs.permute(1, 2, 0, 3), R.to(dtype), b, *state, forget_gate == "exp", lengths
    )
    if cu_seqlens is not None:
        y = unpad_to_packed(y, cu_seqlens)
    final_state = tuple(final_state) if output_final_state else None
    return y.to(x.dtype), final_state
