"""Make torchvision importable on a CPU-only torch whose matching torchvision wheel is a CUDA build.

This is a fix for one kind of environment, not part of the library: `install.sh` installs it into the virtual
environment it sets up (a `.pth` start-up line calling `install_import_hook`) only when the torchvision there cannot
load its compiled ops, which is the case for this project's pinned CPU torch. Nothing in seqzoo calls it; elsewhere
nothing is patched.

On such a machine torchvision's compiled ops (`torchvision/_C.so`) fail to load, and importing
torchvision then dies in `torchvision/_meta_registrations.py`, which registers fake kernels for the
`torchvision::nms` and `torchvision::qnms` operators that were never defined. timm imports torchvision,
and torchmetrics imports it when present, so that failure breaks `import lightning` too.

`ensure_torchvision_importable()` defines the missing operator schemas through `torch.library` before
torchvision is first imported, and only when its compiled ops really fail to load. The operators stay
without kernels: calling `torchvision.ops.nms` raises torch's "no kernel" error, while everything
seqzoo uses from timm (layers, models without pretrained weights) works. Nothing is written anywhere.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

# Schemas of the operators that torchvision registers fake kernels for at import time,
# as torchvision's C++ sources declare them.
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)

_library = None  # the torch.library.Library holding the schemas, once defined


def compiled_ops_load() -> bool:
    """True when torchvision is absent or its `_C` extension loads into this torch."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True
    libraries = sorted(Path(spec.submodule_search_locations[0]).glob("_C*.so")) + sorted(
        Path(spec.submodule_search_locations[0]).glob("_C*.pyd")
    )
    if not libraries:
        return False
    import torch

    try:
        torch.ops.load_library(str(libraries[0]))
    except (OSError, ImportError, RuntimeError):
        return False
    return True


def ensure_torchvision_importable() -> bool:
    """Define torchvision's operator schemas if its compiled ops cannot load.

    Returns True when the schemas were defined by this call, False when nothing was needed
    (torchvision absent, already imported, already patched, or its compiled ops load).
    """
    global _library
    if _library is not None or "torchvision" in sys.modules or compiled_ops_load():
        return False
    import torch

    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        library.define(schema)
    _library = library
    return True


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    """Runs `ensure_torchvision_importable` once, just before torchvision is first imported; finds nothing itself."""

    def find_spec(self, name, path, target=None):
        if name == "torchvision":
            sys.meta_path.remove(self)
            ensure_torchvision_importable()
        return None


def install_import_hook() -> None:
    """Arrange for the schemas to be defined right before torchvision's first import (cheap: imports nothing now).
    What the `.pth` line that install.sh writes calls at interpreter start-up."""
    if not any(isinstance(finder, _BeforeTorchvision) for finder in sys.meta_path):
        sys.meta_path.insert(0, _BeforeTorchvision())
