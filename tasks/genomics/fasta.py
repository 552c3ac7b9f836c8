"""Streaming FASTA reading, plain or gzip-compressed (told apart by the gzip magic bytes, not the file name).

A FASTA file is records of a header line `>name description` followed by sequence lines. `read_fasta` yields one
`FastaRecord` a record, its bases encoded as nucleotide ids (`nucleotides.encode`): memory holds one record at a time,
as uint8 (one byte a base). Errors name the file, and the record and line where they are: sequence before the first
header, a record without bases, a character that is no base, a truncated or corrupt gzip stream.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from zoo.tasks.base import DataError
from zoo.tasks.genomics.nucleotides import InvalidBaseError, encode

GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class FastaRecord:
    """One record: `name` (the header's first word), `description` (the rest), `ids` uint8 `[length]`."""

    name: str
    description: str
    ids: torch.Tensor


def open_text(path: Path) -> io.BufferedIOBase:
    """`path` opened for reading bytes, through gzip when it starts with the gzip magic bytes."""
    if not path.is_file():
        raise DataError(f"FASTA file not found: {path}")
    with open(path, "rb") as file:
        compressed = file.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _record(path: Path, header: bytes, lines: list[tuple[int, bytes]]) -> FastaRecord:
    name, _, description = header.decode("ascii", errors="replace").partition(" ")
    if not lines:
        raise DataError(f"{path}: record '{name}' has no sequence lines")
    chunks = []
    for number, line in lines:
        try:
            chunks.append(encode(line))
        except InvalidBaseError as error:
            raise DataError(f"{path}, line {number} (record '{name}'): {error}") from None
    return FastaRecord(name, description.strip(), torch.cat(chunks))


def read_fasta(path: Path) -> Iterator[FastaRecord]:
    """The records of a FASTA or FASTA.gz file, in order (see the module docstring)."""
    path = Path(path)
    header: bytes | None = None
    lines: list[tuple[int, bytes]] = []
    number = 0
    try:
        with open_text(path) as file:
            for number, raw in enumerate(file, start=1):
                line = raw.strip()
                if line.startswith(b">"):
                    if header is not None:
                        yield _record(path, header, lines)
                    header, lines = line[1:], []
                elif line.startswith(b";") or not line:
                    continue
                elif header is None:
                    raise DataError(f"{path}, line {number}: sequence before the first '>' header; is this FASTA?")
                else:
                    lines.append((number, line))
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: unreadable after line {number} ({type(error).__name__}: {error}); the file is "
                        "truncated or corrupt: fetch it again") from None
    if header is None:
        raise DataError(f"{path}: no '>' header line; is this FASTA?")
    yield _record(path, header, lines)
