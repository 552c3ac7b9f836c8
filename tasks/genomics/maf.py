"""Streaming reading of MAF multiple alignments (UCSC's Multiple Alignment Format), plain or gzip-compressed, such as
the chr22 alignment of human, chimp, gorilla and orangutan in Debian's `maffilter-examples`:

    ##maf version=1
    a score=12.0
    s homo_sapiens.22 16050075 12 + 51304566 ACGTA--cgtacg      src start size strand srcSize text
    s pan_troglodytes.22 ...
    (a blank line ends the block; lines `i`, `e`, `q` and comments are skipped)

`read_maf` yields one `MafBlock` at a time. Each `s` line is checked: seven fields, whole numbers, a strand of + or -,
`size` equal to the text's bases (its length less gaps `-`), every text of a block of the same aligned length, and
bases that `nucleotides.encode` reads; errors name the file and line.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from zoo.tasks.base import DataError
from zoo.tasks.genomics.fasta import open_text
from zoo.tasks.genomics.nucleotides import InvalidBaseError, encode

GAP = ord("-")


@dataclass
class MafRow:
    """One `s` line: the source (`species.chromosome`), its 0-based `start` and `size` on `strand`, the source's
    length, and the aligned text (bases and gaps)."""

    src: str
    start: int
    size: int
    strand: str
    src_size: int
    text: bytes

    def ids(self) -> torch.Tensor:
        """The row's bases without gaps, as nucleotide ids uint8 `[size]`."""
        return encode(self.text.replace(b"-", b""))


@dataclass
class MafBlock:
    """An alignment block: its `score` (None when the `a` line has none) and its rows."""

    score: float | None
    rows: list[MafRow] = field(default_factory=list)

    def row(self, species: str) -> MafRow | None:
        """The first row whose source starts with `species` (`homo_sapiens`, `hsap`), or None."""
        return next((row for row in self.rows if row.src.startswith(species)), None)


def _row(fields: list[bytes], path: Path, number: int) -> MafRow:
    if len(fields) != 7:
        raise DataError(f"{path}, line {number}: an 's' line has 7 fields (s src start size strand srcSize text), "
                        f"this one {len(fields)}")
    try:
        start, size, src_size = int(fields[2]), int(fields[3]), int(fields[5])
    except ValueError:
        raise DataError(f"{path}, line {number}: start, size and srcSize must be whole numbers") from None
    strand = fields[4].decode("ascii", errors="replace")
    if strand not in ("+", "-"):
        raise DataError(f"{path}, line {number}: strand {strand!r} is neither + nor -")
    text = fields[6]
    bases = len(text) - text.count(GAP)
    if bases != size:
        raise DataError(f"{path}, line {number}: size {size} but the text holds {bases} bases")
    if start + size > src_size:
        raise DataError(f"{path}, line {number}: start {start} + size {size} runs past srcSize {src_size}")
    try:
        encode(text.replace(b"-", b""))
    except InvalidBaseError as error:
        raise DataError(f"{path}, line {number}: {error}") from None
    return MafRow(fields[1].decode("ascii", errors="replace"), start, size, strand, src_size, text)


def _score(line: bytes) -> float | None:
    for item in line.split()[1:]:
        key, _, value = item.partition(b"=")
        if key == b"score":
            return float(value)
    return None


def read_maf(path: Path) -> Iterator[MafBlock]:
    """The blocks of a MAF or MAF.gz file, in order (see the module docstring)."""
    path = Path(path)
    block: MafBlock | None = None
    number = 0
    try:
        with open_text(path) as file:
            for number, raw in enumerate(file, start=1):
                line = raw.strip()
                if line.startswith(b"a") and (len(line) == 1 or line[1:2].isspace()):
                    if block is not None and block.rows:
                        yield block
                    block = MafBlock(_score(line))
                elif line.startswith(b"s ") or line.startswith(b"s\t"):
                    if block is None:
                        raise DataError(f"{path}, line {number}: an 's' line before any 'a' line")
                    row = _row(line.split(), path, number)
                    if block.rows and len(row.text) != len(block.rows[0].text):
                        raise DataError(f"{path}, line {number}: aligned length {len(row.text)}, the block's first "
                                        f"row has {len(block.rows[0].text)}")
                    block.rows.append(row)
                elif not line:
                    if block is not None and block.rows:
                        yield block
                    block = None
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: unreadable after line {number} ({type(error).__name__}: {error}); the file is "
                        "truncated or corrupt: fetch it again") from None
    if block is not None and block.rows:
        yield block
