"""One decoding step of the sLSTM: O(1) in the sequence length."""

from __future__ import annotations

from torch import Tensor

from ..checks import check_shape
from ..precision import accumulation_dtype
from .cell import SLSTMState, recurrent_input, slstm_cell, zero_state
from .checks import check_forget_gate, check_slstm_inputs


def slstm_step(
    x_t: Tensor,
    R: Tensor,
    b: Tensor | None = None,
    state: SLSTMState | None = None,
    *,
    forget_gate: str = "sigmoid",
) -> tuple[Tensor, SLSTMState]:
    """Advance the sLSTM by one token (the update of `slstm_cell`, as xlstm's vanilla `step`):

        raw = x_t + y R + b,   m = max(raw_i, log f(raw_f) + m)  (raw_i where n == 0),
        c = f c + i tanh(raw_z),   n = f n + i,   y = sigmoid(raw_o) c / n

    x_t: [B, H, 4*Dh] (gates i, f, z, o, gate-major per head); R: [H, Dh, 4*Dh]; b: [H, 4*Dh] (zeros when
    None); state: (y, c, n, m), each [B, H, Dh], zeros when None; forget_gate "sigmoid" (log f =
    logsigmoid, xlstm) or "exp". Computes in float64 when an input is float64, else float32.

    Returns (y_t [B, H, Dh] in x_t's dtype, new state (y, c, n, m) in the compute dtype).
    """
    op = "slstm_step"
    check_forget_gate(op, forget_gate)
    check_shape(op, "x_t", x_t, "B, H, 4*Dh", [None] * 3)
    check_slstm_inputs(
        op, x_t, R, b, state, lead="B", num_states=x_t.shape[0], state_name="state",
        state_source="x_t and R", suffix="_t",
    )
    dtype = accumulation_dtype(x_t, R, b, *(state or ()))
    batch, heads, _ = x_t.shape
    head_dim = R.shape[1]
    x = x_t.to(dtype)
    state = zero_state(batch, heads, head_dim, x) if state is None else tuple(s.to(dtype) for s in state)
    raw = x + recurrent_input(state[0], R.to(dtype))
    if b is not None:
        raw = raw + b.to(dtype)
    state = slstm_cell(raw, state, forget_gate)
    return state[0].to(x_t.dtype), state
