"""The shared frame of the generated token tasks (MQAR, selective copying, induction heads): a config with split
sizes and a seed, a per-split seed, and splits generated once and cached (`zoo.tasks.cache`).

A subclass sets `cache_version`, says which config fields its data depends on (`data_fields`) and how to draw one
split (`generate(size, seed) -> (inputs, labels)`, LongTensors `[size, T]`, labels -100 where no loss is taken).
Its examples serve as `{"inputs": [T], "targets": [T]}`; the head predicts, at every position, the label there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from zoo.tasks.base import TaskConfig, TaskDataModule, TaskIO, TensorDataset
from zoo.tasks.cache import CachedTensors

SPLITS = ("train", "val", "test")


@dataclass
class GeneratedConfig(TaskConfig):
    """Split sizes and the seed every generated task has."""

    num_train: int = 20_000
    num_val: int = 1_000
    num_test: int = 1_000
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        for split in SPLITS:
            if getattr(self, f"num_{split}") < 1:
                raise ValueError(f"num_{split} must be >= 1, got {getattr(self, f'num_{split}')}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


def split_seed(task: str, seed: int, split: str) -> int:
    """A 63-bit generator seed for one split of one task, distinct across tasks, splits and `seed`."""
    digest = hashlib.sha256(f"{task}/{split}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class GeneratedTokenTask(TaskDataModule):
    """Token-in, label-per-position task whose splits are generated and cached under `<data_dir>/<task name>/`."""

    inputs, outputs = "tokens", "lm"
    config: GeneratedConfig
    cache_version: ClassVar[int]

    def __init__(self, config: GeneratedConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, TensorDataset] = {}

    @property
    def io(self) -> TaskIO:
        """Next-token ids over the config's `vocab_size` (every generated task has one)."""
        vocab = self.config.vocab_size
        return TaskIO(inputs=self.inputs, outputs=self.outputs, num_outputs=vocab, vocab_size=vocab)

    def data_fields(self) -> dict[str, Any]:
        """The config fields, other than split sizes and seed, that the generated data depends on."""
        raise NotImplementedError

    def generate(self, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One split: `(inputs, labels)`, LongTensors `[size, T]`."""
        raise NotImplementedError

    @property
    def split_sizes(self) -> dict[str, int]:
        """Examples per split: `{"train": num_train, "val": num_val, "test": num_test}`."""
        return {split: getattr(self.config, f"num_{split}") for split in SPLITS}

    @property
    def cache_fields(self) -> dict[str, Any]:
        """Everything the cached data depends on; its hash names the cache entry."""
        return {"version": self.cache_version, **self.data_fields(), **self.split_sizes, "seed": self.config.seed}

    @property
    def cache(self) -> CachedTensors:
        return CachedTensors(self.data_dir / self.config.name, self.cache_fields)

    def prepare_data(self) -> None:
        """Generate and cache the splits unless an intact cache entry exists (or they are loaded already)."""
        if not self.datasets:
            self.cache.load_or_build(self._generate_splits, self._check)

    def setup(self, stage: str | None = None) -> None:
        """Load every split from the cache (generating it first if needed)."""
        if self.datasets:
            return
        splits = self.cache.load_or_build(self._generate_splits, self._check)
        self.datasets = {split: TensorDataset(inputs=splits[split]["input_ids"].long(),
                                              targets=splits[split]["labels"].long()) for split in SPLITS}

    def _generate_splits(self) -> dict[str, dict[str, torch.Tensor]]:
        splits = {}
        for split, size in self.split_sizes.items():
            inputs, labels = self.generate(size, split_seed(self.config.name, self.config.seed, split))
            splits[split] = {"input_ids": inputs.int(), "labels": labels.int()}
        return splits

    def _check(self, splits: dict[str, dict[str, torch.Tensor]]) -> None:
        """Raise `ValueError` when a cached split does not hold `[num_<split>, T]` int32 tensors."""
        for split, size in self.split_sizes.items():
            for name in ("input_ids", "labels"):
                tensor = splits[split][name]
                if tensor.ndim != 2 or len(tensor) != size or tensor.dtype != torch.int32:
                    raise ValueError(f"{split}/{name} is {tensor.dtype}{list(tensor.shape)}")
