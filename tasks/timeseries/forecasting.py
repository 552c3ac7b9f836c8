"""Multi-horizon forecasting from a CSV file of time series, with the Time-Series-Library protocol for a custom
dataset (`Dataset_Custom` in thuml/Time-Series-Library):

- the file: a header row, then one row per time step; the `columns` named are the series (by default every column
  but `date`), real values or TRUE / FALSE flags (1 / 0); the rows are in time order;
- splits in time order: the first `split[0]` of the rows train, the last `split[2]` test, the rest validation
  (TSLib: 0.7 / 0.1 / 0.2), each later split's windows starting `input_length` rows before its first target row;
- a standard scaler fitted on the training rows only, applied to every split; losses and metrics on scaled values;
- windows of `input_length` steps predict the next `horizon` steps, one window per start row (`stride` 1), none of
  the test windows dropped;
- `features`: `M` (every series in and out), `S` (the `target` series alone in and out), `MS` (every series in, the
  target out); `target` defaults to the last column.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset
from zoo.tasks.base import DataError, TaskConfig, TaskDataModule, TaskIO, register_task, utf8_errors_named

FEATURES = ("M", "S", "MS")
DATE_COLUMN = "date"


@dataclass
class CSVForecastingConfig(TaskConfig):
    """The file (under `data_dir`), window sizes, splits and which series go in and out (see the module docstring)."""

    name: str = "csv-forecasting"
    file: str = "data.csv"
    input_length: int = 96
    horizon: int = 24
    features: str = "M"
    target: str = ""
    split: list[float] = field(default_factory=lambda: [0.7, 0.1, 0.2])
    stride: int = 1
    columns: list[str] = field(default_factory=list)  # the series to read (empty: every column but `date`)

    def validate(self) -> None:
        super().validate()
        for key in ("input_length", "horizon", "stride"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {', '.join(FEATURES)}, got '{self.features}'")
        if len(self.split) != 3 or min(self.split) <= 0 or not math.isclose(sum(self.split), 1.0):
            raise ValueError(f"split must be three positive fractions (train, val, test) summing to 1, got "
                             f"{self.split}")


def read_series(path: Path, columns: list[str] | None = None) -> tuple[list[str], torch.Tensor]:
    """The series columns of a CSV file and its values `[rows, columns]` (float64): the named `columns`, else every
    column but `date`. TRUE / FALSE (any case, as R writes flags) read as 1 / 0. A missing file or column, a ragged
    row or a value that is not a number raises DataError naming the place."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}; set the task's data_dir (and file) to where it is")
    with utf8_errors_named(path), open(path, newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if not header:
            raise DataError(f"{path} is empty: a header row naming the columns was expected")
        if columns:
            missing = [name for name in columns if name not in header]
            if missing:
                raise DataError(f"{path}: no column {', '.join(map(repr, missing))}; its header has {header}")
            keep = [header.index(name) for name in columns]
        else:
            keep = [index for index, name in enumerate(header) if name.strip().lower() != DATE_COLUMN]
        if not keep:
            raise DataError(f"{path}: the header {header} names no series column besides '{DATE_COLUMN}'")
        rows = []
        for line, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise DataError(f"{path}, line {line}: {len(row)} fields where the header has {len(header)}")
            try:
                rows.append([_number(row[index]) for index in keep])
            except ValueError:
                bad = next(index for index in keep if not _is_number(row[index]))
                raise DataError(f"{path}, line {line}, column '{header[bad]}': {row[bad]!r} is not a number") from None
    return [header[index] for index in keep], torch.tensor(rows, dtype=torch.float64).reshape(len(rows), len(keep))


FLAGS = {"true": 1.0, "false": 0.0}


def _number(text: str) -> float:
    """A CSV field as a number: a float, or a TRUE / FALSE flag as 1 / 0; ValueError otherwise."""
    flag = FLAGS.get(text.strip().lower())
    return float(text) if flag is None else flag


def _is_number(text: str) -> bool:
    try:
        _number(text)
    except ValueError:
        return False
    return True


def split_borders(rows: int, input_length: int, split: list[float]) -> dict[str, tuple[int, int]]:
    """TSLib's borders: split -> (first row of its windows, end row), the later splits reaching `input_length` rows back
    into the one before them for their first windows' inputs."""
    train, test = int(rows * split[0]), int(rows * split[2])
    val = rows - train - test
    return {
        "train": (0, train),
        "val": (train - input_length, train + val),
        "test": (rows - test - input_length, rows),
    }


class Windows(Dataset):
    """Windows over one split: `{"inputs": [input_length, C_in], "targets": [horizon, C_out]}` (float32)."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, input_length: int, horizon: int, stride: int):
        self.inputs, self.targets = inputs.float(), targets.float()
        self.input_length, self.horizon, self.stride = input_length, horizon, stride
        self.count = max(0, (len(inputs) - input_length - horizon) // stride + 1)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = index * self.stride
        end = start + self.input_length
        return {"inputs": self.inputs[start:end], "targets": self.targets[end : end + self.horizon]}


@register_task("csv-forecasting", CSVForecastingConfig)
class CSVForecastingDataModule(TaskDataModule):
    """Forecasting windows over a CSV file of series, split and scaled by the Time-Series-Library protocol."""

    config: CSVForecastingConfig
    inputs, outputs = "channels", "regression"

    def __init__(self, config: CSVForecastingConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, Windows] = {}
        self._columns: list[str] | None = None

    @property
    def path(self) -> Path:
        return self.data_dir / self.config.file

    @property
    def columns(self) -> list[str]:
        """The series columns of the file."""
        if self._columns is None:
            self._columns = read_series(self.path, self.config.columns)[0]
        return self._columns

    def _selection(self, columns: list[str]) -> tuple[list[int], list[int]]:
        """Indices of the input and the predicted columns."""
        target = self.config.target or columns[-1]
        if target not in columns:
            raise DataError(f"{self.path}: the target column '{target}' is not among its series {columns}")
        every, one = list(range(len(columns))), [columns.index(target)]
        return {"M": (every, every), "S": (one, one), "MS": (every, one)}[self.config.features]

    @property
    def io(self) -> TaskIO:
        inputs, outputs = self._selection(self.columns)
        return TaskIO(inputs=self.inputs, outputs=self.outputs, num_outputs=len(outputs), channels=len(inputs),
                      horizon=self.config.horizon, metrics=("mse", "mae"))

    @property
    def description(self) -> str:
        c = self.config
        return f"forecasting {self.path.name} ({c.features}, {c.input_length} steps -> {c.horizon})"

    def borders(self, rows: int) -> dict[str, tuple[int, int]]:
        """split -> (first row of its windows, end row) for a file of `rows` rows (TSLib's fractions of `split`)."""
        return split_borders(rows, self.config.input_length, self.config.split)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        columns, values = read_series(self.path, self.config.columns)
        self._columns = columns
        c = self.config
        borders = self.borders(len(values))
        first_test_window = borders["test"][0]
        if borders["val"][0] < 0 or first_test_window < borders["val"][0] or len(values) - first_test_window < (
            c.input_length + c.horizon
        ):
            raise DataError(
                f"{self.path} has {len(values)} rows: too few for input_length {c.input_length} + horizon "
                f"{c.horizon} in each of the splits {c.split}"
            )
        train_rows = values[: borders["train"][1]]
        mean, std = train_rows.mean(dim=0), train_rows.std(dim=0, unbiased=False).clamp_min(1e-12)
        scaled = (values - mean) / std
        inputs, outputs = self._selection(columns)
        windows = {}
        for split, (start, end) in borders.items():
            part = scaled[start:end]
            windows[split] = Windows(part[:, inputs], part[:, outputs], c.input_length, c.horizon, c.stride)
        empty = [split for split, dataset in windows.items() if len(dataset) == 0]
        if empty:
            raise DataError(
                f"{self.path} has {len(values)} rows: the split {c.split} leaves no window of input_length "
                f"{c.input_length} + horizon {c.horizon} in {', '.join(empty)}; give more rows, a shorter window or "
                "larger fractions to those splits"
            )
        self.datasets = windows
