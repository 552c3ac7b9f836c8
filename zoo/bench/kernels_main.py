"""`zoo bench kernels` / `python benchmarks/kernels.py`: every kernel form and its peers over T."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from zoo.bench.case import Shape
from zoo.bench.kernel_cases import kernel_cases
from zoo.bench.machine import describe_machine, machine_label
from zoo.bench.report import plot_results, print_table, write_results
from zoo.bench.runner import run_cases

CPU_LENGTHS = [256, 512, 1024, 2048, 4096, 8192]
GPU_LENGTHS = [512, 1024, 2048, 4096, 8192, 16384, 32768]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--ops", nargs="*", help="ops to run (default: all), e.g. scan ssd")
    parser.add_argument("--impls", nargs="*", help="implementations to run (default: all), e.g. seqzoo:torch")
    parser.add_argument("--lengths", nargs="*", type=int, help="sequence lengths (default: CPU or GPU grid)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), help="default: float32 on CPU, bfloat16 on CUDA")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--min-seconds", type=float, default=0.5, help="time each case at least this long")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for JSON and PNG")
    parser.add_argument("--tag", help="suffix of the result files' name, e.g. attention (kernels-<machine>-<dtype>-<tag>)")


def run(args: argparse.Namespace) -> Path:
    """Run the benchmark the arguments describe; returns the JSON path (a PNG lies beside it)."""
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype or ("bfloat16" if device.type == "cuda" else "float32")]
    lengths = args.lengths or (GPU_LENGTHS if device.type == "cuda" else CPU_LENGTHS)
    shape = Shape(batch=args.batch, heads=args.heads, head_dim=args.head_dim)
    cases = [
        case
        for case in kernel_cases()
        if (not args.ops or case.op in args.ops) and (not args.impls or case.impl in args.impls)
    ]
    if not cases:
        raise SystemExit(f"no benchmark case matches --ops {args.ops} --impls {args.impls}")
    machine = describe_machine(device)
    records = run_cases(cases, lengths, device, dtype, shape, args.min_seconds)
    name = f"kernels-{machine_label(machine)}-{dtype_name(dtype)}" + (f"-{args.tag}" if args.tag else "")
    payload = {
        "benchmark": "kernels",
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine,
        "dtype": dtype_name(dtype),
        "shape": vars(shape),
        "what": "forward + backward of one call, median wall time; peak memory above the inputs",
        "results": records,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = write_results(args.out / f"{name}.json", payload)
    plot_results(args.out / f"{name}.png", records, f"seqzoo kernels on {machine.get('gpu', machine['cpu'])}, {dtype_name(dtype)}, "
                 f"B={shape.batch} H={shape.heads} D={shape.head_dim}, torch threads {machine['torch_threads']}")
    print_table(records)
    return json_path


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    print(run(parser.parse_args(argv)))
