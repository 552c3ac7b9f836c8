"""The delta rule in Triton: the chunked WY/UT forward and backward kernels (triton_delta_fwd.py,
triton_delta_bwd.py) in a `torch.autograd.Function`, and `delta_rule_triton`, which validates a call and
packs its inputs as one row of tokens.

Runs on CUDA, and on CPU under TRITON_INTERPRET=1 (set before this module is imported: `triton.jit` reads
it when the kernels are defined), where every kernel has a single config instead of autotuning.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..scan.triton_scan import _INTERPRET, _chunk_layout
from ..checks import check_log_decay
from ..varlen import check_cu_seqlens
from .checks import TRITON_CHUNK_SIZES, TRITON_MAX_KEY_DIM, l2_normalize
from .triton_delta_bwd import delta_backward
from .triton_delta_fwd import chunk_cumsum, delta_forward

_TRITON_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


class _DeltaRuleTriton(torch.autograd.Function):
    """On one packed row: q, k [T, H, K], v [T, H, V] (one dtype), beta [T, H], g [T, H] or None,
    h0 [N, H, K, V] or None. Returns (o [T, H, V], final state [N, H, K, V] float32 or None)."""

    @staticmethod
    def forward(ctx, q, k, v, beta, g, h0, scale, cu, chunk_indices, offsets, chunk_size, output_final_state):
        gc = chunk_cumsum(g, cu, chunk_indices, chunk_size, beta.shape)
        o, ht, ai = delta_forward(
            q, k, v, beta, gc, h0, scale, cu, chunk_indices, offsets, chunk_size, output_final_state
        )
        ctx.save_for_backward(q, k, v, beta, gc, ai, h0, cu, chunk_indices, offsets)
        ctx.scale, ctx.chunk_size = scale, chunk_size
        ctx.g_dtype = None if g is None else g.dtype
        return o, ht

    @staticmethod
    def backward(ctx, do, dht):
        q, k, v, beta, gc, ai, h0, cu, chunk_indices, offsets = ctx.saved_tensors
        do = torch.zeros_like(v) if do is None else do.to(v.dtype).contiguous()
        dht = None if dht is None else dht.float().contiguous()
        dq, dk, dv, dbeta, dg, dh0 = delta_backward(
            q, k, v, beta, gc, ai, h0, do, dht, ctx.scale, cu, chunk_indices, offsets, ctx.chunk_size,
            has_g=ctx.g_dtype is not None,
        )
        dg = None if dg is None else dg.to(ctx.g_dtype)
        dh0 = None if dh0 is None else dh0.to(h0.dtype)
        return dq, dk, dv, dbeta.to(beta.dtype), dg, dh0, None, None, None, None, None, None


def delta_rule_triton(
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
) -> tuple[Tensor, Tensor | None]:
    """Triton form of `delta_rule_reference` (same arguments and results), forward and backward in Triton:

        S_t = exp(g_t) (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T,    o_t = S_t^T (scale * q_t)

    q, k: [B, T, H, K] (K <= 256); v: [B, T, H, V]; beta: [B, T, H]; g: [B, T, H] log-decay (<= 0, a
    ValueError otherwise) or None (DeltaNet); scale None means K ** -0.5; use_qk_l2norm_in_kernel: L2-normalise q and k first (in torch,
    in float32, before the kernels; autograd differentiates it); initial_state: [N, H, K, V] (N = B, or the
    number of sequences in cu_seqlens [N + 1] with B == 1); chunk_size: 16, 32 or 64. q, k, v: float16,
    bfloat16 or float32 (cast to one common dtype; float32 matmuls run in full float32, not TF32); beta, g
    and initial_state any of those; matmuls accumulate in float32, and the states, decays and the UT
    transform M are float32 (W, U and dU are kept in the inputs' dtype). The backward keeps M ([T, H, C]
    float32) from the forward and recomputes W, U and the chunk-start states. Gradients flow to q, k, v, beta,
    g and initial_state (and from a gradient on the final state), in their dtypes. Varlen runs inside the
    kernels (chunks never cross sequences, no padding); reading the chunk count of cu_seqlens costs one
    device sync.

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] float32, or None unless
    output_final_state). Tensors must be on CUDA, or on CPU with TRITON_INTERPRET=1 set before import.
    """
    name = "delta_rule_triton"
    if chunk_size not in TRITON_CHUNK_SIZES or isinstance(chunk_size, bool):
        raise ValueError(f"{name}: chunk_size must be one of {TRITON_CHUNK_SIZES}, got {chunk_size!r}")
    tensors = dict(q=q, k=k, v=v, beta=beta, g=g, initial_state=initial_state)
    for arg, t in tensors.items():
        if t is not None and t.dtype not in _TRITON_DTYPES:
            raise ValueError(
                f"{name}: {arg} has dtype {t.dtype}; the Triton kernels take float16, bfloat16 or "
                "float32 (use backend='torch' or 'reference' for float64)"
            )
    if q.device.type != "cuda" and not _INTERPRET:
        raise ValueError(
            f"{name}: tensors are on {q.device}; Triton needs CUDA, or TRITON_INTERPRET=1 set before "
            "zoo.kernels.delta_rule's Triton modules are first imported"
        )
    batch, length, heads, key_dim = q.shape
    if key_dim > TRITON_MAX_KEY_DIM:
        raise ValueError(f"{name}: the key dimension K = {key_dim} exceeds {TRITON_MAX_KEY_DIM} (use backend='torch')")
    for arg, t, dims in (("k", k, q.shape), ("v", v, (batch, length, heads, v.shape[-1]))):
        if tuple(t.shape) != tuple(dims):
            raise ValueError(f"{name}: {arg} has shape {tuple(t.shape)} but expected {tuple(dims)} from q")
    for arg, t in (("beta", beta), ("g", g)):
        if t is not None and tuple(t.shape) != (batch, length, heads):
            raise ValueError(
                f"{name}: {arg} has shape {tuple(t.shape)} but expected (B, T, H) = {(batch, length, heads)}"
            )
    if g is not None:
        check_log_decay(name, "g", g)
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    expected = (num_states, heads, key_dim, v.shape[-1])
    if initial_state is not None and tuple(initial_state.shape) != expected:
        raise ValueError(
            f"{name}: initial_state has shape {tuple(initial_state.shape)} but expected (N, H, K, V) = {expected}"
        )
    scale = key_dim**-0.5 if scale is None else float(scale)
    dtype = torch.promote_types(torch.promote_types(q.dtype, k.dtype), v.dtype)
    out_dtype = q.dtype
    if use_qk_l2norm_in_kernel:
        q, k = l2_normalize(q.float()), l2_normalize(k.float())

    def packed(x: Tensor, dt: torch.dtype) -> Tensor:
        return x.to(dt).reshape(batch * length, *x.shape[2:]).contiguous()

    cu, chunk_indices, offsets = _chunk_layout(cu_seqlens, batch, length, chunk_size, q.device)
    h0 = None if initial_state is None else initial_state.contiguous()
    o, final_state = _DeltaRuleTriton.apply(
        packed(q, dtype), packed(k, dtype), packed(v, dtype), packed(beta, beta.dtype),
        None if g is None else packed(g, g.dtype), h0,
        scale, cu, chunk_indices, offsets, chunk_size, output_final_state,
    )
    o = o.view(batch, length, heads, v.shape[-1]).to(out_dtype)
    return o, final_state
