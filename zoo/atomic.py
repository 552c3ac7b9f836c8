"""Writes that never leave a half-written file or folder: write under a temporary name, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


def _default_mode(directory: bool) -> int:
    """The permissions a plain `open`/`mkdir` would give under the current umask (mkstemp uses 0600/0700)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary file in the same folder and `os.replace`."""
    return atomic_write_bytes(path, lambda file: file.write(text.encode("utf-8")))


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it replaces `path` whole, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    os.chmod(temporary, _default_mode(directory=True))
    for file in temporary.rglob("*"):  # writers that go through mkstemp themselves (safetensors) leave 0600
        if file.is_file():
            os.chmod(file, _default_mode(directory=False))
    previous = None
    if path.exists():
        previous = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, previous)
    os.replace(temporary, path)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def atomic_write_bytes(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call `write(file)` on a temporary file beside `path`, then rename it over `path` (`torch.save`, PNG, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.chmod(temporary, _default_mode(directory=False))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
