"""The sweep's report: from the records of every comparison (test, call site, error / tolerance ratio, seed), the
worst ratio per test and per test file, the seed that gave it and the margin the tolerance leaves (1 / ratio;
the suite asks for at least MARGIN), as a rich table (text) and as JSON.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

MARGIN = 3.0  # the margin every tolerance should leave over the worst ratio of the sweep


@dataclass(frozen=True)
class Record:
    """One comparison of one run of a test: where it was made, its error / tolerance ratio and the run's seed."""

    test: str
    site: str
    ratio: float
    seed: int | None


def _worst(records: list[Record]) -> Record:
    return max(records, key=lambda r: r.ratio)


def _number(value: float) -> float | str:
    """JSON has no infinity: inf is written as the string "inf"."""
    return value if math.isfinite(value) else str(value)


def _margin(ratio: float) -> float:
    """1 / ratio; inf where the ratio is 0 or below (a `bound` on an excess that stayed negative)."""
    return math.inf if ratio <= 0 else 1 / ratio


def summarise(records, runs, failed, seconds, count) -> dict:
    """The report as a dict: per test (worst ratio, its site and seed, margin, runs, failed runs, seconds per
    seed, and the worst per site) and per file (the same over its tests); tests that ran without a measured
    comparison are listed under "unmeasured"."""
    by_test: dict[str, list[Record]] = {}
    for record in records:
        by_test.setdefault(record.test, []).append(record)
    tests = {}
    for test, found in sorted(by_test.items()):
        worst = _worst(found)
        sites = {}
        for record in found:
            if record.site not in sites or record.ratio > sites[record.site]["worst_ratio"]:
                sites[record.site] = {"worst_ratio": record.ratio, "seed": record.seed}
        tests[test] = {
            "worst_ratio": worst.ratio, "site": worst.site, "seed": worst.seed, "margin": _margin(worst.ratio),
            "comparisons": len(found), "runs": runs.get(test, 0), "failed_runs": failed.get(test, 0),
            "seconds_per_seed": seconds.get(test, 0.0) / count, "sites": dict(sorted(sites.items())),
        }
    files = {}
    for test, entry in tests.items():
        file = test.split("::")[0]
        current = files.get(file)
        if current is None or entry["worst_ratio"] > current["worst_ratio"]:
            files[file] = {key: entry[key] for key in ("worst_ratio", "site", "seed", "margin")} | {"test": test}
    for file, entry in files.items():
        entry["seconds_per_seed"] = sum(s for t, s in seconds.items() if t.split("::")[0] == file) / count
    unmeasured = sorted(test for test in runs if test not in tests)
    return {"seeds": count, "margin_wanted": MARGIN, "files": dict(sorted(files.items())), "tests": tests,
            "unmeasured": unmeasured}


def _json_ready(value):
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, float):
        return _number(value)
    return value


def write_json(path: Path, records, runs, failed, seconds, count) -> None:
    """Write the report's JSON to `path`."""
    path.write_text(json.dumps(_json_ready(summarise(records, runs, failed, seconds, count)), indent=1) + "\n")


def _row_style(margin: float) -> str:
    return "bold red" if margin < MARGIN else ""


def _margin_text(margin: float) -> str:
    """The margin, marked LOW below MARGIN (the table is plain text in the report file)."""
    return f"{margin:.3g}" + (" LOW" if margin < MARGIN else "")


def render(records, runs, failed, seconds, count) -> str:
    """The report as text: a table per test file, then per test (worst first), then the unmeasured tests."""
    report = summarise(records, runs, failed, seconds, count)
    files = Table(box=box.SIMPLE_HEAD, title=f"Worst error / tolerance per test file ({count} seeds; margin = 1 / ratio, "
                        f"wanted >= {MARGIN:g})")
    for column in ("file", "worst ratio", "margin", "seed", "where", "s / seed"):
        files.add_column(column, justify="right" if column in ("worst ratio", "margin", "s / seed") else "left")
    for file, entry in report["files"].items():
        files.add_row(file, f"{entry['worst_ratio']:.3g}", _margin_text(entry["margin"]), str(entry["seed"]),
                      entry["test"].split("::", 1)[1] + " @ " + entry["site"], f"{entry['seconds_per_seed']:.2f}",
                      style=_row_style(entry["margin"]))
    tests = Table(box=box.SIMPLE_HEAD, title="Worst error / tolerance per test, worst first")
    for column in ("test", "worst ratio", "margin", "seed", "site", "runs", "failed", "s / seed"):
        tests.add_column(column, justify="left" if column in ("test", "site") else "right", overflow="fold")
    for test, entry in sorted(report["tests"].items(), key=lambda item: -item[1]["worst_ratio"]):
        tests.add_row(test, f"{entry['worst_ratio']:.3g}", _margin_text(entry["margin"]), str(entry["seed"]),
                      entry["site"], str(entry["runs"]), str(entry["failed_runs"]),
                      f"{entry['seconds_per_seed']:.2f}", style=_row_style(entry["margin"]))
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=False, color_system=None, markup=False, highlight=False)
    console.print(files)
    console.print(tests)
    if report["unmeasured"]:
        console.print("Tests that use `seed` but made no measured comparison (plain asserts?):")
        for test in report["unmeasured"]:
            console.print(f"  {test}")
    return buffer.getvalue()
