"""The pass over the chunks of a gated scan (Triton), as flash-linear-attention's `chunk_h`: the state before
every chunk, and backwards the gradient of the state after every chunk, for a decay per head or per key channel.

    S_end = diag(exp(b_L)) S_0 + sum_j (k_j * exp(b_L - b_j)) v_j^T               (forward)
    dS_0  = diag(exp(b_L)) dS_end + scale sum_i (q_i * exp(b_i)) dO_i^T           (backward)

with b the within-chunk cumulative log decay (`cumsum.chunk_local_cumsum`), L the chunk's last token and the
products with exp(..) on the key channel (a scalar per head: the same for every channel). Every exponential is
of a number <= 0 when the log-decay is. Each program owns a [BK, BV] block of one sequence and head and loops
over that sequence's chunks; the states are float32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from .configs import block_configs, dot_precision
from .layout import ChunkLayout
from .prologue import sequence_chunks, state_tile

STATE_CONFIGS = block_configs(("BK", "BV"), [(32, 32), (64, 64), (32, 64)], warps=[2, 4], stages=[2, 3])
STATE_KEY = ["K", "V", "BT", "PER_CHANNEL"]


@triton.jit
def chunk_decay(gc, o_t, m_t, o_k, m_k, t_last, i_h, H, K: tl.constexpr, PER_CHANNEL: tl.constexpr):
    """The cumulative log decays of one chunk, oriented [key, token]: (b [BK, BT] per key channel or [1, BT] per
    head, 0 past the end; b_L [BK, 1] or a scalar: b at the chunk's last valid token t_last)."""
    if PER_CHANNEL:
        p_bt = (o_t * H + i_h)[None, :] * K + o_k[:, None]
        b = tl.load(gc + p_bt, mask=m_k[:, None] & m_t[None, :], other=0)
        b_last = tl.load(gc + (t_last * H + i_h) * K + o_k, mask=m_k, other=0)[:, None]
    else:
        b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)[None, :]
        b_last = tl.load(gc + t_last * H + i_h)
    return b, b_last


