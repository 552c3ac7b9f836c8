"""Loading the upstream packages that the parity tests compare against.

`require(name)` imports an oracle module through `benchmarks.upstream.load`, the loader the benchmarks use too
(it puts in place the shims the module needs on this machine). When it cannot be imported, the test fails if
the environment variable CI is set (CI installs the peers extra, so a missing oracle is a broken install, never
a reason to skip silently) and is skipped with the reason otherwise.
"""

from __future__ import annotations

import os

import pytest
import torch

from benchmarks.upstream import INSTALL_HINT, interpreting, load


def in_ci() -> bool:
    """True when the environment variable CI is set (to anything but an empty or false value)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str):
    """Fail (in CI) or skip with `reason`."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so a missing oracle fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def require(module_name: str):
    """Import and return the upstream module `module_name`, failing (CI) or skipping if it can't be."""
    try:
        return load(module_name)
    except ImportError as error:
        missing(f"oracle {module_name} cannot be imported: {error!r}; {INSTALL_HINT}")


def triton_device() -> str:
    """The device on which the upstream Triton kernels run here: the CPU under the interpreter, else CUDA."""
    if interpreting():
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    missing(
        "the upstream Triton kernels need CUDA or TRITON_INTERPRET=1 set before they are imported "
        "(tests/conftest.py sets it when there is no GPU)"
    )
