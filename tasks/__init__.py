"""Task families: data modules, the task interface and the task registry."""

from zoo.tasks.base import (
    TaskConfig,
    TaskDataModule,
    TaskIO,
    UnknownTaskError,
    get_task,
    list_tasks,
    register_task,
)
from zoo.tasks.synthetic import MQARConfig, MQARDataModule, generate_mqar

__all__ = [
    "MQARConfig",
    "MQARDataModule",
    "TaskConfig",
    "TaskDataModule",
    "TaskIO",
    "UnknownTaskError",
    "generate_mqar",
    "get_task",
    "list_tasks",
    "register_task",
]
