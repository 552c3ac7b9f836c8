"""Kernel benchmark results as a figure (time with its spread, and memory, against T) and a table of ratios.

Records written before the spread was recorded carry only `ms` (the median) and `repeats`: they are drawn
and printed without a spread band or first-call time ("-").
"""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _ran(records: list[dict]) -> list[dict]:
    return [record for record in records if "ms" in record]


def _series(records: list[dict]) -> dict[str, dict[str, list[dict]]]:
    """op -> impl -> the records that ran, in order of T."""
    table: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for record in sorted(_ran(records), key=lambda r: r["T"]):
        table[record["op"]][record["impl"]].append(record)
    return table


def _draw_time(axis, points: list[dict], style: dict) -> None:
    """The median time, and the band from the fastest to the slowest timed call where it was recorded."""
    lengths = [r["T"] for r in points]
    axis.plot(lengths, [r["ms"] for r in points], **style)
    spread = [r for r in points if "ms_min" in r]
    if len(spread) > 1:
        axis.fill_between([r["T"] for r in spread], [r["ms_min"] for r in spread], [r["ms_max"] for r in spread],
                          color=style["color"], alpha=0.2, linewidth=0)


def figure(records: list[dict], title: str):
    """One row per op: forward+backward time (median, min-max band) and peak memory against T, log-log, one
    line per implementation; None when nothing ran."""
    series = _series(records)
    if not series:
        return None
    from matplotlib.figure import Figure  # imported when plotting, not when the benchmark starts

    drawing = Figure(figsize=(11, 3.6 * len(series)))
    axes = drawing.subplots(len(series), 2, squeeze=False)
    impls_everywhere = sorted({impl for impls in series.values() for impl in impls})
    colors = {impl: f"C{index % 10}" for index, impl in enumerate(impls_everywhere)}  # one colour per impl
    for row, (op, impls) in enumerate(sorted(series.items())):
        for impl, points in sorted(impls.items()):
            style = dict(linestyle="--" if "reference" in impl else "-", marker="o", color=colors[impl], label=impl)
            _draw_time(axes[row][0], points, style)
            if all(r["peak_mib"] is not None for r in points):
                axes[row][1].plot([r["T"] for r in points], [r["peak_mib"] for r in points], **style)
        for column, label in enumerate(("forward + backward (ms)", "peak memory (MiB)")):
            axis = axes[row][column]
            axis.set_xscale("log", base=2)
            axis.set_xlabel("sequence length T")
            axis.set_ylabel(label)
            axis.set_title(op)
            axis.grid(alpha=0.3, which="both")
            if axis.get_lines():  # the memory of loops over time is not profiled: that panel can be empty
                axis.set_yscale("log")
                axis.legend(fontsize=8)
    drawing.suptitle(f"{title}\ntime: median of the timed calls, shaded from the fastest to the slowest")
    drawing.tight_layout(rect=(0, 0, 1, 1 - 0.7 / drawing.get_figheight()))  # 0.7 inch for the title
    return drawing


def _number(record: dict, key: str, digits: int) -> str:
    value = record.get(key)
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(records: list[dict], console: Console | None = None) -> None:
    """Median time, its spread (min-max over the timed calls, and how many), the first call (warm-up: compiling,
    autotuning), memory, and the ratio to the fastest implementation at each (op, T)."""
    console = console or Console()
    fastest: dict[tuple[str, int], float] = {}
    for record in _ran(records):
        key = (record["op"], record["T"])
        fastest[key] = min(fastest.get(key, float("inf")), record["ms"])
    table = Table(title="forward + backward (ms: median of the timed calls after the warm-up)")
    widths = {"op": max((len(r["op"]) for r in records), default=2), "impl": max((len(r["impl"]) for r in records), default=4)}
    for column in ("op", "impl", "T", "ms", "min-max", "calls", "first call", "peak MiB", "x fastest"):
        table.add_column(column, justify="left" if column in widths else "right", min_width=widths.get(column),
                         overflow="fold")  # a narrow terminal wraps numbers instead of cutting them
    for record in _ran(records):
        spread = f"{record['ms_min']:.2f}-{record['ms_max']:.2f}" if "ms_min" in record else "-"
        calls = f"{record['warmup']}+{record['repeats']}" if "warmup" in record else str(record.get("repeats", "-"))
        table.add_row(record["op"], record["impl"], str(record["T"]), f"{record['ms']:.2f}", spread, calls,
                      _number(record, "first_call_ms", 1), _number(record, "peak_mib", 1),
                      f"{record['ms'] / fastest[(record['op'], record['T'])]:.2f}")
    console.print(table)
    console.print("[dim]calls: warm-up + timed; first call: the first warm-up call, compilation and autotuning "
                  "included; '-': not recorded (results from before spreads were kept, or not measured)[/]")
    skipped = sorted({(r["op"], r["impl"], r["skipped"]) for r in records if "skipped" in r})
    for op, impl, reason in skipped:
        console.print(f"[dim]{escape(f'{op} {impl}: skipped ({reason})')}[/]")
