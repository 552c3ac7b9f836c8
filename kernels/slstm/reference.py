"""The sLSTM as defined (xlstm's vanilla cell): the stabilised recurrence, one token at a time, with torch
autograd. Exact (float64-capable); the oracle of the tests."""

from __future__ import annotations

import torch
from torch import Tensor

from ..precision import accumulation_dtype
from .cell import SLSTMState, recurrent_input, slstm_cell, zero_state


def _recurrence(x: Tensor, R: Tensor, b: Tensor, state: SLSTMState, forget_gate: str) -> tuple[Tensor, SLSTMState]:
    """x: [N, T, H, 4*Dh], R: [H, Dh, 4*Dh], b: [H, 4*Dh], state (y, c, n, m) [N, H, Dh]
    -> (y [N, T, H, Dh], final state)."""
    outputs = []
    for x_t in x.unbind(1):
        state = slstm_cell(x_t + recurrent_input(state[0], R) + b, state, forget_gate)
        outputs.append(state[0])
    if not outputs:
        return x.new_empty(*x.shape[:-1], R.shape[1]), state
    return torch.stack(outputs, dim=1), state


def slstm_reference(
    x: Tensor,
    R: Tensor,
    b: Tensor | None = None,
    *,
    forget_gate: str = "sigmoid",
    initial_state: SLSTMState | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
) -> tuple[Tensor, SLSTMState | None]:
    """The sLSTM, one token at a time (the update and the layouts: kernels/slstm/cell.py):

        raw_t = x_t + y_{t-1} R + b,    m_t = max(raw_i, log f(raw_f) + m_{t-1})   (raw_i where n_{t-1} == 0)
        c_t = f_t c_{t-1} + i_t tanh(raw_z),    n_t = f_t n_{t-1} + i_t,    y_t = sigmoid(raw_o) c_t / n_t

    x: [B, T, H, 4*Dh] (gates i, f, z, o, gate-major per head); R: [H, Dh, 4*Dh]; b: [H, 4*Dh] (zeros when
    None); forget_gate: "sigmoid" (log f = logsigmoid, xlstm) or "exp" (log f = raw_f);
    initial_state: (y, c, n, m), each [N, H, Dh], zeros when None; N = B, or the number of sequences when
    cu_seqlens ([N + 1], B == 1) packs several into one row: every sequence starts from its own state.
    Computes in float64 when an input is float64, else float32.

    Returns (y [B, T, H, Dh] in x's dtype, final state (y, c, n, m) in the compute dtype, or None unless
    output_final_state).
    """
    dtype = accumulation_dtype(x, R, b, *(initial_state or ()))
    batch, _, heads, _ = x.shape
    head_dim = R.shape[1]
    xs, R = x.to(dtype), R.to(dtype)
    b = xs.new_zeros(heads, 4 * head_dim) if b is None else b.to(dtype)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    if initial_state is None:
        initial_state = zero_state(num_states, heads, head_dim, xs)
    initial_state = tuple(s.to(dtype) for s in initial_state)

    if cu_seqlens is None:
        y, final_state = _recurrence(xs, R, b, initial_state, forget_gate)
    else:
        bounds = cu_seqlens.tolist()
        pieces = [
            _recurrence(xs[:, s:e], R, b, tuple(part[i : i + 1] for part in initial_state), forget_gate)
            for i, (s, e) in enumerate(zip(bounds, bounds[1:]))
        ]
        y = torch.cat([piece[0] for piece in pieces], dim=1)
        final_state = tuple(torch.cat([piece[1][j] for piece in pieces], dim=0) for j in range(4))
    return y.to(x.dtype), (final_state if output_final_state else None)
