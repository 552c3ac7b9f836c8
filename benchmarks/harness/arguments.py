"""Command-line arguments both benchmarks take: where they run, in which dtype, and where results go."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
RESULTS = Path(__file__).resolve().parents[1] / "results"


def add_common_arguments(parser: argparse.ArgumentParser, benchmark: str) -> None:
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), help="default: float32 on CPU, bfloat16 on CUDA")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="time each measurement at least this long")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"folder for JSON and PNG (default: {RESULTS})")
    parser.add_argument("--tag", help=f"suffix of the result files' name ({benchmark}-<machine>-<dtype>-<tag>); a "
                                      "run of less than the full grid without one is tagged 'partial'")
    parser.add_argument("--overwrite", action="store_true",
                        help="let a partial run replace result files that hold another grid")


def device_and_dtype(args: argparse.Namespace) -> tuple[torch.device, torch.dtype]:
    device = torch.device(args.device)
    return device, DTYPES[args.dtype or ("bfloat16" if device.type == "cuda" else "float32")]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
