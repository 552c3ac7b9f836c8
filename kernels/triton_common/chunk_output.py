"""The output of a chunked scan with a decay per head (Triton), as flash-linear-attention's `chunk_o`:

    o_i = scale [sum_{j <= i} exp(b_i - b_j) (q_i . k_j) v_j + exp(b_i) S_0^T q_i]

for every token i of a chunk, with b the within-chunk cumulative log decay and S_0 the state before the chunk
(`chunk_state.chunk_states`). The scan uses it with its values, the delta rule with its new values U.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from .configs import block_configs, dot_precision
from .layout import ChunkLayout
from .prologue import chunk_tokens

CHUNK_CONFIGS = block_configs(("BK", "BV"), [(32, 32), (64, 64), (64, 128), (128, 64)], warps=[4, 8], stages=[2, 3])
CHUNK_KEY = ["K", "V", "BT"]


@triton.autotune(configs=CHUNK_CONFIGS, key=CHUNK_KEY)
@triton.jit
def chunk_output_kernel(
    q, k, v, gc, h, o, cu_seqlens, chunk_indices, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
):
    """o = scale * [(Q K^T o D) V + diag(exp(b)) Q S_0] for one chunk and V-block, D_ij = exp(b_i - b_j) for
    j <= i, else 0. q, k [T, H, K], v, o [T, H, V], gc [T, H], h [NT, H, K, V]. Grid (V/BV, chunks, H)."""
    i_v = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    o_i = tl.arange(0, BT)
    o_t = t0 + o_i
    m_t = o_t < eos
    r_k = (o_t * H + i_h) * K
    r_v = (o_t * H + i_h) * V
    o_v = i_v * BV + tl.arange(0, BV)
    m_v = o_v < V
    m_tv = m_t[:, None] & m_v[None, :]
    p_h = h + (i_c.to(tl.int64) * H + i_h) * K * V

    b_o = tl.zeros([BT, BV], dtype=tl.float32)  # Q S_0
    b_a = tl.zeros([BT, BT], dtype=tl.float32)  # [i, j] = q_i . k_j
    for i_k in range(0, tl.cdiv(K, BK)):
        o_k = i_k * BK + tl.arange(0, BK)
        m_k = o_k < K
        b_q = tl.load(q + r_k[:, None] + o_k[None, :], mask=m_t[:, None] & m_k[None, :], other=0)
        b_kt = tl.load(k + r_k[None, :] + o_k[:, None], mask=m_k[:, None] & m_t[None, :], other=0)
        b_h = tl.load(p_h + o_k[:, None] * V + o_v[None, :], mask=m_k[:, None] & m_v[None, :], other=0)
        b_o += tl.dot(b_q, b_h.to(b_q.dtype), input_precision=DOT)
        b_a += tl.dot(b_q, b_kt, input_precision=DOT)

    b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)
    b_o = b_o * tl.exp(b_b)[:, None]
    # Mask before exp: above the diagonal b_i - b_j > 0 could overflow.
    causal = (o_i[:, None] >= o_i[None, :]) & m_t[:, None]
    b_a = b_a * tl.exp(tl.where(causal, b_b[:, None] - b_b[None, :], float("-inf")))
    b_v = tl.load(v + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
    b_o += tl.dot(b_a.to(b_v.dtype), b_v, input_precision=DOT)
    tl.store(o + r_v[:, None] + o_v[None, :], b_o * scale, mask=m_tv)


def chunk_output(
    q: Tensor, k: Tensor, v: Tensor, gc: Tensor, h: Tensor, layout: ChunkLayout, scale: float, chunk_size: int
) -> Tensor:
    """On a packed row q, k [T, H, K], v [T, H, V] (one dtype), gc [T, H] float32 and the chunk-start states
    h [NT, H, K, V]: o [T, H, V] in v's dtype."""
    _, heads, key_dim = q.shape
    value_dim = v.shape[-1]
    o = torch.empty_like(v)
    if layout.num_chunks:
        grid = lambda meta: (triton.cdiv(value_dim, meta["BV"]), layout.num_chunks, heads)  # noqa: E731
        chunk_output_kernel[grid](
            q, k, v, gc, h, o, layout.cu_seqlens, layout.chunk_indices, scale, heads,
            K=key_dim, V=value_dim, BT=chunk_size, DOT=dot_precision(q.dtype),
        )
    return o
