"""Data generation spread over processes, with a progress bar."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from rich.progress import track

Item = TypeVar("Item")
Result = TypeVar("Result")


def default_workers() -> int:
    """The CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def parallel_map(function: Callable[[Item], Result], items: Sequence[Item], *, workers: int, description: str,
                 progress: bool = True) -> list[Result]:
    """`[function(item) for item in items]`, over `workers` processes, in order, with a progress bar per item.

    `function` must be a module-level function (it is sent to the workers by name). With `workers <= 1` it runs in
    this process. Workers are forked on Linux (no re-import of torch), spawned elsewhere.
    """
    if workers <= 1 or len(items) <= 1:
        return list(track(map(function, items), total=len(items), description=description, disable=not progress))
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with context.Pool(min(workers, len(items))) as pool:
        results = pool.imap(function, items, chunksize=1)
        return list(track(results, total=len(items), description=description, disable=not progress))
