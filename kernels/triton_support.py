"""What every Triton form needs to know: whether kernels are being defined for the CPU interpreter."""

from __future__ import annotations

import os

import triton


def interpreting() -> bool:
    """Whether `triton.jit` defines interpreted kernels now: it reads TRITON_INTERPRET when a kernel is
    defined, so a Triton form's module must be imported after the variable is set to run on CPU."""
    runtime = getattr(getattr(triton, "knobs", None), "runtime", None)  # triton >= 3.4 parses "1", "true", ...
    if runtime is not None and hasattr(runtime, "interpret"):
        return bool(runtime.interpret)
    return os.environ.get("TRITON_INTERPRET") == "1"
