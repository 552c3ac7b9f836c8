"""Peer libraries (mamba_ssm, causal_conv1d, fla, mlstm_kernels) as benchmark cases.

They are optional: a case whose library is missing reports why instead of running. On a CPU-only
machine mamba_ssm imports only when its compiled `selective_scan_cuda` module can be found, so
`import_mamba_ssm` puts an empty stand-in module of that name in place first when it is absent (its
pure-torch functions then work; the CUDA ones are not called without a GPU).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable

import torch
from einops import rearrange

from zoo.bench.case import Case, leaf


def optional_import(name: str) -> tuple[types.ModuleType | None, str | None]:
    """`(module, None)`, or `(None, reason)` when `name` cannot be imported."""
    try:
        return importlib.import_module(name), None
    except Exception as error:  # a peer can fail with anything on import (missing CUDA builds, ...)
        return None, f"{name} unavailable ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"


def import_mamba_ssm(submodule: str) -> tuple[types.ModuleType | None, str | None]:
    """Import `mamba_ssm.<submodule>`, standing in for the compiled `selective_scan_cuda` when it is absent."""
    if importlib.util.find_spec("mamba_ssm") is None:
        return None, "mamba_ssm is not installed (pip install seqzoo[peers])"
    if "selective_scan_cuda" not in sys.modules and importlib.util.find_spec("selective_scan_cuda") is None:
        sys.modules["selective_scan_cuda"] = types.ModuleType("selective_scan_cuda")
    return optional_import(f"mamba_ssm.{submodule}")


def _requires(loader: Callable[[], tuple[object, str | None]], cuda: bool) -> Callable[[torch.device], str | None]:
    def unavailable(device: torch.device) -> str | None:
        if cuda and device.type != "cuda":
            return "needs CUDA"
        return loader()[1]

    return unavailable


def _fla(name: str):
    return lambda: optional_import(f"fla.ops.{name}")


def scan_cases(make_inputs) -> list[Case]:
    """fla's chunk_simple_gla: the same scalar-decay scan (fla's layout is ours)."""

    def build(T, s, device, dtype):
        module, _ = _fla("simple_gla")()
        return make_inputs(T, s, device, dtype, False), lambda x: module.chunk_simple_gla(*x)[0]

    return [Case("scan", "fla:chunk_simple_gla", build, _requires(_fla("simple_gla"), cuda=True))]


def ssd_cases(make_inputs) -> list[Case]:
    """mamba_ssm's SSD: the minimal chunked torch version (any device) and the fused Triton kernel (CUDA)."""

    def build_minimal(T, s, device, dtype):
        module, _ = import_mamba_ssm("modules.ssd_minimal")

        def run(x):
            xs, dt, A, B, C = x
            dt = torch.nn.functional.softplus(dt)
            heads = xs.shape[2]
            y, _ = module.ssd_minimal_discrete(
                xs * dt[..., None], dt * A, B.expand(-1, -1, heads, -1), C.expand(-1, -1, heads, -1), 64
            )
            return y

        return make_inputs(T, s, device, dtype), run

    def build_fused(T, s, device, dtype):
        module, _ = import_mamba_ssm("ops.triton.ssd_combined")

        def run(x):
            xs, dt, A, B, C = x
            return module.mamba_chunk_scan_combined(xs, dt, A, B, C, chunk_size=64, dt_softplus=True)

        return make_inputs(T, s, device, dtype), run

    return [
        Case("ssd", "mamba_ssm:ssd_minimal", build_minimal,
                   _requires(lambda: import_mamba_ssm("modules.ssd_minimal"), cuda=False)),
        Case("ssd", "mamba_ssm:chunk_scan_combined", build_fused,
                   _requires(lambda: import_mamba_ssm("ops.triton.ssd_combined"), cuda=True)),
    ]


def short_conv_cases() -> list[Case]:
    """causal_conv1d's CUDA kernel (channels-last input, as our [B, T, D] transposed)."""

    def build(T, s, device, dtype):
        module, _ = optional_import("causal_conv1d")
        channels = s.heads * s.head_dim
        leaves = (leaf(s.batch, T, channels, device=device, dtype=dtype), leaf(channels, 4, device=device, dtype=dtype))

        def run(x):
            out = module.causal_conv1d_fn(rearrange(x[0], "b t d -> b d t"), x[1], activation="silu")
            return rearrange(out, "b d t -> b t d")

        return leaves, run

    return [Case("short_conv", "causal_conv1d", build, _requires(lambda: optional_import("causal_conv1d"), cuda=True))]
