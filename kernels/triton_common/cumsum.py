"""The within-chunk cumulative sum of a log-decay (Triton), the first kernel of every chunked scan."""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from .layout import ChunkLayout
from .prologue import chunk_tokens


@triton.jit
def log_sigmoid(x):
    """logsigmoid(x) = min(x, 0) - log1p(exp(-|x|)) in float32, with log1p(x) = log(u) x / (u - 1), u = 1 + x
    (Kahan's formula: accurate to a few ulps where log(u) alone loses x's low bits)."""
    b_x = tl.exp(-tl.abs(x))
    b_u = 1.0 + b_x
    b_log1p = tl.where(b_u == 1.0, b_x, tl.log(b_u) * (b_x / (b_u - 1.0)))
    return tl.minimum(x, 0.0) - b_log1p


@triton.jit
def chunk_local_cumsum_kernel(
    g, gc, cu_seqlens, chunk_indices, H,
    K: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, LOG_SIGMOID: tl.constexpr, FLOAT64_SUM: tl.constexpr,
):
    """gc[t, h, :] = the sum of g[s, h, :] (of logsigmoid(g[s, h, :]) with LOG_SIGMOID) over the tokens s <= t of
    t's chunk, float32, summed in float64 with FLOAT64_SUM. g, gc: [T, H, K] (K = 1: [T, H]). Grid (K/BK, chunks, H)."""
    i_k = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    o_t = t0 + tl.arange(0, BT)
    o_k = i_k * BK + tl.arange(0, BK)
    m = (o_t < eos)[:, None] & (o_k < K)[None, :]
    p = (o_t * H + i_h)[:, None] * K + o_k[None, :]
    b_g = tl.load(g + p, mask=m, other=0).to(tl.float32)
    if LOG_SIGMOID:
        b_g = tl.where(m, log_sigmoid(b_g), 0.0)
    if FLOAT64_SUM:
        b_gc = tl.cumsum(b_g.to(tl.float64), axis=0).to(tl.float32)
    else:
        b_gc = tl.cumsum(b_g, axis=0)
    tl.store(gc + p, b_gc, mask=m)


def chunk_local_cumsum(
    g: Tensor, layout: ChunkLayout, chunk_size: int, *, log_sigmoid: bool = False, float64_sum: bool = False
) -> Tensor:
    """b = the within-chunk cumulative sum of the log-decay g [T, H] (per head) or [T, H, K] (per key channel) on
    a packed row, float32 of g's shape: of logsigmoid(g) with log_sigmoid (a forget-gate pre-activation), summed
    in float64 with float64_sum (where the differences b_t - b_j must keep every bit)."""
    gc = torch.empty(g.shape, device=g.device, dtype=torch.float32)
    if layout.num_chunks:
        heads = g.shape[1]
        key_dim = g.shape[2] if g.ndim == 3 else 1
        block = min(triton.next_power_of_2(key_dim), 64)
        chunk_local_cumsum_kernel[(triton.cdiv(key_dim, block), layout.num_chunks, heads)](
            g, gc, layout.cu_seqlens, layout.chunk_indices, heads,
            K=key_dim, BT=chunk_size, BK=block, LOG_SIGMOID=log_sigmoid, FLOAT64_SUM=float64_sum,
        )
    return gc
