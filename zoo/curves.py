"""Training curves: a PNG of the losses and accuracies in a run's Lightning CSV log."""

from __future__ import annotations

import csv
from pathlib import Path

from matplotlib.figure import Figure


def _read_series(csv_path: Path) -> dict[str, list[tuple[int, float]]]:
    """`metrics.csv` -> {column: [(step, value), ...]} for every numeric column but step and epoch."""
    series: dict[str, list[tuple[int, float]]] = {}
    with open(csv_path, newline="") as file:
        for row in csv.DictReader(file):
            step = int(row.get("step") or 0)
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                series.setdefault(key, []).append((step, float(value)))
    return series


def plot_training_curves(csv_path: Path, png_path: Path) -> Path | None:
    """Plot loss and accuracy against step (train per step, validation per epoch); None if nothing logged."""
    if not csv_path.is_file():
        return None
    series = _read_series(csv_path)
    panels = [
        (metric, [key for key in sorted(series) if key.endswith(f"/{metric}") or key.endswith(f"/{metric}_step")])
        for metric in ("loss", "acc")
    ]
    panels = [(metric, keys) for metric, keys in panels if keys]
    if not panels:
        return None
    figure = Figure(figsize=(5.5 * len(panels), 4))
    axes = figure.subplots(1, len(panels), squeeze=False)
    for axis, (metric, keys) in zip(axes[0], panels):
        for key in keys:
            steps, values = zip(*series[key])
            axis.plot(steps, values, marker="o" if len(steps) < 30 else None, label=key)
        axis.set_xlabel("step")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=110)
    return png_path
