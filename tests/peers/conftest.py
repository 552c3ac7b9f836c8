"""Fixtures of the parity tests: a comparison that names the seed (tests/conftest.py) and records the error."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def compare(seed, record_property):
    """compare(actual, expected, what, rtol, atol): assert_close naming the seed; records the max abs error."""

    def check(actual: torch.Tensor, expected: torch.Tensor, what: str, *, rtol: float, atol: float) -> float:
        error = (actual.detach().double() - expected.detach().double().to(actual.device)).abs().max().item()
        record_property(f"max_abs_err[{what}]", error)
        print(f"{what}: max abs error {error:.3g}")
        torch.testing.assert_close(
            actual.detach().double(), expected.detach().double().to(actual.device), rtol=rtol, atol=atol,
            msg=lambda m: f"{what} (seed={seed}; SEQZOO_SEED={seed} replays it): {m}",
        )
        return error

    return check
