"""`scan`: validates the inputs, then runs the form that `backend` names."""

from __future__ import annotations

from torch import Tensor

from ..varlen import check_cu_seqlens
from .checks import check_backend, check_scan_inputs, check_shape
from .chunked import scan_chunked
from .reference import scan_reference


def scan(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    *,
    scale: float | None = None,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    chunk_size: int = 64,
    backend: str = "auto",
) -> tuple[Tensor, Tensor | None]:
    """Gated linear attention with a matrix state and a scalar decay per head:

        S_t = exp(g_t) * S_{t-1} + k_t v_t^T,    o_t = S_t^T (scale * q_t)

    q, k: [B, T, H, K]; v: [B, T, H, V]; g: [B, T, H] log-decay (<= 0 for a decay);
    scale None means K ** -0.5; initial_state: [N, H, K, V] (zeros when None), N = B, or the number
    of sequences when cu_seqlens ([N + 1], int32/int64, B == 1) packs several into one row;
    chunk_size: tokens per chunk of the chunked form; backend: "auto" (chunked torch), "torch"
    (chunked) or "reference" (the loop over time).

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] in float32 (float64 when an
    input is float64), or None unless output_final_state).
    """
    check_backend("scan", backend)
    check_shape("scan", "q", q, "B, T, H, K", [None] * 4)
    batch, length = q.shape[:2]
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    source = "q and v" if cu_seqlens is None else "cu_seqlens, q and v"
    check_scan_inputs(
        "scan", q, k, v, g, initial_state,
        lead="B, T", num_states=num_states, state_name="initial_state", state_source=source,
    )
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"scan: chunk_size must be a positive int, got {chunk_size!r}")

    options = dict(
        scale=scale, initial_state=initial_state, output_final_state=output_final_state, cu_seqlens=cu_seqlens
    )
    if backend == "reference":
        return scan_reference(q, k, v, g, **options)
    return scan_chunked(q, k, v, g, chunk_size=chunk_size, **options)
