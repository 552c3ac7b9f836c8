"""Synthetic recall tasks, generated from their specs and cached: MQAR (one setting, or zoology's grid of
settings), selective copying, induction heads. Every module here registers its task on import."""

import importlib as _importlib
import pkgutil as _pkgutil

from zoo.tasks.synthetic.mqar import MQARConfig, MQARDataModule, generate_mqar

for _info in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["MQARConfig", "MQARDataModule", "generate_mqar"]
