"""Task families: data modules, the task contract (`TaskIO`), objectives (loss and metrics), the task registry.

Every module in this package is imported with it, so a task family registers itself by being a file here.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from zoo.tasks.base import (
    DataError,
    TaskConfig,
    TaskDataModule,
    TaskIO,
    TensorDataset,
    UnknownTaskError,
    get_task,
    list_tasks,
    register_task,
)
from zoo.tasks.objective import METRICS, Objective, metric_mode

for _info in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_info.name}")

from zoo.tasks.synthetic import MQARConfig, MQARDataModule, generate_mqar  # noqa: E402

__all__ = [
    "DataError",
    "METRICS",
    "MQARConfig",
    "MQARDataModule",
    "Objective",
    "TaskConfig",
    "TaskDataModule",
    "TaskIO",
    "TensorDataset",
    "UnknownTaskError",
    "generate_mqar",
    "get_task",
    "list_tasks",
    "metric_mode",
    "register_task",
]