@triton.autotune(configs=STATE_CONFIGS, key=STATE_KEY)
@triton.jit
def chunk_state_fwd_kernel(
    k, v, gc, h, h0, ht, cu_seqlens, chunk_offsets, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    PER_CHANNEL: tl.constexpr, HAS_H0: tl.constexpr, STORE_HT: tl.constexpr,
):
    """h[chunk] = the state before each chunk; ht = the state after the last. k [T, H, K], v [T, H, V], gc
    [T, H, K] (PER_CHANNEL) or [T, H]; h [NT, H, K, V], h0, ht [N, H, K, V]. Grid (K/BK, V/BV, N*H)."""
    i_k = tl.program_id(0)
    i_v = tl.program_id(1)
    i_nh = tl.program_id(2)
    i_h = i_nh % H
    bos, eos, c0, n_chunks = sequence_chunks(cu_seqlens, chunk_offsets, i_nh // H)
    o_k, o_v, m_k, m_v, m_kv, kv = state_tile(i_k, i_v, K, V, BK, BV)
    b_s = tl.zeros([BK, BV], dtype=tl.float32)
    if HAS_H0:
        b_s += tl.load(h0 + i_nh.to(tl.int64) * K * V + kv, mask=m_kv, other=0).to(tl.float32)

    for c in range(0, n_chunks):
        tl.store(h + ((c0 + c) * H + i_h) * K * V + kv, b_s, mask=m_kv)
        t0 = bos + c * BT
        o_t = t0 + tl.arange(0, BT)
        m_t = o_t < eos
        b_b, b_last = chunk_decay(gc, o_t, m_t, o_k, m_k, tl.minimum(t0 + BT, eos) - 1, i_h, H, K, PER_CHANNEL)
        p_kt = (o_t * H + i_h)[None, :] * K + o_k[:, None]
        b_kt = tl.load(k + p_kt, mask=m_k[:, None] & m_t[None, :], other=0)  # [BK, BT]
        b_v = tl.load(v + (o_t * H + i_h)[:, None] * V + o_v[None, :], mask=m_t[:, None] & m_v[None, :], other=0)
        b_kt = (b_kt * tl.where(m_t[None, :], tl.exp(b_last - b_b), 0)).to(b_v.dtype)
        b_s = b_s * tl.exp(b_last) + tl.dot(b_kt, b_v, input_precision=DOT)

    if STORE_HT:
        tl.store(ht + i_nh.to(tl.int64) * K * V + kv, b_s, mask=m_kv)


@triton.autotune(configs=STATE_CONFIGS, key=STATE_KEY)
@triton.jit
def chunk_state_bwd_kernel(
    q, do, gc, dh, dht, dh0, cu_seqlens, chunk_offsets, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    PER_CHANNEL: tl.constexpr, HAS_DHT: tl.constexpr, STORE_DH0: tl.constexpr,
):
    """dh[chunk] = the gradient of the state after each chunk; dh0 = that of the initial state. q [T, H, K],
    do [T, H, V], gc as in the forward; dht: the gradient of the final state. Grid (K/BK, V/BV, N*H); each
    program loops over the chunks of its sequence in reverse."""
    i_k = tl.program_id(0)
    i_v = tl.program_id(1)
    i_nh = tl.program_id(2)
    i_h = i_nh % H
    bos, eos, c0, n_chunks = sequence_chunks(cu_seqlens, chunk_offsets, i_nh // H)
    o_k, o_v, m_k, m_v, m_kv, kv = state_tile(i_k, i_v, K, V, BK, BV)
    b_ds = tl.zeros([BK, BV], dtype=tl.float32)
    if HAS_DHT:
        b_ds += tl.load(dht + i_nh.to(tl.int64) * K * V + kv, mask=m_kv, other=0).to(tl.float32)

    for i in range(0, n_chunks):
        c = n_chunks - 1 - i
        tl.store(dh + ((c0 + c) * H + i_h) * K * V + kv, b_ds, mask=m_kv)
        t0 = bos + c * BT
        o_t = t0 + tl.arange(0, BT)
        m_t = o_t < eos
        b_b, b_last = chunk_decay(gc, o_t, m_t, o_k, m_k, tl.minimum(t0 + BT, eos) - 1, i_h, H, K, PER_CHANNEL)
        p_qt = (o_t * H + i_h)[None, :] * K + o_k[:, None]
        b_qt = tl.load(q + p_qt, mask=m_k[:, None] & m_t[None, :], other=0)  # [BK, BT]
        b_do = tl.load(do + (o_t * H + i_h)[:, None] * V + o_v[None, :], mask=m_t[:, None] & m_v[None, :], other=0)
        b_qt = (b_qt * tl.where(m_t[None, :], tl.exp(b_b), 0)).to(b_do.dtype)
        b_ds = b_ds * tl.exp(b_last) + tl.dot(b_qt, b_do, input_precision=DOT) * scale

    if STORE_DH0:
        tl.store(dh0 + i_nh.to(tl.int64) * K * V + kv, b_ds, mask=m_kv)


def chunk_states(
    k: Tensor, v: Tensor, gc: Tensor, h0: Tensor | None, layout: ChunkLayout, chunk_size: int, *, store_final: bool
) -> tuple[Tensor, Tensor | None]:
    """On a packed row k [T, H, K], v [T, H, V], gc [T, H] or [T, H, K] float32, h0 [N, H, K, V] or None: the
    state before every chunk [NT, H, K, V] float32, and the final state [N, H, K, V] float32 (None unless
    store_final)."""
    _, heads, key_dim = k.shape
    value_dim = v.shape[-1]
    h = k.new_empty(layout.num_chunks, heads, key_dim, value_dim, dtype=torch.float32)
    ht = k.new_empty(layout.num_sequences, heads, key_dim, value_dim, dtype=torch.float32) if store_final else None

    def grid(meta):
        return (triton.cdiv(key_dim, meta["BK"]), triton.cdiv(value_dim, meta["BV"]), layout.num_sequences * heads)

    chunk_state_fwd_kernel[grid](
        k, v, gc, h, h0, ht, layout.cu_seqlens, layout.chunk_offsets, heads,
        K=key_dim, V=value_dim, BT=chunk_size, DOT=dot_precision(k.dtype),
        PER_CHANNEL=gc.ndim == 3, HAS_H0=h0 is not None, STORE_HT=store_final,
    )
    return h, ht


def chunk_state_grads(
    q: Tensor, do: Tensor, gc: Tensor, dht: Tensor | None, layout: ChunkLayout, scale: float, chunk_size: int,
    *, initial_shape: torch.Size | None,
) -> tuple[Tensor, Tensor | None]:
    """On a packed row q [T, H, K], do [T, H, V], gc as in `chunk_states`, dht [N, H, K, V] float32 or None:
    the gradient of the state after every chunk [NT, H, K, V] float32, and that of the initial state (float32,
    of initial_shape; None when initial_shape is None)."""
    _, heads, key_dim = q.shape
    value_dim = do.shape[-1]
    dh = q.new_empty(layout.num_chunks, heads, key_dim, value_dim, dtype=torch.float32)
    dh0 = None if initial_shape is None else q.new_empty(initial_shape, dtype=torch.float32)

    def grid(meta):
        return (triton.cdiv(key_dim, meta["BK"]), triton.cdiv(value_dim, meta["BV"]), layout.num_sequences * heads)

    chunk_state_bwd_kernel[grid](
        q, do, gc, dh, dht, dh0, layout.cu_seqlens, layout.chunk_offsets, scale, heads,
        K=key_dim, V=value_dim, BT=chunk_size, DOT=dot_precision(q.dtype),
        PER_CHANNEL=gc.ndim == 3, HAS_DHT=dht is not None, STORE_DH0=dh0 is not None,
    )
    return dh, dh0
