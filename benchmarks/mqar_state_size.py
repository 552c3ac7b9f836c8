"""MQAR accuracy versus the size of the decoding state, for every family (the BASED paper's picture, at CPU scale).

    python -m benchmarks.mqar_state_size                       # every family at d_model 32, 64, 128
    python -m benchmarks.mqar_state_size --families mamba xlstm --widths 64
    python -m benchmarks.mqar_state_size --jobs 2              # two points at a time, one thread each

Each point trains `configs/experiments/mqar-state-size.yaml` with the family's -tiny preset at one width
(`zoo train ... model.name=<preset> model.d_model=<width>`), records its test accuracy, and measures the state a
decoder holds for one sequence after the task's length (`model.prefill`: recurrent states, or the attention cache of
the window or the whole sequence). Writes benchmarks/results/mqar-state-size.json and docs/mqar-state-size.png
(accuracy against state bytes, log scale, one line per family); a run over fewer families or widths merges into the
file, replacing only the points it measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from benchmarks.harness.measure import state_bytes
from benchmarks.task_runs import ROOT, generated_configs

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


def run_point(family: str, preset: str, width: int, threads: int = 0) -> dict:
    """Train one family at one width (with `threads` intra-op threads, 0: torch's default); its accuracy, state and
    parameter count."""
    from zoo.config import load_config
    from zoo.hub import load_pretrained
    from zoo.train import train

    if threads:
        torch.set_num_threads(threads)
    overrides = [f"model.name={preset}", f"model.d_model={width}", f"name=mqar-state-size-{family}-{width}"]
    config = load_config(CONFIG, overrides)
    result = train(config)
    model = load_pretrained(result.export_dir)
    return {"family": family, "preset": preset, "d_model": width, "parameters": model.num_parameters(),
            "state_bytes": decoding_state_bytes(model, config.task.seq_len, config.task.vocab_size),
            "test_acc": result.metrics["test/acc"], "train_seconds": round(result.seconds, 1),
            "command": " ".join(["zoo", "train", str(CONFIG.relative_to(ROOT)), *overrides[:2]])}


def plot(points: list[dict], path: Path) -> None:
    """Accuracy against state bytes (log x), one line per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for family in sorted({p["family"] for p in points}):
        line = sorted((p for p in points if p["family"] == family), key=lambda p: p["state_bytes"])
        axes.plot([p["state_bytes"] for p in line], [p["test_acc"] for p in line], marker="o", label=family)
    axes.set_xscale("log")
    axes.set_xlabel("decoding state after the sequence (bytes, batch 1)")
    axes.set_ylabel("MQAR test accuracy")
    axes.set_title("MQAR (length 128, 16 pairs, vocabulary 256): accuracy vs state size")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=120)
    temporary.replace(path)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    families = generated_configs().FAMILIES
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="*", choices=sorted(families), help="default: every family")
    parser.add_argument("--widths", nargs="*", type=int, default=list(WIDTHS))
    parser.add_argument("--jobs", type=int, default=1, help="points trained at once, each in its own process with "
                                                            "one thread (default: one at a time, all threads)")
    args = parser.parse_args(argv)
    previous = json.loads(RECORD.read_text())["points"] if RECORD.is_file() else []
    plan = [(family, families[family].cpu_preset, width) for family in args.families or sorted(families)
            for width in args.widths]
    if args.jobs > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
            measured = list(pool.map(run_point, *zip(*plan), [1] * len(plan)))
    else:
        measured = [run_point(*point) for point in plan]
    for point in measured:
        print(json.dumps(point))
    done = {(p["family"], p["d_model"]) for p in measured}
    points = [p for p in previous if (p["family"], p["d_model"]) not in done] + measured
    payload = {"command": "python -m benchmarks.mqar_state_size", "run_date":
               datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "setting": "MQAR length 128, 16 pairs, vocabulary 256, 10k training examples, each family's -tiny "
                          "preset at d_model " + ", ".join(map(str, sorted({p['d_model'] for p in points}))) + ".",
               "points": sorted(points, key=lambda p: (p["family"], p["d_model"]))}
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(json.dumps(payload, indent=1) + "\n")
    plot(payload["points"], PLOT)
    print(f"wrote {RECORD.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
