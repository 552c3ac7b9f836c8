"""Benchmark results: an atomically written JSON file, a PNG of time and memory against T, a table of ratios."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zoo.atomic import atomic_write_text


def write_results(path: Path, payload: dict) -> Path:
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")
    return path


def _series(records: list[dict]) -> dict[str, dict[str, list[tuple[int, float, float]]]]:
    """op -> impl -> [(T, ms, peak_mib)] for the records that ran."""
    table: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if "ms" in record:
            table[record["op"]][record["impl"]].append((record["T"], record["ms"], record["peak_mib"]))
    return table


def plot_results(path: Path, records: list[dict], title: str) -> Path | None:
    """One row per op: forward+backward time and peak memory against T, log-log, one line per impl."""
    series = _series(records)
    if not series:
        return None
    from matplotlib.figure import Figure  # imported when plotting: not on every `zoo` command's start-up

    figure = Figure(figsize=(11, 3.6 * len(series)))
    axes = figure.subplots(len(series), 2, squeeze=False)
    impls_everywhere = sorted({impl for impls in series.values() for impl in impls})
    colors = {impl: f"C{index % 10}" for index, impl in enumerate(impls_everywhere)}  # one colour per impl
    for row, (op, impls) in enumerate(sorted(series.items())):
        for impl, points in sorted(impls.items()):
            lengths, ms, mib = zip(*sorted(points))
            style = dict(linestyle="--" if "reference" in impl else "-", marker="o", color=colors[impl], label=impl)
            axes[row][0].plot(lengths, ms, **style)
            if all(m is not None for m in mib):
                axes[row][1].plot(lengths, mib, **style)
        for column, label in enumerate(("forward+backward time (ms)", "peak memory (MiB)")):
            axis = axes[row][column]
            axis.set_xscale("log", base=2)
            axis.set_yscale("log")
            axis.set_xlabel("sequence length T")
            axis.set_ylabel(label)
            axis.set_title(op)
            axis.grid(alpha=0.3, which="both")
            axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.4 / len(series)))
    figure.savefig(path, dpi=100)
    return path


def print_table(records: list[dict], console: Console | None = None) -> None:
    """Time, memory and the ratio to the fastest other implementation at each (op, T)."""
    console = console or Console()
    fastest: dict[tuple[str, int], float] = {}
    for record in records:
        if "ms" in record:
            key = (record["op"], record["T"])
            fastest[key] = min(fastest.get(key, float("inf")), record["ms"])
    table = Table(title="forward + backward")
    widths = {"op": max((len(r["op"]) for r in records), default=2), "impl": max((len(r["impl"]) for r in records), default=4)}
    for column in ("op", "impl", "T", "ms", "peak MiB", "x fastest"):
        table.add_column(column, justify="left" if column in widths else "right", min_width=widths.get(column))
    for record in records:
        if "ms" in record:
            ratio = record["ms"] / fastest[(record["op"], record["T"])]
            table.add_row(record["op"], record["impl"], str(record["T"]), f"{record['ms']:.2f}",
                          "-" if record["peak_mib"] is None else f"{record['peak_mib']:.1f}", f"{ratio:.2f}")
    console.print(table)
    skipped = sorted({(r["op"], r["impl"], r["skipped"]) for r in records if "skipped" in r})
    for op, impl, reason in skipped:
        console.print(f"[dim]{escape(f'{op} {impl}: skipped ({reason})')}[/]")
