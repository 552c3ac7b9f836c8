"""Task benchmark runs: train experiment configs and record what they measured, one JSON file per experiment.

    python -m benchmarks.task_runs configs/experiments/lra/listops-mamba-cpu.yaml [more configs] [-- overrides]
    python -m benchmarks.task_runs --grid lra-cpu          # the CPU grid the docs report (see GRIDS)
    python -m benchmarks.task_runs --grid lra-recipe --skip-done -- trainer.precision=bf16-mixed   # on a GPU

Each run is `zoo train CONFIG [overrides]` in this process; its record, `benchmarks/results/tasks/<experiment>.json`,
holds the command, the run date, the machine, the task and its description (a stand-in says so), the family, the
setting (`cpu` or `recipe`), the model's parameter count, every validation and test metric, and the training time.
`python -m benchmarks.results_doc` turns the records into docs/results.md and docs/results.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from benchmarks.harness.machine import describe_machine
from zoo.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / "benchmarks" / "results" / "tasks"
CONFIGS = ROOT / "configs" / "experiments"

_FAMILIES = ("attention", "swa", "longformer", "bigbird", "mamba", "mamba2", "mamba2-hybrid", "xlstm", "deltanet",
             "gated-deltanet", "based")
_LRA = ("listops", "text", "retrieval", "image", "pathfinder", "pathx")
# Named sets of configs. lra-cpu, etth1-cpu, genomics-cpu, uea-cpu, vision-cpu: the runs the docs report, at most 30 minutes each on two cores. The
# recipe grids are the published-size runs for a GPU (the real data sets where a user has them, the stand-ins
# otherwise).
GRIDS = {
    "lra-cpu": [f"lra/{task}-{family}-cpu.yaml" for task in ("listops", "image-standin", "pathfinder")
                for family in ("mamba", "xlstm", "attention")],
    "lra-recipe": [f"lra/{task}-{family}.yaml" for task in _LRA for family in _FAMILIES],
    "lra-standin-recipe": [f"lra/{task}-standin-{family}.yaml" for task in ("text", "retrieval", "image")
                           for family in _FAMILIES],
    "etth1-cpu": [f"timeseries/etth1-{horizon}-{family}-cpu.yaml" for family in ("mamba", "xlstm", "attention")
                  for horizon in (96, 192, 336, 720)],
    "etth1-recipe": [f"timeseries/etth1-{horizon}-{family}.yaml" for family in _FAMILIES
                     for horizon in (96, 192, 336, 720)],
    "genomics-cpu": [f"genomics/{task}-{family}-cpu.yaml" for task in ("splice", "genome-species")
                     for family in ("mamba", "xlstm", "attention")],
    "vision-cpu": [f"vision/sfashion-mnist-{family}-cpu.yaml" for family in ("mamba", "xlstm", "attention")],
    "uea-cpu": [f"timeseries/uea-japanese-vowels-{family}-cpu.yaml" for family in ("mamba", "xlstm", "attention")],
    "genomics-recipe": [f"genomics/{task}-{family}.yaml" for task in ("splice", "genome-species", "bacteria-lm",
                                                                       "chr22-lm") for family in _FAMILIES],
    "synthetic-recipe": [f"synthetic/{task}-{family}.yaml" for task in ("mqar-grid", "selective-copying",
                                                                        "induction-heads") for family in _FAMILIES],
}


def generated_configs() -> Any:
    """configs/generate.py as a module (its FAMILIES and RECIPES name what each generated file holds)."""
    spec = importlib.util.spec_from_file_location("seqzoo_generate_configs", CONFIGS.parent / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def identify(path: Path) -> dict[str, str]:
    """The recipe (task key), family and setting a generated config's file name encodes:
    `lra/listops-mamba2-hybrid-cpu.yaml` -> `{"recipe": "listops", "family": "mamba2-hybrid", "setting": "cpu"}`."""
    generated = generated_configs()
    stem = path.stem
    setting = "cpu" if stem.endswith("-cpu") else "recipe"
    stem = stem.removesuffix("-cpu")
    for family in sorted(generated.FAMILIES, key=len, reverse=True):
        task = stem.removesuffix(f"-{family}")
        if task != stem and task in generated.RECIPES:
            return {"recipe": task, "family": family, "setting": setting}
    raise SystemExit(f"{path} is not a generated experiment config (configs/generate.py names those)")


def _commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    return result.stdout.strip() or "unknown"


def trained_steps(run_dir: Path) -> int:
    """The optimiser steps a run took: the last step its metrics log (`logs/metrics.csv`) names."""
    with open(Path(run_dir) / "logs" / "metrics.csv", newline="") as file:
        return max((int(row["step"]) for row in csv.DictReader(file) if row.get("step")), default=0)


def run(path: Path, overrides: list[str]) -> Path:
    """Train one config and write its record; returns the record's path."""
    from zoo.config import load_config
    from zoo.hub import load_pretrained, read_checkpoint_config
    from zoo.train import train

    identity = identify(path)
    config = load_config(path, overrides)
    started = datetime.datetime.now(datetime.timezone.utc)
    result = train(config)
    exported = read_checkpoint_config(result.export_dir)
    relative = path.resolve().relative_to(ROOT)
    record = {
        "experiment": config.name,
        **identity,
        "task": config.task.name,
        # the home folder as ~: the page rendered from records is the same on every machine
        "task_description": exported.get("task_description", config.task.name).replace(str(Path.home()), "~"),
        "stand_in": config.task.name.endswith("-standin"),
        "model": config.model.name,
        "parameters": load_pretrained(result.export_dir).num_parameters(),
        "metrics": result.metrics,
        "train_seconds": round(result.seconds, 1),
        "train_steps": trained_steps(result.run_dir),
        "batch_size": config.task.batch_size,
        "command": " ".join(["zoo", "train", str(relative), *overrides]),
        "run_date": started.isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": describe_machine(torch.device("cpu")),
        "run_dir": str(result.run_dir),
    }
    RECORDS.mkdir(parents=True, exist_ok=True)
    target = RECORDS / f"{config.name}.json"
    atomic_write_text(target, json.dumps(record, indent=2) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", type=Path, help="generated experiment configs to train")
    parser.add_argument("--grid", choices=sorted(GRIDS), help="train a named set of configs")
    parser.add_argument("--skip-done", action="store_true", help="leave out configs that already have a record")
    args, overrides = parser.parse_known_args(argv)
    overrides = [item for item in overrides if item != "--"]
    paths = list(args.configs) + [CONFIGS / name for name in GRIDS.get(args.grid, [])]
    if not paths:
        parser.error("name configs or a --grid")
    from zoo.config import load_config

    for path in paths:
        if args.skip_done and (RECORDS / f"{load_config(path, overrides).name}.json").is_file():
            print(f"skipped {path}: recorded already")
            continue
        print(f"recorded {run(path, overrides)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
