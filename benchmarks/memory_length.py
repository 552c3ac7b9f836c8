"""Peak memory of a training step versus sequence length, per family, with and without activation checkpointing:
the linear-time families (Mamba, Mamba-2, xLSTM, DeltaNet, gated DeltaNet, BASED) and the sparse-attention ones
(sliding window, Longformer, BigBird) should grow linearly in T; full attention (and the hybrid that holds it) is the
quadratic reference, run only up to --quadratic-max.

    python -m benchmarks.memory_length                            # the full grid: T = 4096 ... 65536
    python -m benchmarks.memory_length --families mamba2-tiny swa-tiny --lengths 1024 4096
    python -m benchmarks.memory_length --redraw                   # the plot again from the JSON, nothing measured

Each point: the family's tiny preset (next-token LM head, float32), batch 1, one forward + backward of the
cross-entropy at length T, timed once and then measured once for memory: the peak above what was held before the
step (CPU: resident memory sampled every 0.5 ms, in a process per family and setting that returns freed memory at
once; CUDA: max_memory_allocated). Results:
benchmarks/results/memory-length-<machine>-<dtype>[-<tag>].{json,png}.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time

import torch
from rich.console import Console
from rich.table import Table

import zoo
from benchmarks.harness.arguments import add_common_arguments, device_and_dtype, dtype_name
from benchmarks.harness.machine import describe_machine, machine_label
from benchmarks.harness.measure import measure, rss_peak_bytes, timed_call
from benchmarks.harness.results import check_destination, result_name, write_results
from benchmarks.task_runs import ROOT

LINEAR = ("mamba-tiny", "mamba2-tiny", "xlstm-tiny", "deltanet-tiny", "gated-deltanet-tiny", "based-tiny")
SPARSE = ("swa-tiny", "longformer-tiny", "bigbird-tiny")
QUADRATIC = ("attention-tiny", "hybrid-tiny")  # full attention: run up to --quadratic-max
LENGTHS = (4096, 8192, 16384, 32768, 65536)
console = Console()


def step(model: torch.nn.Module, ids: torch.Tensor) -> None:
    """One training step's compute: forward, next-token cross-entropy, backward."""
    logits = model(ids[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten())
    loss.backward()


def run_point(preset: str, length: int, checkpointing: bool, device: torch.device, dtype: torch.dtype) -> dict:
    """Peak memory (MiB) and time (ms) of one training step of `preset` at `length` tokens (in this process)."""
    model = zoo.create_model(preset).to(device=device, dtype=dtype)
    model.set_activation_checkpointing(checkpointing)
    ids = torch.randint(0, model.vocab_size, (1, length + 1), device=device)
    milliseconds = timed_call(lambda: step(model, ids), device)
    model.zero_grad(set_to_none=True)
    gc.collect()
    if device.type == "cuda":
        peak = measure(lambda: step(model, ids), device, warmup=0, min_seconds=0, min_repeats=1,
                       max_repeats=1).peak_bytes
    else:
        peak = rss_peak_bytes(lambda: step(model, ids))
    return {"preset": preset, "length": length, "activation_checkpointing": checkpointing,
            "peak_mib": round(peak / 2**20, 1), "ms": round(milliseconds, 1), "parameters": model.num_parameters()}


def run_in_worker(preset: str, checkpointing: bool, lengths: list[int], args: argparse.Namespace) -> list[dict]:
    """The points of one preset and setting, measured in a process of their own (with glibc returning freed memory
    at once, so that resident memory follows what is allocated), in increasing length."""
    command = [sys.executable, "-m", "benchmarks.memory_length", "--worker", preset, str(int(checkpointing)),
               "--device", args.device, *(["--dtype", args.dtype] if args.dtype else []),
               "--lengths", *map(str, sorted(lengths))]
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    records = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment, cwd=ROOT) as worker:
        for line in worker.stdout:
            if line.startswith("{"):
                records.append(json.loads(line))
                record = records[-1]
                console.print(f"{preset} T={record['length']} checkpointing={checkpointing}: "
                              f"{record['peak_mib']:.1f} MiB, {record['ms'] / 1e3:.1f} s")
    if worker.returncode != 0:
        raise SystemExit(f"the worker for {preset} (checkpointing={checkpointing}) failed with exit status "
                         f"{worker.returncode}")
    return records


