"""The `.ts` file format of the UCR/UEA time-series classification archive (as sktime and aeon write it):

    # comments
    @problemName JapaneseVowels
    @timeStamps false
    @missing false
    @univariate false
    @dimensions 12
    @equalLength false
    @seriesLength 29            (only with @equalLength true)
    @classLabel true 1 2 3 ...
    @data
    1.86,1.89,...:-0.21,-0.19,...:3        one case a line: each dimension's values, ':' between dimensions, label last

`read_ts` checks the data against the header (dimensions, equal length, class labels, missing values written `?`) and
names the file and line of whatever disagrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from zoo.tasks.base import DataError


@dataclass
class TsFile:
    """A `.ts` file: `series[i]` float32 `[T_i, dimensions]`, `targets` `[N]` (index into `classes`)."""

    problem: str
    dimensions: int
    classes: tuple[str, ...]
    series: list[torch.Tensor]
    targets: torch.Tensor


def _flag(value: str, path: Path, line: int, key: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise DataError(f"{path}, line {line}: @{key} must be true or false, got {value!r}")
    return value.lower() == "true"


def _header(lines: list[str], path: Path) -> tuple[dict[str, str], int]:
    """The header's `@key value` pairs (keys lower-cased) and the index of the first data line."""
    header: dict[str, str] = {}
    for index, raw in enumerate(lines):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if not text.startswith("@"):
            raise DataError(f"{path}, line {index + 1}: data before @data (is the header complete?)")
        key, _, value = text[1:].partition(" ")
        if key.lower() == "data":
            return header, index + 1
        header[key.lower()] = value.strip()
    raise DataError(f"{path}: no @data line; this is not a .ts file")


def _values(text: str, missing: bool, path: Path, line: int) -> list[float]:
    values = []
    for field in text.split(","):
        field = field.strip()
        if field == "?" or field.lower() == "nan":
            if not missing:
                raise DataError(f"{path}, line {line}: a missing value ({field!r}) where the header says "
                                "@missing false")
            values.append(math.nan)
            continue
        try:
            values.append(float(field))
        except ValueError:
            raise DataError(f"{path}, line {line}: {field!r} is not a number") from None
    return values


def read_ts(path: Path) -> TsFile:
    """Parse a `.ts` classification file (see the module docstring); DataError naming the file and line on any
    disagreement between header and data, a missing file, or no cases."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}; set the task's data_dir to the folder holding it")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    header, start = _header(lines, path)
    for key in ("dimensions", "classlabel"):
        if key not in header:
            raise DataError(f"{path}: the header has no @{'classLabel' if key == 'classlabel' else key} line")
    try:
        dimensions = int(header["dimensions"])
    except ValueError:
        raise DataError(f"{path}: @dimensions must be a whole number, got {header['dimensions']!r}") from None
    has_labels, *classes = header["classlabel"].split()
    if not _flag(has_labels, path, 0, "classLabel") or not classes:
        raise DataError(f"{path}: @classLabel must be true and list the classes (this is a classification reader)")
    equal = _flag(header.get("equallength", "false"), path, 0, "equalLength")
    length = int(header["serieslength"]) if equal and "serieslength" in header else None
    missing = _flag(header.get("missing", "false"), path, 0, "missing")
    index = {name: i for i, name in enumerate(classes)}
    series, targets = [], []
    for number, raw in enumerate(lines[start:], start=start + 1):
        if not raw.strip():
            continue
        *fields, label = raw.strip().split(":")
        if len(fields) != dimensions:
            raise DataError(f"{path}, line {number}: {len(fields)} dimensions where the header says @dimensions "
                            f"{dimensions}")
        if label.strip() not in index:
            raise DataError(f"{path}, line {number}: class {label.strip()!r} is not among @classLabel {classes}")
        rows = [_values(field, missing, path, number) for field in fields]
        lengths = {len(row) for row in rows}
        if len(lengths) != 1:
            raise DataError(f"{path}, line {number}: its dimensions have different lengths {sorted(lengths)}")
        if length is not None and lengths != {length}:
            raise DataError(f"{path}, line {number}: {lengths.pop()} steps where the header says @seriesLength "
                            f"{length}")
        series.append(torch.tensor(rows, dtype=torch.float32).T.contiguous())
        targets.append(index[label.strip()])
    if not series:
        raise DataError(f"{path}: no cases after @data")
    if equal and len({len(s) for s in series}) > 1:
        raise DataError(f"{path}: cases of {len({len(s) for s in series})} different lengths where the header says "
                        "@equalLength true")
    return TsFile(header.get("problemname", path.stem), dimensions, tuple(classes), series, torch.tensor(targets))
