"""UCR/UEA time-series classification from `.ts` files (`<Problem>_TRAIN.ts`, `<Problem>_TEST.ts` in `data_dir`).

The archive's sets that the PyPI wheel `aeon` ships (JapaneseVowels, BasicMotions, ACSF1, OSULeaf, ArrowHead,
GunPoint, ItalyPowerDemand, PickupGestureWiimoteZ, ...) are unpacked by `zoo data prepare timeseries/uea` (the wheel's
files only: aeon is not installed); for other sets, point `data_dir` at their folder.

Protocol: the archive's train / test split; validation is a stratified `val_fraction` of the training cases (seeded),
never the test set (Time-Series-Library validates on test: we do not). Each dimension is standardised with the
training cases' statistics; missing values (`?`) become 0 after that (the training mean). Cases of different lengths
are padded in a batch with their `lengths` (the anatomy's padding rules: padding changes no result).
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from torch.utils.data import Dataset
from zoo.tasks.base import DataError, TaskConfig, TaskDataModule, TaskIO, register_task
from zoo.tasks.prepare import register_preparer
from zoo.tasks.pypi import unpacked_wheel, wheel_file
from zoo.tasks.text_classification import pad_batch
from zoo.tasks.timeseries.ts_format import TsFile, read_ts

from zoo.atomic import atomic_directory

PACKAGE, VERSION = "aeon", "1.6.0"
ARCHIVE = "aeon/datasets/data"
PREPARER = "timeseries/uea"
SPLIT_FILES = {"train": "{problem}_TRAIN.ts", "test": "{problem}_TEST.ts"}


@dataclass
class UEAConfig(TaskConfig):
    """One problem of the archive (`problem`: its folder and file prefix) and the share of training cases held out
    for validation."""

    name: str = "uea"
    problem: str = "JapaneseVowels"
    val_fraction: float = 0.2
    seed: int = 0  # draws the validation cases and shuffles the training set

    def validate(self) -> None:
        super().validate()
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not self.problem or "/" in self.problem:
            raise ValueError(f"problem must name one archive problem (a folder name), got {self.problem!r}")


class Cases(Dataset):
    """Standardised cases: `{"inputs": [T_i, D] float32, "targets": class}`."""

    def __init__(self, series: list[torch.Tensor], targets: torch.Tensor):
        self.series, self.targets = series, targets

    def __len__(self) -> int:
        return len(self.series)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"inputs": self.series[index], "targets": self.targets[index]}


def stratified_holdout(targets: torch.Tensor, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (kept, held out): from each class, `round(fraction * count)` cases held out (at least one when the
    class has two or more), drawn with `seed`."""
    generator = torch.Generator().manual_seed(seed)
    kept, held = [], []
    for label in targets.unique().tolist():
        members = torch.nonzero(targets == label).squeeze(1)
        members = members[torch.randperm(len(members), generator=generator)].tolist()
        count = min(len(members) - 1, max(1, round(fraction * len(members)))) if len(members) > 1 else 0
        held += members[:count]
        kept += members[count:]
    return sorted(kept), sorted(held)


def standardise(series: list[torch.Tensor], mean: torch.Tensor, std: torch.Tensor) -> list[torch.Tensor]:
    """Each case `[T, D]` minus `mean` over `std` (per dimension); missing values (NaN) become 0."""
    return [torch.nan_to_num((case - mean) / std, nan=0.0) for case in series]


@register_task("uea", UEAConfig)
class UEADataModule(TaskDataModule):
    """UCR/UEA classification: `inputs` `[B, T_max, D]` padded with `lengths` `[B]`, `targets` `[B]`."""

    config: UEAConfig
    inputs, outputs = "channels", "classifier"
    collate_fn = staticmethod(pad_batch)

    def __init__(self, config: UEAConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, Cases] = {}
        self._files: dict[str, TsFile] = {}

    @property
    def data_dir(self) -> Path:
        if self.config.data_dir:
            return Path(self.config.data_dir).expanduser()
        member = f"{ARCHIVE}/{self.config.problem}/{SPLIT_FILES['train'].format(problem=self.config.problem)}"
        return wheel_file(PACKAGE, VERSION, member, fetch=False, prepare=PREPARER).parent

    def file(self, split: str) -> TsFile:
        """The parsed `.ts` file of `split` ("train" or "test"), read once."""
        if split not in self._files:
            self._files[split] = read_ts(self.data_dir / SPLIT_FILES[split].format(problem=self.config.problem))
        return self._files[split]

    @property
    def io(self) -> TaskIO:
        train = self.file("train")
        return TaskIO(inputs=self.inputs, outputs=self.outputs, num_outputs=len(train.classes),
                      channels=train.dimensions, metrics=("accuracy", "f1"), labels=train.classes)

    @property
    def description(self) -> str:
        c = self.config
        return (f"UCR/UEA {c.problem} classification ({self.file('train').dimensions} dimensions; validation: "
                f"{c.val_fraction:.0%} of the training cases, stratified, not the test set)")

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        train, test = self.file("train"), self.file("test")
        if (test.dimensions, test.classes) != (train.dimensions, train.classes):
            raise DataError(f"{self.data_dir}: the TEST file has {test.dimensions} dimensions and classes "
                            f"{test.classes}, the TRAIN file {train.dimensions} and {train.classes}")
        kept, held = stratified_holdout(train.targets, self.config.val_fraction, self.config.seed)
        steps = torch.cat([train.series[i] for i in kept])
        mean = steps.nanmean(0)
        std = (steps - mean).square().nanmean(0).sqrt().nan_to_num(1.0).clamp_min(1e-8)
        parts = {"train": ([train.series[i] for i in kept], train.targets[kept]),
                 "val": ([train.series[i] for i in held], train.targets[held]), "test": (test.series, test.targets)}
        self.datasets = {split: Cases(standardise(series, mean, std), targets)
                         for split, (series, targets) in parts.items()}


def archive_folder() -> Path:
    """Where the preparer unpacks the archive's problems (one folder each)."""
    return unpacked_wheel(PACKAGE, VERSION) / ARCHIVE


@register_preparer(PREPARER, f"UCR/UEA classification problems from the PyPI wheel {PACKAGE}=={VERSION} (files only)",
                   out=archive_folder)
def prepare_uea(args: argparse.Namespace) -> Path:
    """Unpack the wheel's archive under the data dir and check that each problem's files read; with an `--out` other
    than that folder, copy the archive there. Return the archive folder (a task's data_dir is `<it>/<Problem>`)."""
    wheel_file(PACKAGE, VERSION, f"{ARCHIVE}/JapaneseVowels/JapaneseVowels_TRAIN.ts", fetch=True, prepare=PREPARER)
    folder = archive_folder()
    console = Console()
    for problem in sorted(path.name for path in folder.iterdir() if path.is_dir()):
        files = [folder / problem / name.format(problem=problem) for name in SPLIT_FILES.values()]
        if all(path.is_file() for path in files):
            try:
                train, test = (read_ts(path) for path in files)
            except DataError as error:  # a regression or unlabelled set of the archive: not for this task
                console.print(f"  skipped {problem}: {error}")
                continue
            console.print(f"  {problem}: {train.dimensions} dimensions, {len(train.classes)} classes, "
                          f"{len(train.series)}/{len(test.series)} cases")
    out = Path(args.out).expanduser()
    if out.resolve() != folder.resolve():
        with atomic_directory(out) as copy:
            shutil.copytree(folder, copy, dirs_exist_ok=True)
        console.print(f"{PREPARER}: copied to {out}")
    return out
