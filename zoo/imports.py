"""User code an experiment imports first (`imports:` in a config; `--imports` of `zoo eval` and `zoo card`): modules
or `.py` files that register their own mixers, encoders, heads, presets or tasks, so that `zoo train` builds them like
the built-in ones. A new encoder reads one of the task input kinds (its `reads`), a new head serves one of the task
output kinds (its `predicts`); the export records the imports, and loading it names them when they are missing."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from zoo.errors import ConfigError


def _import_file(path: Path) -> None:
    """Import a `.py` file once per process, under a module name derived from its resolved path."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"config key 'imports': file not found: {path}")
    name = f"seqzoo_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise ConfigError(f"config key 'imports': {path} failed to import: {type(error).__name__}: {error}") from error


def import_user_modules(items: list[str]) -> None:
    """Import each item: a path ending in `.py`, or a module name importable from `sys.path`."""
    for item in items:
        item = str(item)
        if item.endswith(".py"):
            _import_file(Path(item))
            continue
        try:
            importlib.import_module(item)
        except ImportError as error:
            raise ConfigError(f"config key 'imports': cannot import module '{item}': {error}") from error
