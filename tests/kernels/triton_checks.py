"""Helpers the Triton kernel tests share: the device they run on and comparisons against float64."""

import os

import torch

# Under TRITON_INTERPRET=1 (set by tests/conftest.py where CUDA is absent) Triton runs on CPU tensors.
DEVICE = "cpu" if os.environ.get("TRITON_INTERPRET") == "1" else "cuda"


def assert_close(actual, expected, what: str, seed: int, tol: float) -> None:
    """Compare with tolerances relative to the largest entry of `expected` (atol = tol * max(max|expected|, 1),
    rtol = tol): a sum over T tokens has rounding errors of the size of its largest terms, not of the entry."""
    scale = max(expected.abs().max().item(), 1.0) if expected.numel() else 1.0
    torch.testing.assert_close(
        actual.double().cpu(), expected, rtol=tol, atol=tol * scale, msg=lambda m: f"{what} (seed={seed}): {m}"
    )


def poisoned(allocate):
    """`allocate` (torch.empty or torch.empty_like) whose floating-point results are filled with NaN, so that
    an entry a kernel fails to write shows up."""

    def allocate_nan(*args, **kwargs):
        tensor = allocate(*args, **kwargs)
        return tensor.fill_(float("nan")) if tensor.is_floating_point() else tensor

    return allocate_nan
