"""The sLSTM in Triton: a sequential forward and a reverse-time backward kernel in a `torch.autograd.Function`,
with the semantics of `slstm_reference` (the update and the layouts: cell.py).

One program per (sequence, head) runs over the tokens of its sequence; parallelism is sequences x heads (the
recurrence leaves nothing else), so the kernels are latency-bound. Two forms of the kernels, by head size:
  - register (triton_slstm_register.py), Dh <= REGISTER_MAX_HEAD_DIM: the head's recurrent block R[h]
    ([Dh, 4*Dh]) and the state (y, c, n, m) stay in registers for the whole sequence;
  - tiled (triton_slstm_tiled.py), larger heads (xLSTM's Dh = 128..512; any Dh): R[h] is reloaded every token
    in [BJ, BK] tiles from global memory (L2-resident), gate by gate and block of units by block of units,
    and the running state goes through a per-program scratch buffer in global memory, with a barrier
    between tokens.
Both compute the same thing in the same float32 arithmetic (the cell: triton_slstm_cell.py), and take the
same buffers:

  1. forward  the recurrence; stores y_t (float32, the output) and, when a gradient is needed, the
              pre-activations raw_t = x_t + b + y_{t-1} R[h] ([T, H, 4*Dh]) and c_t, n_t, m_t
              ([T, H, Dh]) of every token, all float32: what the backward reads; and the final state.
  2. backward runs the tokens last to first. Per token it reloads raw_t and the states around it,
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
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..triton_support import interpreting, unsupported_device, unsupported_dtype
from .cell import SLSTMState
from .checks import check_forget_gate, check_sequence_inputs
from .triton_slstm_register import _bwd_kernel, _fwd_kernel
from .triton_slstm_tiled import SCRATCH_PARTS, _bwd_tiled_kernel, _fwd_tiled_kernel

INTERPRET = interpreting()
# Heads up to this size keep R[h] in registers: 4 * Dh^2 float32 per program (16K at Dh = 64, spread over up to
# 8 warps); larger ones take the tiled kernels. Read at each call (tests lower it to run the tiled kernels).
REGISTER_MAX_HEAD_DIM = 64


def kernel_form(head_dim: int) -> str:
    """Which kernels run heads of `head_dim` units: "register" or "tiled"."""
    return "register" if head_dim <= REGISTER_MAX_HEAD_DIM else "tiled"


def triton_unsupported(
    x: Tensor, R: Tensor, b: Tensor | None = None, initial_state: SLSTMState | None = None
) -> str | None:
    """Why `slstm_triton` cannot run this (otherwise valid) call, or None if it can. Every head size can."""
    named = dict(x=x, R=R, b=b)
    named.update({f"initial_state {p}": s for p, s in zip("ycnm", initial_state or ())})
    return unsupported_device(INTERPRET, __name__, **named) or unsupported_dtype(**named)


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
        tiled = kernel_form(head_dim) == "tiled"
        if num_seqs * heads > 0:
            args = (x, R, _dummy(b, R), *(init or [y_hist] * 4), raw, y_hist, *hists, *(finals or [y_hist] * 4))
            flags = dict(
                DH=head_dim, EXP_FORGET=exp_forget, HAS_BIAS=b is not None, HAS_INIT=init is not None, SAVE=save,
                STORE_FINAL=finals is not None,
            )
            if tiled:
                scratch = torch.empty(num_seqs * heads, SCRATCH_PARTS * head_dim, **f32)
                _fwd_tiled_kernel[(num_seqs * heads,)](*args, scratch, cu, heads, **flags)
            else:
                _fwd_kernel[(num_seqs * heads,)](*args, cu, heads, BLOCK=triton.next_power_of_2(head_dim), **flags)
        if save:
            ctx.save_for_backward(R, *(init or [None] * 4), raw, y_hist, *hists, cu)
        ctx.x_dtype, ctx.x_shape, ctx.has_bias = x.dtype, x.shape, b is not None
        ctx.b_dtype = None if b is None else b.dtype
        ctx.exp_forget, ctx.tiled = exp_forget, tiled
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
            args = (
                R, *(init[1:] if init is not None else [y_hist] * 3), raw, y_hist, c_hist, n_hist, m_hist,
                _dummy(dy, y_hist), *(d_final or [y_hist] * 4), draw, *(d_init or [y_hist] * 4),
            )
            flags = dict(
                DH=head_dim, EXP_FORGET=ctx.exp_forget, HAS_INIT=init is not None, HAS_DY=dy is not None,
                HAS_DFINAL=d_final is not None, STORE_DINIT=d_init is not None,
            )
            if ctx.tiled:
                scratch = torch.empty(num_seqs * heads, SCRATCH_PARTS * head_dim, **f32)
                _bwd_tiled_kernel[(num_seqs * heads,)](*args, scratch, cu, heads, **flags)
            else:
                _bwd_kernel[(num_seqs * heads,)](*args, cu, heads, BLOCK=triton.next_power_of_2(head_dim), **flags)
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

    x: [B, T, H, 4*Dh] (gates i, f, z, o, gate-major per head); R: [H, Dh, 4*Dh] (any Dh); b: [H, 4*Dh]
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

