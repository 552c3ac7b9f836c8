"""`zoo data prepare <name>`: the registry of data preparers.

A preparer makes a data set ready on explicit request: it generates one from its spec (ListOps, Pathfinder) or
installs one that a package registry ships (the Debian packages behind the offline stand-ins). Task files
register theirs beside their data module::

    def listops_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--num-train", type=int, default=96_000)

    @register_preparer("lra/listops", "generate ListOps (LRA) from its spec", listops_arguments)
    def prepare_listops(args: argparse.Namespace) -> Path:
        ...  # write under args.out, return the folder a task's data_dir should name

Every preparer also takes `--out DIR`, by default `default_out(name)` (or the `default_out` it registers, such as
where a Debian package puts its files), which is where its task looks when the task's `data_dir` is left empty.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zoo.tasks.base import default_data_dir


@dataclass(frozen=True)
class Preparer:
    """A named data preparation: its one-line summary, its command-line options and the function that runs it."""

    name: str
    summary: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Path]
    out: Callable[[], Path]  # the default --out: where the task reads when its data_dir is empty


_PREPARERS: dict[str, Preparer] = {}


def default_out(name: str) -> Path:
    """Where preparer `name` writes by default and its task reads by default: `<data dir>/<name>`."""
    return default_data_dir() / name


def register_preparer(name: str, summary: str,
                      add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
                      out: Callable[[], Path] | None = None):
    """Decorator: register `run(args) -> Path` as `zoo data prepare <name>`; `out` gives the default `--out`
    (`default_out(name)` when None)."""

    def decorator(run: Callable[[argparse.Namespace], Path]) -> Callable[[argparse.Namespace], Path]:
        if name in _PREPARERS:
            raise ValueError(f"data preparer {name!r} is already registered by {_PREPARERS[name].run.__qualname__}")
        _PREPARERS[name] = Preparer(name, summary, add_arguments or (lambda parser: None), run,
                                    out or (lambda: default_out(name)))
        return run

    return decorator


def list_preparers() -> list[Preparer]:
    """The registered preparers, sorted by name."""
    return [_PREPARERS[name] for name in sorted(_PREPARERS)]


def get_preparer(name: str) -> Preparer:
    """The preparer registered as `name`; `KeyError` naming the registered ones otherwise."""
    try:
        return _PREPARERS[name]
    except KeyError:
        raise KeyError(f"no data preparer {name!r}; choose one of: {', '.join(_PREPARERS)}") from None
