"""`zoo bench models` / `python benchmarks/models.py`: every model family at the same parameter count, beside
the upstream models: training and decoding throughput, peak memory, the decoding state's memory."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from zoo.bench.kernels_main import DTYPES, dtype_name
from zoo.bench.machine import describe_machine, machine_label
from zoo.bench.model_cases import model_cases
from zoo.bench.model_families import Size, family_names, sized_families
from zoo.bench.model_report import plot_models, print_model_tables, print_models
from zoo.bench.model_runner import MEASURES, Plan, run_models
from zoo.bench.report import write_results

CPU_LENGTHS = [256, 512, 1024, 2048, 4096]
GPU_LENGTHS = [512, 1024, 2048, 4096, 8192, 16384]
# device type -> (training batch, prompt, decoded tokens, generated lengths of the state measurement)
DEFAULTS = {"cpu": (1, 512, 32, [0, 128, 256, 512]), "cuda": (8, 2048, 128, [0, 1024, 2048, 4096])}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), help="default: float32 on CPU, bfloat16 on CUDA")
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
    plan.add_argument("--min-seconds", type=float, default=0.5, help="time each measurement at least this long")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for JSON and PNG")
    parser.add_argument("--tag", help="suffix of the result files' name (models-<machine>-<dtype>-<tag>)")


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


def run(args: argparse.Namespace) -> Path:
    """Run the benchmark the arguments describe; returns the JSON path (a PNG lies beside it)."""
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype or ("bfloat16" if device.type == "cuda" else "float32")]
    size = Size(d_model=args.d_model, layers=args.layers, d_intermediate=args.d_intermediate, window=args.window,
                vocab_size=args.vocab_size, params=args.params)
    try:
        sized = sized_families(args.families or family_names(), size, match_params=not args.no_match)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    plan = _plan(args, device)
    machine = describe_machine(device)
    described = [s.describe() for s in sized]
    print_models([{"family": s.family.name, "impl": "seqzoo", "parameters": s.parameters} for s in sized], described)
    records, models = run_models(model_cases(sized, peers=not args.no_peers), plan, device, dtype)
    name = f"models-{machine_label(machine)}-{dtype_name(dtype)}" + (f"-{args.tag}" if args.tag else "")
    payload = {
        "benchmark": "models",
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine,
        "dtype": dtype_name(dtype),
        "size": dataclasses.asdict(size),
        "plan": dataclasses.asdict(plan),
        "what": {
            "train": "tokens/s of forward + backward of the next-token cross-entropy at batch `batch`, median wall "
                     "time; peak memory above the model's weights (CPU: torch profiler; CUDA: max_memory_allocated)",
            "decode": "tokens/s of `tokens` greedy one-token steps after a `prompt`-token prefill (untimed), at "
                      "each batch size",
            "state": "bytes of tensor storage the decoding state holds at batch 1 after the prompt and `generated` "
                     "greedy steps",
        },
        "families": described,
        "models": models,
        "results": records,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = write_results(args.out / f"{name}.json", payload)
    plot_models(args.out / f"{name}.png", records,
                f"seqzoo models on {machine.get('gpu', machine['cpu'])}, {dtype_name(dtype)}, d_model {size.d_model}, "
                f"~{sized[0].target:,} parameters, training batch {plan.batch}, "
                f"torch threads {machine['torch_threads']}")
    print_models(models, described)
    print_model_tables(records)
    return json_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    print(run(parser.parse_args(argv)))
