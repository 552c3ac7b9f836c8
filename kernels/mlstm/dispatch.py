"""`mlstm_scan`: validates the inputs, then runs the mLSTM form that `backend` names.

The mLSTM is the scan with an exponential input gate, a normaliser n and a max-stabiliser m; its
conventions are mlstm_kernels' (the xLSTM 7B kernels): pre-activation gates, log-sigmoid forget gate,
only q scaled, zero starting state with m = 0, eps added outside the max of the denominator.
"""

from __future__ import annotations

from torch import Tensor

from ..checks import check_backend, check_chunk_size, check_shape
from ..triton_support import load_triton_form, resolve_triton_or_torch
from ..varlen import check_cu_seqlens
from .checks import BACKENDS, check_mlstm_inputs, check_mlstm_options
from .chunked import mlstm_chunked
from .reference import mlstm_reference
from .step import MLSTMState


def mlstm_scan(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    i: Tensor,
    f: Tensor,
    *,
    scale: float | None = None,
    forget_gate: str = "sigmoid",
    eps: float = 1e-6,
    initial_state: MLSTMState | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    chunk_size: int = 64,
    backend: str = "auto",
) -> tuple[Tensor, MLSTMState | None]:
    """The mLSTM with max-stabilised exponential gating over a sequence:

        m_t = max(log f_t + m_{t-1}, i_t)
        C_t = exp(log f_t + m_{t-1} - m_t) C_{t-1} + exp(i_t - m_t) k_t v_t^T
        n_t = exp(log f_t + m_{t-1} - m_t) n_{t-1} + exp(i_t - m_t) k_t
        h_t = C_t^T (scale q_t) / (max(|n_t . (scale q_t)|, exp(-m_t)) + eps)

    q, k: [B, T, H, K]; v: [B, T, H, V]; i: [B, T, H] input-gate pre-activation (the log input gate);
    f: [B, T, H] forget-gate pre-activation: log f = logsigmoid(f) for forget_gate "sigmoid"
    (mlstm_kernels), f for "exp"; scale None means K ** -0.5 (only q is scaled); eps: added outside the
    max; initial_state: (C [N, H, K, V], n [N, H, K], m [N, H]), zeros with m = 0 when None, N = B, or
    the number of sequences when cu_seqlens ([N + 1], int32/int64, B == 1) packs several into one row;
    chunk_size: tokens per chunk of the chunked and Triton forms; backend: "auto" (Triton on CUDA where
    it applies, see `triton_mlstm.triton_unsupported`: float16/bfloat16/float32, chunk_size a power of two
    >= 16; chunked torch otherwise), "torch" (chunked),
    "triton" (forced; CUDA, or CPU under TRITON_INTERPRET=1) or "reference" (the loop over time).

    Returns (h [B, T, H, V] in q's dtype, final state (C, n, m) in float32 (float64 when an input is
    float64), or None unless output_final_state). mlstm_kernels keeps m as [N, H, 1]: squeeze/unsqueeze
    the last axis to exchange states with it.
    """
    check_backend("mlstm_scan", backend, BACKENDS)
    check_mlstm_options("mlstm_scan", forget_gate, eps)
    check_shape("mlstm_scan", "q", q, "B, T, H, K", [None] * 4)
    batch, length = q.shape[:2]
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    source = "q and v" if cu_seqlens is None else "cu_seqlens, q and v"
    check_mlstm_inputs(
        "mlstm_scan", q, k, v, i, f, initial_state,
        lead="B, T", num_states=num_states, state_name="initial_state", state_source=source,
    )
    check_chunk_size("mlstm_scan", chunk_size)

    options = dict(
        scale=scale, forget_gate=forget_gate, eps=eps, initial_state=initial_state,
        output_final_state=output_final_state, cu_seqlens=cu_seqlens,
    )
    form = resolve_triton_or_torch(
        "mlstm_scan", backend, q.is_cuda, __package__, "triton_mlstm", q, k, v, i, f, initial_state, chunk_size
    )
    if form == "reference":
        return mlstm_reference(q, k, v, i, f, **options)
    if form == "triton":
        triton_form = load_triton_form(__package__, "triton_mlstm").mlstm_triton
        return triton_form(q, k, v, i, f, chunk_size=chunk_size, **options)
    return mlstm_chunked(q, k, v, i, f, chunk_size=chunk_size, **options)
