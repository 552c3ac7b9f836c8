"""MQAR accuracy versus the size of the decoding state, for every family (the BASED paper's picture, at CPU scale).

    python -m benchmarks.mqar_state_size                       # every family at d_model 32, 64, 128
    python -m benchmarks.mqar_state_size --families mamba xlstm --widths 64
    python -m benchmarks.mqar_state_size --jobs 2              # two points at a time, one thread each
    python -m benchmarks.mqar_state_size --redraw              # the plot again from the record, no training

Each point trains `configs/experiments/mqar-state-size.yaml` with the family's -tiny preset at one width
(`zoo train ... model.name=<preset> model.d_model=<width>`), records its test accuracy, and measures the state a
decoder holds for one sequence after the task's length (`model.prefill`: recurrent states, or the attention cache of
the window or the whole sequence). Writes benchmarks/results/mqar-state-size.json and docs/mqar-state-size.png
(accuracy against state bytes, log scale, one line per family); each point merges into the file as it finishes
(replacing an earlier point of the same family and width), so a stopped sweep keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

import torch

from benchmarks.harness.measure import state_bytes
from benchmarks.harness.sweep import add_sweep_arguments, merge_points, redraw, trained_points
from benchmarks.task_runs import ROOT, generated_configs
from zoo.atomic import atomic_write_bytes

CONFIG = ROOT / "configs" / "experiments" / "mqar-state-size.yaml"
RECORD = ROOT / "benchmarks" / "results" / "mqar-state-size.json"
PLOT = ROOT / "docs" / "mqar-state-size.png"
WIDTHS = (32, 64, 128)


def decoding_state_bytes(model: torch.nn.Module, seq_len: int, vocab_size: int) -> int:
    """Bytes of the state `model.prefill` leaves after one sequence of `seq_len` tokens (batch 1)."""
    model.eval()
    with torch.no_grad():
        _, state = model.prefill(torch.randint(0, vocab_size, (1, seq_len)))
    return state_bytes(state)


def describe(config_path: Path) -> str:
    """The MQAR setting a sweep config trains, in words (the record's and the plot's title)."""
    from zoo.config import load_config

    config = load_config(config_path)
    task, trainer = config.task, config.trainer
    limit = f", at most {trainer.max_time} (DD:HH:MM:SS) a point" if trainer.max_time else ""
    return (f"MQAR length {task.seq_len}, {task.num_kv_pairs} pairs, vocabulary {task.vocab_size}, "
            f"{task.num_train} training examples, at most {trainer.max_epochs} epochs{limit}")


def run_point(config_path: Path, family: str, preset: str, width: int, threads: int = 0) -> dict:
    """Train one family at one width on the sweep config (with `threads` intra-op threads, 0: torch's default); its
    accuracy, decoding state and parameter count."""
    from zoo.config import load_config
    from zoo.hub import load_pretrained
    from zoo.train import train

    if threads:
        torch.set_num_threads(threads)
    overrides = [f"model.name={preset}", f"model.d_model={width}", f"name={config_path.stem}-{family}-{width}"]
    config = load_config(config_path, overrides)
    result = train(config)
    model = load_pretrained(result.export_dir)
    shown = config_path.relative_to(ROOT) if config_path.is_relative_to(ROOT) else config_path
    return {"family": family, "preset": preset, "d_model": width, "parameters": model.num_parameters(),
            "state_bytes": decoding_state_bytes(model, config.task.seq_len, config.task.vocab_size),
            "test_acc": result.metrics["test/acc"], "train_seconds": round(result.seconds, 1),
            "command": " ".join(["zoo", "train", str(shown), *overrides[:2]])}


MARKERS = "os^Dv<>PX*h"


def plot(points: list[dict], setting: str, path: Path) -> None:
    """Accuracy against state bytes (log x), one line per family (a colour and marker of its own), each point marked
    with its d_model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 5.5))
    colours = plt.get_cmap("tab20").colors
    for index, family in enumerate(sorted({p["family"] for p in points})):
        line = sorted((p for p in points if p["family"] == family), key=lambda p: (p["state_bytes"], p["d_model"]))
        x, y = [p["state_bytes"] for p in line], [p["test_acc"] for p in line]
        axes.plot(x, y, marker=MARKERS[index % len(MARKERS)], color=colours[(2 * index) % 20 + index // 10],
                  label=family)
        for point in line:
            axes.annotate(str(point["d_model"]), (point["state_bytes"], point["test_acc"]), fontsize=6,
                          textcoords="offset points", xytext=(4, 3))
    axes.set_xscale("log")
    axes.set_xlabel("decoding state after the sequence (bytes, batch 1); numbers: d_model")
    axes.set_ylabel("MQAR test accuracy")
    axes.set_title("\n".join(textwrap.wrap(f"{setting}: accuracy vs state size", 100)), fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    atomic_write_bytes(path, lambda file: figure.savefig(file, format="png", dpi=120))
    plt.close(figure)


def write_record(points: list[dict], setting: str, record: Path, plot_path: Path) -> None:
    """Merge `points` into `record` (replacing earlier points of the same family and width; dropping all earlier
    points if they were measured at another setting), write it and redraw the plot, each file whole or not at all."""
    payload = merge_points(record, points, lambda p: (p["family"], p["d_model"]), setting,
                           "python -m benchmarks.mqar_state_size")
    plot(payload["points"], setting, plot_path)


def main(argv: list[str] | None = None) -> int:
    families = generated_configs().FAMILIES
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="*", choices=sorted(families), help="default: every family")
    parser.add_argument("--widths", nargs="*", type=int, default=list(WIDTHS))
    add_sweep_arguments(parser, RECORD, PLOT)
    parser.add_argument("--config", type=Path, default=CONFIG, help=f"the MQAR setting (default: {CONFIG.name})")
    args = parser.parse_args(argv)
    if args.redraw:
        redraw(args, plot)
        return 0
    config = args.config.resolve()
    setting = describe(config)
    plan = [(config, family, families[family].cpu_preset, width) for family in args.families or sorted(families)
            for width in args.widths]
    for point in trained_points(run_point, plan, args.jobs):
        print(json.dumps(point), flush=True)
        write_record([point], setting, args.record, args.plot)
    print(f"wrote {args.record} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
