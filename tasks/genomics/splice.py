"""Splice-junction classification (UCI primate splice junctions, StatLog version): `splice`, and
`zoo data prepare genomics/splice`, which installs its data.

3,186 DNA sequences of 60 bases, each centred on a possible exon/intron boundary; the class says whether the middle
is an exon-intron boundary (`ei`, donor: 767), an intron-exon boundary (`ie`, acceptor: 765) or neither (`n`: 1,654).
The data ships in Debian's r-cran-mlbench (GPL-2) as `data/DNA.rda`, a data frame of 180 binary factor columns
`V1`..`V180` and the factor `Class`; it is read at run time with PyPI `rdata` (Python >= 3.11) and never copied into
this project. Each base is three indicator columns: A = 1 0 0, C = 0 1 0, G = 0 0 1, T = 0 0 0 (StatLog's coding), so
column triple `i` is base `i`. A check on the decoding: 759 of the 767 donors carry the splice consensus GT at bases
31-32, right after the boundary.

Split: StatLog's sizes, 2,000 training and 1,186 test sequences (the same shares of a smaller file), drawn
stratified by class from a generator seeded with `split_seed` (mlbench does not keep StatLog's order); 10% of the
2,000, stratified, validate.
`inputs` LongTensor `[B, 60]` (nucleotide ids), `targets` LongTensor `[B]` (0 ei, 1 ie, 2 n).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from zoo.tasks.base import DataError, TaskConfig, TaskDataModule, TaskIO, TensorDataset, register_task
from zoo.tasks.debian import debian_file, package_path
from zoo.tasks.genomics.nucleotides import VOCAB, A, C, G, T
from zoo.tasks.prepare import register_preparer

PACKAGE = "r-cran-mlbench"
DATA_FILE = "/usr/lib/R/site-library/mlbench/data/DNA.rda"
PREPARER = "genomics/splice"
BASES = 60
CLASSES = ("ei", "ie", "n")
SIZE, TEST_SIZE = 3186, 1186
VAL_FRACTION = 0.1
CODE_TO_ID = {0b100: A, 0b010: C, 0b001: G, 0b000: T}  # the three indicator bits of a base, read as a number


@dataclass
class SpliceConfig(TaskConfig):
    """`splice`; `data_dir`: a folder holding DNA.rda, or empty for the Debian package's."""

    name: str = "splice"
    split_seed: int = 0


def _rdata():
    if sys.version_info < (3, 11):
        raise DataError(f"the splice task reads R data with PyPI rdata, which needs Python >= 3.11 (this is "
                        f"{sys.version.split()[0]})")
    try:
        import rdata  # imported here: it pulls in pandas and xarray
    except ImportError as error:
        raise DataError("the splice task needs PyPI rdata: `pip install rdata`") from error
    return rdata


