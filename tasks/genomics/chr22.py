"""Human chromosome 22 from the primate alignment of Debian's `maffilter-examples` (CeCILL), and
`zoo data prepare genomics/chr22`, which installs it.

The package's `Gorilla/Compara.epo_5_catarrhini_hsap-projected.chr22.subset.nogap.cleaned_aln.maf.gz` aligns human
(`Hsap.22`), chimpanzee, gorilla and orangutan in 9,627 blocks; its human rows hold 21,629,102 bases of chr22
(median block 1,552 bases, repeats in lowercase), all on the + strand and in increasing coordinates. `human_blocks`
reads the human row of every block (`--species` prefix `Hsap`), with its start coordinate, into one uint8 tensor in
chromosome order: the aligned human chr22, its blocks joined (the unaligned stretches between blocks are not in the
file, so a window may span a join). The decoded bases are cached under `<data dir>/cache/genomics`.

Held out by coordinates: the language-modelling task cuts the joined sequence into three consecutive coordinate
ranges (train, then val, then test), so no held-out base was seen in training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console
from zoo.tasks.base import DataError, default_data_dir
from zoo.tasks.cache import CachedTensors
from zoo.tasks.debian import debian_file, package_path
from zoo.tasks.genomics.maf import read_maf
from zoo.tasks.prepare import register_preparer

from zoo.atomic import atomic_write_bytes

PACKAGE = "maffilter-examples"
ALIGNMENT = ("/usr/share/doc/maffilter/examples/Gorilla/"
             "Compara.epo_5_catarrhini_hsap-projected.chr22.subset.nogap.cleaned_aln.maf.gz")
PREPARER = "genomics/chr22"
HUMAN = "Hsap"
CACHE_VERSION = 1


def _decode(path: Path, species: str) -> dict[str, torch.Tensor]:
    chunks, starts, previous_end = [], [], -1
    for number, block in enumerate(read_maf(path), start=1):
        row = block.row(species)
        if row is None:
            continue
        if row.strand != "+" or row.start < previous_end:
            raise DataError(f"{path}: block {number}'s {row.src} row ({row.strand} strand, start {row.start:,}) is not "
                            f"on the + strand after the previous one (which ends at {previous_end:,}); the reader "
                            "expects a reference-projected alignment sorted by coordinate")
        chunks.append(row.ids())
        starts.append(row.start)
        previous_end = row.start + row.size
    if not chunks:
        raise DataError(f"{path}: no alignment block has a row of species '{species}' (sources start with it)")
    return {"ids": torch.cat(chunks), "starts": torch.tensor(starts),
            "sizes": torch.tensor([len(chunk) for chunk in chunks])}


def human_blocks(path: Path, species: str = HUMAN) -> dict[str, torch.Tensor]:
    """`ids` uint8 `[bases]` (the species' rows joined in coordinate order), `starts` and `sizes` LongTensor
    `[blocks]` (each block's 0-based start on the chromosome and its bases); cached after the first read."""
    if not path.is_file():
        raise DataError(f"alignment not found: {path}; run `zoo data prepare {PREPARER}` (Debian {PACKAGE}) or set "
                        "the task's data_dir to a folder holding the .maf.gz file")
    stat = path.stat()
    fields = {"version": CACHE_VERSION, "file": str(path.resolve()), "size": stat.st_size,
              "mtime": stat.st_mtime_ns, "species": species}
    return CachedTensors(default_data_dir() / "cache" / "genomics", fields).load_or_build(
        lambda: _decode(path, species))


def coordinate(blocks: dict[str, torch.Tensor], offset: int) -> int:
    """The chromosome coordinate of base `offset` of the joined sequence."""
    ends = blocks["sizes"].cumsum(0)
    block = int(torch.searchsorted(ends, torch.tensor(offset), right=True))
    block = min(block, len(ends) - 1)
    return int(blocks["starts"][block]) + offset - int(ends[block] - blocks["sizes"][block])


def alignment_file(fetch: bool) -> Path:
    """The chr22 alignment of maffilter-examples (the system's, or the copy unpacked under the data dir)."""
    return debian_file(PACKAGE, ALIGNMENT, fetch=fetch, prepare=PREPARER)


@register_preparer(PREPARER, f"human chr22 from a primate alignment (genome LM), from Debian {PACKAGE}",
                   out=lambda: package_path(PACKAGE, ALIGNMENT).parent)
def prepare_chr22(args: argparse.Namespace) -> Path:
    """Unpack maffilter-examples under the data dir (unless this machine has it), decode the human rows (filling the
    cache) and print their size; with an `--out` other than the package's folder, also copy the alignment there
    (atomically) for a task whose data_dir names it. Return the folder holding the alignment."""
    path = alignment_file(fetch=True)
    out = Path(args.out).expanduser()
    if out.resolve() != path.parent.resolve():
        atomic_write_bytes(out / path.name, lambda file: file.write(path.read_bytes()))
        path = out / path.name
    blocks = human_blocks(path)
    Console().print(f"{PREPARER}: {len(blocks['starts']):,} blocks, {len(blocks['ids']):,} human chr22 bases, "
                    f"coordinates {int(blocks['starts'][0]):,}-{int(blocks['starts'][-1] + blocks['sizes'][-1]):,}, "
                    f"in {path}")
    return path.parent
