"""The chunk layout the chunked torch forms share: [N, T, H, *] tensors cut into chunks of a fixed size."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def to_chunks(x: Tensor, num_chunks: int, chunk_size: int) -> Tensor:
    """[N, T, H, *D] -> [N, H, num_chunks, chunk_size, *D], contiguous, zero-padded after T.

    Zero padding leaves a scan's state unchanged where a zero token neither decays nor writes (g = 0, k = v = 0)."""
    x = x.transpose(1, 2).contiguous()
    pad = num_chunks * chunk_size - x.shape[2]
    if pad:
        x = F.pad(x, (0, 0) * (x.ndim - 3) + (0, pad))
    return x.view(*x.shape[:2], num_chunks, chunk_size, *x.shape[3:])
