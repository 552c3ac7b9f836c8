"""The delta rule in Triton: the chunked WY/UT forward and backward kernels (triton_delta_fwd.py,
triton_delta_bwd.py) in a `torch.autograd.Function`, and `delta_rule_triton`, which validates a call and
packs its inputs as one row of tokens.

Runs on CUDA, and on CPU under TRITON_INTERPRET=1 (set before this module is imported: `triton.jit` reads
it when the kernels are defined), where every kernel has a single config instead of autotuning.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_log_decay, check_shape
from ..triton_common.layout import ChunkLayout, chunk_layout, pack_tokens
from ..triton_support import interpreting, unsupported_chunk_size, unsupported_device, unsupported_dtype
from ..varlen import check_cu_seqlens
from .checks import TRITON_CHUNK_SIZES, TRITON_MAX_KEY_DIM, check_delta_rule_inputs, l2_normalize
from .triton_delta_bwd import delta_backward
from .triton_delta_fwd import chunk_cumsum, delta_forward

INTERPRET = interpreting()


def triton_unsupported(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    g: Tensor | None = None,
    initial_state: Tensor | None = None,
    chunk_size: int = 64,
) -> str | None:
    """Why `delta_rule_triton` cannot run this (otherwise valid) call, or None if it can: the UT transform is one
    [C, C] tile in registers (C <= 64), the state kernels hold [K, BV] tiles (K <= 256)."""
    tensors = dict(q=q, k=k, v=v, beta=beta, g=g, initial_state=initial_state)
    reason = (
        unsupported_device(INTERPRET, __name__, **tensors)
        or unsupported_dtype(**tensors)
        or unsupported_chunk_size(chunk_size, TRITON_CHUNK_SIZES)
    )
    if reason is None and q.shape[-1] > TRITON_MAX_KEY_DIM:
        reason = f"the key dimension K = {q.shape[-1]} exceeds {TRITON_MAX_KEY_DIM} (use backend='torch')"
    return reason


class _DeltaRuleTriton(torch.autograd.Function):
    """On one packed row: q, k [T, H, K], v [T, H, V] (one dtype), beta [T, H], g [T, H] or None,
    h0 [N, H, K, V] or None. Returns (o [T, H, V], final state [N, H, K, V] float32 or None)."""

    @staticmethod
    def forward(ctx, q, k, v, beta, g, h0, scale, layout: ChunkLayout, chunk_size, output_final_state):
        gc = chunk_cumsum(g, layout, chunk_size, beta.shape)
        o, ht, ai = delta_forward(q, k, v, beta, gc, h0, scale, layout, chunk_size, output_final_state)
        ctx.save_for_backward(q, k, v, beta, gc, ai, h0)
        ctx.layout, ctx.scale, ctx.chunk_size = layout, scale, chunk_size
        ctx.g_dtype = None if g is None else g.dtype
        return o, ht

    @staticmethod
    def backward(ctx, do, dht):
        q, k, v, beta, gc, ai, h0 = ctx.saved_tensors
        do = torch.zeros_like(v) if do is None else do.to(v.dtype).contiguous()
        dht = None if dht is None else dht.float().contiguous()
        dq, dk, dv, dbeta, dg, dh0 = delta_backward(
            q, k, v, beta, gc, ai, h0, do, dht, ctx.scale, ctx.layout, ctx.chunk_size, has_g=ctx.g_dtype is not None,
        )
        dg = None if dg is None else dg.to(ctx.g_dtype)
        dh0 = None if dh0 is None else dh0.to(h0.dtype)
        return dq, dk, dv, dbeta.to(beta.dtype), dg, dh0, None, None, None, None


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
    ValueError otherwise) or None (DeltaNet); scale None means K ** -0.5; use_qk_l2norm_in_kernel:
    L2-normalise q and k first (in torch, in float32, before the kernels; autograd differentiates it); initial_state: [N, H, K, V] (N = B, or the
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
    check_shape(name, "q", q, "B, T, H, K", [None] * 4)
    batch, length, heads, key_dim = q.shape
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    check_delta_rule_inputs(
        name, q, k, v, beta, g, initial_state,
        lead="B, T", num_states=num_states, state_name="initial_state", state_source="q and v",
    )
    reason = triton_unsupported(q, k, v, beta, g, initial_state, chunk_size)
    if reason is not None:
        raise ValueError(f"{name} cannot run this call: {reason}")
    if g is not None:
        check_log_decay(name, "g", g)
    scale = key_dim**-0.5 if scale is None else float(scale)
    dtype, out_dtype = torch.promote_types(torch.promote_types(q.dtype, k.dtype), v.dtype), q.dtype
    if use_qk_l2norm_in_kernel:
        q, k = l2_normalize(q.float()), l2_normalize(k.float())
    layout = chunk_layout(cu_seqlens, batch, length, chunk_size, q.device)
    h0 = None if initial_state is None else initial_state.contiguous()
    o, final_state = _DeltaRuleTriton.apply(
        pack_tokens(q, dtype), pack_tokens(k, dtype), pack_tokens(v, dtype), pack_tokens(beta, beta.dtype),
        None if g is None else pack_tokens(g, g.dtype), h0, scale, layout, chunk_size, output_final_state,
    )
    return o.view(batch, length, heads, v.shape[-1]).to(out_dtype), final_state
