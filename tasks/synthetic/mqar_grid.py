"""MQAR over zoology's grid of settings: train on a mixture of (length, pairs) settings, test on settings up to
(1024, 256), and report accuracy per setting.

The grid (zoology's current MQAR sweep, REFERENCES §3): train (64, 4) x 100k, (128, 8) x 20k and (256, 16 / 32 / 64)
x 20k each; test (64, 4 / 8 / 16), (128, 32), (256, 64), (512, 128), (1024, 256), 1k each; vocabulary 8192. Settings
are `[seq_len, num_kv_pairs, num_examples]` triples in the config, so any grid can be run. Validation uses the test
settings with examples of its own seed (never the test examples). Examples are laid out as in
`zoo.tasks.synthetic.mqar`.

Batches hold one setting each (examples of one length, so nothing is padded): `inputs`, `targets` `[B, T]` and
`group` `[B]`, the index of the batch's setting among the test settings (`TaskIO.groups`, named `T<len>-kv<pairs>`;
-1 for training settings), so that validation and test accuracy are logged per setting: `test/T1024-kv256/acc`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import ConcatDataset, DataLoader, Sampler
from zoo.tasks.base import TaskIO, TensorDataset, register_task
from zoo.tasks.synthetic.generated import SPLITS, GeneratedConfig, GeneratedTokenTask, split_seed
from zoo.tasks.synthetic.mqar import check_mqar, generate_mqar

ZOOLOGY_TRAIN = [[64, 4, 100_000], [128, 8, 20_000], [256, 16, 20_000], [256, 32, 20_000], [256, 64, 20_000]]
ZOOLOGY_TEST = [[64, 4, 1_000], [64, 8, 1_000], [64, 16, 1_000], [128, 32, 1_000], [256, 64, 1_000],
                [512, 128, 1_000], [1024, 256, 1_000]]


@dataclass
class MQARGridConfig(GeneratedConfig):
    """Zoology's grid by default. `num_train` / `num_val` / `num_test` are not read: each setting names its count."""

    name: str = "mqar-grid"
    vocab_size: int = 8192
    power_a: float = 0.01
    train_settings: list[list[int]] = field(default_factory=lambda: [list(s) for s in ZOOLOGY_TRAIN])
    test_settings: list[list[int]] = field(default_factory=lambda: [list(s) for s in ZOOLOGY_TEST])

    def validate(self) -> None:
        super().validate()
        for key in ("train_settings", "test_settings"):
            settings = [list(setting) for setting in getattr(self, key)]
            if not settings:
                raise ValueError(f"{key} is empty: name at least one [seq_len, num_kv_pairs, num_examples]")
            for index, setting in enumerate(settings):
                if len(setting) != 3 or setting[2] < 1:
                    raise ValueError(f"{key}[{index}] must be [seq_len, num_kv_pairs, num_examples >= 1], "
                                     f"got {setting}")
                try:
                    check_mqar(setting[0], setting[1], self.vocab_size, self.power_a)
                except ValueError as error:
                    raise ValueError(f"{key}[{index}] = {setting}: {error}") from None
        names = [group_name(s) for s in self.test_settings]
        if len(set(names)) != len(names):
            raise ValueError(f"test_settings name a (seq_len, num_kv_pairs) twice: {names}")


def group_name(setting: list[int]) -> str:
    """`[seq_len, num_kv_pairs, n]` -> `T<seq_len>-kv<num_kv_pairs>`."""
    return f"T{setting[0]}-kv{setting[1]}"


