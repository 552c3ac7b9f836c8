"""Training curves: a PNG of the losses and accuracies in a run's Lightning CSV log."""

from __future__ import annotations

import csv
from pathlib import Path

from matplotlib.figure import Figure

RESUMED_PART = "metrics-before-resume-{}.csv"  # the log of a run's part before its n-th resumption


def log_parts(log_dir: Path) -> list[Path]:
    """A run's CSV logs in order: the parts before each resumption, then `metrics.csv`."""
    parts = sorted(log_dir.glob(RESUMED_PART.format("*")), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return [*parts, *([log_dir / "metrics.csv"] if (log_dir / "metrics.csv").is_file() else [])]


def keep_log_before_resume(log_dir: Path) -> None:
    """Move `metrics.csv` aside before a run resumes (Lightning's CSV logger starts it afresh)."""
    if (log_dir / "metrics.csv").is_file():
        earlier = len(list(log_dir.glob(RESUMED_PART.format("*"))))
        (log_dir / "metrics.csv").rename(log_dir / RESUMED_PART.format(earlier))


def _read_series(csv_paths: list[Path]) -> dict[str, list[tuple[int, float]]]:
    """CSV logs -> {column: [(step, value), ...]} for every numeric column but step and epoch."""
    series: dict[str, list[tuple[int, float]]] = {}
    for csv_path in csv_paths:
        with open(csv_path, newline="") as file:
            for row in csv.DictReader(file):
                step = int(row.get("step") or 0)
                for key, value in row.items():
                    if key in ("step", "epoch") or value in ("", None):
                        continue
                    series.setdefault(key, []).append((step, float(value)))
    return series


def plot_training_curves(log_dir: Path, png_path: Path) -> Path | None:
    """Plot loss and accuracy against step (train per step, validation per epoch) from a run's CSV logs (every part
    of a resumed run); None if nothing was logged."""
    parts = log_parts(log_dir)
    if not parts:
        return None
    series = _read_series(parts)
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
