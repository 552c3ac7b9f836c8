"""Write docs/results.md and docs/results.json from the run records in benchmarks/results/tasks/ (never typed).

    python -m benchmarks.results_doc            # rewrite both files (make results)
    python -m benchmarks.results_doc --check    # exit 1 when the files differ from what the records give

Each row of docs/results.json is one metric of one run: task, setting, family, metric, value, command, run date
(and the task's description, whether it is a stand-in, the model and its parameter count). docs/results.md groups the
same rows by task and puts the published numbers (benchmarks/published.py) beside ours. The sweeps that have run
(MQAR accuracy versus state size, genome bits per base versus context: benchmarks/results_sweeps.py) join both files
with their plots, and the scale benchmarks (memory versus length, packing: benchmarks/results_scale.py) join the page.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.published import STAND_INS, lra_published
from benchmarks.results_checkpoints import checkpoint_section
from benchmarks.results_forecasting import forecasting_sections, is_forecasting
from benchmarks.results_scale import scale_sections
from benchmarks.results_sweeps import load_sweeps, sweep_rows, sweep_sections
from benchmarks.task_runs import RECORDS, ROOT, generated_configs
from zoo.atomic import atomic_write_text

DOCS = ROOT / "docs"


def load_records() -> list[dict[str, Any]]:
    """Every run record, sorted by recipe, setting and family."""
    records = [json.loads(path.read_text()) for path in sorted(RECORDS.glob("*.json"))]
    return sorted(records, key=lambda r: (r["recipe"], r["setting"], r["family"]))


def rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per test metric of each record (the machine-readable results)."""
    out = []
    for record in records:
        for metric, value in sorted(record["metrics"].items()):
            if metric.startswith("test/"):
                out.append({"task": record["task"], "recipe": record["recipe"], "setting": record["setting"],
                            "family": record["family"], "metric": metric, "value": value,
                            "command": record["command"], "run_date": record["run_date"],
                            "task_description": record["task_description"], "stand_in": record["stand_in"],
                            "model": record["model"], "parameters": record["parameters"],
                            "train_seconds": record["train_seconds"], "train_steps": record.get("train_steps"),
                            "batch_size": record.get("batch_size")})
    return out


def duration(seconds: float) -> str:
    """A training time as the tables show it: seconds under a minute and a half, else whole minutes."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def trained(record: dict[str, Any]) -> str:
    """How much a run trained: optimiser steps x batch size (examples seen), when its record says."""
    if record.get("train_steps") is None:
        return "-"
    return f"{record['train_steps']:,} x {record['batch_size']}"


def _percent(value: float | None) -> str:
    return "fail" if value is None else f"{value:.2f}"


def _task_section(recipe: str, records: list[dict[str, Any]]) -> list[str]:
    first = records[0]
    lines = [f"### {recipe}" + (" (STAND-IN)" if first["stand_in"] else ""), "", f"Task: {first['task_description']}."]
    generated = generated_configs().RECIPES.get(recipe)
    for setting in dict.fromkeys(record["setting"] for record in records):
        if generated:
            lines += ["", f"Data of the `{setting}` runs: {generated.data_for(setting == 'cpu')}."]
    if recipe in STAND_INS:
        lines += ["", f"This is a stand-in for LRA {STAND_INS[recipe]}; the published numbers below are for the real "
                  "task and are not comparable."]
    lines += ["", "| family | setting | model | parameters | test accuracy (%) | wall time | trained | command |",
              "|---|---|---|---:|---:|---:|---:|---|"]
    for record in records:
        accuracy = record["metrics"].get("test/acc")
        lines.append(f"| {record['family']} | {record['setting']} | {record['model']} | {record['parameters']:,} | "
                     f"{'-' if accuracy is None else f'{100 * accuracy:.2f}'} | {duration(record['train_seconds'])} "
                     f"| {trained(record)} | `{record['command']}` |")
    published = lra_published(recipe)
    if published:
        lines += ["", "Published (full-scale recipe, GPU):", "", "| model | test accuracy (%) |", "|---|---:|"]
        lines += [f"| {model} | {_percent(value)} |" for model, value in published.items()]
    groups = sorted({key.split("/")[1] for r in records for key in r["metrics"] if key.count("/") == 2
                     and key.startswith("test/")})
    if groups:
        lines += ["", "Accuracy per setting (%):", "", "| family | " + " | ".join(groups) + " |",
                  "|---|" + "---:|" * len(groups)]
        for record in records:
            cells = [record["metrics"].get(f"test/{group}/acc") for group in groups]
            lines.append(f"| {record['family']} | " + " | ".join("-" if c is None else f"{100 * c:.1f}" for c in cells)
                         + " |")
    return lines + [""]


def markdown(records: list[dict[str, Any]], sweeps: dict[str, dict[str, Any]] | None = None) -> str:
    """docs/results.md from the run records and the sweeps' records (`results_sweeps.load_sweeps`)."""
    lines = ["# Results", "",
             "Generated by `python -m benchmarks.results_doc` from the run records in `benchmarks/results/tasks/`; "
             "each record is written by `python -m benchmarks.task_runs <config>`, which runs the command shown. "
             "Do not edit by hand. The same rows, machine-readable: [results.json](results.json).", "",
             "Settings: `cpu` runs are the `-cpu` configs (a family's tiny model, at most 30 minutes on 2 CPU cores); "
             "`recipe` runs are the published recipe's size. Stand-ins replace data that cannot be had offline and "
             "are named as such in task, config and table. Wall time: training, validation and the final test; "
             "trained: optimiser steps x batch size.", ""]
    if not records:
        lines += ["No runs recorded yet.", ""]
    classified = [r for r in records if not is_forecasting(r)]
    for recipe in dict.fromkeys(record["recipe"] for record in classified):
        lines += _task_section(recipe, [r for r in classified if r["recipe"] == recipe])
    lines += forecasting_sections([r for r in records if is_forecasting(r)], duration, trained)
    lines += sweep_sections(sweeps or {}, duration)
    lines += checkpoint_section(duration)
    lines += scale_sections()
    return "\n".join(lines).rstrip() + "\n"


def outputs() -> dict[Path, str]:
    """docs/results.md and docs/results.json as the records give them."""
    records = load_records()
    sweeps = load_sweeps(DOCS)
    table = rows(records) + sweep_rows(sweeps)
    return {DOCS / "results.md": markdown(records, sweeps), DOCS / "results.json": json.dumps(table, indent=1) + "\n"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the docs differ from the records")
    args = parser.parse_args(argv)
    wanted = outputs()
    stale = [path for path, text in wanted.items() if not path.is_file() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"stale: {path} (run python -m benchmarks.results_doc)")
        return 1 if stale else 0
    for path in stale:
        atomic_write_text(path, wanted[path])
    print(f"{len(stale)} of {len(wanted)} files rewritten in {DOCS}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
