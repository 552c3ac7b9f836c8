"""`delta_rule`: validates the inputs, then runs the form that `backend` names."""

from __future__ import annotations

from torch import Tensor

from ..checks import check_backend, check_chunk_size, check_shape
from ..triton_support import load_triton_form, resolve_triton_or_torch
from ..varlen import check_cu_seqlens
from .checks import BACKENDS, check_delta_rule_inputs
from .chunked import delta_rule_chunked
from .reference import delta_rule_reference


def delta_rule(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    beta: Tensor,
    g: Tensor | None = None,
    scale: float | None = None,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    use_qk_l2norm_in_kernel: bool = False,
    chunk_size: int = 64,
    backend: str = "auto",
) -> tuple[Tensor, Tensor | None]:
    """The delta rule (DeltaNet), gated when g is given (gated DeltaNet), with fla's conventions:

        S_t = exp(g_t) (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T,    o_t = S_t^T (scale * q_t)

    (the decay applied before the delta update). q, k: [B, T, H, K]; v: [B, T, H, V]; beta: [B, T, H]
    (the writing strength, usually a sigmoid); g: [B, T, H] log-decay or None, <= 0 for the "torch" and
    "triton" forms (a ValueError otherwise; "reference" takes any sign); scale None means
    K ** -0.5; use_qk_l2norm_in_kernel: L2-normalise q and k first (x / sqrt(|x|^2 + 1e-6));
    initial_state: [N, H, K, V] (zeros when None), N = B, or the number of sequences when cu_seqlens
    ([N + 1], int32/int64, B == 1) packs several into one row; chunk_size: tokens per chunk;
    backend: "auto" (Triton on CUDA where it applies, see `triton_delta.triton_unsupported`:
    float16/bfloat16/float32, chunk_size 16, 32 or 64, K <= 256; chunked torch otherwise), "torch"
    (chunked, WY/UT representation), "triton" (forced; CUDA, or CPU under TRITON_INTERPRET=1; chunked WY/UT
    kernels) or "reference" (the loop over time).

    beta and g are keyword-only: they have one shape, and fla's chunk_gated_delta_rule takes them in the
    other order (g, beta), so a positional call could swap them silently.

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] in float32 (float64 when an input
    is float64), or None unless output_final_state).
    """
    check_backend("delta_rule", backend, BACKENDS)
    check_shape("delta_rule", "q", q, "B, T, H, K", [None] * 4)
    batch, length = q.shape[:2]
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    source = "q and v" if cu_seqlens is None else "cu_seqlens, q and v"
    check_delta_rule_inputs(
        "delta_rule", q, k, v, beta, g, initial_state,
        lead="B, T", num_states=num_states, state_name="initial_state", state_source=source,
    )
    check_chunk_size("delta_rule", chunk_size)

    options = dict(
        scale=scale, initial_state=initial_state, output_final_state=output_final_state,
        cu_seqlens=cu_seqlens, use_qk_l2norm_in_kernel=use_qk_l2norm_in_kernel,
    )
    form = resolve_triton_or_torch(
        "delta_rule", backend, q.is_cuda, __package__, "triton_delta", q, k, v, beta, g, initial_state, chunk_size
    )
    if form == "reference":
        return delta_rule_reference(q, k, v, beta=beta, g=g, **options)
    if form == "triton":
        triton_form = load_triton_form(__package__, "triton_delta").delta_rule_triton
        return triton_form(q, k, v, beta=beta, g=g, chunk_size=chunk_size, **options)
    return delta_rule_chunked(q, k, v, beta=beta, g=g, chunk_size=chunk_size, **options)
