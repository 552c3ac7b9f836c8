"""Model benchmark results: a figure of throughput (with its spread) and memory, and tables with the ratios
ours / upstream. Records written before the spread was recorded carry only the median: they are drawn without
a band and printed with "-" for the spread and the first call."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _label(record: dict) -> str:
    """The plots' name of a model: its family, and the upstream library for upstream models."""
    return record["family"] if record["impl"] == "seqzoo" else f"{record['family']} ({record['impl'].split(':')[0]})"


def _ran(records: list[dict], measure: str) -> list[dict]:
    return [r for r in records if r["measure"] == measure and "skipped" not in r]


def _styles(records: list[dict]) -> dict[str, dict]:
    """One colour per family; upstream models dashed with square markers."""
    families = list(dict.fromkeys(r["family"] for r in records))
    colors = {family: f"C{i % 10}" if len(families) <= 10 else _tab20(i) for i, family in enumerate(families)}
    return {_label(r): dict(color=colors[r["family"]], linestyle="-" if r["impl"] == "seqzoo" else "--",
                            marker="o" if r["impl"] == "seqzoo" else "s") for r in records}


def _tab20(index: int):
    """tab20's dark shades first, then its light ones: neighbours in the list get distinct hues."""
    from matplotlib import colormaps

    return colormaps["tab20"]((2 * index) % 20 + (2 * index // 20) % 2)


def _lines(axis, records: list[dict], x: str, y: str, styles: dict) -> None:
    """One line per model; a band between `<y>_min` and `<y>_max` where the records have them."""
    series: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if r.get(y) is not None:
            series[_label(r)].append(r)
    for label, points in series.items():
        points.sort(key=lambda r: r[x])
        axis.plot([r[x] for r in points], [r[y] for r in points], label=label, **styles[label])
        spread = [r for r in points if f"{y}_min" in r]
        if len(spread) > 1:
            axis.fill_between([r[x] for r in spread], [r[f"{y}_min"] for r in spread], [r[f"{y}_max"] for r in spread],
                              color=styles[label]["color"], alpha=0.15, linewidth=0)


def _bars(axis, records: list[dict], styles: dict) -> None:
    """Decoding tokens/s: a group of bars per model, one bar per batch size (lighter for larger batches)."""
    labels = list(dict.fromkeys(_label(r) for r in records))
    batches = sorted({r["batch"] for r in records})
    width = 0.8 / max(len(batches), 1)
    for j, batch in enumerate(batches):
        values = {_label(r): r["tokens_per_s"] for r in records if r["batch"] == batch}
        for i, label in enumerate(labels):
            if label in values:
                axis.bar(i + (j - (len(batches) - 1) / 2) * width, values[label], width, color=styles[label]["color"],
                         alpha=1.0 - 0.5 * j / max(len(batches) - 1, 1),
                         hatch="//" if styles[label]["linestyle"] == "--" else None)
    axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    axis.set_yscale("log")
    axis.set_ylabel("decoding tokens/s")
    axis.set_title(f"decoding, batch {' / '.join(map(str, batches))} (darker = smaller)")
    axis.grid(alpha=0.3, which="both", axis="y")


def figure(records: list[dict], title: str):
    """Training tokens/s (median, min-max band) and peak memory against T, decoding tokens/s per batch size, and
    the decoding state's memory against the context length; None when nothing ran."""
    if not any("skipped" not in r for r in records):
        return None
    styles = _styles(records)
    from matplotlib.figure import Figure  # imported when plotting, not when the benchmark starts

    drawing = Figure(figsize=(15, 11))
    (train, memory), (decode, state) = drawing.subplots(2, 2)
    _lines(train, _ran(records, "train"), "T", "tokens_per_s", styles)
    _lines(memory, _ran(records, "train"), "T", "peak_mib", styles)
    _lines(state, _ran(records, "state"), "context", "state_mib", styles)
    for axis, ylabel, title_ in ((train, "training tokens/s (forward + backward)",
                                  "training throughput (median; shaded: slowest to fastest call)"),
                                 (memory, "peak memory (MiB)", "training peak memory"),
                                 (state, "decoding state (MiB)", "decoding state memory, batch 1")):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("context length (prompt + generated)" if axis is state else "sequence length T")
        axis.set_ylabel(ylabel)
        axis.set_title(title_)
        axis.grid(alpha=0.3, which="both")
        if axis.get_lines():
            axis.legend(fontsize=7)
    if _ran(records, "decode"):
        _bars(decode, _ran(records, "decode"), styles)
    drawing.suptitle(title)
    drawing.tight_layout(rect=(0, 0, 1, 0.97))
    return drawing


def _upstream(records: list[dict], measure: str, key: str) -> dict[tuple, dict]:
    """(family, key value) -> the first upstream record that ran."""
    found: dict[tuple, dict] = {}
    for r in _ran(records, measure):
        if r["impl"] != "seqzoo":
            found.setdefault((r["family"], r[key]), r)
    return found


def _ratio(ours: float | None, theirs: float | None) -> str:
    return "-" if ours is None or not theirs else f"{ours / theirs:.2f}"


def _spread(r: dict) -> tuple[str, str, str]:
    """The min-max tokens/s, the calls (warm-up + timed) and the first call's ms of a record, or "-"."""
    if "tokens_per_s_min" not in r:
        return "-", str(r.get("repeats", "-")), "-"
    first = "-" if r.get("first_call_ms") is None else f"{r['first_call_ms']:,.1f}"
    return f"{r['tokens_per_s_min']:,.0f}-{r['tokens_per_s_max']:,.0f}", f"{r['warmup']}+{r['repeats']}", first


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("family", "impl") else "right",
                         overflow="fold")  # a narrow terminal wraps numbers instead of cutting them
    return table


def print_models(models: list[dict], sized: list[dict], console: Console | None = None) -> None:
    """Each model's parameter count (with its deviation from the target) or why it is unavailable; notes below."""
    console = console or Console()
    ours = {s["family"]: s for s in sized}
    table = _table("models", ["family", "impl", "parameters", "vs target", "layers", "MLP", "unavailable"])
    for m in models:
        s = ours.get(m["family"], {})
        count = m.get("parameters")
        deviation = f"{count / s['target_parameters'] - 1:+.1%}" if count and s else "-"
        table.add_row(m["family"], m["impl"], "-" if count is None else f"{count:,}", deviation,
                      str(len(s.get("layers", []))), str(s.get("d_intermediate", "-")),
                      escape(m.get("unavailable", "")))
    console.print(table)
    for m in models:
        for note in m.get("notes", []):
            console.print(f"[dim]{escape(m['family'] + ' ' + m['impl'] + ': ' + note)}[/]")


def print_model_tables(records: list[dict], console: Console | None = None) -> None:
    """Training, decoding and state-memory tables; ratios ours / upstream (> 1: ours is faster, or bigger)."""
    console = console or Console()
    up = _upstream(records, "train", "T")
    table = _table("training (forward + backward, LM loss; tokens/s at the median call)",
                   ["family", "impl", "T", "tokens/s", "min-max", "calls", "first call ms", "peak MiB",
                    "ours/upstream tok/s", "ours/upstream mem"])
    for r in _ran(records, "train"):
        theirs = up.get((r["family"], r["T"]), {}) if r["impl"] == "seqzoo" else {}
        table.add_row(r["family"], r["impl"], str(r["T"]), f"{r['tokens_per_s']:,.0f}", *_spread(r),
                      "-" if r["peak_mib"] is None else f"{r['peak_mib']:.1f}",
                      _ratio(r["tokens_per_s"], theirs.get("tokens_per_s")),
                      _ratio(r["peak_mib"], theirs.get("peak_mib")))
    console.print(table)

    up = _upstream(records, "decode", "batch")
    table = _table("decoding (greedy steps after the prompt; tokens/s at the median run)",
                   ["family", "impl", "batch", "tokens/s", "min-max", "calls", "first call ms", "ours/upstream"])
    for r in _ran(records, "decode"):
        theirs = up.get((r["family"], r["batch"]), {}) if r["impl"] == "seqzoo" else {}
        table.add_row(r["family"], r["impl"], str(r["batch"]), f"{r['tokens_per_s']:,.0f}", *_spread(r),
                      _ratio(r["tokens_per_s"], theirs.get("tokens_per_s")))
    console.print(table)
    console.print("[dim]min-max: tokens/s of the slowest and fastest timed call; calls: warm-up + timed; first "
                  "call: the first warm-up call; '-': not recorded (results from before spreads were kept)[/]")

    states = _ran(records, "state")
    contexts = sorted({r["context"] for r in states})
    table = _table("decoding state (MiB, batch 1) by context length", ["family", "impl", *map(str, contexts)])
    by_model: dict[tuple, dict] = defaultdict(dict)
    for r in states:
        by_model[(r["family"], r["impl"])][r["context"]] = r["state_mib"]
    for (family, impl), sizes in by_model.items():
        table.add_row(family, impl, *(f"{sizes[c]:.3f}" if c in sizes else "-" for c in contexts))
    console.print(table)

    skipped = dict.fromkeys((r["family"], r["impl"], r["measure"], r["skipped"]) for r in records if "skipped" in r)
    for family, impl, measure, reason in skipped:
        console.print(f"[dim]{escape(f'{family} {impl} {measure}: skipped ({reason})')}[/]")
