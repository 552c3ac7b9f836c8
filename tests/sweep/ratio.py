"""The quantity `torch.testing.assert_close` compares to 1, measured instead of asserted:
max over elements of |actual - expected| / (atol + rtol * |expected|), in float64.

A comparison passes when that ratio is at most 1, so 1 / ratio is the margin its tolerance leaves. Elements that
are equal (equal infinities too, and NaN against NaN with `equal_nan`) count 0; any other non-finite mismatch
counts infinity. `rtol` and `atol` left as None take assert_close's documented defaults for the inputs' dtypes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

# assert_close's default (rtol, atol) per dtype, from its documentation; other dtypes compare exactly.
DEFAULT_TOLERANCES = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
    torch.complex64: (1.3e-6, 1e-5),
    torch.complex128: (1e-7, 1e-7),
}


def default_tolerances(*tensors: torch.Tensor) -> tuple[float, float]:
    """The loosest default (rtol, atol) over the tensors' dtypes, as assert_close picks them."""
    pairs = [DEFAULT_TOLERANCES.get(t.dtype, (0.0, 0.0)) for t in tensors]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def tensor_ratio(actual, expected, rtol: float | None, atol: float | None, equal_nan: bool = False) -> float:
    """The worst |actual - expected| / (atol + rtol |expected|) of two tensors (or numbers); inf if their shapes
    differ. With zero tolerances (exact comparisons), 0 when equal and inf otherwise."""
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    if actual.shape != expected.shape:
        return math.inf
    if rtol is None or atol is None:
        rtol, atol = default_tolerances(actual, expected)
    if actual.numel() == 0:
        return 0.0
    a = actual.detach().to("cpu", torch.complex128 if actual.is_complex() else torch.float64)
    e = expected.detach().to("cpu", torch.complex128 if expected.is_complex() else torch.float64)
    difference = (a - e).abs()
    ratio = difference / (atol + rtol * e.abs())  # x / 0 is inf for x > 0 and NaN for x = 0
    same = a == e
    if equal_nan:
        same |= torch.isnan(a) & torch.isnan(e)
    ratio = torch.where(same, torch.zeros_like(ratio), torch.nan_to_num(ratio, nan=math.inf))
    return ratio.max().item()


def worst_ratio(actual, expected, rtol: float | None = None, atol: float | None = None,
                equal_nan: bool = False) -> float:
    """`tensor_ratio` over assert_close's inputs, which may be nested sequences and mappings of tensors."""
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            return math.inf
        return max((worst_ratio(actual[k], expected[k], rtol, atol, equal_nan) for k in actual), default=0.0)
    sequences = (Sequence,)
    if isinstance(actual, sequences) and isinstance(expected, sequences) and not isinstance(actual, str):
        if len(actual) != len(expected):
            return math.inf
        return max((worst_ratio(a, e, rtol, atol, equal_nan) for a, e in zip(actual, expected)), default=0.0)
    return tensor_ratio(actual, expected, rtol, atol, equal_nan)
