"""The shipped checkpoints' part of the results docs: one row per folder of `checkpoints/` (what it is, what it was
trained on, its test metrics and how long it trained), read from the folder itself (config.json, eval_results.json
and the weights' parameter count)."""

from __future__ import annotations

import json
from typing import Any

from zoo.pretrained import shipped_checkpoints


def _test_metrics(folder) -> dict[str, float]:
    evaluations = json.loads((folder / "eval_results.json").read_text())["evaluations"]
    return {k: v for k, v in evaluations[0]["metrics"].items() if k.startswith("test/")} if evaluations else {}


def checkpoint_rows() -> list[dict[str, Any]]:
    """Each shipped checkpoint: name, hub id, preset, task, description, test metrics, training time, command."""
    rows = []
    for checkpoint in shipped_checkpoints():
        config = json.loads((checkpoint.folder / "config.json").read_text())
        training = config.get("training") or {}
        rows.append({"name": checkpoint.folder.name, "hub_id": checkpoint.hub_id, "preset": checkpoint.preset,
                     "task": checkpoint.task, "description": checkpoint.description,
                     "metrics": _test_metrics(checkpoint.folder), "train_seconds": training.get("train_seconds"),
                     "command": training.get("command")})
    return rows


def checkpoint_section(duration) -> list[str]:
    """The markdown section of docs/results.md: a table of the shipped checkpoints (`duration` formats seconds)."""
    rows = checkpoint_rows()
    if not rows:
        return []
    lines = ["## Shipped checkpoints", "",
             "The models in `checkpoints/` (`zoo list --pretrained`), each trained on CPU (one thread) by the command "
             "shown; `zoo eval checkpoints/<name>` gives these test metrics again, bit for bit.", "",
             "| checkpoint | preset | task | test metrics | trained for | command |", "|---|---|---|---|---|---|"]
    for row in rows:
        metrics = ", ".join(f"{k.removeprefix('test/')} {v:.4f}" for k, v in sorted(row["metrics"].items())
                            if not k.endswith("/loss"))
        lines.append(f"| `{row['name']}` | `{row['preset']}` | {row['description']} | {metrics} | "
                     f"{duration(row['train_seconds'] or 0)} | `{row['command']}` |")
    return lines + [""]
