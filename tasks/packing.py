"""Sequence packing: a padded batch becomes one row of its sequences end to end, with `cu_seqlens` marking where each
begins, so that no compute goes to padding; every mixer runs sequence by sequence over the row (the kernels' varlen
mode), so nothing crosses from one sequence into the next.

A packed batch is the padded one with

- `"inputs"`: `[1, sum(lengths), ...]` (the real positions of each sequence, in batch order);
- `"cu_seqlens"`: LongTensor `[B + 1]`, the cumulative lengths from 0;
- `"lengths"`: LongTensor `[B]`, as before;
- `"targets"`: `[B]` or `[B, horizon, C]` unchanged for one target per sequence; `[1, sum(lengths)]` for per-token
  targets, packed like the inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

Batch = dict[str, torch.Tensor]


def pack_batch(batch: Batch, per_token: bool) -> Batch:
    """A padded batch (`inputs` `[B, T, ...]`, optional `lengths` `[B]`, `targets`) -> the packed batch above. A batch
    without `lengths` holds sequences of the full length T."""
    inputs = batch["inputs"]
    batch_size, total = inputs.shape[:2]
    lengths = batch.get("lengths")
    if lengths is None:
        lengths = torch.full((batch_size,), total, dtype=torch.long)
    if lengths.shape != (batch_size,):
        raise ValueError(f"packing takes one sequence per example (lengths [B]), got lengths of shape "
                         f"{tuple(lengths.shape)}; pairs of sequences are not packed")
    real = torch.arange(total) < lengths[:, None]  # [B, T]
    packed = dict(batch)
    packed["inputs"] = inputs[real][None]
    packed["lengths"] = lengths
    packed["cu_seqlens"] = torch.nn.functional.pad(lengths.cumsum(0), (1, 0))
    if per_token:
        if "group" in batch:
            raise ValueError("packing puts the tokens of a batch in one row: per-group metrics of per-token tasks "
                             "need the padded batch (set task.pack=false)")
        packed["targets"] = batch["targets"][real][None]
    return packed


def packing_collate(collate: Callable[[list[Any]], Batch] | None, per_token: bool) -> Callable[[list[Any]], Batch]:
    """The task's collate function (None: torch's default stacking), then `pack_batch`."""
    from torch.utils.data import default_collate

    base = collate or default_collate

    def collate_and_pack(items: list[Any]) -> Batch:
        return pack_batch(base(items), per_token)

    return collate_and_pack


def padding_share(lengths: torch.Tensor) -> float:
    """The share of a padded batch `[B, max(lengths)]` that is padding: what packing leaves out."""
    return 1.0 - float(lengths.sum()) / (len(lengths) * int(lengths.max()))
