"""Compile the Triton sLSTM kernels for an H100 (sm_90) without a GPU: `triton.compile` down to a cubin with the
bundled ptxas, for every autotuning config, so that code the interpreter accepts but the compiler rejects
(non-constexpr globals, dtype mixes, layout conversions, barriers) shows on CPU-only machines. Run without
TRITON_INTERPRET (the kernels must be JIT functions):

    python tests/kernels/slstm_compile_sm90.py

Prints one line per compiled kernel and config, with its registers and stack bytes per thread (from the bundled
cuobjdump, when it runs); exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

if os.environ.get("TRITON_INTERPRET") == "1":
    sys.exit("slstm_compile_sm90: unset TRITON_INTERPRET (the kernels must be JIT functions, not interpreted)")

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from zoo.kernels.slstm.triton_slstm_register import _bwd_kernel, _fwd_kernel  # noqa: E402
from zoo.kernels.slstm.triton_slstm_tiled import _bwd_tiled_kernel, _fwd_tiled_kernel  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)
# Pointers in the inputs' dtype (x, R, b, the initial state, dy); every other pointer is float32 but cu_seqlens.
INPUT_POINTERS = ("x", "R", "bias", "y0", "c0", "n0", "m0", "dy")
# (form, dtype, Dh, flags on, every config or only the last): the largest register head and a masked one;
# xLSTM-125M's Dh = 192, the largest head xLSTM uses (512), and a masked one with every optional part off.
# 22 compilations: ~25 s on one core with a cold Triton cache, ~3 s with a warm one.
VARIANTS = [
    ("register", "fp32", 64, True, True),
    ("register", "bf16", 48, True, False),
    ("tiled", "fp32", 192, True, True),
    ("tiled", "bf16", 512, True, False),
    ("tiled", "fp16", 130, False, False),
]
KERNELS = {"register": (_fwd_kernel, _bwd_kernel), "tiled": (_fwd_tiled_kernel, _bwd_tiled_kernel)}
FLAGS = ("EXP_FORGET", "HAS_BIAS", "HAS_INIT", "SAVE", "STORE_FINAL", "HAS_DY", "HAS_DFINAL", "STORE_DINIT")


def resource_usage(cubin: bytes) -> str:
    """', R registers and S bytes of stack per thread' (spilled registers land on the stack) from the bundled
    cuobjdump, or '' where it cannot run."""
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        try:
            run = subprocess.run([str(tool), "-res-usage", file.name], capture_output=True, text=True, timeout=60)
            out = run.stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    usage = re.search(r"REG:(\d+) STACK:(\d+)", out)
    return f", {usage.group(1)} registers and {usage.group(2)} bytes of stack per thread" if usage else ""


def compile_kernel(autotuned, dtype: str, head_dim: int, flags_on: bool, config: triton.Config):
    fn = autotuned.fn
    constexprs = {"DH": head_dim, **config.kwargs}
    if "BLOCK" in fn.arg_names:
        constexprs["BLOCK"] = triton.next_power_of_2(head_dim)
    constexprs.update({name: flags_on for name in FLAGS if name in fn.arg_names})
    types = {name: f"*{dtype}" for name in INPUT_POINTERS}
    types.update({"cu_seqlens": "*i32", "H": "i32"})
    signature = {name: "constexpr" if name in constexprs else types.get(name, "*fp32") for name in fn.arg_names}
    options = {"num_warps": config.num_warps, "num_stages": config.num_stages}
    return triton.compile(ASTSource(fn, signature, constexprs=constexprs), target=TARGET, options=options)


def main() -> None:
    for form, dtype, head_dim, flags_on, all_configs in VARIANTS:
        for autotuned in KERNELS[form]:
            configs = autotuned.configs if all_configs else autotuned.configs[-1:]
            for config in configs:
                kernel = compile_kernel(autotuned, dtype, head_dim, flags_on, config)
                print(f"{form} {dtype} Dh={head_dim} {autotuned.fn.__name__} {config.kwargs} "
                      f"warps={config.num_warps}: {len(kernel.asm['cubin'])} bytes of cubin"
                      f"{resource_usage(kernel.asm['cubin'])}", flush=True)


if __name__ == "__main__":
    main()
