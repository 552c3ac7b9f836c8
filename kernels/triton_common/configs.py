"""Autotuning configs and the dot precision of the Triton kernels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import triton

from ..triton_support import interpreting

# float32 inputs multiply exactly ("ieee") rather than in TF32 (a 10-bit mantissa, ~1e-3 relative), so that
# float32 results match the reference to ~1e-6 on GPUs too; float16/bfloat16 take the backend default.
FP32_DOT_PRECISION = "ieee"


def dot_precision(dtype: torch.dtype) -> str | None:
    """The `input_precision` of `tl.dot` for inputs of `dtype`: "ieee" for float32, the default otherwise."""
    return FP32_DOT_PRECISION if dtype == torch.float32 else None


def block_configs(
    names: Sequence[str],
    blocks: Sequence[Sequence[int]],
    warps: Sequence[int],
    stages: Sequence[int] | None = None,
    *,
    interpreted: Sequence[int] | None = None,
) -> list[triton.Config]:
    """Autotuning configs over the block sizes `names` (one tuple of sizes per entry of `blocks`) x num_warps x
    num_stages (Triton's default when None). Under the interpreter one config: the sizes `interpreted` (32 for
    every name when None), one stage, so that tests run one kernel variant instead of timing several."""
    if interpreting():
        sizes = [32] * len(names) if interpreted is None else interpreted
        return [triton.Config(dict(zip(names, sizes)), num_warps=4, num_stages=1)]
    return [
        triton.Config(dict(zip(names, sizes)), num_warps=w, **({} if s is None else {"num_stages": s}))
        for sizes in blocks
        for w in warps
        for s in (stages or (None,))
    ]
