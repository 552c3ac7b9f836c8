"""Compile every Triton kernel of zoo.kernels for an H100 (sm_90) without a GPU: `triton.compile` down to a cubin
with the bundled ptxas, so that code the interpreter accepts but the compiler rejects (non-constexpr globals,
dtype mixes, layout conversions, APIs a Triton version lacks) shows on CPU-only machines.

How: each op's Triton form runs, forward and backward, on small CPU tensors, while the kernel launches are
caught instead of run (`JITFunction.run` and `Autotuner.run` are replaced): every launch's real arguments give
the kernel's signature and constexprs, which are compiled for sm_90 with the autotuning configs chosen by
--configs. The results of the caught launches are never computed (outputs hold garbage); only compilation is
checked. Run without TRITON_INTERPRET (the kernels must be JIT functions):

    python tests/kernels/triton_compile.py                              # the installed triton, every config
    python tests/kernels/triton_compile.py --configs first --ops scan   # one config per kernel, one op
    python tests/kernels/triton_compile.py --triton-path /tmp/triton36  # another triton (pip install --target)

Prints one line per compiled kernel variant and a summary per kernel; exits non-zero if any compilation failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

OPS = ("scan", "gla", "mlstm", "delta_rule", "selective_scan", "short_conv", "attention", "slstm")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", nargs="+", choices=OPS, default=list(OPS), help="the ops whose kernels to compile")
    parser.add_argument(
        "--configs", choices=("all", "first"), default="all",
        help="every autotuning config of a kernel, or its first one only (quicker)",
    )
    parser.add_argument("--triton-path", help="a folder holding another triton package, put first on sys.path")
    parser.add_argument("--arch", type=int, default=90, help="the CUDA compute capability to compile for")
    return parser.parse_args()


ARGS = parse_args()
if os.environ.get("TRITON_INTERPRET") == "1":
    sys.exit("triton_compile: unset TRITON_INTERPRET (the kernels must be JIT functions, not interpreted)")
if ARGS.triton_path and os.environ.get("TRITON_COMPILE_PATH") != ARGS.triton_path:
    # Start again with the folder first on PYTHONPATH: start-up hooks (.pth files) may import triton before any
    # line of this script could put it first on sys.path.
    path = os.pathsep.join(p for p in (ARGS.triton_path, os.environ.get("PYTHONPATH")) if p)
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONPATH": path,
                                                            "TRITON_COMPILE_PATH": ARGS.triton_path})

import torch  # noqa: E402
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402
from triton.runtime.autotuner import Autotuner  # noqa: E402
from triton.runtime.jit import JITFunction  # noqa: E402

from zoo.kernels.attention import triton_attention  # noqa: E402
from zoo.kernels.attention.mask import BigBirdLayout, MaskSpec  # noqa: E402
from zoo.kernels.delta_rule import triton_delta  # noqa: E402
from zoo.kernels.mlstm import triton_mlstm  # noqa: E402
from zoo.kernels.scan import triton_gla, triton_scan  # noqa: E402
from zoo.kernels.selective_scan import triton_selective  # noqa: E402
from zoo.kernels.short_conv import triton_conv  # noqa: E402
from zoo.kernels.slstm import triton_slstm  # noqa: E402

if ARGS.triton_path and not os.path.abspath(triton.__file__).startswith(os.path.abspath(ARGS.triton_path)):
    sys.exit(f"triton_compile: triton was imported from {triton.__file__}, not from {ARGS.triton_path}")
TARGET = GPUTarget("cuda", ARGS.arch, 32)
POINTER_TYPES = {
    torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16", torch.float64: "fp64",
    torch.int32: "i32", torch.int64: "i64", torch.int8: "i8", torch.uint8: "u8", torch.bool: "i1",
}
compiled: dict[tuple, str] = {}  # variant key -> "" (compiled) or the error
summary: dict[str, list[int]] = {}  # kernel -> [variants compiled, failed]


def argument_type(value) -> str:
    """The Triton signature type of a launch argument that is not a constexpr."""
    if isinstance(value, torch.Tensor):
        return "*" + POINTER_TYPES[value.dtype]
    if isinstance(value, bool):
        return "i1"
    if isinstance(value, int):
        return "i32" if -(2**31) <= value < 2**31 else "i64"
    if isinstance(value, float):
        return "fp32"
    raise TypeError(f"no Triton type for a launch argument of type {type(value).__name__}")


def resource_usage(cubin: bytes) -> str:
    """', R registers and S bytes of stack per thread' (spilled registers land on the stack) from the cuobjdump
    bundled with triton, or '' where it cannot run."""
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        try:
            run = subprocess.run([str(tool), "-res-usage", file.name], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return ""
    usage = re.search(r"REG:(\d+) STACK:(\d+)", run.stdout)
    return f", {usage.group(1)} registers and {usage.group(2)} bytes of stack per thread" if usage else ""


def compile_launch(fn: JITFunction, args: tuple, kwargs: dict, num_warps: int, num_stages: int) -> None:
    """Compile `fn` for TARGET as this launch would have it: constexprs (and None arguments) by value, every other
    argument by type."""
    bound = fn.signature.bind(*args, **kwargs)
    bound.apply_defaults()
    signature, constexprs = {}, {}
    for param in fn.params:
        value = bound.arguments[param.name]
        if param.is_constexpr or value is None:
            signature[param.name] = "constexpr"
            constexprs[param.name] = value
        else:
            signature[param.name] = argument_type(value)
    key = (fn.__name__, fn.module, tuple(signature.items()), tuple(constexprs.items()), num_warps, num_stages)
    if key in compiled:
        return
    name = f"{fn.module.rsplit('.', 1)[-1]}.{fn.__name__}"
    shown = ", ".join(f"{k}={v}" for k, v in constexprs.items() if v is not None)
    counts = summary.setdefault(name, [0, 0])
    start = time.perf_counter()
    try:
        kernel = triton.compile(
            ASTSource(fn, signature, constexprs=constexprs), target=TARGET,
            options={"num_warps": num_warps, "num_stages": num_stages},
        )
    except Exception as error:  # noqa: BLE001 - every compiler failure is a finding to report
        compiled[key] = f"{type(error).__name__}: {error}"
        counts[1] += 1
        print(f"FAILED {name} [{shown}] warps={num_warps} stages={num_stages}:\n{compiled[key]}", flush=True)
        return
    compiled[key] = ""
    counts[0] += 1
    print(f"ok {name} [{shown}] warps={num_warps} stages={num_stages}: {len(kernel.asm['cubin'])} bytes of cubin, "
          f"{kernel.metadata.shared} bytes of shared memory{resource_usage(kernel.asm['cubin'])}, "
          f"{time.perf_counter() - start:.1f} s", flush=True)


def jit_run(self: JITFunction, *args, grid, warmup, **kwargs):
    """Replaces JITFunction.run: compile the launch instead of running it."""
    num_warps, num_stages = kwargs.pop("num_warps", 4), kwargs.pop("num_stages", 3)
    compile_launch(self, args, kwargs, num_warps, num_stages)


def autotuner_run(self: Autotuner, *args, **kwargs):
    """Replaces Autotuner.run: compile the launch under every config (or the first) instead of tuning and running."""
    kwargs.pop("grid", None)
    kwargs.pop("warmup", None)
    for config in self.configs[:1] if ARGS.configs == "first" else self.configs:
        stages = config.num_stages if config.num_stages is not None else 3
        compile_launch(self.fn, args, {**kwargs, **config.kwargs}, config.num_warps, stages)


# ---------------------------------------------------------------------------------------------------------
# The workloads: each op's Triton form forward and backward on CPU tensors, in variants that set every
# constexpr flag both ways and cover the dtypes.


def backward(outputs) -> None:
    """Backpropagate a ones gradient from every floating-point output that requires one."""
    tensors = [t for t in outputs if isinstance(t, torch.Tensor) and t.requires_grad]
    torch.autograd.backward(tensors, [torch.ones_like(t) for t in tensors])


def leaves(*shapes, dtype=torch.float32, scale=1.0):
    return [(torch.randn(*shape) * scale).to(dtype).requires_grad_() for shape in shapes]


def run_scan(per_channel: bool) -> None:
    form = triton_gla.scan_triton_gla if per_channel else triton_scan.scan_triton
    for dtype, with_state in ((torch.float32, True), (torch.bfloat16, False)):
        q, k, v = leaves((1, 130, 2, 64), (1, 130, 2, 64), (1, 130, 2, 64), dtype=dtype)
        g = (-torch.rand(1, 130, 2, *((64,) if per_channel else ()))).requires_grad_()
        h0 = leaves((1, 2, 64, 64))[0] if with_state else None
        o, ht = form(q, k, v, g, initial_state=h0, output_final_state=with_state, chunk_size=64)
        backward((o, ht))


def run_mlstm() -> None:
    for dtype, with_state, gate in ((torch.float32, True, "sigmoid"), (torch.bfloat16, False, "exp")):
        q, k, v = leaves((1, 130, 2, 64), (1, 130, 2, 64), (1, 130, 2, 64), dtype=dtype)
        i, f = leaves((1, 130, 2), (1, 130, 2))
        state = tuple(leaves((1, 2, 64, 64), (1, 2, 64), (1, 2))) if with_state else None
        h, final = triton_mlstm.mlstm_triton(
            q, k, v, i, f, forget_gate=gate, initial_state=state, output_final_state=with_state, chunk_size=64
        )
        backward((h, *(final or ())))


def run_delta_rule() -> None:
    for dtype, gated, chunk_size in ((torch.float32, True, 64), (torch.bfloat16, False, 32)):
        q, k, v = leaves((1, 130, 2, 128), (1, 130, 2, 128), (1, 130, 2, 64), dtype=dtype)
        beta = torch.rand(1, 130, 2).requires_grad_()
        g = (-torch.rand(1, 130, 2)).requires_grad_() if gated else None
        h0 = leaves((1, 2, 128, 64))[0] if gated else None
        o, ht = triton_delta.delta_rule_triton(
            q, k, v, beta=beta, g=g, initial_state=h0, output_final_state=gated, chunk_size=chunk_size
        )
        backward((o, ht))


def run_selective_scan() -> None:
    for dtype, full in ((torch.float32, True), (torch.bfloat16, False)):
        u, delta = leaves((1, 130, 64), (1, 130, 64), dtype=dtype)
        A = (-torch.rand(64, 16)).requires_grad_()
        B, C = leaves((1, 130, 2, 16), (1, 130, 2, 16), dtype=dtype)
        D, z, bias, h0 = (leaves((64,), (1, 130, 64), (64,), (1, 64, 16)) if full else (None,) * 4)
        y, ht = triton_selective.selective_scan_triton(
            u, delta, A, B, C, D, z, delta_bias=bias, delta_softplus=full, initial_state=h0,
            output_final_state=full, chunk_size=64,
        )
        backward((y, ht))


def run_short_conv() -> None:
    for dtype, full in ((torch.float32, True), (torch.bfloat16, False)):
        x, weight = leaves((1, 130, 96), (96, 4), dtype=dtype)
        bias, h0 = leaves((96,), (2, 96, 3), dtype=dtype) if full else (None, None)
        cu_seqlens = torch.tensor([0, 50, 130], dtype=torch.int32) if full else None
        if not full:
            x = leaves((2, 65, 96), dtype=dtype)[0]
        y, ht = triton_conv.short_conv_triton(
            x, weight, bias, activation="silu" if full else None, initial_state=h0, output_final_state=full,
            cu_seqlens=cu_seqlens,
        )
        backward((y, ht))


def run_attention() -> None:
    layout = BigBirdLayout(block_size=64, random_blocks=1)
    masks = (
        (torch.float16, MaskSpec(causal=False, window=(64, 64), global_tokens=(0, 1), layout=layout), 48, 40),
        (torch.bfloat16, MaskSpec(causal=True), 128, 128),
        (torch.float32, MaskSpec(causal=True, window=(96, 0)), 64, 64),
    )
    for dtype, mask, head_dim, value_dim in masks:
        q, k = leaves((1, 200, 4, head_dim), (1, 200, 2, head_dim), dtype=dtype)
        v = leaves((1, 200, 2, value_dim), dtype=dtype)[0]
        o, _ = triton_attention.attention_triton(q, k, v, mask=mask)
        backward((o,))


def run_slstm() -> None:
    # The register kernels' largest head and a masked one; xLSTM-125M's Dh = 192, the largest xLSTM uses (512)
    # and a masked tiled one.
    variants = (
        (torch.float32, 64, True), (torch.bfloat16, 48, False), (torch.float32, 192, True),
        (torch.bfloat16, 512, False), (torch.float16, 130, False),
    )
    for dtype, head_dim, full in variants:
        x = leaves((1, 20, 2, 4 * head_dim), dtype=dtype)[0]
        R = leaves((2, head_dim, 4 * head_dim), dtype=dtype, scale=head_dim**-0.5)[0]
        b = leaves((2, 4 * head_dim), dtype=dtype)[0] if full else None
        state = tuple(leaves(*[(1, 2, head_dim)] * 4)) if full else None
        if state is not None:
            state = (state[0], state[1], state[2].detach().abs().requires_grad_(), state[3])
        y, final = triton_slstm.slstm_triton(x, R, b, initial_state=state, output_final_state=full)
        backward((y, *(final or ())))


WORKLOADS: dict[str, Callable[[], None]] = {
    "scan": lambda: run_scan(per_channel=False),
    "gla": lambda: run_scan(per_channel=True),
    "mlstm": run_mlstm,
    "delta_rule": run_delta_rule,
    "selective_scan": run_selective_scan,
    "short_conv": run_short_conv,
    "attention": run_attention,
    "slstm": run_slstm,
}
TRITON_FORMS = (triton_scan, triton_mlstm, triton_delta, triton_selective, triton_conv, triton_attention, triton_slstm)


def main() -> int:
    print(f"triton {triton.__version__} ({os.path.dirname(triton.__file__)}), target sm_{ARGS.arch}, "
          f"{ARGS.configs} configs", flush=True)
    JITFunction.run, Autotuner.run = jit_run, autotuner_run
    for module in TRITON_FORMS:  # the forms refuse CPU tensors without the interpreter; here nothing runs
        module.unsupported_device = lambda *args, **kwargs: None
    torch.manual_seed(0)
    start = time.perf_counter()
    for op in ARGS.ops:
        try:
            WORKLOADS[op]()
        except Exception:  # noqa: BLE001 - a host-side failure is a finding too
            summary.setdefault(f"{op} (host code)", [0, 0])[1] += 1
            print(f"FAILED {op}: the workload itself raised\n{traceback.format_exc()}", flush=True)
    print(f"\n{len(compiled)} kernel variants in {time.perf_counter() - start:.0f} s, triton {triton.__version__}:")
    for name, (ok, failed) in sorted(summary.items()):
        print(f"  {name}: {ok} compiled" + (f", {failed} FAILED" if failed else ""))
    failures = sum(failed for _, failed in summary.values())
    print("all compiled" if not failures else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
