"""Padded batches as packed sequences: a batch of sequences padded to one length `[B, T, d]` with their real lengths
`[B]` becomes one packed row `[1, sum(lengths), d]` with `cu_seqlens`, which every mixer runs sequence by sequence
(the kernels' varlen mode); so padding never reaches a real position, in either direction."""

from __future__ import annotations

import torch


def real_positions(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """The mask `[B, total]` of positions below each sequence's length."""
    return torch.arange(total, device=lengths.device) < lengths[:, None]


def check_lengths(lengths: torch.Tensor, batch: int, total: int) -> None:
    """Refuse lengths that are not one integer in [1, total] per sequence, naming the problem."""
    if lengths.shape != (batch,) or lengths.is_floating_point():
        raise ValueError(
            f"lengths must hold one integer per sequence, shape [{batch}], got a {lengths.dtype} tensor of shape "
            f"{tuple(lengths.shape)}"
        )
    if batch and (int(lengths.min()) < 1 or int(lengths.max()) > total):
        raise ValueError(f"lengths must lie in [1, {total}] (the padded length), got {lengths.tolist()}")


def check_cu_seqlens(cu_seqlens: torch.Tensor, batch: int, total: int) -> None:
    """Refuse boundaries that do not split one packed row of `total` positions into non-empty sequences."""
    if batch != 1:
        raise ValueError(f"packed sequences come as one row [1, total, ...] with cu_seqlens, got a batch of {batch}")
    if cu_seqlens.ndim != 1 or cu_seqlens.is_floating_point() or len(cu_seqlens) < 2:
        raise ValueError(f"cu_seqlens must be integer boundaries [N + 1] (0, then each sequence's end), got a "
                         f"{cu_seqlens.dtype} tensor of shape {tuple(cu_seqlens.shape)}")
    if int(cu_seqlens[0]) != 0 or int(cu_seqlens[-1]) != total or not bool((cu_seqlens.diff() > 0).all()):
        raise ValueError(f"cu_seqlens must rise from 0 to the packed length {total} in steps of at least 1, got "
                         f"{cu_seqlens.tolist()}")


def pack(x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x `[B, T, d]`, lengths `[B]` -> (packed `[1, sum(lengths), d]`, cu_seqlens `[B + 1]` int64)."""
    lengths = lengths.to(x.device)
    cu_seqlens = torch.nn.functional.pad(lengths.cumsum(0), (1, 0))
    return x[real_positions(lengths, x.shape[1])][None], cu_seqlens


def unpack(packed: torch.Tensor, lengths: torch.Tensor, total: int) -> torch.Tensor:
    """packed `[1, sum(lengths), d]` -> `[B, total, d]` with zeros at the padding."""
    lengths = lengths.to(packed.device)
    out = packed.new_zeros(len(lengths), total, packed.shape[-1])
    out[real_positions(lengths, total)] = packed[0]
    return out
