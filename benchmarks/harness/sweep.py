"""Sweeps of training runs (one point a run): run them one after another or a few at a time, and merge each finished
point into a JSON record, so that a stopped sweep keeps what it measured."""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_write_text


def trained_points(run_point: Callable[..., dict], plan: list[tuple], jobs: int) -> Iterator[dict]:
    """`run_point(*p)` for each p of `plan`, yielded as each finishes: here one after another (`jobs` 1), or `jobs`
    at a time in spawned processes, each called with one more argument, `threads=1` (one intra-op thread each)."""
    if jobs == 1:
        yield from (run_point(*point) for point in plan)
        return
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_point, *point, 1) for point in plan]
        yield from (future.result() for future in as_completed(futures))


def merge_points(record: Path, points: list[dict], key: Callable[[dict], Any], setting: str,
                 command: str) -> dict[str, Any]:
    """Merge `points` into the JSON `record` (replacing earlier points of the same `key`; dropping every earlier point
    when they were measured at another `setting`), write it atomically and return it."""
    previous = json.loads(record.read_text()) if record.is_file() else {"points": []}
    done = {key(point) for point in points}
    kept = [point for point in previous["points"] if key(point) not in done and previous.get("setting") == setting]
    payload = {"command": command, "setting": setting,
               "run_date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "points": sorted(kept + points, key=key)}
    atomic_write_text(record, json.dumps(payload, indent=1) + "\n")
    return payload


def add_sweep_arguments(parser: argparse.ArgumentParser, record: Path, plot: Path) -> None:
    """The options every sweep takes: --jobs, --record, --plot, --redraw."""
    parser.add_argument("--jobs", type=int, default=1, help="points trained at once, each in its own process with "
                                                            "one thread (default: one at a time, all threads)")
    parser.add_argument("--record", type=Path, default=record, help="the JSON record to merge into")
    parser.add_argument("--plot", type=Path, default=plot, help="the picture to redraw")
    parser.add_argument("--redraw", action="store_true", help="only redraw the plot from the record (no training)")


def redraw(args: argparse.Namespace, plot: Callable[[list[dict], str, Path], None]) -> None:
    """`--redraw`: draw `args.plot` again from `args.record` with `plot(points, setting, path)`, no training."""
    if not args.record.is_file():
        raise SystemExit(f"no record at {args.record}: run the sweep first")
    sweep = json.loads(args.record.read_text())
    plot(sweep["points"], sweep["setting"], args.plot)
    print(f"redrew {args.plot}")
