"""Genome bits per base versus context length, per family: does a longer window help? (HyenaDNA's question, at CPU
scale, on the bacterial genomes of `bacteria-lm`.)

    python -m benchmarks.genome_context                          # mamba, xlstm, attention at 256, 1024, 4096 bases
    python -m benchmarks.genome_context --families mamba --windows 512 2048 --jobs 2
    python -m benchmarks.genome_context --redraw                 # the plot again from the record, no training

Each point trains the family's `configs/experiments/genomics/bacteria-lm-<family>-cpu.yaml` at one window length
with the same budget for every window: `--tokens-per-step` tokens a batch (batch size = that / window),
`--train-tokens` tokens an epoch, `--epochs` epochs, and the test bits per base measured on `--eval-tokens` tokens of
the held-out strains (evenly spread fixed windows). Writes benchmarks/results/genome-context.json and
docs/genome-context.png (test bits per base against the window, log scale, one line per family); each point merges
into the record as it finishes (replacing an earlier point of the same family and window).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

import torch

from benchmarks.harness.sweep import add_sweep_arguments, merge_points, redraw, trained_points
from benchmarks.task_runs import CONFIGS, ROOT
from zoo.atomic import atomic_write_bytes

RECORD = ROOT / "benchmarks" / "results" / "genome-context.json"
PLOT = ROOT / "docs" / "genome-context.png"
FAMILIES = ("mamba", "xlstm", "attention")
WINDOWS = (256, 1024, 4096)
COMMAND = "python -m benchmarks.genome_context"


def budget_overrides(window: int, tokens_per_step: int, train_tokens: int, eval_tokens: int) -> list[str]:
    """The task overrides that give a window of `window` bases the shared budget (see the module docstring)."""
    if min(tokens_per_step, train_tokens, eval_tokens) < window:
        raise SystemExit(f"a window of {window} bases needs --tokens-per-step, --train-tokens and --eval-tokens of at "
                         "least one window each")
    return [f"task.window={window}", f"task.batch_size={tokens_per_step // window}",
            f"task.train_windows={train_tokens // window}", f"task.eval_windows={eval_tokens // window}"]


def run_point(family: str, window: int, budget: tuple[int, int, int], epochs: int, extra: list[str],
              threads: int = 0) -> dict:
    """Train `family` at `window` bases (with `threads` intra-op threads, 0: torch's default); its test bits per
    base, parameters, steps and time."""
    from zoo.config import load_config
    from zoo.train import train

    if threads:
        torch.set_num_threads(threads)
    path = CONFIGS / "genomics" / f"bacteria-lm-{family}-cpu.yaml"
    overrides = [*budget_overrides(window, *budget), f"trainer.max_epochs={epochs}",
                 f"name=genome-context-{family}-{window}", *extra]
    config = load_config(path, overrides)
    result = train(config)
    return {"family": family, "window": window, "model": config.model.name, "test_bpb": result.metrics["test/bpt"],
            "val_bpb": result.metrics["val/bpt"], "train_seconds": round(result.seconds, 1),
            "command": " ".join(["zoo", "train", str(path.relative_to(ROOT)), *overrides[:5]])}


MARKERS = "os^Dv<>PX*h"


def plot(points: list[dict], setting: str, path: Path) -> None:
    """Test bits per base against the window (log x), one line per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for index, family in enumerate(sorted({p["family"] for p in points})):
        line = sorted((p for p in points if p["family"] == family), key=lambda p: p["window"])
        axes.plot([p["window"] for p in line], [p["test_bpb"] for p in line], marker=MARKERS[index % len(MARKERS)],
                  label=family)
    axes.axhline(2.0, color="grey", linestyle=":", linewidth=1, label="uniform over A C G T (2 bits)")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("context: window length (bases)")
    axes.set_ylabel("test bits per base (held-out strains)")
    axes.set_title("\n".join(textwrap.wrap(f"{setting}: bits per base vs context", 90)), fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    atomic_write_bytes(path, lambda file: figure.savefig(file, format="png", dpi=120))
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--windows", nargs="*", type=int, default=list(WINDOWS))
    parser.add_argument("--tokens-per-step", type=int, default=16_384)
    parser.add_argument("--train-tokens", type=int, default=1 << 22, help="training tokens an epoch")
    parser.add_argument("--eval-tokens", type=int, default=1 << 17, help="tokens of each evaluation split")
    parser.add_argument("--epochs", type=int, default=1)
    add_sweep_arguments(parser, RECORD, PLOT)
    parser.add_argument("overrides", nargs="*", help="more config overrides for every point (e.g. output_dir=...)")
    args = parser.parse_args(argv)
    if args.redraw:
        redraw(args, plot)
        return 0
    unknown = [family for family in args.families if not (CONFIGS / "genomics" / f"bacteria-lm-{family}-cpu.yaml")
               .is_file()]
    if unknown:
        raise SystemExit(f"no bacteria-lm CPU config for {unknown}: see configs/experiments/genomics/")
    budget = (args.tokens_per_step, args.train_tokens, args.eval_tokens)
    setting = (f"bacteria-lm, 4 held-out strains; {args.tokens_per_step:,} tokens a step, {args.train_tokens:,} "
               f"training tokens an epoch, {args.epochs} epoch(s), test on {args.eval_tokens:,} tokens")
    plan = [(family, window, budget, args.epochs, args.overrides) for family in args.families
            for window in args.windows]
    for point in trained_points(run_point, plan, args.jobs):
        print(json.dumps(point), flush=True)
        payload = merge_points(args.record, [point], lambda p: (p["family"], p["window"]), setting, COMMAND)
        plot(payload["points"], setting, args.plot)
    print(f"wrote {args.record} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
