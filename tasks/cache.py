"""Generated data cached on disk: written atomically, verified on load, rebuilt when stale or damaged.

A cache entry is two files in `<root>/<task>/`: `<key>.pt` (a `torch.save`d mapping of tensors) and `<key>.json`
(the fields the data was built from, the `.pt` file's size and SHA-256). `key` hashes the fields, so any change
of them names a new entry. The `.pt` file is renamed into place first and the `.json` second: an entry whose
`.json` is missing, names other fields, or whose `.pt` has another size or hash (a crash mid-write, a truncated
copy, a hand edit) is rebuilt with a warning, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from zoo.tasks.base import DataError

from zoo.atomic import atomic_write_bytes, atomic_write_text

Tensors = dict[str, Any]  # nested mappings of str -> Tensor


def cache_key(fields: Mapping[str, Any]) -> str:
    """16 hex digits of the SHA-256 of `fields` as sorted JSON."""
    return hashlib.sha256(json.dumps(dict(fields), sort_keys=True).encode()).hexdigest()[:16]


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


class CachedTensors:
    """One cache entry of generated tensors (see the module docstring). `folder`: `<root>/<task>`."""

    def __init__(self, folder: Path, fields: Mapping[str, Any]) -> None:
        self.fields = json.loads(json.dumps(dict(fields)))  # plain JSON values, as they read back
        key = cache_key(self.fields)
        self.path = Path(folder) / f"{key}.pt"
        self.manifest = Path(folder) / f"{key}.json"

    def load(self) -> Tensors:
        """The cached tensors; raises `ValueError` naming what does not match when the entry is not intact."""
        if not self.manifest.is_file() or not self.path.is_file():
            raise FileNotFoundError(f"{self.path} or its manifest is missing")
        manifest = json.loads(self.manifest.read_text())
        if manifest.get("fields") != self.fields:
            raise ValueError(f"{self.manifest} names fields {manifest.get('fields')}, not {self.fields}")
        size = self.path.stat().st_size
        if size != manifest.get("size"):
            raise ValueError(f"{self.path} is {size} bytes, its manifest says {manifest.get('size')}")
        if _digest(self.path) != manifest.get("sha256"):
            raise ValueError(f"{self.path} does not match the SHA-256 in its manifest")
        return torch.load(self.path, map_location="cpu", weights_only=True)

    def save(self, tensors: Tensors) -> None:
        """Write the tensors and then their manifest, each atomically; a folder that cannot be written is a DataError
        that says where the cache goes and how to move it."""
        try:
            atomic_write_bytes(self.path, lambda file: torch.save(tensors, file))
            manifest = {"fields": self.fields, "size": self.path.stat().st_size, "sha256": _digest(self.path)}
            atomic_write_text(self.manifest, json.dumps(manifest, indent=1) + "\n")
        except OSError as error:
            raise DataError(f"cannot write the data cache {self.path.parent}: {error.strerror or error}; point "
                            "SEQZOO_DATA (or the task's data_dir) to a folder you can write") from None

    def load_or_build(self, build: Callable[[], Tensors], check: Callable[[Tensors], None] | None = None) -> Tensors:
        """The cached tensors when the entry is intact (and `check` accepts them: it raises on a mismatch), else
        `build()`, saved before it is returned."""
        if self.path.exists() or self.manifest.exists():
            try:
                tensors = self.load()
                if check is not None:
                    check(tensors)
                return tensors
            except Exception as error:  # any unreadable, damaged or mismatched entry is rebuilt
                warnings.warn(f"cache entry {self.path} is unusable ({type(error).__name__}: {error}); rebuilding it",
                              stacklevel=2)
        tensors = build()
        self.save(tensors)
        return tensors