class OneSettingBatches(Sampler[list[int]]):
    """Batches that each hold examples of one setting. `sizes`: examples per setting, laid end to end in a
    ConcatDataset. Shuffled (examples within settings and the order of batches) from `generator` when it is given."""

    def __init__(self, sizes: list[int], batch_size: int, generator: torch.Generator | None) -> None:
        self.sizes, self.batch_size, self.generator = sizes, batch_size, generator

    def _batches(self) -> list[list[int]]:
        batches, start = [], 0
        for size in self.sizes:
            order = torch.randperm(size, generator=self.generator) if self.generator is not None else torch.arange(size)
            indices = (start + order).tolist()
            batches += [indices[i : i + self.batch_size] for i in range(0, size, self.batch_size)]
            start += size
        if self.generator is not None:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]
        return batches

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        return sum(-(-size // self.batch_size) for size in self.sizes)


@register_task("mqar-grid", MQARGridConfig)
class MQARGridDataModule(GeneratedTokenTask):
    """Zoology's MQAR grid: the mixture for training, every test setting for validation and test (its own seed for
    each), cached in `<data_dir>/mqar-grid/`."""

    config: MQARGridConfig
    cache_version = 1

    @property
    def io(self) -> TaskIO:
        vocab = self.config.vocab_size
        return TaskIO(inputs=self.inputs, outputs=self.outputs, num_outputs=vocab, vocab_size=vocab,
                      groups=tuple(group_name(s) for s in self.config.test_settings))

    @property
    def description(self) -> str:
        train, test = (", ".join(f"({s[0]}, {s[1]})" for s in self.settings(split)) for split in ("train", "test"))
        return f"MQAR grid (vocabulary {self.config.vocab_size}; trained on {train}; tested on {test})"

    def settings(self, split: str) -> list[list[int]]:
        """The `[seq_len, num_kv_pairs, num_examples]` settings of a split (validation: the test settings)."""
        return [list(s) for s in (self.config.train_settings if split == "train" else self.config.test_settings)]

    @property
    def split_sizes(self) -> dict[str, int]:
        return {split: sum(s[2] for s in self.settings(split)) for split in SPLITS}

    def data_fields(self) -> dict[str, Any]:
        c = self.config
        return {"vocab_size": c.vocab_size, "power_a": float(c.power_a), "train": self.settings("train"),
                "test": self.settings("test")}

    def _generate_splits(self) -> dict[str, dict[str, torch.Tensor]]:
        c = self.config
        splits = {}
        for split in SPLITS:
            for index, (seq_len, pairs, size) in enumerate(self.settings(split)):
                seed = split_seed(f"{c.name}/{group_name([seq_len, pairs])}", c.seed, split)
                inputs, labels = generate_mqar(size, seq_len, pairs, c.vocab_size, c.power_a, seed)
                splits[f"{split}/{index}"] = {"input_ids": inputs.int(), "labels": labels.int()}
        return splits

    def _check(self, splits: dict[str, dict[str, torch.Tensor]]) -> None:
        for split in SPLITS:
            for index, (seq_len, _, size) in enumerate(self.settings(split)):
                for name in ("input_ids", "labels"):
                    tensor = splits[f"{split}/{index}"][name]
                    if tensor.shape != (size, seq_len) or tensor.dtype != torch.int32:
                        raise ValueError(f"{split}/{index}/{name} is {tensor.dtype}{list(tensor.shape)}")

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        splits = self.cache.load_or_build(self._generate_splits, self._check)
        for split in SPLITS:
            parts = []
            for index, (_, _, size) in enumerate(self.settings(split)):
                tensors = splits[f"{split}/{index}"]
                group = torch.full((size,), -1 if split == "train" else index, dtype=torch.long)
                parts.append(TensorDataset(inputs=tensors["input_ids"].long(), targets=tensors["labels"].long(),
                                           group=group))
            self.datasets[split] = ConcatDataset(parts)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            raise RuntimeError(f"call setup() before requesting the {split} dataloader")
        generator = torch.Generator().manual_seed(self.config.seed) if shuffle else None
        sampler = OneSettingBatches([s[2] for s in self.settings(split)], self.config.batch_size, generator)
        return DataLoader(self.datasets[split], batch_sampler=sampler, num_workers=self.config.num_workers)