def read_splice(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """DNA.rda -> (bases: nucleotide ids uint8 `[3186, 60]`, classes: LongTensor `[3186]` in `CLASSES` order);
    DataError naming the file and the row or column that does not decode."""
    rdata = _rdata()
    repair = f"run `zoo data prepare {PREPARER}` again to unpack a fresh copy"
    try:
        frame = rdata.read_rda(path)["DNA"]
    except FileNotFoundError:
        raise DataError(f"splice data not found: {path}; run `zoo data prepare {PREPARER}`") from None
    except Exception as error:  # rdata raises many kinds of errors on damaged files
        raise DataError(f"{path} is not an R data file holding the data frame DNA ({type(error).__name__}: "
                        f"{error}); {repair}") from error
    columns = [f"V{index}" for index in range(1, 3 * BASES + 1)]
    missing = [name for name in [*columns, "Class"] if name not in frame.columns]
    if missing:
        raise DataError(f"{path}: the data frame DNA lacks the column(s) {missing[:5]}; {repair}")
    classes = [str(name) for name in frame["Class"].cat.categories]
    if classes != list(CLASSES):
        raise DataError(f"{path}: classes {classes}, expected {list(CLASSES)}; {repair}")
    try:
        bits = torch.tensor(frame[columns].astype(int).to_numpy(), dtype=torch.long).view(len(frame), BASES, 3)
    except ValueError as error:
        raise DataError(f"{path}: the indicator columns hold values that are not 0 or 1 ({error}); {repair}") from None
    codes = bits[..., 0] * 4 + bits[..., 1] * 2 + bits[..., 2]
    lookup = torch.full((8,), -1, dtype=torch.long)
    for code, token in CODE_TO_ID.items():
        lookup[code] = token
    ids = lookup[codes.clamp(0, 7)]
    bad = torch.nonzero((ids < 0) | (bits < 0).any(-1) | (bits > 1).any(-1))
    if len(bad):
        row, base = (int(value) for value in bad[0])
        raise DataError(f"{path}: row {row + 1}, base {base + 1} (columns V{3 * base + 1}-V{3 * base + 3}) holds "
                        f"{bits[row, base].tolist()}, not one of StatLog's base codes A 100 C 010 G 001 T 000; "
                        f"{repair}")
    return ids.to(torch.uint8), torch.tensor(frame["Class"].cat.codes.to_numpy(), dtype=torch.long)


def stratified_split(classes: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """Indices of "train", "val", "test": per class a seeded permutation, its share of the test set to test, then
    `VAL_FRACTION` of the rest to val. The test set holds StatLog's share, `round(n * 1186 / 3186)` of the n
    sequences (exactly 1,186 of the 3,186), each class's part of it rounded by largest remainder."""
    generator = torch.Generator().manual_seed(seed)
    counts = torch.bincount(classes, minlength=len(CLASSES))
    test_size = round(len(classes) * TEST_SIZE / SIZE)
    exact = counts.double() * test_size / len(classes)
    shares = exact.floor().long()
    shares[torch.argsort(exact - shares, descending=True)[: test_size - int(shares.sum())]] += 1
    splits: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
    for label in range(len(CLASSES)):
        members = torch.nonzero(classes == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        test, rest = members[: int(shares[label])], members[int(shares[label]):]
        val = int(len(rest) * VAL_FRACTION)
        splits["test"].append(test)
        splits["val"].append(rest[:val])
        splits["train"].append(rest[val:])
    return {split: torch.cat(parts).sort().values for split, parts in splits.items()}


def data_file(fetch: bool) -> Path:
    """DNA.rda of r-cran-mlbench (the system's, or the copy unpacked under the data dir)."""
    return debian_file(PACKAGE, DATA_FILE, fetch=fetch, prepare=PREPARER)


@register_task("splice", SpliceConfig)
class SpliceDataModule(TaskDataModule):
    """Donor / acceptor / neither for 60-base sequences (see the module docstring)."""

    inputs = "tokens"
    outputs = "classifier"

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", outputs="classifier", num_outputs=len(CLASSES), vocab_size=len(VOCAB),
                      metrics=("accuracy", "f1", "mcc"), labels=CLASSES)

    @property
    def description(self) -> str:
        return "UCI splice junctions (StatLog, 60 bases, ei / ie / n), 2,000 / 1,186 stratified split"

    def path(self) -> Path:
        """data_dir/DNA.rda when data_dir is set, else the package's file."""
        return self.data_dir / "DNA.rda" if self.config.data_dir else data_file(fetch=False)

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "datasets", None):
            return
        bases, classes = read_splice(self.path())
        self.datasets = {split: TensorDataset(inputs=bases[rows].long(), targets=classes[rows])
                         for split, rows in stratified_split(classes, self.config.split_seed).items()}


@register_preparer(PREPARER, f"UCI splice junctions (read at run time, GPL-2, not copied), from Debian {PACKAGE}",
                   out=lambda: package_path(PACKAGE, DATA_FILE).parent)
def prepare_splice(args: argparse.Namespace) -> Path:
    """Unpack r-cran-mlbench under the data dir (unless this machine has it), decode DNA.rda and print its classes and
    the GT check; return the folder holding DNA.rda."""
    path = data_file(fetch=True)
    bases, classes = read_splice(path)
    donors = bases[classes == CLASSES.index("ei")]
    consensus = int(((donors[:, 30] == G) & (donors[:, 31] == T)).sum())
    counts = ", ".join(f"{name} {int((classes == index).sum()):,}" for index, name in enumerate(CLASSES))
    Console().print(f"{PREPARER}: {len(classes):,} sequences of {bases.shape[1]} bases ({counts}); {consensus} of "
                    f"{len(donors)} donors have GT at bases 31-32; in {path}")
    return path.parent
