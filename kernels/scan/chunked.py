"""The scan, chunk-parallel in PyTorch with autograd: matmuls inside a chunk, the state carried across
chunks by a short Python loop. The CPU path; memory is linear in T (chunk x chunk blocks only).

Two decay shapes: a scalar per head (g: [B, T, H]; Mamba-2, retention) and one per key channel
(g: [B, T, H, K]; GLA). Every exponential taken is of a non-positive number when g <= 0, so strong decays
underflow harmlessly to 0 instead of overflowing. A per-channel decay cannot be folded into q and k as
q * exp(b) and k * exp(-b) (exp(-b) overflows once the decay accumulated in a chunk passes ~88 in
float32); the per-channel form instead rescales q and k relative to a reference point between them,
block pair by block pair (`_intra_chunk_per_channel`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import check_log_decay
from ..chunking import to_chunks
from ..precision import accumulation_dtype
from ..varlen import pad_packed, unpad_to_packed


def _chunk_scan(
    q: Tensor, k: Tensor, v: Tensor, g: Tensor, state: Tensor, chunk_size: int
) -> tuple[Tensor, Tensor]:
    """q (already scaled), k: [N, T, H, K], v: [N, T, H, V], g: [N, T, H], state: [N, H, K, V]
    -> (o [N, T, H, V], final state [N, H, K, V]).

    Within a chunk, with b_i the cumulative log decay up to position i (inclusive) and S_0 the state
    before the chunk:
        o_i = sum_{j <= i} exp(b_i - b_j) (q_i . k_j) v_j + exp(b_i) S_0^T q_i
        S_C = exp(b_C) S_0 + sum_j exp(b_C - b_j) k_j v_j^T
    """
    batch, length, heads, _ = q.shape
    num_chunks = max(-(-length // chunk_size), 1)
    q, k, v, g = (to_chunks(x, num_chunks, chunk_size) for x in (q, k, v, g))  # [N, H, n, C, *]

    b = g.cumsum(-1)
    b_last = b[..., -1:]
    causal = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=q.device).tril()
    # Mask the upper triangle before exponentiating: b_i - b_j > 0 there and could overflow.
    decay = (b[..., :, None] - b[..., None, :]).masked_fill(~causal, float("-inf")).exp()
    scores = (q @ k.transpose(-1, -2)) * decay  # [N, H, n, C, C]

    updates = (k * (b_last - b).exp()[..., None]).transpose(-1, -2) @ v  # [N, H, n, K, V]
    chunk_decay = b_last.exp()[..., None]  # [N, H, n, 1, 1]
    starts = []
    for update, a in zip(updates.unbind(2), chunk_decay.unbind(2)):
        starts.append(state)
        state = torch.addcmul(update, a, state)
    o = scores @ v + (q * b.exp()[..., None]) @ torch.stack(starts, dim=2)  # [N, H, n, C, V]

    o = o.view(batch, heads, num_chunks * chunk_size, -1)[:, :, :length]
    return o.transpose(1, 2).contiguous(), state


def _intra_chunk_per_channel(q: Tensor, k: Tensor, v: Tensor, b: Tensor) -> Tensor:
    """The part of the output that comes from inside each chunk, with a decay per key channel.

    q, k, b: [*, C, K], v: [*, C, V], with b the cumulative log decay from the chunk start (inclusive)
    -> o [*, C, V], o_i = sum_{j <= i} (sum_k q_ik k_jk exp(b_ik - b_jk)) v_j.

    By halving: the chunk (zero-padded to a power of two, P) is cut into blocks of s = 1, 2, 4, .., P/2
    tokens; at each level, every odd block (i) is paired with the even block just before it (j), and
    both sides are rescaled relative to r, the cumulative decay at the last token of the even block:
        q_i exp(b_i - r) . k_j exp(r - b_j)
    with both exponents <= 0 when g <= 0 (b is non-increasing and j <= r < i). Every pair j < i falls in
    exactly one level; j == i adds q_i . k_i v_i. Each level is two batched matmuls, so the whole costs
    about as much as one [C, C] score matrix plus log2(C) elementwise passes over q and k, and never
    forms a [C, C, K] tensor.
    """
    *lead, chunk, key_dim = q.shape
    value_dim = v.shape[-1]
    size = 1 << (chunk - 1).bit_length()
    if size != chunk:  # zero tokens with no decay (b repeats its last value) add nothing
        pad = size - chunk
        q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
        b = torch.cat([b, b[..., -1:, :].expand(*lead, pad, key_dim)], dim=-2)

    o = (q * k).sum(-1, keepdim=True) * v  # j == i
    block = 1
    while block < size:
        pairs = size // (2 * block)
        qp, kp, bp = (x.reshape(*lead, pairs, 2, block, key_dim) for x in (q, k, b))
        ref = bp[..., 0, -1:, :]  # [*, pairs, 1, K]
        q_rel = qp[..., 1, :, :] * (bp[..., 1, :, :] - ref).exp()  # [*, pairs, s, K]
        k_rel = kp[..., 0, :, :] * (ref - bp[..., 0, :, :]).exp()  # [*, pairs, s, K]
        v_even = v.reshape(*lead, pairs, 2, block, value_dim)[..., 0, :, :]
        o.view(*lead, pairs, 2, block, value_dim)[..., 1, :, :] += (q_rel @ k_rel.transpose(-1, -2)) @ v_even
        block *= 2
    return o[..., :chunk, :]


def _chunk_scan_per_channel(
    q: Tensor, k: Tensor, v: Tensor, g: Tensor, state: Tensor, chunk_size: int
) -> tuple[Tensor, Tensor]:
    """q (already scaled), k, g: [N, T, H, K], v: [N, T, H, V], state: [N, H, K, V]
    -> (o [N, T, H, V], final state [N, H, K, V]).

    Within a chunk, with b_i the cumulative log decay [K] up to position i (inclusive) and S_0 the state
    before the chunk (products with exp(..) act on the key channel):
        o_i = sum_{j <= i} (q_i * exp(b_i - b_j)) . k_j v_j + S_0^T (q_i * exp(b_i))
        S_C = diag(exp(b_C)) S_0 + sum_j (k_j * exp(b_C - b_j)) v_j^T
    The first sum is `_intra_chunk_per_channel`; every exponent is <= 0 when g <= 0.
    """
    batch, length, heads, _ = q.shape
    num_chunks = max(-(-length // chunk_size), 1)
    q, k, v, g = (to_chunks(x, num_chunks, chunk_size) for x in (q, k, v, g))  # [N, H, n, C, *]

    b = g.cumsum(-2)  # [N, H, n, C, K]
    b_last = b[..., -1:, :]  # [N, H, n, 1, K]
    updates = (k * (b_last - b).exp()).transpose(-1, -2) @ v  # [N, H, n, K, V]
    chunk_decay = b_last.transpose(-1, -2).exp()  # [N, H, n, K, 1]
    starts = []
    for update, a in zip(updates.unbind(2), chunk_decay.unbind(2)):
        starts.append(state)
        state = torch.addcmul(update, a, state)
    o = _intra_chunk_per_channel(q, k, v, b) + (q * b.exp()) @ torch.stack(starts, dim=2)  # [N, H, n, C, V]

    o = o.view(batch, heads, num_chunks * chunk_size, -1)[:, :, :length]
    return o.transpose(1, 2).contiguous(), state


def scan_chunked(
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
) -> tuple[Tensor, Tensor | None]:
    """Chunk-parallel form of `scan_reference` (same arguments and results), with autograd.

        S_t = exp(g_t) * S_{t-1} + k_t v_t^T,    o_t = S_t^T (scale * q_t)

    q, k: [B, T, H, K]; v: [B, T, H, V]; g: [B, T, H] (scalar per head) or [B, T, H, K] (per key
    channel: S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T) log-decay, <= 0 (a ValueError otherwise: every
    exponential this form takes is of a number <= 0, so it never overflows);
    scale None means K ** -0.5; initial_state: [N, H, K, V] (N = B, or the number of sequences in
    cu_seqlens [N + 1] with B == 1); chunk_size: tokens per chunk (a power of two suits the per-channel
    form, which pads each chunk to one inside). Accumulates in float64 when an input is float64, else
    float32.

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] in the compute dtype, or None
    unless output_final_state).
    """
    check_log_decay("scan_chunked", "g", g)
    dtype, out_dtype = accumulation_dtype(q, k, v, g, initial_state), q.dtype
    batch, _, heads, key_dim = q.shape
    scale = key_dim**-0.5 if scale is None else scale
    q, k, v, g = q.to(dtype) * scale, k.to(dtype), v.to(dtype), g.to(dtype)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    if initial_state is None:
        initial_state = q.new_zeros(num_states, heads, key_dim, v.shape[-1])
    initial_state = initial_state.to(dtype)

    chunk_scan = _chunk_scan_per_channel if g.ndim == q.ndim else _chunk_scan
    if cu_seqlens is None:
        o, final_state = chunk_scan(q, k, v, g, initial_state, chunk_size)
    else:
        # Zero padding after each sequence's end leaves its final state unchanged.
        q, k, v, g = (pad_packed(x, cu_seqlens) for x in (q, k, v, g))
        o, final_state = chunk_scan(q, k, v, g, initial_state, chunk_size)
        o = unpad_to_packed(o, cu_seqlens)
    return o.to(out_dtype), (final_state if output_final_state else None)
