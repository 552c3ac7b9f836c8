"""ETT (Electricity Transformer Temperature, Zhou et al., 2021) forecasting with the Time-Series-Library protocol of
`Dataset_ETT_hour` / `Dataset_ETT_minute`, to the letter:

- the official files `ETTh1.csv`, `ETTh2.csv` (hourly) and `ETTm1.csv`, `ETTm2.csv` (every 15 minutes): a `date`
  column, six load series (HUFL HULL MUFL MULL LUFL LULL) and the oil temperature `OT`, the target;
- fixed borders in months of 30 days (`r` rows an hour: 1 for ETTh, 4 for ETTm): train rows [0, 12 months),
  validation [12 months - L, 16 months), test [16 months - L, 20 months) with look-back L = `input_length`; rows after
  20 months are not used;
- a standard scaler fitted on the training rows only; MSE loss; MSE and MAE reported on the scaled values; every
  window of stride 1, the last incomplete test batch kept.

ETT cannot be installed from a package registry: put the files in `data_dir` (default `$SEQZOO_DATA/ett`).
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo.tasks.base import DataError, register_task
from zoo.tasks.timeseries.forecasting import CSVForecastingConfig, CSVForecastingDataModule

HOURS_PER_MONTH = 30 * 24
# a file name's prefix -> rows an hour
ROWS_PER_HOUR = {"ETTh": 1, "ETTm": 4}
# the borders, in months, of train, validation and test
MONTHS = (12, 16, 20)


@dataclass
class ETTConfig(CSVForecastingConfig):
    """One ETT file (`file`: ETTh1.csv, ETTh2.csv, ETTm1.csv or ETTm2.csv) under `data_dir`; TSLib's defaults: look
    back 96 steps, every series in and out (`M`), target `OT`. `split` is not read: ETT has fixed borders."""

    name: str = "ett"
    file: str = "ETTh1.csv"
    input_length: int = 96
    horizon: int = 96
    target: str = "OT"

    def validate(self) -> None:
        super().validate()
        rows_per_hour(self.file)


def rows_per_hour(file: str) -> int:
    """1 for an hourly ETT file (ETTh*), 4 for a 15-minute one (ETTm*); any other name is refused."""
    for prefix, rows in ROWS_PER_HOUR.items():
        if file.startswith(prefix):
            return rows
    raise ValueError(f"file must be an ETT file (ETTh1.csv, ETTh2.csv, ETTm1.csv, ETTm2.csv), got '{file}'; use the "
                     "csv-forecasting task for other files")


def ett_borders(rows: int, input_length: int, per_hour: int) -> dict[str, tuple[int, int]]:
    """TSLib's ETT borders: split -> (first row of its windows, end row), for a file of `rows` rows with `per_hour`
    rows an hour. ETTh: train (0, 8640), val (8640 - L, 11520), test (11520 - L, 14400)."""
    month = HOURS_PER_MONTH * per_hour
    train, val, test = (months * month for months in MONTHS)
    if rows < test:
        raise DataError(f"an ETT file with {per_hour} row(s) an hour needs at least {test} rows (20 months) for the "
                        f"published borders; it has {rows}")
    return {"train": (0, train), "val": (train - input_length, val), "test": (val - input_length, test)}


@register_task("ett", ETTConfig)
class ETTDataModule(CSVForecastingDataModule):
    """ETT forecasting windows: `inputs` `[B, input_length, C]`, `targets` `[B, horizon, C_out]` (scaled)."""

    config: ETTConfig
    default_subdir = "ett"

    @property
    def description(self) -> str:
        c = self.config
        return (f"ETT {self.path.stem} forecasting, Time-Series-Library protocol (fixed 12/4/4-month borders, "
                f"train-only scaler, scaled MSE/MAE), features {c.features}, {c.input_length} steps -> {c.horizon}")

    def borders(self, rows: int) -> dict[str, tuple[int, int]]:
        try:
            return ett_borders(rows, self.config.input_length, rows_per_hour(self.config.file))
        except DataError as error:
            raise DataError(f"{self.path}: {error}") from None
