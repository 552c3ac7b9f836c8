"""Packed variable-length batches: validation of `cu_seqlens` and packed <-> padded layouts.

A packed batch holds N sequences back to back in one row, `x: [1, T, ...]`, with the boundaries in
`cu_seqlens: [N + 1]` (int32 or int64, starting at 0, non-decreasing, ending at T), as in FlashAttention
and flash-linear-attention. Sequence i is `x[0, cu_seqlens[i]:cu_seqlens[i + 1]]`.
"""

from __future__ import annotations

import torch
from torch import Tensor

_INDEX_DTYPES = (torch.int32, torch.int64)


def check_cu_seqlens(cu_seqlens: Tensor, batch_size: int, total_len: int) -> None:
    """Raise ValueError unless `cu_seqlens` describes a packed batch of `batch_size == 1` rows of
    `total_len` tokens.

    cu_seqlens: [N + 1] int32/int64, cu_seqlens[0] == 0, non-decreasing, cu_seqlens[-1] == total_len.
    """
    if batch_size != 1:
        raise ValueError(
            f"cu_seqlens is given, so the batch must be packed into one row (B == 1), but B == {batch_size}"
        )
    if not isinstance(cu_seqlens, Tensor) or cu_seqlens.ndim != 1 or cu_seqlens.dtype not in _INDEX_DTYPES:
        if isinstance(cu_seqlens, Tensor):
            got = f"shape {tuple(cu_seqlens.shape)} and dtype {cu_seqlens.dtype}"
        else:
            got = type(cu_seqlens).__name__
        raise ValueError(f"cu_seqlens must be a 1-D int32 or int64 tensor [N + 1], got {got}")
    if cu_seqlens.numel() < 2:
        raise ValueError(f"cu_seqlens must hold at least 2 entries (one sequence), got {cu_seqlens.tolist()}")
    bounds = cu_seqlens.tolist()
    if bounds[0] != 0:
        raise ValueError(f"cu_seqlens must start at 0, got {bounds[0]}")
    if any(b < a for a, b in zip(bounds, bounds[1:])):
        raise ValueError(f"cu_seqlens must be non-decreasing, got {bounds}")
    if bounds[-1] != total_len:
        raise ValueError(f"cu_seqlens must end at the packed length T == {total_len}, got {bounds[-1]}")


def _padded_index(cu_seqlens: Tensor) -> tuple[Tensor, Tensor]:
    """Packed position of every padded slot and which slots are real.

    Returns index: [N, Tmax] int64 (0 in padding slots) and mask: [N, Tmax] bool.
    """
    starts = cu_seqlens[:-1].long()
    lengths = cu_seqlens[1:].long() - starts
    max_len = int(lengths.max())
    offsets = torch.arange(max_len, device=cu_seqlens.device)
    mask = offsets < lengths[:, None]
    index = torch.where(mask, starts[:, None] + offsets, torch.zeros_like(offsets))
    return index, mask


def pad_packed(x: Tensor, cu_seqlens: Tensor, pad_value: float = 0) -> Tensor:
    """Unpack a packed batch into a padded one (differentiable).

    x: [1, T, ...], cu_seqlens: [N + 1] -> [N, Tmax, ...], with `pad_value` after the end of each sequence.
    """
    index, mask = _padded_index(cu_seqlens)
    rows = x[0].index_select(0, index.flatten()).view(*index.shape, *x.shape[2:])
    mask = mask.view(*mask.shape, *([1] * (x.ndim - 2)))
    return torch.where(mask, rows, torch.full((), pad_value, dtype=x.dtype, device=x.device))


def unpad_to_packed(x_padded: Tensor, cu_seqlens: Tensor) -> Tensor:
    """Pack a padded batch back into one row (differentiable); the inverse of `pad_packed`.

    x_padded: [N, Tmax, ...], cu_seqlens: [N + 1] -> [1, T, ...].
    """
    num_seqs, max_len = x_padded.shape[:2]
    _, mask = _padded_index(cu_seqlens)
    seqs = torch.arange(num_seqs, device=x_padded.device)[:, None]
    offsets = torch.arange(mask.shape[1], device=x_padded.device)
    slots = (seqs * max_len + offsets)[mask]
    return x_padded.flatten(0, 1).index_select(0, slots).unsqueeze(0)
