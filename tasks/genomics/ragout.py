"""The 16 complete bacterial genomes of Debian's `ragout-examples` (BSD-3): 4 species, 48.2 Mbp, and
`zoo data prepare genomics/ragout`, which installs them.

The package holds, for each species, the finished genomes of its strains as FASTA.gz files:
`/usr/share/doc/ragout/examples/<Species>/references/<Strain>.fasta.gz` (E.Coli: DH1, MG1655-K12; H.Pylori: ELS37,
G27, Gambia94_24, Puno120, SJM180; S.Aureus: COL, JKD6008, N315, RF122, USA300_FPR3757; V.Cholerae: H1, O1_Inaba,
O1_biovar, O395), one record a chromosome (V.Cholerae has two). The `<strain>_contigs.fasta.gz` beside them are
draft assemblies and are not read.

`read_strains(folder)` reads any folder of that layout (`<Species>/references/<Strain>.fasta[.gz]`): the package's,
or a user's own collection. Decoding the 48 Mbp takes about 20 s, so the decoded ids are cached (`zoo.tasks.cache`,
keyed by each file's path, size and modification time) under `<data dir>/cache/genomics`.

Held-out strains (`HELD_OUT`, as `<Species>/<Strain>`): for each species, the strain its ragout example assembles
(the contigs file names it): MG1655-K12, SJM180, USA300_FPR3757, H1.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import track
from rich.table import Table
from zoo.tasks.base import DataError, default_data_dir
from zoo.tasks.cache import CachedTensors
from zoo.tasks.debian import debian_file, package_path
from zoo.tasks.genomics.fasta import read_fasta
from zoo.tasks.genomics.windows import Segment, split_range
from zoo.tasks.prepare import register_preparer

PACKAGE = "ragout-examples"
EXAMPLES = "/usr/share/doc/ragout/examples"
PREPARER = "genomics/ragout"
HELD_OUT = ("E.Coli/MG1655-K12", "H.Pylori/SJM180", "S.Aureus/USA300_FPR3757", "V.Cholerae/H1")
CACHE_VERSION = 1
SUFFIXES = (".fasta.gz", ".fa.gz", ".fasta", ".fa")


@dataclass(frozen=True)
class Strain:
    """One genome: its species (the folder), strain (the file's name) and records (name -> ids uint8 `[length]`)."""

    species: str
    strain: str
    records: dict[str, torch.Tensor]

    @property
    def bases(self) -> int:
        return sum(len(ids) for ids in self.records.values())


def strain_name(path: Path) -> str | None:
    """The strain a genome file holds (its name less the FASTA suffix), None for a file that is no FASTA."""
    return next((path.name[: -len(suffix)] for suffix in SUFFIXES if path.name.endswith(suffix)), None)


def genome_files(folder: Path) -> list[tuple[str, str, Path]]:
    """(species, strain, file) of every `<Species>/references/<Strain>.fasta[.gz]` under `folder`, sorted;
    DataError when the folder is missing or holds fewer than two species."""
    if not folder.is_dir():
        raise DataError(f"no genome folder at {folder}; run `zoo data prepare {PREPARER}` (Debian {PACKAGE}) or set "
                        "the task's data_dir to a folder of <Species>/references/<Strain>.fasta.gz files")
    files = [(path.parent.parent.name, strain_name(path), path)
             for path in sorted(folder.glob("*/references/*")) if strain_name(path)]
    species = sorted({entry[0] for entry in files})
    if len(species) < 2:
        raise DataError(f"{folder} holds genomes of {len(species)} species (<Species>/references/<Strain>.fasta.gz); "
                        f"the genome tasks need at least two; run `zoo data prepare {PREPARER}`")
    return files


def _decode(files: list[tuple[str, str, Path]]) -> dict[str, torch.Tensor]:
    tensors = {}
    for species, strain, path in track(files, description="decoding genomes"):
        for record in read_fasta(path):
            tensors[f"{species}/{strain}/{record.name}"] = record.ids
    return tensors


def read_strains(folder: Path) -> list[Strain]:
    """Every genome under `folder` (see the module docstring), decoded once and then read from the cache."""
    files = genome_files(folder)
    stats = [(path, path.stat()) for _, _, path in files]
    fields = {"version": CACHE_VERSION,
              "files": [[str(path.resolve()), stat.st_size, stat.st_mtime_ns] for path, stat in stats]}
    tensors = CachedTensors(default_data_dir() / "cache" / "genomics", fields).load_or_build(lambda: _decode(files))
    strains: dict[tuple[str, str], dict[str, torch.Tensor]] = {(species, strain): {} for species, strain, _ in files}
    for key, ids in tensors.items():
        species, strain, record = key.split("/", 2)
        strains[species, strain][record] = ids
    return [Strain(species, strain, records) for (species, strain), records in strains.items()]


def parse_strains(names: list[str]) -> set[tuple[str, str]]:
    """`["E.Coli/MG1655-K12", ...]` -> {(species, strain)}; DataError for a name that is not `<Species>/<Strain>`."""
    parsed = {tuple(str(name).split("/")) for name in names}
    malformed = sorted("/".join(pair) for pair in parsed if len(pair) != 2 or not all(pair))
    if malformed or not parsed:
        raise DataError(f"task.test_strains: {malformed or 'nothing'} is not a list of <Species>/<Strain> names "
                        f"(e.g. {list(HELD_OUT)})")
    return parsed


def held_out(strains: list[Strain], names: list[str]) -> set[tuple[str, str]]:
    """(species, strain) of the held-out strains `names` (`<Species>/<Strain>`); DataError naming a species or strain
    that `strains` lacks, a species that no held-out strain names, or a species left with no training strain."""
    present = {(strain.species, strain.strain) for strain in strains}
    species = {strain.species for strain in strains}
    chosen = parse_strains(names)
    missing = sorted("/".join(pair) for pair in chosen - present)
    if missing:
        raise DataError(f"held-out strain(s) {missing} are not among the genomes read "
                        f"({sorted('/'.join(pair) for pair in present)}); set task.test_strains to one strain of each "
                        "species")
    uncovered = sorted(species - {name for name, _ in chosen})
    if uncovered:
        raise DataError(f"task.test_strains names no held-out strain for species {uncovered}")
    alone = sorted(name for name in species if {(s.species, s.strain) for s in strains if s.species == name} <= chosen)
    if alone:
        raise DataError(f"every strain of species {alone} is held out: nothing of it is left to train on")
    return chosen


def strain_segments(strains: list[Strain], test_strains: list[str], val_fraction: float,
                    labels: dict[str, int] | None = None) -> dict[str, list[Segment]]:
    """Split genomes for training: "test" the whole held-out strains `test_strains` (`<Species>/<Strain>`), "val" the
    last `val_fraction` of every record of the other strains, "train" the rest of those records. With `labels`
    (species -> class id), each segment carries its species' class."""
    test = held_out(strains, test_strains)
    splits: dict[str, list[Segment]] = {"train": [], "val": [], "test": []}
    for strain in strains:
        label = -1 if labels is None else labels[strain.species]
        for record, ids in strain.records.items():
            name = f"{strain.species}/{strain.strain}/{record}"
            if (strain.species, strain.strain) in test:
                splits["test"].append(Segment(name, ids, label))
                continue
            train, val, _ = split_range(ids, (val_fraction, 0.0))
            splits["train"].append(Segment(name, train, label))
            splits["val"].append(Segment(f"{name} (last {val_fraction:.0%})", val, label))
    return splits


def package_folder() -> Path:
    """The ragout examples: the system's when the package is installed, else the copy the preparer unpacks."""
    return package_path(PACKAGE, EXAMPLES)


@register_preparer(PREPARER, f"16 bacterial genomes of 4 species (genome LM, species classification), from Debian "
                             f"{PACKAGE}", out=package_folder)
def prepare_ragout(args: argparse.Namespace) -> Path:
    """Unpack ragout-examples under the data dir (unless this machine has it), decode every genome (filling the
    cache) and print the strains and their sizes; return the folder the genome tasks read."""
    debian_file(PACKAGE, f"{EXAMPLES}/E.Coli/references/MG1655-K12.fasta.gz", fetch=True, prepare=PREPARER)
    folder = package_folder()
    if Path(args.out).expanduser().resolve() != folder.resolve():
        raise DataError(f"{PREPARER} reads the genomes where the package puts them ({folder}); leave --out unset")
    strains = read_strains(folder)
    table = Table(title=f"{PREPARER}: {folder}")
    for column in ("species", "strain", "records", "bases", "held out"):
        table.add_column(column, justify="left" if column in ("species", "strain") else "right")
    for strain in strains:
        table.add_row(strain.species, strain.strain, str(len(strain.records)), f"{strain.bases:,}",
                      "test" if f"{strain.species}/{strain.strain}" in HELD_OUT else "")
    Console().print(table)
    return folder
