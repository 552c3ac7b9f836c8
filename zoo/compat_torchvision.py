"""Make torchvision importable on a CPU-only torch whose matching torchvision wheel is a CUDA build.

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

import importlib.util
import sys
from pathlib import Path

import torch

# Schemas of the operators that torchvision registers fake kernels for at import time,
# as torchvision's C++ sources declare them.
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)

_library: torch.library.Library | None = None


def _compiled_ops_load() -> bool:
    """True when torchvision is absent or its `_C` extension loads into this torch."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True
    libraries = sorted(Path(spec.submodule_search_locations[0]).glob("_C*.so")) + sorted(
        Path(spec.submodule_search_locations[0]).glob("_C*.pyd")
    )
    if not libraries:
        return False
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
    if _library is not None or "torchvision" in sys.modules or _compiled_ops_load():
        return False
    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        library.define(schema)
    _library = library
    return True
