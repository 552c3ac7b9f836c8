"""Compile the Triton attention kernels for an H100 (sm_90) without a GPU: `triton.compile` down to a cubin with the
bundled ptxas, so that code the interpreter accepts but the compiler rejects (non-constexpr globals, dtype mixes,
layout conversions) shows on CPU-only machines. Run without TRITON_INTERPRET (the kernels must be JIT functions):

    python tests/kernels/attention_compile_sm90.py

Prints one line per compiled kernel; exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("TRITON_INTERPRET") == "1":
    sys.exit("attention_compile_sm90: unset TRITON_INTERPRET (the kernels must be JIT functions, not interpreted)")

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from zoo.kernels.attention import triton_attention as host  # noqa: E402
from zoo.kernels.attention.triton_attention_bwd import _delta_kernel, _dkdv_kernel, _dq_kernel  # noqa: E402
from zoo.kernels.attention.triton_attention_fwd import _fwd_kernel  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)
FLOAT_POINTERS = ("q", "k", "v", "o", "do", "dq", "dk", "dv")
TYPES = {
    **{name: "*fp32" for name in ("lse", "delta", "dlse")},
    **{name: "*i32" for name in ("cu_q", "cu_k", "kv_count", "kv_index", "q_count", "q_index", "trace")},
    **{name: "*i8" for name in ("glob", "lay", "kv_full", "q_full")},
    "qk_scale": "fp32",
    "scale": "fp32",
}
# (dtype, D, Dv, causal, dense, window, global tokens, layout): every mask part on, dense causal, a window alone
VARIANTS = [
    ("fp16", 48, 40, False, False, True, True, True),
    ("bf16", 128, 128, True, True, False, False, False),
    ("fp32", 64, 64, True, False, True, False, False),
]


def compile_kernel(fn, dtype: str, constexprs: dict, options: dict):
    types = {**TYPES, **{name: f"*{dtype}" for name in FLOAT_POINTERS}}
    signature = {name: "constexpr" if name in constexprs else types.get(name, "i32") for name in fn.arg_names}
    return triton.compile(ASTSource(fn, signature, constexprs=constexprs), target=TARGET, options=options)


def main() -> None:
    for dtype, head_dim, value_dim, causal, dense, window, globals_, layout in VARIANTS:
        block_m, block_n = host.block_sizes(head_dim, value_dim)
        options = {"num_warps": host._launch_options(head_dim, value_dim)["num_warps"], "num_stages": 2}
        padded_dim, padded_value_dim = host._pow2(head_dim), host._pow2(value_dim)
        constexprs = dict(
            D=head_dim, DV=value_dim, BD=padded_dim, BDV=padded_value_dim, BM=block_m, BN=block_n,
            CAUSAL=causal, DENSE=dense, HAS_WINDOW=window, HAS_GLOBAL=globals_, HAS_LAYOUT=layout, TRACE=False,
            DOT=host.FP32_DOT_PRECISION if dtype == "fp32" else None,
        )
        for fn in (_fwd_kernel, _dkdv_kernel, _dq_kernel):
            kernel = compile_kernel(fn, dtype, constexprs, options)
            print(f"{dtype} D={head_dim} Dv={value_dim} {fn.__name__}: {len(kernel.asm['cubin'])} bytes of cubin, "
                  f"{kernel.metadata.shared} bytes of shared memory")
        delta = dict(DV=value_dim, BDV=padded_value_dim, BT=64, HAS_DLSE=True)
        compile_kernel(_delta_kernel, dtype, delta, {"num_warps": 4})
        print(f"{dtype} Dv={value_dim} _delta_kernel: ok")


if __name__ == "__main__":
    main()
