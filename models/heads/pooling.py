"""Pooling features over the real (unpadded) positions of each sequence."""

from __future__ import annotations

import torch

POOLS = ("last", "mean", "first")


def pool(features: torch.Tensor, lengths: torch.Tensor | None, mode: str) -> torch.Tensor:
    """features `[B, T, d]`, real lengths `[B]` (None: every position is real) -> `[B, d]`.

    `last`: the last real position (a causal model's summary of the whole sequence); `mean`: the mean over the real
    positions; `first`: position 0 (a class token). Padding never enters.
    """
    if mode not in POOLS:
        raise ValueError(f"unknown pooling '{mode}'; choose one of: {', '.join(POOLS)}")
    if mode == "first":
        return features[:, 0]
    if lengths is None:
        return features[:, -1] if mode == "last" else features.mean(dim=1)
    lengths = lengths.to(features.device)
    if mode == "last":
        return features[torch.arange(features.shape[0], device=features.device), lengths - 1]
    real = torch.arange(features.shape[1], device=features.device) < lengths[:, None]
    # where, not a product with the mask: features at padded positions may be NaN or inf (NaN * 0 is NaN)
    summed = torch.where(real[..., None], features, 0).sum(dim=1)
    return summed / lengths[:, None].to(features.dtype)
