"""The ETT task with the Time-Series-Library protocol: the published borders and window counts, a scaler fitted on
the first 12 months only, no test window dropped, errors that name the file. On the real ETTh1.csv of
`../shared/data/ett` when it is there, else on a file written in its format (17,420 hourly rows, same header)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import torch
from zoo.tasks import DataError
from zoo.tasks.timeseries.ett import ETTConfig, ETTDataModule, ett_borders

from zoo.cli import main
from zoo.hub import training_metrics

SHARED_ETT = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ett"
HEADER = ["date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
ROWS = 17_420


def write_ett(path: Path, rows: int, seed: int) -> None:
    """A file in the ETT layout: hourly dates from 2016-07-01, six load series and OT (daily cycles plus noise)."""
    rng = random.Random(seed)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for t in range(rows):
            day = t // 24
            date = f"{2016 + day // 360}-{1 + day // 30 % 12:02d}-{1 + day % 30:02d} {t % 24:02d}:00:00"
            writer.writerow([date] + [round(5 + (k + 1) * ((t % 24) / 24) + rng.gauss(0, 1), 3) for k in range(7)])


def read_columns(path: Path) -> torch.Tensor:
    """The file's series `[rows, 7]` read here with the csv module (float64), independently of the task's reader."""
    with open(path, newline="") as file:
        rows = list(csv.reader(file))[1:]
    return torch.tensor([[float(x) for x in row[1:]] for row in rows], dtype=torch.float64)


@pytest.fixture(scope="module")
def ett_folder(tmp_path_factory) -> Path:
    """`../shared/data/ett` when it holds ETTh1.csv, else a folder with a written ETTh1.csv."""
    if (SHARED_ETT / "ETTh1.csv").is_file():
        return SHARED_ETT
    folder = tmp_path_factory.mktemp("ett")
    write_ett(folder / "ETTh1.csv", ROWS, 0)
    return folder


def datamodule(folder: Path, **fields) -> ETTDataModule:
    return ETTDataModule(ETTConfig(data_dir=str(folder), **{"batch_size": 32, **fields}))


def test_borders_are_the_published_ones():
    assert ett_borders(ROWS, 96, 1) == {"train": (0, 8640), "val": (8544, 11520), "test": (11424, 14400)}
    assert ett_borders(69_680, 384, 4) == {"train": (0, 34560), "val": (34176, 46080), "test": (45696, 57600)}


@pytest.mark.parametrize("horizon, counts", [(96, (8449, 2785, 2785)), (720, (7825, 2161, 2161))])
def test_window_counts_match_the_time_series_library(ett_folder, horizon, counts):
    """TSLib prints these lengths for ETTh1 with seq_len 96."""
    dm = datamodule(ett_folder, horizon=horizon)
    dm.setup()
    assert tuple(len(dm.datasets[split]) for split in ("train", "val", "test")) == counts
    assert sum(len(batch["inputs"]) for batch in dm.test_dataloader()) == counts[2], "a test window was dropped"


def test_scaler_is_fitted_on_the_first_twelve_months(ett_folder):
    values = read_columns(ett_folder / "ETTh1.csv")
    mean, std = values[:8640].mean(0), values[:8640].std(0, unbiased=False)
    dm = datamodule(ett_folder, horizon=96)
    dm.setup()
    first_test = dm.datasets["test"][0]
    torch.testing.assert_close(first_test["inputs"].double(), (values[11424:11520] - mean) / std, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(first_test["targets"].double(), (values[11520:11616] - mean) / std, rtol=1e-5,
                               atol=1e-5)
    last = dm.datasets["test"][len(dm.datasets["test"]) - 1]
    torch.testing.assert_close(last["targets"][-1].double(), (values[14399] - mean) / std, rtol=1e-5, atol=1e-5)
    io = dm.io
    assert (io.channels, io.num_outputs, io.horizon, io.metrics) == (7, 7, 96, ("mse", "mae"))


def test_univariate_predicts_oil_temperature(ett_folder):
    values = read_columns(ett_folder / "ETTh1.csv")[:, -1]
    dm = datamodule(ett_folder, features="S", horizon=24)
    dm.setup()
    item = dm.datasets["val"][0]
    train = values[:8640]
    expected = (values[8640:8664] - train.mean()) / train.std(unbiased=False)
    assert item["inputs"].shape == (96, 1)
    torch.testing.assert_close(item["targets"][:, 0].double(), expected, rtol=1e-5, atol=1e-5)


def test_a_short_file_is_refused_by_name(tmp_path):
    write_ett(tmp_path / "ETTh1.csv", 10_000, 0)
    with pytest.raises(DataError, match=r"ETTh1\.csv: an ETT file .* needs at least 14400 rows .* it has 10000"):
        datamodule(tmp_path).setup()


def test_other_files_are_refused():
    with pytest.raises(ValueError, match="must be an ETT file .* got 'weather.csv'; use the csv-forecasting task"):
        ETTConfig(file="weather.csv").validate()


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DataError, match=r"data file not found: .*ETTh2\.csv; set the task's data_dir"):
        datamodule(tmp_path, file="ETTh2.csv").setup()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["etth1-96-gated-deltanet-cpu", "etth1-720-based-cpu"])
def test_generated_config_trains(ett_folder, name, tmp_path, seed):
    """`zoo train` from a generated ETT config (two steps): the export holds scaled MSE and MAE and RevIN."""
    config = Path(__file__).resolve().parents[3] / "configs" / "experiments" / "timeseries" / f"{name}.yaml"
    overrides = [f"task.data_dir={ett_folder}", f"output_dir={tmp_path}", "trainer.max_steps=2", f"seed={seed % 1000}",
                 "task.batch_size=256"]
    assert main(["train", str(config), *overrides]) == 0
    (export,) = tmp_path.glob("*/*/export")
    metrics = training_metrics(export)
    assert metrics["test/mse"] > 0 and metrics["test/mae"] > 0
    exported = json.loads((export / "config.json").read_text())
    assert exported["model"]["instance_norm"] and exported["model"]["head"]["horizon"] == int(name.split("-")[1])
