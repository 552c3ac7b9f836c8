"""The task interface: config base, what a task feeds a network and asks of it (`TaskIO`), the registry of task
families.

A task family is a `TaskDataModule` subclass registered with `@register_task(name, ConfigClass)`. Its batches are
dicts of tensors:

- `"inputs"`: what the encoder reads: token ids LongTensor `[B, T]`, real values `[B, T, C]`, images `[B, C, H, W]`;
  a pair axis after the batch for two-tower tasks (`[B, 2, T]`);
- `"targets"`: LongTensor `[B, T]` for per-token tasks (`ignore_index` where no loss is taken), LongTensor `[B]` for
  one class per sequence, float `[B, horizon, C]` for regression and forecasting;
- `"lengths"` (optional): LongTensor `[B]` (`[B, 2]` for pairs), the real length of each padded sequence;
- `"cu_seqlens"` (with `pack: true`): the batch packed into one row without padding (`zoo.tasks.packing`);
- `"group"` (optional, tasks whose `TaskIO.groups` names groups): LongTensor `[B]`, each example's group index
  (MQAR's test settings), so that validation and test metrics are also reported per group.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from lightning import LightningDataModule
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from zoo.tasks.packing import packing_collate


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
    pack: bool = False  # one row of the batch's sequences end to end with cu_seqlens, no padding (zoo.tasks.packing)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise `ValueError` naming the first field whose value is out of range."""
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")


INPUT_KINDS = ("tokens", "channels", "image")
OUTPUT_KINDS = ("lm", "token_classifier", "classifier", "matching", "regression")
PER_TOKEN_OUTPUTS = ("lm", "token_classifier")
CLASS_OUTPUTS = ("token_classifier", "classifier", "matching")


@dataclass(frozen=True)
class TaskIO:
    """What a task feeds the network and what it asks of it; the network is fitted to it in one place
    (`zoo.anatomy.fit_to_task`).

    inputs: `tokens` (ids below `vocab_size`), `channels` (`channels` real values per step) or `image` (`channels` x
    `image_size` x `image_size`). outputs: the head kind the targets need: `lm` (next-token ids over the input
    vocabulary), `token_classifier` (a class per position), `classifier` (a class per sequence), `matching` (a class
    per pair of sequences) or `regression` (`horizon` steps of `num_outputs` values). num_outputs: classes, or
    predicted channels. metrics: the names `zoo.tasks.objective.METRICS` knows; the first is monitored.
    ignore_index: the target value that takes no loss (per-token tasks). labels: for classes read from data, their
    names in class-id order (saved with a trained model, so that its predictions can be named and an evaluation
    that would number the classes otherwise is refused); empty where classes are numbers. groups: names of the
    groups a batch's `"group"` indices point into (e.g. MQAR's `T256-kv64` test settings); the first metric is also
    logged per group in validation and test, as `<split>/<group>/<key>`.
    """

    inputs: str
    outputs: str
    num_outputs: int
    vocab_size: int = 0
    channels: int = 0
    image_size: int = 0
    horizon: int = 0
    metrics: tuple[str, ...] = ("accuracy",)
    ignore_index: int = -100
    labels: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.inputs not in INPUT_KINDS:
            raise ValueError(f"TaskIO.inputs '{self.inputs}' is not an input kind; choose one of: {', '.join(INPUT_KINDS)}")
        if self.outputs not in OUTPUT_KINDS:
            raise ValueError(
                f"TaskIO.outputs '{self.outputs}' is not an output kind; choose one of: {', '.join(OUTPUT_KINDS)}"
            )
        needed = {"tokens": ("vocab_size",), "channels": ("channels",), "image": ("channels", "image_size")}
        for field in ("num_outputs", *needed[self.inputs], *(("horizon",) if self.outputs == "regression" else ())):
            if getattr(self, field) < 1:
                raise ValueError(f"TaskIO.{field} must be >= 1 for {self.inputs} -> {self.outputs}, got {getattr(self, field)}")
        if self.outputs == "lm" and (self.inputs != "tokens" or self.num_outputs != self.vocab_size):
            raise ValueError("TaskIO: an 'lm' task predicts its input tokens: inputs 'tokens', num_outputs = vocab_size")
        if self.outputs in CLASS_OUTPUTS and self.num_outputs < 2:
            raise ValueError(f"TaskIO.num_outputs: '{self.outputs}' outputs need at least two classes, got {self.num_outputs}")
        if self.labels and len(self.labels) != self.num_outputs:
            raise ValueError(f"TaskIO.labels names {len(self.labels)} classes but num_outputs is {self.num_outputs}")
        bad_groups = [name for name in self.groups if not name or "/" in name]
        if bad_groups or len(set(self.groups)) != len(self.groups):
            raise ValueError(f"TaskIO.groups must be distinct non-empty names without '/', got {list(self.groups)}")
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "groups", tuple(self.groups))

    @property
    def per_token(self) -> bool:
        """A prediction at every position (targets `[B, T]`) rather than one per sequence or pair."""
        return self.outputs in PER_TOKEN_OUTPUTS

    def to_dict(self) -> dict[str, Any]:
        """Plain values (the LightningModule's hyperparameters, config.json)."""
        return {**dataclasses.asdict(self), "metrics": list(self.metrics), "labels": list(self.labels),
                "groups": list(self.groups)}


