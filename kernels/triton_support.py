"""The one rule by which every op's dispatcher takes (or refuses) its Triton form, and the reasons a Triton form
gives for not running a call.

Every Triton form's module defines `triton_unsupported(*args) -> str | None`, why it cannot run a call (None if
it can), from the reasons below and its own limits; the form raises ValueError with that reason when called
directly, and `resolve_triton_or_torch` asks it: "auto" takes Triton on CUDA when the form can run the call, a
forced "triton" that cannot raises. Nothing here defines a kernel.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import torch
import triton
from torch import Tensor

TRITON_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def interpreting() -> bool:
    """Whether `triton.jit` defines interpreted kernels now: it reads TRITON_INTERPRET when a kernel is
    defined, so a Triton form's module must be imported after the variable is set to run on CPU."""
    runtime = getattr(getattr(triton, "knobs", None), "runtime", None)  # triton >= 3.4 parses "1", "true", ...
    if runtime is not None and hasattr(runtime, "interpret"):
        return bool(runtime.interpret)
    return os.environ.get("TRITON_INTERPRET") == "1"


def unsupported_device(interpreted: bool, module: str, **tensors: Tensor | None) -> str | None:
    """Why a Triton form whose kernels were defined interpreted (or not) cannot run on these tensors: off CUDA
    without the interpreter, or on more than one device. module names the form's module, for the advice."""
    named = [(name, t) for name, t in tensors.items() if t is not None]
    first_name, first = named[0]
    if not first.is_cuda and not interpreted:
        return (
            f"the triton backend needs a CUDA tensor (or TRITON_INTERPRET=1, set before {module} is first "
            f"imported, to run on CPU); {first_name} is on {first.device}"
        )
    for name, t in named[1:]:
        if t.device != first.device:
            return f"all tensors must be on one device, got {first_name} on {first.device} and {name} on {t.device}"
    return None


def unsupported_dtype(**tensors: Tensor | None) -> str | None:
    """Why the Triton kernels cannot take these tensors' dtypes (they take float16, bfloat16, float32), or None."""
    for name, t in tensors.items():
        if t is not None and t.dtype not in TRITON_DTYPES:
            return (
                f"{name} has dtype {t.dtype}; the Triton kernels take float16, bfloat16 or float32 "
                "(backend='torch' or 'reference' take float64)"
            )
    return None


def unsupported_chunk_size(chunk_size: int, sizes: tuple[int, ...] | None = None) -> str | None:
    """Why the chunked Triton kernels cannot tile chunk_size: it must be one of `sizes`, or a power of two >= 16
    (tl.dot's smallest tile) when sizes is None."""
    if sizes is not None:
        if isinstance(chunk_size, bool) or chunk_size not in sizes:
            return f"chunk_size must be one of {sizes}, got {chunk_size!r}"
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 16 or chunk_size & (chunk_size - 1):
        return f"chunk_size must be a power of two >= 16, got {chunk_size!r}"
    return None


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
