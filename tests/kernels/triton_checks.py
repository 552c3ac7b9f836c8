"""Helpers the Triton kernel tests share: the device they run on and comparisons against float64."""

import os

import pytest
import torch

# Under TRITON_INTERPRET=1 (set by tests/conftest.py where CUDA is absent) Triton runs on CPU tensors.
DEVICE = "cpu" if os.environ.get("TRITON_INTERPRET") == "1" else "cuda"
# bfloat16 keeps 8 significant bits against float16's 11: its roundings of stored inputs, outputs and gradients
# are 8 times larger, and so are its tolerances.
BFLOAT16_OVER_FLOAT16 = 8


def half_precisions(tol16):
    """pytest parameters `(dtype, tol)`: float16 at `tol16` (a number or a dict of them) and bfloat16 at 8 times
    it, bfloat16 on CUDA only (the interpreter does not compute bfloat16 correctly)."""
    scaled = ({key: value * BFLOAT16_OVER_FLOAT16 for key, value in tol16.items()} if isinstance(tol16, dict)
              else tol16 * BFLOAT16_OVER_FLOAT16)
    cuda_only = pytest.mark.skipif(DEVICE != "cuda", reason="bfloat16 runs on CUDA only (not under the interpreter)")
    return [pytest.param(torch.float16, tol16, id="float16"),
            pytest.param(torch.bfloat16, scaled, id="bfloat16", marks=cuda_only)]


def assert_close(actual, expected, what: str, seed: int, tol: float, floor: float = 0.0) -> None:
    """Compare with tolerances relative to the largest entry of `expected` (atol = tol * max(max|expected|, 1),
    rtol = tol): a sum over T tokens has rounding errors of the size of its largest terms, not of the entry.
    `floor` raises atol to what the problem's own conditioning allows (e.g. a multiple of the error of the
    definition evaluated in float32), for inputs where cancellation makes any float32 evaluation that inexact."""
    scale = max(expected.abs().max().item(), 1.0) if expected.numel() else 1.0
    torch.testing.assert_close(
        actual.double().cpu(), expected, rtol=tol, atol=max(tol * scale, floor),
        msg=lambda m: f"{what} (seed={seed}): {m}",
    )


def poisoned(allocate):
    """`allocate` (torch.empty or torch.empty_like) whose floating-point results are filled with NaN, so that
    an entry a kernel fails to write shows up."""

    def allocate_nan(*args, **kwargs):
        tensor = allocate(*args, **kwargs)
        return tensor.fill_(float("nan")) if tensor.is_floating_point() else tensor

    return allocate_nan
