"""`slstm`: validates the inputs, then runs the form that `backend` names."""

from __future__ import annotations

from torch import Tensor

from ..checks import check_backend
from ..triton_support import load_triton_form, resolve_triton_or_torch
from .cell import SLSTMState
from .checks import BACKENDS, check_forget_gate, check_sequence_inputs
from .recurrent import slstm_recurrent
from .reference import slstm_reference


def _resolve(backend: str, x: Tensor, R: Tensor, b: Tensor | None, initial_state: SLSTMState | None) -> str:
    """The form that runs (`triton_support.resolve_triton_or_torch`)."""
    return resolve_triton_or_torch("slstm", backend, x.is_cuda, __package__, "triton_slstm", x, R, b, initial_state)


def slstm(
    x: Tensor,
    R: Tensor,
    b: Tensor | None = None,
    *,
    forget_gate: str = "sigmoid",
    initial_state: SLSTMState | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    backend: str = "auto",
) -> tuple[Tensor, SLSTMState | None]:
    """The sLSTM (xLSTM's scalar-memory cell with exponential gating, normaliser and max-stabiliser, and
    block-diagonal recurrent weights per head), as xlstm's vanilla cell in a sequence-first layout:

        raw_t = x_t + y_{t-1} R + b                       gates (i, f, z, o)
        m_t = max(raw_i, log f(raw_f) + m_{t-1})          (raw_i where n_{t-1} == 0: a fresh state)
        i_t = exp(raw_i - m_t),  f_t = exp(log f(raw_f) + m_{t-1} - m_t)
        c_t = f_t c_{t-1} + i_t tanh(raw_z),  n_t = f_t n_{t-1} + i_t,  y_t = sigmoid(raw_o) c_t / n_t

    x: [B, T, H, 4*Dh], the input part of the gate pre-activations (W x_t), gate-major per head
    (x[..., g*Dh:(g+1)*Dh] is gate g of i, f, z, o); R: [H, Dh, 4*Dh], R[h, j, g*Dh + k] from unit j of
    y_{t-1} to unit k of gate g; b: [H, 4*Dh] (zeros when None); forget_gate: "sigmoid" (log f =
    logsigmoid, xlstm's) or "exp" (log f = raw_f); initial_state: (y, c, n, m), each [N, H, Dh] (n >= 0),
    zeros when None; N = B, or the number of sequences when cu_seqlens ([N + 1], int32/int64, B == 1)
    packs several into one row (each starts from its own state); backend: "auto" (on CUDA the Triton form
    where it applies: float32/float16/bfloat16, any Dh, R[h] in registers up to Dh = 64 and reloaded in tiles
    from L2 above; the torch form otherwise and on CPU), "torch"
    (the sequential loop with a hand-written backward), "triton" (forced; CUDA tensors, or CPU ones under
    TRITON_INTERPRET=1 set before the Triton form is first used) or "reference" (the loop with autograd).
    How xlstm's tensors map to these (a reshape each): kernels/slstm/cell.py.

    Returns (y [B, T, H, Dh] in x's dtype, final state (y, c, n, m), each [N, H, Dh], in float32 (float64
    when an input is float64), or None unless output_final_state).
    """
    op = "slstm"
    check_backend(op, backend, BACKENDS)
    check_forget_gate(op, forget_gate)
    check_sequence_inputs(op, x, R, b, initial_state, cu_seqlens)
    options = dict(
        forget_gate=forget_gate, initial_state=initial_state, output_final_state=output_final_state,
        cu_seqlens=cu_seqlens,
    )
    form = _resolve(backend, x, R, b, initial_state)
    if form == "reference":
        return slstm_reference(x, R, b, **options)
    if form == "triton":
        return load_triton_form(__package__, "triton_slstm").slstm_triton(x, R, b, **options)
    return slstm_recurrent(x, R, b, **options)
