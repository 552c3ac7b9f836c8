"""UCR/UEA classification: the `.ts` reader on files written in the format (variable and equal lengths, missing values),
headers that lie named by file and line, a stratified validation split of the training cases (never the test set),
training-only statistics, padded batches; `zoo train` from a generated config; the real wheel's JapaneseVowels."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pytest
import torch
from zoo.tasks import DataError
from zoo.tasks.timeseries.ts_format import read_ts
from zoo.tasks.timeseries.uea import UEAConfig, UEADataModule, prepare_uea, stratified_holdout

from zoo.cli import main
from zoo.hub import training_metrics

ROOT = Path(__file__).resolve().parents[3]


def write_ts(path: Path, cases: list[tuple[list[list[float]], str]], classes: list[str], *, equal: bool = False,
             dimensions: int | None = None, missing: bool = False, length: int | None = None) -> None:
    """A `.ts` file: each case is (values per dimension, label)."""
    dimensions = dimensions if dimensions is not None else len(cases[0][0])
    header = ["# written by the tests", "@problemName Toy", "@timeStamps false", f"@missing {str(missing).lower()}",
              f"@univariate {str(dimensions == 1).lower()}", f"@dimensions {dimensions}",
              f"@equalLength {str(equal).lower()}"]
    if length is not None:
        header.append(f"@seriesLength {length}")
    header += [f"@classLabel true {' '.join(classes)}", "@data"]
    body = [":".join(",".join("?" if v != v else repr(v) for v in dim) for dim in dims) + f":{label}"
            for dims, label in cases]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header + body) + "\n")


def toy_cases(count: int, dimensions: int, classes: list[str], rng: random.Random, equal: int = 0):
    """Cases whose class shifts their level (so that a model can learn them), lengths 5-12 unless `equal`."""
    cases = []
    for index in range(count):
        label = classes[index % len(classes)]
        length = equal or rng.randint(5, 12)
        level = classes.index(label)
        cases.append(([[level + rng.gauss(0, 0.3) for _ in range(length)] for _ in range(dimensions)], label))
    return cases


def write_problem(folder: Path, seed: int, train: int = 40, test: int = 20, dimensions: int = 3) -> Path:
    rng = random.Random(seed)
    classes = ["a", "b", "c", "d"]
    write_ts(folder / "Toy_TRAIN.ts", toy_cases(train, dimensions, classes, rng), classes)
    write_ts(folder / "Toy_TEST.ts", toy_cases(test, dimensions, classes, rng), classes)
    return folder


def test_reader_parses_cases_of_any_length(tmp_path, seed):
    rng = random.Random(seed)
    cases = toy_cases(7, 2, ["x", "y"], rng)
    cases[3][0][1][2] = float("nan")
    write_ts(tmp_path / "t.ts", cases, ["x", "y"], missing=True)
    parsed = read_ts(tmp_path / "t.ts")
    assert (parsed.problem, parsed.dimensions, parsed.classes) == ("Toy", 2, ("x", "y"))
    assert parsed.targets.tolist() == [0, 1, 0, 1, 0, 1, 0]
    for series, (dims, _) in zip(parsed.series, cases):
        expected = torch.tensor(dims, dtype=torch.float32).T
        assert series.shape == expected.shape
        torch.testing.assert_close(series, expected, equal_nan=True)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace("@dimensions 2", "@dimensions 3"),
     r"line \d+: 2 dimensions where the header says @dimensions 3"),
    (lambda t: t.replace("@classLabel true x y", "@classLabel true x z"), r"line \d+: class 'y' is not among"),
    (lambda t: t.replace("@equalLength false", "@equalLength true\n@seriesLength 4"),
     r"line \d+: \d+ steps where the header says @seriesLength 4"),
    (lambda t: t.replace("@data\n", "@data\n1,?,2:3,4,5:x\n"), r"line \d+: a missing value \('\?'\) where the header "
                                                            r"says @missing false"),
    (lambda t: t.replace("@data\n", "@data\n1,abc:3,4:x\n"), r"line \d+: 'abc' is not a number"),
    (lambda t: t.replace("@data\n", "@data\n1,2:3:x\n"), r"line \d+: its dimensions have different lengths \[1, 2\]"),
    (lambda t: t.replace("@data\n", ""), r"line \d+: data before @data"),
    (lambda t: t.split("@data")[0] + "@data\n", r"no cases after @data"),
    (lambda t: t.replace("@classLabel true x y", "@classLabel false"), r"@classLabel must be true"),
])
def test_headers_that_lie_are_named(tmp_path, change, message):
    rng = random.Random(0)
    write_ts(tmp_path / "t.ts", toy_cases(4, 2, ["x", "y"], rng), ["x", "y"])
    path = tmp_path / "t.ts"
    path.write_text(change(path.read_text()))
    with pytest.raises(DataError, match=rf"t\.ts(, line \d+)?: .*{message.split(': ', 1)[-1]}"):
        read_ts(path)


def test_stratified_holdout_keeps_every_class_in_both(seed):
    targets = torch.randint(0, 5, (200,))
    targets[:10] = torch.arange(5).repeat(2)  # every class at least twice
    kept, held = stratified_holdout(targets, 0.2, seed % 1000)
    assert sorted(kept + held) == list(range(200))
    for label in range(5):
        count = int((targets == label).sum())
        assert int((targets[held] == label).sum()) == min(count - 1, max(1, round(0.2 * count)))
    assert stratified_holdout(targets, 0.2, seed % 1000) == (kept, held), "seeded"


def test_splits_statistics_and_padding(tmp_path, seed):
    folder = write_problem(tmp_path / "Toy", seed)
    dm = UEADataModule(UEAConfig(data_dir=str(folder), problem="Toy", batch_size=8))
    io = dm.io
    assert (io.channels, io.num_outputs, io.labels) == (3, 4, ("a", "b", "c", "d"))
    dm.setup()
    assert {split: len(d) for split, d in dm.datasets.items()} == {"train": 32, "val": 8, "test": 20}
    train_steps = torch.cat(dm.datasets["train"].series)  # float32 statistics: worst 0.019 of atol over 50 seeds
    torch.testing.assert_close(train_steps.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(train_steps.std(0, unbiased=False), torch.ones(3), atol=1e-5, rtol=0)
    raw_test = read_ts(folder / "Toy_TEST.ts")
    assert torch.cat(dm.datasets["test"].series).shape == torch.cat(raw_test.series).shape
    batch = next(iter(dm.test_dataloader()))
    lengths = batch["lengths"]
    assert batch["inputs"].shape == (8, int(lengths.max()), 3)
    for row, length in enumerate(lengths.tolist()):
        assert not batch["inputs"][row, length:].any()
    assert sum(len(b["targets"]) for b in dm.test_dataloader()) == 20


def test_test_and_train_files_must_agree(tmp_path):
    folder = write_problem(tmp_path / "Toy", 0)
    rng = random.Random(1)
    write_ts(folder / "Toy_TEST.ts", toy_cases(8, 2, ["a", "b", "c", "d"], rng), ["a", "b", "c", "d"])
    with pytest.raises(DataError, match="the TEST file has 2 dimensions .* the TRAIN file 3"):
        UEADataModule(UEAConfig(data_dir=str(folder), problem="Toy")).setup()


def test_without_the_wheel_it_says_how_to_prepare(data_dir):
    with pytest.raises(DataError, match="aeon==1.6.0 is not on this machine; run `zoo data prepare timeseries/uea`"):
        UEADataModule(UEAConfig()).io


@pytest.mark.slow
def test_generated_config_trains(tmp_path, seed):
    folder = write_problem(tmp_path / "Toy", seed % 10_000)
    config = ROOT / "configs" / "experiments" / "timeseries" / "uea-japanese-vowels-swa-cpu.yaml"
    overrides = [f"task.data_dir={folder}", "task.problem=Toy", f"output_dir={tmp_path / 'runs'}",
                 "trainer.max_steps=3", f"seed={seed % 1000}"]
    assert main(["train", str(config), *overrides]) == 0
    (export,) = (tmp_path / "runs").glob("*/*/export")
    metrics = training_metrics(export)
    assert 0 <= metrics["test/acc"] <= 1
    assert json.loads((export / "config.json").read_text())["task_io"]["labels"] == ["a", "b", "c", "d"]


@pytest.mark.slow
def test_real_wheel_japanese_vowels(data_dir, tmp_path):
    """REFERENCES §2: JapaneseVowels has 12 dimensions, lengths 7-29, 9 classes, 270 / 370 cases."""
    folder = prepare_uea(argparse.Namespace(out=tmp_path / "copy"))
    dm = UEADataModule(UEAConfig(data_dir=str(folder / "JapaneseVowels")))
    dm.setup()
    train, test = dm.file("train"), dm.file("test")
    assert (train.dimensions, len(train.classes), len(train.series), len(test.series)) == (12, 9, 270, 370)
    lengths = [len(s) for s in train.series + test.series]
    assert (min(lengths), max(lengths)) == (7, 29)
    assert (len(dm.datasets["train"]), len(dm.datasets["val"])) == (216, 54)
