"""`ssd_scan`: Mamba-2's SSD over a sequence, with mamba_ssm's `mamba_chunk_scan_combined` conventions: validates
the inputs, maps them onto the scan (inputs.py) and runs the scan form that `backend` names."""

from __future__ import annotations

from torch import Tensor

from ..checks import check_backend, check_log_decay, check_shape
from ..precision import accumulation_dtype
from ..scan import scan
from ..varlen import check_cu_seqlens
from .checks import BACKENDS, check_ssd_inputs
from .inputs import NO_LIMIT, scan_inputs, skip_and_gate


def ssd_scan(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    *,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    dt_limit: tuple[float, float] = NO_LIMIT,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    chunk_size: int = 64,
    backend: str = "auto",
) -> tuple[Tensor, Tensor | None]:
    """Mamba-2 SSD over a sequence, as mamba_ssm's `mamba_chunk_scan_combined`.

    x: [B, T, H, P]; dt: [B, T, H]; A: [H], <= 0 (the log-decay dt * A must be <= 0 for the "torch" and "triton"
    forms: a ValueError otherwise); B, C: [B, T, G, N] with H % G == 0 (head h reads group
    h // (H // G)); D: [H] or [H, P]; z: [B, T, H, P] (y *= silu(z)); dt_bias: [H].
    dt is processed as dt + dt_bias, then softplus if dt_softplus, then clamped to dt_limit (the default
    (0, inf) clamps a negative dt to 0, as mamba_ssm does). initial_state: [N_seq, H, N, P], N_seq = B, or the number of sequences in
    cu_seqlens ([N_seq + 1], B == 1). Note the state layout [.., H, N, P]: the transpose of
    mamba_ssm's [.., H, P, N]. chunk_size and backend as in `scan`. D and z are keyword-only: z has x's shape,
    and mamba_ssm's sixth positional argument is chunk_size.
    Computes in float64 when an input is float64, else float32.

    Returns (y [B, T, H, P] in x's dtype, final_state [N_seq, H, N, P] or None unless output_final_state).
    """
    check_backend("ssd_scan", backend, BACKENDS)
    check_shape("ssd_scan", "x", x, "B, T, H, P", [None] * 4)
    batch, length = x.shape[:2]
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    check_ssd_inputs(
        "ssd_scan", x, dt, A, B, C, D, z, dt_bias, initial_state,
        lead="B, T", num_states=num_states, state_name="initial_state",
        state_source="x and B" if cu_seqlens is None else "cu_seqlens, x and B",
    )
    dtype = accumulation_dtype(x, dt, A, B, C, D, z, dt_bias, initial_state)
    q, k, v, g = scan_inputs(x, dt, A, B, C, dt_bias, dt_softplus, dt_limit, dtype)
    if backend != "reference":
        check_log_decay("ssd_scan", "dt * A", g, "A must be <= 0 (and dt_limit[0] >= 0)")
    y, final_state = scan(
        q, k, v, g,
        scale=1.0, initial_state=initial_state, output_final_state=output_final_state,
        cu_seqlens=cu_seqlens, chunk_size=chunk_size, backend=backend,
    )
    return skip_and_gate(y, v, D, z).to(x.dtype), final_state
