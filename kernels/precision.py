"""The dtype the scan forms accumulate in."""

from __future__ import annotations

import torch
from torch import Tensor


def accumulation_dtype(*tensors: Tensor | None) -> torch.dtype:
    """float64 when any given tensor is float64 (the exact oracle path), float32 otherwise."""
    if any(t is not None and t.dtype == torch.float64 for t in tensors):
        return torch.float64
    return torch.float32
