"""Long Range Arena (Tay et al., 2021): ListOps, Text, Retrieval, Image, Pathfinder and Path-X.

Loaders read the official files from a task's `data_dir`; ListOps and Pathfinder are also generated from their
specs (`zoo data prepare lra/listops`, `lra/pathfinder`); Text, Retrieval and Image have offline stand-ins built
from data that installs from a package registry, registered under names that end in `-standin`. Every module here
registers its tasks on import.
"""

import importlib as _importlib
import pkgutil as _pkgutil

for _info in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_info.name}")
