"""The forecasting part of docs/results.md: per data set (recipes `<set>-<horizon>`, e.g. `etth1-96`), MSE and MAE of
every run, the average over the four published horizons where a family has all four, and the published averages
beside them (benchmarks/published.py)."""

from __future__ import annotations

from typing import Any

from benchmarks.published import FORECASTING, FORECASTING_HORIZONS


def is_forecasting(record: dict[str, Any]) -> bool:
    """Whether a run record is a forecasting run (its test metrics are MSE and MAE)."""
    return "test/mse" in record["metrics"]


def data_set(record: dict[str, Any]) -> tuple[str, int]:
    """`etth1-336` -> ("etth1", 336)."""
    name, horizon = record["recipe"].rsplit("-", 1)
    return name, int(horizon)


def _cell(record: dict[str, Any] | None) -> str:
    if record is None:
        return "-"
    return f"{record['metrics']['test/mse']:.3f} / {record['metrics']['test/mae']:.3f}"


def forecasting_sections(records: list[dict[str, Any]], duration: Any, trained: Any) -> list[str]:
    """Markdown lines for the forecasting records; `duration(seconds)` formats a training time, `trained(record)` the
    steps it took."""
    lines: list[str] = []
    for name in dict.fromkeys(data_set(r)[0] for r in records):
        runs = [r for r in records if data_set(r)[0] == name]
        lines += [f"### {name} (forecasting)", "", f"Task: {runs[0]['task_description'].rsplit(',', 1)[0]}.", "",
                  "Test MSE / MAE on the scaled series, per horizon, and their average over the four horizons:", "",
                  "| family | setting | " + " | ".join(map(str, FORECASTING_HORIZONS)) + " | average |",
                  "|---|---|" + "---:|" * (len(FORECASTING_HORIZONS) + 1)]
        for family, setting in dict.fromkeys((r["family"], r["setting"]) for r in runs):
            by_horizon = {data_set(r)[1]: r for r in runs if (r["family"], r["setting"]) == (family, setting)}
            cells = [_cell(by_horizon.get(h)) for h in FORECASTING_HORIZONS]
            complete = all(h in by_horizon for h in FORECASTING_HORIZONS)
            average = "-"
            if complete:
                mse, mae = (sum(by_horizon[h]["metrics"][f"test/{m}"] for h in FORECASTING_HORIZONS)
                            / len(FORECASTING_HORIZONS) for m in ("mse", "mae"))
                average = f"{mse:.3f} / {mae:.3f}"
            lines.append(f"| {family} | {setting} | " + " | ".join(cells) + f" | {average} |")
        published = FORECASTING.get(name)
        if published:
            lines += ["", "Published (averaged over the four horizons, input 96):", "", "| model | MSE | MAE |",
                      "|---|---:|---:|"]
            lines += [f"| {model} | {mse:.3f} | {mae:.3f} |" for model, (mse, mae) in published.items()]
        lines += ["", "| family | setting | horizon | model | parameters | MSE | MAE | wall time | trained | command |",
                  "|---|---|---:|---|---:|---:|---:|---:|---:|---|"]
        for r in sorted(runs, key=lambda r: (r["setting"], r["family"], data_set(r)[1])):
            lines.append(f"| {r['family']} | {r['setting']} | {data_set(r)[1]} | {r['model']} | {r['parameters']:,} | "
                         f"{r['metrics']['test/mse']:.3f} | {r['metrics']['test/mae']:.3f} | "
                         f"{duration(r['train_seconds'])} | {trained(r)} | `{r['command']}` |")
        lines.append("")
    return lines