class DataError(ValueError):
    """A data file is missing or malformed; the message names the file (and line) and what to do."""


@contextlib.contextmanager
def utf8_errors_named(path: Path) -> Iterator[None]:
    """Around the reading of a UTF-8 text file: bytes that are not UTF-8 become a DataError naming the file and what
    to do, not a UnicodeDecodeError from inside the reader."""
    try:
        yield
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text ({error.reason}: byte {error.object[error.start:error.start + 1]!r} "
                        "at the position it was read); convert it to UTF-8, e.g. iconv -f latin1 -t utf-8") from None


class UnknownTaskError(KeyError, ValueError):
    """A task name that is not registered; the message lists the registered names."""

    def __str__(self) -> str:
        return str(self.args[0])


class TaskDataModule(LightningDataModule):
    """Base of every task family's data module; `register_task` sets `config_cls`.

    `config` is an instance of `config_cls`, or a mapping / OmegaConf `DictConfig` of its fields.
    """

    config_cls: type[TaskConfig] = TaskConfig
    # The kinds of `io`, known before any data is read (a model override such as `model.head.pool=last` needs them):
    inputs: ClassVar[str]  # `TaskIO.inputs`
    outputs: ClassVar[str]  # `TaskIO.outputs`
    # The folder under `default_data_dir()` read when the config's `data_dir` is empty ("" = that dir itself);
    # a task with a `zoo data prepare` entry names the preparer's, e.g. "lra/listops".
    default_subdir: ClassVar[str] = ""
    # Hub ids of the data on the Hugging Face hub, where it is a hub dataset (model cards' `datasets`); a generated or
    # stand-in task names none.
    hub_datasets: ClassVar[tuple[str, ...]] = ()
    # The text of each token id where the tokens are characters (language models over them export a tokenizer),
    # with the symbol unknown characters become; empty where ids are only numbers.
    token_symbols: ClassVar[tuple[str, ...]] = ()
    unknown_symbol: ClassVar[str] = ""

    def __init__(self, config: TaskConfig | Mapping[str, Any]) -> None:
        super().__init__()
        self.config = coerce_config(config, type(self).config_cls)
        refusal = type(self).packing_refusal() if self.config.pack else None
        if refusal:
            raise ValueError(f"pack: {refusal}")

    @classmethod
    def packing_refusal(cls) -> str | None:
        """Why this task's batches cannot be packed (`pack: true`), or None where they can: packing joins sequences
        of tokens or values, one per example, for a per-sequence classifier or per-token outputs."""
        if cls.inputs == "image" or cls.outputs in ("matching", "regression"):
            return (f"the task has {cls.inputs} inputs and {cls.outputs} outputs; packing joins one sequence of tokens "
                    "or values per example into a row, for classifiers and per-token outputs; set task.pack=false")
        return None

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
        """The config's `data_dir`, or `default_data_dir() / default_subdir` when it is empty."""
        if self.config.data_dir:
            return Path(self.config.data_dir).expanduser()
        return default_data_dir() / self.default_subdir

    # Loaders over `self.datasets` ("train", "val", "test"), which `setup` fills; batches are made by `collate_fn`
    # (None: stacking, for examples of one shape). The training set is shuffled anew every epoch by `EpochShuffle`,
    # seeded from the config's `seed` and the epoch, when the config has a seed (else by torch's global generator,
    # which training seeds and its checkpoints keep); nothing is dropped.
    datasets: dict[str, Dataset]
    collate_fn: Callable[[list[dict[str, torch.Tensor]]], dict[str, torch.Tensor]] | None = None

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in getattr(self, "datasets", {}):
            raise RuntimeError(f"call setup() before requesting the {split} dataloader")
        dataset, seed = self.datasets[split], getattr(self.config, "seed", None)
        trainer = getattr(self, "trainer", None)  # a distributed run splits each epoch's order among its processes
        rank, replicas = getattr(trainer, "global_rank", 0), getattr(trainer, "world_size", 1)
        sampler = EpochShuffle(len(dataset), seed, rank, replicas) if shuffle and seed is not None else None
        collate = type(self).collate_fn
        if self.config.pack:
            collate = packing_collate(collate, self.io.per_token)
        return DataLoader(dataset, batch_size=self.config.batch_size, shuffle=shuffle and sampler is None,
                          sampler=sampler, num_workers=self.config.num_workers, collate_fn=collate)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


