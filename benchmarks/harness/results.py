"""Result files: the name a run's JSON and PNG take, and writing them without ever losing committed results.

A run is named `<benchmark>-<machine>-<dtype>[-<tag>]` and described by its grid: what it ran (ops and
implementations, or families; lengths; sizes), stored in the JSON as `grid`.
- A run of the benchmark's full default grid takes the plain name (or its `--tag`) and replaces what is there.
- Any other run is partial: it never takes the plain name (without `--tag` it is tagged `partial`), and it
  replaces an existing file only if that file holds the same grid, or with `--overwrite`. Otherwise it is
  refused before anything runs, with the file named and the two ways out.
- The PNG and the JSON are rendered under temporary names beside their targets and renamed into place, so an
  interrupted run leaves the previous files whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

PARTIAL_TAG = "partial"


def result_name(benchmark: str, machine: str, dtype: str, tag: str | None, full: bool) -> str:
    """`<benchmark>-<machine>-<dtype>`, then `-<tag>`; a partial run without a tag is tagged `partial`."""
    if tag is None and not full:
        tag = PARTIAL_TAG
    return f"{benchmark}-{machine}-{dtype}" + (f"-{tag}" if tag else "")


def plain(grid: dict[str, Any]) -> dict[str, Any]:
    """The grid as it reads back from JSON (tuples become lists), so that grids compare equal across runs."""
    return json.loads(json.dumps(grid))


def _short(value: Any) -> str:
    if isinstance(value, list):
        items = [_short(item) for item in value]
        return ", ".join(items) if len(items) <= 6 else f"{', '.join(items[:5])}, ... ({len(items)} in all)"
    if isinstance(value, dict):
        return " ".join(f"{key}={_short(item)}" for key, item in value.items())
    return str(value)


def describe_grid(grid: dict[str, Any]) -> str:
    """One line naming what a grid covers."""
    return "; ".join(f"{key}: {_short(value)}" for key, value in grid.items())


def check_destination(json_path: Path, grid: dict[str, Any], full: bool, overwrite: bool) -> None:
    """Refuse (SystemExit naming the file and the options) a partial run that would replace a results file of
    another grid; a full run, a rerun of the same grid and `overwrite` pass."""
    if full or overwrite or not json_path.exists():
        return
    try:
        existing = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"{json_path} exists but cannot be read ({error}); move it away or pass --overwrite") from None
    if existing.get("grid") == plain(grid):
        return
    held = (f"the grid {describe_grid(existing['grid'])}" if "grid" in existing else
            f"{len(existing.get('results', []))} results of a grid it does not record (measured "
            f"{existing.get('measured', 'at an unknown time')})")
    raise SystemExit(
        f"{json_path} holds {held}.\nThis partial run ({describe_grid(plain(grid))}) would replace it and its PNG. "
        "Pass --tag NAME to write it under another name beside it, or --overwrite to replace it."
    )


def _temporary_beside(path: Path) -> Path:
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    return Path(name)


def write_results(json_path: Path, payload: dict, figure: Callable[[], Any | None]) -> Path:
    """Write `payload` as JSON to `json_path` and `figure()` (a matplotlib Figure, or None when nothing ran) as
    the PNG beside it, both atomically; a PNG left from an earlier run is removed when there is no figure."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    png_path = json_path.with_suffix(".png")
    written: list[tuple[Path, Path]] = []
    try:
        drawn = figure()
        if drawn is not None:
            temporary = _temporary_beside(png_path)
            written.append((temporary, png_path))
            drawn.savefig(temporary, format="png", dpi=100)
        temporary = _temporary_beside(json_path)
        written.append((temporary, json_path))
        temporary.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        for source, target in written:
            os.chmod(source, 0o644)
            os.replace(source, target)
    except BaseException:
        for source, _ in written:
            source.unlink(missing_ok=True)
        raise
    if drawn is None:
        png_path.unlink(missing_ok=True)
    return json_path
