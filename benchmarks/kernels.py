"""Kernel benchmark: every kernel form against the peer libraries, forward + backward over sequence length.

    python -m benchmarks.kernels                                # the full grid: every op, CPU or GPU lengths
    python -m benchmarks.kernels --ops scan ssd --lengths 1024 4096 --tag scan-ssd

Run from the root of the source checkout (`zoo bench kernels` launches the same). Results:
benchmarks/results/kernels-<machine>-<dtype>[-<tag>].{json,png}; a run of less than the full grid is partial
and never replaces the full grid's files (see benchmarks/harness/results.py).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.harness.arguments import add_common_arguments, device_and_dtype, dtype_name
from benchmarks.harness.machine import describe_machine, machine_label
from benchmarks.harness.results import check_destination, result_name, write_results
from benchmarks.kernel_suite.case import Shape
from benchmarks.kernel_suite.cases import kernel_cases
from benchmarks.kernel_suite.report import figure, print_table
from benchmarks.kernel_suite.runner import run_cases

CPU_LENGTHS = [256, 512, 1024, 2048, 4096, 8192]
GPU_LENGTHS = [512, 1024, 2048, 4096, 8192, 16384, 32768]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "kernels")
    parser.add_argument("--ops", nargs="*", help="ops to run (default: all), e.g. scan ssd")
    parser.add_argument("--impls", nargs="*", help="implementations to run (default: all), e.g. seqzoo:torch")
    parser.add_argument("--skip-impls", nargs="*", default=[], help="implementations to leave out, e.g. xlstm:vanilla")
    parser.add_argument("--lengths", nargs="*", type=int, help="sequence lengths (default: CPU or GPU grid)")
    parser.add_argument("--batch", type=int, default=Shape.batch)
    parser.add_argument("--heads", type=int, default=Shape.heads)
    parser.add_argument("--head-dim", type=int, default=Shape.head_dim)
    parser.add_argument("--budget-seconds", type=float,
                        help="stop starting new measurements after this long; the rest are recorded as skipped")


def run(args: argparse.Namespace) -> Path:
    """Run the benchmark the arguments describe; returns the JSON path (a PNG lies beside it)."""
    device, dtype = device_and_dtype(args)
    default_lengths = GPU_LENGTHS if device.type == "cuda" else CPU_LENGTHS
    lengths = sorted(set(args.lengths or default_lengths))
    shape = Shape(batch=args.batch, heads=args.heads, head_dim=args.head_dim)
    every_case = kernel_cases()
    ops, impls = sorted({c.op for c in every_case}), sorted({c.impl for c in every_case})
    unknown = sorted(set(args.skip_impls) - set(impls))
    if unknown:
        raise SystemExit(f"--skip-impls names no implementation {unknown}; impls: {', '.join(impls)}")
    cases = [case for case in every_case if (not args.ops or case.op in args.ops)
             and (not args.impls or case.impl in args.impls) and case.impl not in args.skip_impls]
    if not cases:
        raise SystemExit(f"no benchmark case matches --ops {args.ops} --impls {args.impls}; "
                         f"ops: {', '.join(ops)}; impls: {', '.join(impls)}")
    grid = {"cases": [[case.op, case.impl] for case in cases], "lengths": lengths, "shape": vars(shape)}
    if args.budget_seconds is not None:  # a run that may be cut short is never the full grid
        grid["budget_seconds"] = args.budget_seconds
    full = len(cases) == len(every_case) and lengths == default_lengths and shape == Shape() and "budget_seconds" not in grid
    machine = describe_machine(device)
    json_path = args.out / (result_name("kernels", machine_label(machine), dtype_name(dtype), args.tag, full) + ".json")
    check_destination(json_path, grid, full, args.overwrite)  # before anything runs

    records = run_cases(cases, lengths, device, dtype, shape, args.min_seconds, args.budget_seconds)
    payload = {
        "benchmark": "kernels",
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine,
        "dtype": dtype_name(dtype),
        "shape": vars(shape),
        "grid": grid,
        "full_grid": full,
        "what": "forward + backward of one call: ms is the median wall time of `repeats` timed calls after `warmup` "
                "warm-up calls, ms_min / ms_max the fastest and slowest of them, first_call_ms the first warm-up "
                "call (compilation and autotuning included); peak memory above the inputs",
        "results": records,
    }
    title = (f"seqzoo kernels on {machine.get('gpu', machine['cpu'])}, {dtype_name(dtype)}, B={shape.batch} "
             f"H={shape.heads} D={shape.head_dim}, torch threads {machine['torch_threads']}")
    write_results(json_path, payload, lambda: figure(records, title))
    print_table(records)
    return json_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kernels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    print(f"results: {run(parser.parse_args(argv))}")


if __name__ == "__main__":
    main()
