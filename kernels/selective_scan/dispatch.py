"""`selective_scan`: validates the inputs, then runs the form that `backend` names."""

from __future__ import annotations

from torch import Tensor

from ..varlen import check_cu_seqlens
from ..checks import check_backend, check_chunk_size, check_shape
from ..triton_support import load_triton_form, resolve_triton_or_torch
from .checks import BACKENDS, check_selective_scan_inputs
from .chunked import selective_scan_chunked
from .reference import selective_scan_reference


def _resolve(backend: str, *tensors: Tensor | None) -> str:
    """The form that runs (`triton_support.resolve_triton_or_torch`). tensors: u, delta, A, B, C, D, z, delta_bias,
    initial_state."""
    return resolve_triton_or_torch(
        "selective_scan", backend, tensors[0].is_cuda, __package__, "triton_selective", *tensors
    )


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    *,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    chunk_size: int = 64,
    backend: str = "auto",
) -> tuple[Tensor, Tensor | None]:
    """Mamba-1's selective scan, as mamba_ssm's `selective_scan_ref` in a sequence-first layout.
    Per channel d and state n:

        dt_t = softplus(delta_t + delta_bias)    (bias and softplus only when given / asked for)
        h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t,    y_t = <C_t, h_t> + D * u_t,    y_t *= silu(z_t)

    u, delta, z: [B, T, D]; A: [D, N] (real, negative for a decay); B, C: [B, T, N], or [B, T, G, N]
    with D % G == 0 and channel d reading group d // (D // G); D (the skip), delta_bias: [D];
    initial_state: [N_seq, D, N] (zeros when None), N_seq = B, or the number of sequences when
    cu_seqlens ([N_seq + 1], int32/int64, B == 1) packs several into one row; chunk_size: tokens per
    block of the chunked form, and between the states the Triton forward stores for its backward;
    backend: "auto" (on CUDA the Triton form where it applies: float32/float16/bfloat16, N <= 256;
    the chunked torch form otherwise and on CPU), "torch" (chunked), "triton" (forced; CUDA tensors, or
    CPU ones under TRITON_INTERPRET=1 set before the Triton form is first used) or "reference" (the
    loop over time). mamba_ssm's layout is
    channel-first (u [B, D, T], B/C [B, N, T] or [B, G, N, T]): transpose, same values otherwise.

    Returns (y [B, T, D] in u's dtype, final_state [N_seq, D, N] in float32 (float64 when an input is
    float64), or None unless output_final_state).
    """
    op = "selective_scan"
    check_backend(op, backend, BACKENDS)
    check_shape(op, "u", u, "B, T, D", [None] * 3)
    batch, length = u.shape[:2]
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    check_selective_scan_inputs(
        op, u, delta, A, B, C, D, z, delta_bias, initial_state,
        lead="B, T", num_states=num_states, state_name="initial_state",
        state_source="u and A" if cu_seqlens is None else "cu_seqlens, u and A",
    )
    check_chunk_size(op, chunk_size)

    options = dict(
        delta_bias=delta_bias, delta_softplus=delta_softplus, initial_state=initial_state,
        output_final_state=output_final_state, cu_seqlens=cu_seqlens,
    )
    form = _resolve(backend, u, delta, A, B, C, D, z, delta_bias, initial_state)
    if form == "reference":
        return selective_scan_reference(u, delta, A, B, C, D, z, **options)
    if form == "triton":
        triton_form = load_triton_form(__package__, "triton_selective").selective_scan_triton
        return triton_form(u, delta, A, B, C, D, z, chunk_size=chunk_size, **options)
    return selective_scan_chunked(u, delta, A, B, C, D, z, chunk_size=chunk_size, **options)