def figure(records: list[dict], title: str):
    """Peak MiB against T (log-log), a line per family: solid plain, dashed with activation checkpointing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6.5))
    presets = list(dict.fromkeys(r["preset"] for r in records))
    colours, markers = plt.get_cmap("tab20"), "osD^vP*Xh<>p"
    for index, preset in enumerate(presets):  # a colour and a marker of its own for each preset
        for checkpointing, style in ((False, "-"), (True, "--")):
            points = sorted((r["length"], r["peak_mib"]) for r in records
                            if r["preset"] == preset and r["activation_checkpointing"] == checkpointing)
            if points:
                label = preset + (" (checkpointed)" if checkpointing else "")
                ax.plot(*zip(*points), style, marker=markers[index % len(markers)], color=colours(index * 2 % 20),
                        label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T (tokens, batch 1)")
    ax.set_ylabel("peak memory of a training step above the weights (MiB)")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title, fontsize=9, wrap=True)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def growth(records: list[dict]) -> dict[str, float]:
    """Per preset and setting: the peak at the longest length over the peak at half of it (2.0 is linear)."""
    ratios = {}
    for key in {(r["preset"], r["activation_checkpointing"]) for r in records}:
        peaks = {r["length"]: r["peak_mib"] for r in records if (r["preset"], r["activation_checkpointing"]) == key}
        longest = max(peaks)
        if longest // 2 in peaks and peaks[longest // 2] > 0:
            ratios[f"{key[0]}{' checkpointed' if key[1] else ''}"] = round(peaks[longest] / peaks[longest // 2], 2)
    return dict(sorted(ratios.items()))


def print_table(records: list[dict]) -> None:
    lengths = sorted({r["length"] for r in records})
    table = Table(title="peak MiB of a training step (time in s)")
    table.add_column("family")
    for length in lengths:
        table.add_column(f"T={length}", justify="right")
    for preset in dict.fromkeys(r["preset"] for r in records):
        for checkpointing in (False, True):
            cells = {r["length"]: f"{r['peak_mib']:.0f} ({r['ms'] / 1e3:.1f})" for r in records
                     if r["preset"] == preset and r["activation_checkpointing"] == checkpointing}
            if cells:
                table.add_row(preset + (" ckpt" if checkpointing else ""), *(cells.get(t, "-") for t in lengths))
    console.print(table)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory_length", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, "memory-length")
    parser.add_argument("--families", nargs="*", help=f"presets (default: {', '.join(LINEAR + SPARSE + QUADRATIC)})")
    parser.add_argument("--lengths", nargs="*", type=int, help=f"default: {' '.join(map(str, LENGTHS))}")
    parser.add_argument("--quadratic-max", type=int, default=16384, help="longest T for full-attention presets")
    parser.add_argument("--redraw", action="store_true", help="draw the PNG again from the JSON; nothing runs")
    parser.add_argument("--worker", nargs=2, metavar=("PRESET", "CHECKPOINTING"), help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    device, dtype = device_and_dtype(args)
    if args.worker:
        preset, checkpointing = args.worker[0], bool(int(args.worker[1]))
        for length in args.lengths:
            print(json.dumps(run_point(preset, length, checkpointing, device, dtype)), flush=True)
        return
    machine = describe_machine(device)
    grid = {"families": args.families or list(LINEAR + SPARSE + QUADRATIC), "lengths": args.lengths or list(LENGTHS),
            "quadratic_max": args.quadratic_max}
    full = args.families is None and args.lengths is None and args.quadratic_max == 16384
    json_path = args.out / (result_name("memory-length", machine_label(machine), dtype_name(dtype), args.tag, full)
                            + ".json")
    if args.redraw:
        payload = json.loads(json_path.read_text())
        write_results(json_path, payload, lambda: figure(payload["results"], payload["title"]))
        print(f"redrawn: {json_path.with_suffix('.png')}")
        return
    check_destination(json_path, grid, full, args.overwrite)
    records = []
    for preset in grid["families"]:
        lengths = [t for t in grid["lengths"] if not (preset in QUADRATIC and t > args.quadratic_max)]
        for checkpointing in (False, True):
            records += run_in_worker(preset, checkpointing, lengths, args)
    title = (f"Peak memory of one training step versus T, batch 1, tiny presets (d_model 64), "
             f"{dtype_name(dtype)} on {machine.get('gpu', machine['cpu'])}, torch threads {machine['torch_threads']}; "
             "dashed: activation checkpointing; full attention only to T = " + str(args.quadratic_max))
    payload = {"benchmark": "memory-length", "measured": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine,
               "dtype": dtype_name(dtype), "grid": grid, "full_grid": full, "title": title,
               "what": "peak memory during one forward + backward of the next-token cross-entropy above what was "
                       "held before it (CPU: resident memory sampled every 0.5 ms with glibc returning freed memory "
                       "at once; CUDA: max_memory_allocated), and the wall time of one such step; growth: peak at "
                       "the longest T over the peak at half of it",
               "growth": growth(records), "results": records}
    write_results(json_path, payload, lambda: figure(records, title))
    print_table(records)
    console.print(f"growth (peak at the longest T / at half of it; 2.0 is linear): {payload['growth']}")
    print(f"results: {json_path}")


if __name__ == "__main__":
    main()