class EpochShuffle(DistributedSampler):
    """A new permutation of `size` indices every epoch, drawn from a generator seeded with (`seed`, epoch): epoch e
    has the same order whether or not the run was interrupted and resumed before it (Lightning calls `set_epoch` at
    the start of every epoch).

    In a distributed run, process `rank` of `replicas` takes every `replicas`-th index of that one permutation from
    its `rank`-th on (the first indices repeated at the end where `size` does not divide evenly, as torch's
    DistributedSampler does), so the processes' batches of a step together are the batch one process would take
    with `replicas` times the batch size. Being a DistributedSampler, Lightning uses it as it is instead of
    shuffling it again."""

    def __init__(self, size: int, seed: int, rank: int = 0, replicas: int = 1):
        super().__init__(range(size), num_replicas=replicas, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self._skip: tuple[int, int] | None = None

    def skip_in_epoch(self, epoch: int, items: int) -> None:
        """Leave out the first `items` indices of this process's share the next time epoch `epoch` is drawn (once):
        a run resumed mid-epoch continues that epoch where it stopped."""
        self._skip = (epoch, items)

    def __iter__(self) -> Iterator[int]:
        seed = int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0])
        size = len(self.dataset)
        order = torch.randperm(size, generator=torch.Generator().manual_seed(seed)).tolist()
        order += order[: self.total_size - size]
        share = order[self.rank : self.total_size : self.num_replicas]
        if self._skip is not None and self._skip[0] == self.epoch:
            share, self._skip = share[self._skip[1]:], None
        return iter(share)


class TensorDataset(Dataset):
    """In-memory examples: item `i` is `{name: tensor[i]}` for every named tensor (`inputs`, `targets`, ...), all
    with the same number of examples along their first axis."""

    def __init__(self, **tensors: torch.Tensor) -> None:
        sizes = {name: len(tensor) for name, tensor in tensors.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"every tensor needs one row per example, got {sizes}")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values()))) if self.tensors else 0

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {name: tensor[index] for name, tensor in self.tensors.items()}


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
        if getattr(datamodule_cls, "inputs", None) not in INPUT_KINDS or getattr(datamodule_cls, "outputs", None) not in OUTPUT_KINDS:
            raise TypeError(f"task {name!r}: {datamodule_cls.__qualname__} must declare `inputs` (one of "
                            f"{', '.join(INPUT_KINDS)}) and `outputs` (one of {', '.join(OUTPUT_KINDS)})")
        datamodule_cls.config_cls = config_cls
        _TASKS[name] = (config_cls, datamodule_cls)
        return datamodule_cls

    return decorator


def get_task(name: str) -> tuple[type[TaskConfig], type[TaskDataModule]]:
    """Return `(config_cls, datamodule_cls)` of the task registered as `name`."""
    if not isinstance(name, str) or name not in _TASKS:
        raise UnknownTaskError(f"unknown task {name!r}; choose one of: {', '.join(list_tasks())}")
    return _TASKS[name]


def list_tasks() -> list[str]:
    """The registered task names, sorted."""
    return sorted(_TASKS)
