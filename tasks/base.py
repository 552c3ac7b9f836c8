"""The task interface: config base, the network shape a task needs, the registry of task families.

A task family is a `TaskDataModule` subclass registered with `@register_task(name, ConfigClass)`.
Its batches are dicts:

- `"input_ids"`: LongTensor `[B, T]`, the input tokens;
- `"labels"`: LongTensor `[B, T]` for per-token tasks (`ignore_index` where no loss is taken),
  or LongTensor `[B]` for one prediction per sequence.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning import LightningDataModule
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset


def default_data_dir() -> Path:
    """The data directory used when a config leaves `data_dir` empty: `$SEQZOO_DATA`, else `~/.cache/seqzoo`."""
    return Path(os.environ.get("SEQZOO_DATA") or "~/.cache/seqzoo").expanduser()


@dataclass
class TaskConfig:
    """Fields every task family has. `data_dir=""` means `default_data_dir()`."""

    name: str
    batch_size: int = 64
    num_workers: int = 0
    data_dir: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise `ValueError` naming the first field whose value is out of range."""
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")


@dataclass(frozen=True)
class TaskIO:
    """What the network must look like for a task.

    `vocab_size`: input token vocabulary; `num_outputs`: output classes; `per_token`: a prediction at
    every position (labels `[B, T]`) rather than one per sequence (labels `[B]`); `ignore_index`: the
    label value that takes no loss.
    """

    vocab_size: int
    num_outputs: int
    per_token: bool
    ignore_index: int = -100


class UnknownTaskError(KeyError, ValueError):
    """A task name that is not registered; the message lists the registered names."""

    def __str__(self) -> str:
        return str(self.args[0])


class TaskDataModule(LightningDataModule):
    """Base of every task family's data module; `register_task` sets `config_cls`.

    `config` is an instance of `config_cls`, or a mapping / OmegaConf `DictConfig` of its fields.
    """

    config_cls: type[TaskConfig] = TaskConfig

    def __init__(self, config: TaskConfig | Mapping[str, Any]) -> None:
        super().__init__()
        self.config = coerce_config(config, type(self).config_cls)

    @property
    def io(self) -> TaskIO:
        """The network shape this task needs."""
        raise NotImplementedError(f"{type(self).__name__} must define the `io` property")

    @property
    def description(self) -> str:
        """A one-line name of the task setting, for model cards."""
        return self.config.name

    @property
    def data_dir(self) -> Path:
        """The config's `data_dir`, or `default_data_dir()` when it is empty."""
        return Path(self.config.data_dir).expanduser() if self.config.data_dir else default_data_dir()


class TokenDataset(Dataset):
    """In-memory examples: item `i` is `{"input_ids": input_ids[i], "labels": labels[i]}`.

    `input_ids`: LongTensor `[N, T]`; `labels`: LongTensor `[N, T]` or `[N]`.
    """

    def __init__(self, input_ids: torch.Tensor, labels: torch.Tensor) -> None:
        if len(input_ids) != len(labels):
            raise ValueError(f"input_ids has {len(input_ids)} examples but labels has {len(labels)}")
        self.input_ids = input_ids
        self.labels = labels

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids[index], "labels": self.labels[index]}


def coerce_config(config: TaskConfig | Mapping[str, Any], config_cls: type[TaskConfig]) -> TaskConfig:
    """Return `config` as a validated `config_cls` instance; unknown keys raise `ValueError` naming them."""
    if isinstance(config, config_cls):
        config.validate()
        return config
    if isinstance(config, DictConfig):
        config = OmegaConf.to_container(config, resolve=True)
    if not isinstance(config, Mapping):
        raise TypeError(f"expected {config_cls.__name__} or a mapping of its fields, got {type(config).__name__}")
    valid = [field.name for field in dataclasses.fields(config_cls)]
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown key(s) {', '.join(map(repr, unknown))} for {config_cls.__name__}; "
            f"valid keys: {', '.join(valid)}"
        )
    return config_cls(**config)


_TASKS: dict[str, tuple[type[TaskConfig], type[TaskDataModule]]] = {}


def register_task(
    name: str, config_cls: type[TaskConfig]
) -> Callable[[type[TaskDataModule]], type[TaskDataModule]]:
    """Class decorator: register a `TaskDataModule` subclass under `name` with its config class."""
    if not (isinstance(config_cls, type) and issubclass(config_cls, TaskConfig)):
        raise TypeError(f"config_cls of task {name!r} must be a TaskConfig subclass, got {config_cls!r}")

    def decorator(datamodule_cls: type[TaskDataModule]) -> type[TaskDataModule]:
        if not issubclass(datamodule_cls, TaskDataModule):
            raise TypeError(f"task {name!r} must be a TaskDataModule subclass, got {datamodule_cls!r}")
        if name in _TASKS:
            raise ValueError(f"task {name!r} is already registered by {_TASKS[name][1].__qualname__}")
        datamodule_cls.config_cls = config_cls
        _TASKS[name] = (config_cls, datamodule_cls)
        return datamodule_cls

    return decorator


def get_task(name: str) -> tuple[type[TaskConfig], type[TaskDataModule]]:
    """Return `(config_cls, datamodule_cls)` of the task registered as `name`."""
    try:
        return _TASKS[name]
    except KeyError:
        raise UnknownTaskError(f"unknown task {name!r}; choose one of: {', '.join(list_tasks())}") from None


def list_tasks() -> list[str]:
    """The registered task names, sorted."""
    return sorted(_TASKS)
