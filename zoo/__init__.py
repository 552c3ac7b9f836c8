"""seqzoo: a model zoo of efficient sequence architectures on shared scan and attention kernels.

    import zoo
    zoo.list_models()                            # registered presets
    model = zoo.create_model("hybrid-tiny")      # random init; pretrained="mqar" loads shipped weights
    model = zoo.from_pretrained("runs/.../export")

Importing `zoo` loads nothing else: each name below is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "__version__": "zoo.version",
    "CheckpointError": "zoo.errors",
    "ConfigError": "zoo.errors",
    "create_model": "zoo.factory",
    "from_pretrained": "zoo.factory",
    "save_pretrained": "zoo.hub",
    "SequenceModel": "zoo.hub",
    "list_models": "zoo.models",
    "register_model": "zoo.models",
}

__all__ = sorted(name for name in _EXPORTS if name != "__version__")


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zoo' has no attribute '{name}'")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
