"""Peer libraries (mamba_ssm, causal_conv1d, fla, mlstm_kernels, xlstm) as kernel benchmark cases.

They are optional: a case whose library cannot be imported (`benchmarks.upstream.try_load`) reports why
instead of running, and so does one whose compiled extension is only the loader's stand-in.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from einops import rearrange

from benchmarks.kernel_suite.case import REFERENCE_MAX_LEN, Case
from benchmarks.upstream import stand_in, try_load


def _requires(loader: Callable[[], tuple[object, str | None]], cuda: bool) -> Callable[[torch.device], str | None]:
    def unavailable(device: torch.device) -> str | None:
        if cuda and device.type != "cuda":
            return "needs CUDA"
        return loader()[1]

    return unavailable


def _fla(name: str):
    return lambda: try_load(f"fla.ops.{name}")


def scan_cases(make_inputs) -> list[Case]:
    """fla's chunk_simple_gla: the same scalar-decay scan (fla's layout is ours)."""

    def build(T, s, device, dtype):
        module, _ = _fla("simple_gla")()
        return make_inputs(T, s, device, dtype), lambda x: module.chunk_simple_gla(*x)[0]

    return [Case("scan", "fla:chunk_simple_gla", build, _requires(_fla("simple_gla"), cuda=True), upstream=True)]


def gla_cases(make_inputs) -> list[Case]:
    """fla's chunk_gla: the scan with a decay per key channel."""

    def build(T, s, device, dtype):
        module, _ = _fla("gla")()
        return make_inputs(T, s, device, dtype), lambda x: module.chunk_gla(*x)[0]

    return [Case("gla", "fla:chunk_gla", build, _requires(_fla("gla"), cuda=True), upstream=True)]


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

    return [Case(name, f"fla:{function}", build, _requires(_fla(name), cuda=True), upstream=True)]


def slstm_cases(make_inputs) -> list[Case]:
    """xlstm's sLSTM cell: its vanilla backend (a torch loop with autograd, any device) and its CUDA kernel.
    Its input is [B, T, 4 * H * D] with the gates outermost; the cell holds R and the bias itself, so only x
    is an input leaf (the cell's parameters get gradients too)."""

    def loader():
        return try_load("xlstm.blocks.slstm.cell")

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
        return Case("slstm", f"xlstm:{backend}", build, _requires(loader, cuda=cuda), max_len, profile_memory=cuda,
                    upstream=True)

    return [case("vanilla", cuda=False), case("cuda", cuda=True)]


def _mlstm_kernel(name: str):
    def load():
        module, reason = try_load("mlstm_kernels.torch")
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
        return Case("mlstm", label, build, _requires(_mlstm_kernel(name), cuda=cuda), upstream=True)

    return [case("chunkwise--native_custbw", cuda=False), case("chunkwise--triton_xl_chunk", cuda=True)]


def selective_scan_cases(make_inputs) -> list[Case]:
    """mamba_ssm's selective scan (layout [B, D, T]): the torch reference anywhere, the CUDA kernel on CUDA."""

    def case(function: str, cuda: bool) -> Case:
        def loader():
            module, reason = try_load("mamba_ssm.ops.selective_scan_interface")
            if module is not None and cuda and stand_in("selective_scan_cuda"):
                return None, "mamba_ssm is installed without its CUDA extension selective_scan_cuda"
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
                    profile_memory=cuda, upstream=True)

    return [case("selective_scan_ref", cuda=False), case("selective_scan_fn", cuda=True)]


def ssd_cases(make_inputs) -> list[Case]:
    """mamba_ssm's SSD: the minimal chunked torch version (any device) and the fused Triton kernel (CUDA)."""

    def build_minimal(T, s, device, dtype):
        module, _ = try_load("mamba_ssm.modules.ssd_minimal")

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
        module, _ = try_load("mamba_ssm.ops.triton.ssd_combined")

        def run(x):
            xs, dt, A, B, C = x
            return module.mamba_chunk_scan_combined(xs, dt, A, B, C, chunk_size=64, dt_softplus=True)

        return make_inputs(T, s, device, dtype), run

    return [
        Case("ssd", "mamba_ssm:ssd_minimal", build_minimal,
             _requires(lambda: try_load("mamba_ssm.modules.ssd_minimal"), cuda=False), upstream=True),
        Case("ssd", "mamba_ssm:chunk_scan_combined", build_fused,
             _requires(lambda: try_load("mamba_ssm.ops.triton.ssd_combined"), cuda=True), upstream=True),
    ]


def short_conv_cases(make_inputs) -> list[Case]:
    """causal_conv1d's CUDA kernel (channels-last input, as our [B, T, D] transposed)."""

    def build(T, s, device, dtype):
        module, _ = try_load("causal_conv1d")

        def run(x):
            out = module.causal_conv1d_fn(rearrange(x[0], "b t d -> b d t"), x[1], activation="silu")
            return rearrange(out, "b d t -> b t d")

        return make_inputs(T, s, device, dtype), run

    return [Case("short_conv", "causal_conv1d", build, _requires(lambda: try_load("causal_conv1d"), cuda=True),
                 upstream=True)]
