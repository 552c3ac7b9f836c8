"""The first lines of every chunked program (Triton): which tokens its chunk holds, or which chunks its sequence
has, in the packed layout of `layout.ChunkLayout`."""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def chunk_tokens(cu_seqlens, chunk_indices, i_c, BT: tl.constexpr):
    """Chunk i_c of the layout: (its first token t0, the end eos of its sequence), both int64. Its tokens are
    t0 + i for i < BT, valid below eos; its last valid token is min(t0 + BT, eos) - 1."""
    i_n = tl.load(chunk_indices + 2 * i_c)
    c = tl.load(chunk_indices + 2 * i_c + 1).to(tl.int64)
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    return bos + c * BT, eos


@triton.jit
def sequence_chunks(cu_seqlens, chunk_offsets, i_n):
    """Sequence i_n of the layout: (its first token bos, its end eos, its first chunk c0, all int64, and its
    number of chunks)."""
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    c0 = tl.load(chunk_offsets + i_n).to(tl.int64)
    n_chunks = tl.load(chunk_offsets + i_n + 1) - tl.load(chunk_offsets + i_n)
    return bos, eos, c0, n_chunks


@triton.jit
def chunk_rows(cu_seqlens, chunk_indices, i_c, BT: tl.constexpr):
    """Chunk i_c's tokens as rows: (o_t = t0 + i for i < BT, int64 [BT]; which are valid, below eos [BT];
    its last valid token min(t0 + BT, eos) - 1)."""
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    o_t = t0 + tl.arange(0, BT)
    return o_t, o_t < eos, tl.minimum(t0 + BT, eos) - 1


@triton.jit
def state_tile(i_k, i_v, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr):
    """Tile (i_k, i_v) of a [K, V] state (row-major): (its key offsets o_k [BK] and value offsets o_v [BV], their
    masks m_k, m_v, the tile's mask m_kv [BK, BV] and its offsets kv = o_k * V + o_v [BK, BV])."""
    o_k = i_k * BK + tl.arange(0, BK)
    o_v = i_v * BV + tl.arange(0, BV)
    m_k = o_k < K
    m_v = o_v < V
    return o_k, o_v, m_k, m_v, m_k[:, None] & m_v[None, :], o_k[:, None] * V + o_v[None, :]
