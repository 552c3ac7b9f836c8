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

from zoo.bench.case import REFERENCE_MAX_LEN, Case


def optional_import(name: str) -> tuple[types.ModuleType | None, str | None]:
    """`(module, None)`, or `(None, reason)` when `name` cannot be imported."""
    try:
        return importlib.import_module(name), None
    except Exception as error:  # a peer can fail with anything on import (missing CUDA builds, ...)
        return None, f"{name} unavailable ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"


def install_selective_scan_cuda_stub() -> None:
    """Make `import selective_scan_cuda` (which `import mamba_ssm` does unconditionally) succeed when the
    compiled extension is absent. Touching any attribute of the stand-in raises, so code that really needs
    the extension fails loudly instead of computing nonsense."""
    if "selective_scan_cuda" in sys.modules or importlib.util.find_spec("selective_scan_cuda") is not None:
        return

    class _Stub(types.ModuleType):
        def __getattr__(self, name: str):
            if name.startswith("__"):
                raise AttributeError(name)
            raise RuntimeError(
                f"selective_scan_cuda.{name}: this is seqzoo's stand-in for mamba_ssm's CUDA extension "
                "(zoo/bench/peers.py); the extension is not built on this machine"
            )

    sys.modules["selective_scan_cuda"] = _Stub("selective_scan_cuda", "seqzoo stand-in (zoo/bench/peers.py)")


def import_mamba_ssm(submodule: str) -> tuple[types.ModuleType | None, str | None]:
    """Import `mamba_ssm.<submodule>`, standing in for the compiled `selective_scan_cuda` when it is absent."""
    if importlib.util.find_spec("mamba_ssm") is None:
        return None, "mamba_ssm is not installed (pip install seqzoo[peers])"
    install_selective_scan_cuda_stub()
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
        return make_inputs(T, s, device, dtype), lambda x: module.chunk_simple_gla(*x)[0]

    return [Case("scan", "fla:chunk_simple_gla", build, _requires(_fla("simple_gla"), cuda=True))]


def gla_cases(make_inputs) -> list[Case]:
    """fla's chunk_gla: the scan with a decay per key channel."""

    def build(T, s, device, dtype):
        module, _ = _fla("gla")()
        return make_inputs(T, s, device, dtype), lambda x: module.chunk_gla(*x)[0]

    return [Case("gla", "fla:chunk_gla", build, _requires(_fla("gla"), cuda=True))]


def delta_rule_cases(make_inputs, gated: bool) -> list[Case]:
    """fla's chunk_delta_rule / chunk_gated_delta_rule (our layout; g comes before beta in fla's gated call)."""
    name, function = ("gated_delta_rule", "chunk_gated_delta_rule") if gated else ("delta_rule", "chunk_delta_rule")

    def build(T, s, device, dtype):
        module, _ = _fla(name)()

        def run(x):
            q, k, v, beta, *g = x
            args = (q, k, v, *g, beta)
            return getattr(module, function)(*args, use_qk_l2norm_in_kernel=True)[0]

        return make_inputs(T, s, device, dtype), run

    return [Case(name, f"fla:{function}", build, _requires(_fla(name), cuda=True))]


def slstm_cases(make_inputs) -> list[Case]:
    """xlstm's sLSTM cell: its vanilla backend (a torch loop with autograd, any device) and its CUDA kernel.
    Its input is [B, T, 4 * H * D] with the gates outermost; the cell holds R and the bias itself, so only x
    is an input leaf (the cell's parameters get gradients too)."""

    def loader():
        return optional_import("xlstm.blocks.slstm.cell")

    def case(backend: str, cuda: bool) -> Case:
        def build(T, s, device, dtype):
            module, _ = loader()
            config = module.sLSTMCellConfig(hidden_size=s.heads * s.head_dim, num_heads=s.heads, backend=backend,
                                            dtype={torch.float32: "float32", torch.bfloat16: "bfloat16"}.get(dtype, "float16"))
            cell = module.sLSTMCell(config).to(device)
            x, _, _ = make_inputs(T, s, device, dtype)
            x = rearrange(x.detach(), "b t h (g d) -> b t (g h d)", g=4).requires_grad_()
            return (x,), lambda leaves: cell(leaves[0])[0]

        max_len = None if cuda else REFERENCE_MAX_LEN  # the vanilla cell loops over time in Python
        return Case("slstm", f"xlstm:{backend}", build, _requires(loader, cuda=cuda), max_len, profile_memory=cuda)

    return [case("vanilla", cuda=False), case("cuda", cuda=True)]


def _mlstm_kernel(name: str):
    def load():
        module, reason = optional_import("mlstm_kernels.torch")
        return (None, reason) if module is None else (module.get_mlstm_kernel(name), None)

    return load


def mlstm_cases(make_inputs) -> list[Case]:
    """mlstm_kernels' chunkwise kernels (layout [B, H, T, D]): native torch anywhere, Triton on CUDA."""

    def case(name: str, cuda: bool) -> Case:
        def build(T, s, device, dtype):
            kernel, _ = _mlstm_kernel(name)()

            def run(x):
                q, k, v, i, f = (rearrange(t, "b t h ... -> b h t ...") for t in x)
                return rearrange(kernel(q, k, v, i, f, chunk_size=64), "b h t d -> b t h d")

            return make_inputs(T, s, device, dtype), run

        label = "mlstm_kernels:" + name.split("--")[-1]
        return Case("mlstm", label, build, _requires(_mlstm_kernel(name), cuda=cuda))

    return [case("chunkwise--native_custbw", cuda=False), case("chunkwise--triton_xl_chunk", cuda=True)]


def selective_scan_cases(make_inputs) -> list[Case]:
    """mamba_ssm's selective scan (layout [B, D, T]): the torch reference anywhere, the CUDA kernel on CUDA."""

    def case(function: str, cuda: bool) -> Case:
        def loader():
            module, reason = import_mamba_ssm("ops.selective_scan_interface")
            return (None, reason) if module is None else (getattr(module, function), None)

        def build(T, s, device, dtype):
            fn, _ = loader()

            def run(x):
                u, delta, A, B, C, D = x
                y = fn(rearrange(u, "b t d -> b d t"), rearrange(delta, "b t d -> b d t"), A,
                       rearrange(B, "b t n -> b n t"), rearrange(C, "b t n -> b n t"), D, delta_softplus=True)
                return rearrange(y, "b d t -> b t d")

            return make_inputs(T, s, device, dtype), run

        # selective_scan_ref is a Python loop over time: timed only as far as our own reference loop
        max_len = None if cuda else REFERENCE_MAX_LEN
        return Case("selective_scan", f"mamba_ssm:{function}", build, _requires(loader, cuda=cuda), max_len,
                    profile_memory=cuda)

    return [case("selective_scan_ref", cuda=False), case("selective_scan_fn", cuda=True)]


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


def short_conv_cases(make_inputs) -> list[Case]:
    """causal_conv1d's CUDA kernel (channels-last input, as our [B, T, D] transposed)."""

    def build(T, s, device, dtype):
        module, _ = optional_import("causal_conv1d")

        def run(x):
            out = module.causal_conv1d_fn(rearrange(x[0], "b t d -> b d t"), x[1], activation="silu")
            return rearrange(out, "b d t -> b t d")

        return make_inputs(T, s, device, dtype), run

    return [Case("short_conv", "causal_conv1d", build, _requires(lambda: optional_import("causal_conv1d"), cuda=True))]
