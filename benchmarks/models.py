"""Model benchmark: every model family at the same parameter count, beside the upstream models: training and
decoding throughput, peak memory, the decoding state's memory.

    python -m benchmarks.models                                  # the full grid: CPU or GPU defaults, all families
    python -m benchmarks.models --families attention mamba xlstm --d-model 256 --layers 4 --lengths 256 1024

Run from the root of the source checkout (`zoo bench models` launches the same). Results:
benchmarks/results/models-<machine>-<dtype>[-<tag>].{json,png}; a run of less than the full grid is partial
and never replaces the full grid's files (see benchmarks/harness/results.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from benchmarks.harness.arguments import add_common_arguments, device_and_dtype, dtype_name
from benchmarks.harness.machine import describe_machine, machine_label
from benchmarks.harness.results import check_destination, result_name, write_results
from benchmarks.model_suite.cases import model_cases
from benchmarks.model_suite.families import Size, family_names, sized_families
from benchmarks.model_suite.report import figure, print_model_tables, print_models
from benchmarks.model_suite.runner import MEASURES, Plan, run_models

CPU_LENGTHS = [256, 512, 1024, 2048, 4096]
GPU_LENGTHS = [512, 1024, 2048, 4096, 8192, 16384]
# device type -> (training batch, prompt, decoded tokens, generated lengths of the state measurement)
DEFAULTS = {"cpu": (1, 512, 32, [0, 128, 256, 512]), "cuda": (8, 2048, 128, [0, 1024, 2048, 4096])}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "models")
    parser.add_argument("--families", nargs="*", help="families to run (default: all registered), e.g. attention mamba")
    parser.add_argument("--no-peers", action="store_true", help="only our models, no upstream ones")
    size = parser.add_argument_group("size (every family at the same parameter count)")
    size.add_argument("--d-model", type=int, default=256)
    size.add_argument("--layers", type=int, default=4, help="layers of the full-attention model that sets the target")
    size.add_argument("--d-intermediate", type=int, default=0, help="its MLP width (default: 8/3 d_model, rounded up)")
    size.add_argument("--params", type=int, help="target parameter count (default: the attention model's)")
    size.add_argument("--no-match", action="store_true",
                      help="build every family with --layers and --d-intermediate as given, counts unmatched")
    size.add_argument("--window", type=int, default=256, help="sliding-window / Longformer window, BigBird block x 4")
    size.add_argument("--vocab-size", type=int, default=256)
    plan = parser.add_argument_group("measurements")
    plan.add_argument("--measure", nargs="*", choices=MEASURES, help="default: all of them")
    plan.add_argument("--lengths", nargs="*", type=int, help="training sequence lengths (default: CPU or GPU grid)")
    plan.add_argument("--batch", type=int, help="training batch (default: 1 on CPU, 8 on CUDA)")
    plan.add_argument("--decode-batches", nargs="*", type=int, default=[1, 16])
    plan.add_argument("--prompt", type=int, help="prompt length before decoding (default: 512 on CPU, 2048 on CUDA)")
    plan.add_argument("--decode-tokens", type=int, help="tokens per timed decoding run (default: 32 CPU, 128 CUDA)")
    plan.add_argument("--state-lengths", nargs="*", type=int,
                      help="generated tokens at which the state's memory is recorded (default: CPU or GPU list)")


def _plan(args: argparse.Namespace, device: torch.device) -> Plan:
    batch, prompt, tokens, state_lengths = DEFAULTS["cuda" if device.type == "cuda" else "cpu"]
    return Plan(
        lengths=tuple(args.lengths or (GPU_LENGTHS if device.type == "cuda" else CPU_LENGTHS)),
        batch=args.batch or batch,
        decode_batches=tuple(args.decode_batches),
        prompt=args.prompt or prompt,
        decode_tokens=args.decode_tokens or tokens,
        state_lengths=tuple(args.state_lengths if args.state_lengths is not None else state_lengths),
        vocab_size=args.vocab_size,
        measures=tuple(args.measure or MEASURES),
        min_seconds=args.min_seconds,
    )


def _grid(args: argparse.Namespace, device: torch.device) -> tuple[Size, Plan, dict]:
    """The size, the plan and the grid (what the run covers; the timing budget aside) the arguments describe."""
    size = Size(d_model=args.d_model, layers=args.layers, d_intermediate=args.d_intermediate, window=args.window,
                vocab_size=args.vocab_size, params=args.params)
    plan = _plan(args, device)
    grid = {"families": args.families or family_names(), "peers": not args.no_peers, "match": not args.no_match,
            "size": dataclasses.asdict(size),
            "plan": {key: value for key, value in dataclasses.asdict(plan).items() if key != "min_seconds"}}
    return size, plan, grid


def run(args: argparse.Namespace) -> Path:
    """Run the benchmark the arguments describe; returns the JSON path (a PNG lies beside it)."""
    device, dtype = device_and_dtype(args)
    size, plan, grid = _grid(args, device)
    full = grid == _grid(build_parser().parse_args(["--device", args.device]), device)[2]
    try:
        sized = sized_families(grid["families"], size, match_params=not args.no_match)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    machine = describe_machine(device)
    json_path = args.out / (result_name("models", machine_label(machine), dtype_name(dtype), args.tag, full) + ".json")
    check_destination(json_path, grid, full, args.overwrite)  # before anything runs

    described = [s.describe() for s in sized]
    print_models([{"family": s.family.name, "impl": "seqzoo", "parameters": s.parameters} for s in sized], described)
    records, models = run_models(model_cases(sized, peers=not args.no_peers), plan, device, dtype)
    payload = {
        "benchmark": "models",
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine,
        "dtype": dtype_name(dtype),
        "size": dataclasses.asdict(size),
        "plan": dataclasses.asdict(plan),
        "grid": grid,
        "full_grid": full,
        "what": {
            "train": "tokens/s of forward + backward of the next-token cross-entropy at batch `batch`: ms is the "
                     "median wall time of `repeats` timed calls after `warmup` warm-up calls, ms_min / ms_max the "
                     "fastest and slowest (tokens_per_s at the median, tokens_per_s_min / _max at the slowest and "
                     "fastest), first_call_ms the first warm-up call; peak memory above the model's weights (CPU: "
                     "torch profiler; CUDA: max_memory_allocated)",
            "decode": "tokens/s of `tokens` greedy one-token steps after a `prompt`-token prefill (untimed), at "
                      "each batch size; spread and warm-up fields as for train",
            "state": "bytes of tensor storage the decoding state holds at batch 1 after the prompt and `generated` "
                     "greedy steps",
        },
        "families": described,
        "models": models,
        "results": records,
    }
    title = (f"seqzoo models on {machine.get('gpu', machine['cpu'])}, {dtype_name(dtype)}, d_model {size.d_model}, "
             f"~{sized[0].target:,} parameters, training batch {plan.batch}, torch threads {machine['torch_threads']}")
    write_results(json_path, payload, lambda: figure(records, title))
    print_models(models, described)
    print_model_tables(records)
    return json_path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    print(f"results: {run(build_parser().parse_args(argv))}")


if __name__ == "__main__":
    main()
