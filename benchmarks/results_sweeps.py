"""The sweeps' part of the results docs: each sweep's record (benchmarks/results/<sweep>.json) as rows of
docs/results.json and as a section of docs/results.md with its plot, when both the record and the plot exist.

- MQAR accuracy versus decoding-state size (`python -m benchmarks.mqar_state_size`);
- genome bits per base versus context length (`python -m benchmarks.genome_context`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.task_runs import ROOT

RESULTS = ROOT / "benchmarks" / "results"
STATE_SIZE_RECORD = RESULTS / "mqar-state-size.json"
STATE_SIZE_PLOT = "mqar-state-size.png"
GENOME_CONTEXT_RECORD = RESULTS / "genome-context.json"
GENOME_CONTEXT_PLOT = "genome-context.png"


def load_sweeps(docs: Path) -> dict[str, dict[str, Any]]:
    """The sweep records whose plot is in `docs`, by sweep ("state-size", "genome-context")."""
    found = {}
    for name, record, plot in (("state-size", STATE_SIZE_RECORD, STATE_SIZE_PLOT),
                               ("genome-context", GENOME_CONTEXT_RECORD, GENOME_CONTEXT_PLOT)):
        if (docs / plot).is_file() and record.is_file():
            found[name] = json.loads(record.read_text())
    return found


def _row(sweep: dict[str, Any], point: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"run_date": sweep["run_date"], "task_description": sweep["setting"], "stand_in": False,
            "family": point["family"], "command": point["command"], **fields}


def sweep_rows(sweeps: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every sweep point as a results row (MQAR: setting `state-size-d<width>` with the state's bytes; genome
    context: setting `context-<window>`, test bits per base)."""
    out = []
    for point in sweeps.get("state-size", {}).get("points", []):
        out.append(_row(sweeps["state-size"], point, task="mqar", recipe="mqar-state-size",
                        setting=f"state-size-d{point['d_model']}", metric="test/acc", value=point["test_acc"],
                        model=point["preset"], parameters=point["parameters"], state_bytes=point["state_bytes"]))
    for point in sweeps.get("genome-context", {}).get("points", []):
        out.append(_row(sweeps["genome-context"], point, task="bacteria-lm", recipe="genome-context",
                        setting=f"context-{point['window']}", metric="test/bpt", value=point["test_bpb"],
                        model=point["model"]))
    return out


def sweep_sections(sweeps: dict[str, dict[str, Any]], duration: Callable[[float], str]) -> list[str]:
    """The markdown sections of the sweeps present (`duration` formats training times)."""
    lines = []
    sweep = sweeps.get("state-size")
    if sweep:
        lines += ["## MQAR accuracy versus state size", "", f"Command: `{sweep['command']}` ({sweep['run_date']}). "
                  f"{sweep['setting']}.", "", f"![MQAR accuracy versus recurrent state size]({STATE_SIZE_PLOT})", "",
                  "| family | preset | d_model | parameters | state (bytes) | test accuracy (%) | train time |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {p['family']} | {p['preset']} | {p['d_model']} | {p['parameters']:,} | {p['state_bytes']:,} | "
                  f"{100 * p['test_acc']:.1f} | {duration(p['train_seconds'])} |" for p in sweep["points"]] + [""]
    sweep = sweeps.get("genome-context")
    if sweep:
        windows = sorted({p["window"] for p in sweep["points"]})
        by_point = {(p["family"], p["window"]): p for p in sweep["points"]}
        lines += ["## Genome bits per base versus context length", "",
                  f"Command: `{sweep['command']}` ({sweep['run_date']}). {sweep['setting']}. Lower is better; 2 bits "
                  "is a uniform guess over A C G T. Each point's own command is in results.json.", "",
                  f"![Genome bits per base versus context length]({GENOME_CONTEXT_PLOT})", "",
                  "| family | " + " | ".join(f"{w:,} bases" for w in windows) + " |",
                  "|---|" + "---:|" * len(windows)]
        for family in sorted({p["family"] for p in sweep["points"]}):
            cells = [by_point.get((family, window)) for window in windows]
            lines.append(f"| {family} | " + " | ".join(
                "-" if p is None else f"{p['test_bpb']:.3f} ({duration(p['train_seconds'])})" for p in cells) + " |")
        lines += ["", "Test bits per base on the held-out strains (training time in brackets).", ""]
    return lines
