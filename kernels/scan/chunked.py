"""The scan, chunk-parallel in PyTorch with autograd: matmuls inside a chunk, the state carried across
chunks by a short Python loop. The CPU path; memory is linear in T (chunk x chunk blocks only)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..varlen import pad_packed, unpad_to_packed
from .precision import accumulation_dtype


def _to_chunks(x: Tensor, num_chunks: int, chunk_size: int) -> Tensor:
    """[N, T, H, *D] -> [N, H, num_chunks, chunk_size, *D], contiguous, zero-padded after T.

    Zero padding (g = 0: decay 1; k = v = 0: no update) leaves the state unchanged."""
    x = x.transpose(1, 2).contiguous()
    pad = num_chunks * chunk_size - x.shape[2]
    if pad:
        x = F.pad(x, (0, 0) * (x.ndim - 3) + (0, pad))
    return x.view(*x.shape[:2], num_chunks, chunk_size, *x.shape[3:])


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
    q, k, v, g = (_to_chunks(x, num_chunks, chunk_size) for x in (q, k, v, g))  # [N, H, n, C, *]

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

    q, k: [B, T, H, K]; v: [B, T, H, V]; g: [B, T, H] log-decay; scale None means K ** -0.5;
    initial_state: [N, H, K, V] (N = B, or the number of sequences in cu_seqlens [N + 1] with B == 1);
    chunk_size: tokens per chunk. Accumulates in float64 when an input is float64, else float32.

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] in the compute dtype, or None
    unless output_final_state).
    """
    dtype, out_dtype = accumulation_dtype(q, k, v, g, initial_state), q.dtype
    batch, _, heads, key_dim = q.shape
    scale = key_dim**-0.5 if scale is None else scale
    q, k, v, g = q.to(dtype) * scale, k.to(dtype), v.to(dtype), g.to(dtype)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    if initial_state is None:
        initial_state = q.new_zeros(num_states, heads, key_dim, v.shape[-1])
    initial_state = initial_state.to(dtype)

    if cu_seqlens is None:
        o, final_state = _chunk_scan(q, k, v, g, initial_state, chunk_size)
    else:
        # Zero padding after each sequence's end leaves its final state unchanged.
        q, k, v, g = (pad_packed(x, cu_seqlens) for x in (q, k, v, g))
        o, final_state = _chunk_scan(q, k, v, g, initial_state, chunk_size)
        o = unpad_to_packed(o, cu_seqlens)
    return o.to(out_dtype), (final_state if output_final_state else None)
