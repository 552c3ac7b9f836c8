"""The chunk layout of a packed row of tokens, which the chunked Triton kernels walk (host side).

A dense batch [B, T] is the packed row of B sequences of length T, cu_seqlens = [0, T, 2T, ...], so every
kernel handles varlen natively: it works on a list of chunks (sequence, chunk within the sequence), masks by
the end of its sequence, and never touches padding.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class ChunkLayout(NamedTuple):
    """cu_seqlens: int32 [N + 1] sequence bounds in the packed row; chunk_indices: int32 [NT, 2], the
    (sequence, chunk within the sequence) of every chunk; chunk_offsets: int32 [N + 1], the first chunk of
    every sequence (and the total count last)."""

    cu_seqlens: Tensor
    chunk_indices: Tensor
    chunk_offsets: Tensor

    @property
    def num_chunks(self) -> int:
        return self.chunk_indices.shape[0]

    @property
    def num_sequences(self) -> int:
        return self.chunk_offsets.numel() - 1


def chunk_layout(
    cu_seqlens: Tensor | None, batch: int, length: int, chunk_size: int, device: torch.device
) -> ChunkLayout:
    """The chunks of chunk_size tokens of a dense batch [batch, length] (no device sync), or of the packed row
    cu_seqlens [N + 1] (int32/int64; reads the number of chunks once on the host)."""
    if cu_seqlens is None:
        per_seq = -(-length // chunk_size)
        cu = torch.arange(batch + 1, device=device, dtype=torch.int32) * length
        offsets = torch.arange(batch + 1, device=device, dtype=torch.int32) * per_seq
        seq = torch.arange(batch, device=device, dtype=torch.int32).repeat_interleave(per_seq)
        within = torch.arange(per_seq, device=device, dtype=torch.int32).repeat(batch)
        return ChunkLayout(cu, torch.stack([seq, within], dim=1).contiguous(), offsets)
    cu = cu_seqlens.to(device=device, dtype=torch.int32)
    counts = (cu[1:] - cu[:-1] + chunk_size - 1) // chunk_size
    offsets = torch.cat([counts.new_zeros(1), counts.cumsum(0)]).to(torch.int32)
    total = int(offsets[-1])
    seq = torch.arange(counts.numel(), device=device).repeat_interleave(counts, output_size=total)
    within = torch.arange(total, device=device) - offsets[:-1].long()[seq]
    return ChunkLayout(cu, torch.stack([seq, within], dim=1).to(torch.int32).contiguous(), offsets)


def pack_tokens(x: Tensor, dtype: torch.dtype) -> Tensor:
    """[B, T, *] -> one contiguous packed row [B * T, *] in `dtype`."""
    return x.to(dtype).reshape(x.shape[0] * x.shape[1], *x.shape[2:]).contiguous()
