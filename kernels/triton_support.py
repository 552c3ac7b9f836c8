"""What every Triton form needs to know: whether kernels are being defined for the CPU interpreter."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import triton


def interpreting() -> bool:
    """Whether `triton.jit` defines interpreted kernels now: it reads TRITON_INTERPRET when a kernel is
    defined, so a Triton form's module must be imported after the variable is set to run on CPU."""
    runtime = getattr(getattr(triton, "knobs", None), "runtime", None)  # triton >= 3.4 parses "1", "true", ...
    if runtime is not None and hasattr(runtime, "interpret"):
        return bool(runtime.interpret)
    return os.environ.get("TRITON_INTERPRET") == "1"


def load_triton_form(package: str, module: str) -> ModuleType:
    """The Triton form's module `package.module`, imported on first use: ``triton.jit`` reads TRITON_INTERPRET when
    the kernels are defined, so importing an op's package must not define them."""
    try:
        return importlib.import_module(f".{module}", package)
    except ImportError as error:
        raise ImportError(f"backend='triton' needs the triton package; it could not be imported: {error}") from error


def triton_form_unsupported(package: str, module: str, *args) -> str | None:
    """Why the Triton form cannot run a call (its module's `triton_unsupported(*args)`), or None if it can; a
    Triton form that cannot be imported is a reason too."""
    try:
        form = load_triton_form(package, module)
    except ImportError as error:
        return str(error)
    return form.triton_unsupported(*args)


def resolve_triton_or_torch(op: str, backend: str, on_cuda: bool, package: str, module: str, *args) -> str:
    """The form an op's dispatcher runs: "auto" is "triton" on CUDA when the Triton form can run the call, else
    "torch"; a forced "triton" that cannot run raises ValueError (ImportError without triton); other backends
    stand."""
    if backend == "auto":
        return "triton" if on_cuda and triton_form_unsupported(package, module, *args) is None else "torch"
    if backend == "triton":
        load_triton_form(package, module)
        reason = triton_form_unsupported(package, module, *args)
        if reason is not None:
            raise ValueError(f"{op}: backend='triton' cannot run this call: {reason}")
    return backend
