"""The scale part of the results docs, from the benchmark files in benchmarks/results/: peak training memory versus
sequence length (`python -m benchmarks.memory_length`) and packed against padded batches (`python -m
benchmarks.packing`), each with its plot; the CPU runs of the full grid (`*-cpu2-float32.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.harness.arguments import RESULTS

MEMORY = RESULTS / "memory-length-cpu2-float32.json"
PACKING = RESULTS / "packing-cpu2-float32.json"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _memory_section(payload: dict[str, Any]) -> list[str]:
    records = payload["results"]
    lengths = sorted({r["length"] for r in records})
    lines = ["## Peak training memory versus sequence length", "",
             f"`python -m benchmarks.memory_length` ({payload['measured']}): {payload['what']}. {payload['title']}.",
             "", f"![memory versus length](../benchmarks/results/{MEMORY.with_suffix('.png').name})", "",
             "| preset | activation checkpointing | " + " | ".join(f"T={t:,}" for t in lengths)
             + " | growth (longest / half) |", "|---|---|" + "---:|" * (len(lengths) + 1)]
    growth = payload["growth"]
    for preset in dict.fromkeys(r["preset"] for r in records):
        for checkpointing in (False, True):
            cells = {r["length"]: f"{r['peak_mib']:,.0f} MiB" for r in records
                     if r["preset"] == preset and r["activation_checkpointing"] == checkpointing}
            key = preset + (" checkpointed" if checkpointing else "")
            lines.append(f"| {preset} | {'yes' if checkpointing else 'no'} | "
                         + " | ".join(cells.get(t, "-") for t in lengths) + f" | {growth.get(key, '-')} |")
    return lines + [""]


def _packing_section(payload: dict[str, Any]) -> list[str]:
    lines = ["## Sequence packing", "",
             f"`python -m benchmarks.packing` ({payload['measured']}): {payload['what']}. {payload['title']}.", "",
             f"![packing](../benchmarks/results/{PACKING.with_suffix('.png').name})", "",
             "| task | family | direction | padding share | padded tokens/s | packed tokens/s | speedup |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in payload["results"]:
        lines.append(f"| {r['task']} | {r['family']} | {r['direction']} | {r['padding_share']:.1%} | "
                     f"{r['padded']['tokens_per_s']:,} | {r['packed']['tokens_per_s']:,} | {r['speedup']:.2f} |")
    return lines + [""]


def scale_sections() -> list[str]:
    """The markdown of both sections, for the benchmarks that have a full-grid CPU file."""
    lines: list[str] = []
    memory, packing = _load(MEMORY), _load(PACKING)
    if memory:
        lines += _memory_section(memory)
    if packing:
        lines += _packing_section(packing)
    return lines
