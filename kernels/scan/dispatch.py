"""`scan`: validates the inputs, then runs the form that `backend` names."""

from __future__ import annotations

from torch import Tensor

from ..checks import check_backend, check_chunk_size, check_shape
from ..triton_support import load_triton_form, resolve_triton_or_torch
from ..varlen import check_cu_seqlens
from .checks import BACKENDS, check_scan_inputs
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
    """Gated linear attention with a matrix state and a decay per head or per key channel:

        S_t = exp(g_t) * S_{t-1} + k_t v_t^T,    o_t = S_t^T (scale * q_t)

    q, k: [B, T, H, K]; v: [B, T, H, V]; g: log-decay, [B, T, H] for a scalar per head (Mamba-2,
    retention) or [B, T, H, K] for one per key channel (GLA: S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T),
    <= 0 for the "torch" and "triton" forms (a ValueError otherwise: they never overflow because every
    exponential they take is of a number <= 0; "reference" runs the loop for any sign);
    scale None means K ** -0.5; initial_state: [N, H, K, V] (zeros when None), N = B, or the number
    of sequences when cu_seqlens ([N + 1], int32/int64, B == 1) packs several into one row;
    chunk_size: tokens per chunk; backend: "auto" (Triton on CUDA where it applies, see
    `triton_scan.triton_unsupported`: float16/bfloat16/float32, chunk_size a power of two >= 16; chunked torch
    otherwise), "torch" (chunked),
    "triton" (forced; CUDA, or CPU under TRITON_INTERPRET=1) or "reference" (the loop over time).

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] in float32 (float64 when an
    input is float64), or None unless output_final_state).
    """
    check_backend("scan", backend, BACKENDS)
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
    check_chunk_size("scan", chunk_size)

    options = dict(
        scale=scale, initial_state=initial_state, output_final_state=output_final_state, cu_seqlens=cu_seqlens
    )
    triton_module = "triton_gla" if g.ndim == q.ndim else "triton_scan"  # a decay per key channel, or per head
    form = resolve_triton_or_torch(
        "scan", backend, q.is_cuda, __package__, triton_module, q, k, v, g, initial_state, chunk_size
    )
    if form == "reference":
        return scan_reference(q, k, v, g, **options)
    if form == "triton":
        module = load_triton_form(__package__, triton_module)
        run = module.scan_triton_gla if g.ndim == q.ndim else module.scan_triton
        return run(q, k, v, g, chunk_size=chunk_size, **options)
    return scan_chunked(q, k, v, g, chunk_size=chunk_size, **options)
