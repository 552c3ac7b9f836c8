"""IDX files (the format of MNIST and Fashion-MNIST), read whole into a uint8 tensor.

An IDX file of unsigned bytes: a magic number of 4 bytes, `00 00 08 <dims>` (08: unsigned bytes), each dimension as
a big-endian uint32 (MNIST's images: n, 28, 28; its labels: n), then the product of the dimensions in bytes,
row-major. It is stored gzip-compressed (`*.gz`, as published) or plain (as unpacked): gzip is recognised by its
magic bytes `1f 8b`. A file named `*.gz` must be gzip: plain bytes under that name are refused, with a word on
renaming it.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import torch
from zoo.tasks.base import DataError

UNSIGNED_BYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"
REPAIR = "replace it with an intact copy of the file"


def read_bytes(path: Path, repair: str) -> bytes:
    """The content of `path`, decompressed when it is gzip; DataError naming `path` (and `repair`, what to do) when
    it is missing, a truncated or damaged gzip stream, or not gzip though named `*.gz`."""
    if not path.is_file():
        raise DataError(f"IDX file not found: {path}; {repair}")
    raw = path.read_bytes()
    if raw[:2] != GZIP_MAGIC:
        if path.suffix == ".gz":
            plain = " (it holds plain bytes: drop .gz from its name if they are an unpacked IDX file)"
            raise DataError(f"{path} is not a complete gzip file{plain}; {repair}")
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path} is not a complete gzip file ({type(error).__name__}: {error}); {repair}") from error


def read_idx(path: Path, item_shape: tuple[int, ...], repair: str = REPAIR) -> torch.Tensor:
    """An IDX file of unsigned bytes whose items have `item_shape` (`(28, 28)` for MNIST images, `()` for labels) ->
    uint8 `[n, *item_shape]`, n >= 1. DataError naming `path`, with `repair` (what to do), when it is missing, not
    (complete) gzip though compressed or named so, of another magic number or dimensions, or holds more or fewer
    bytes than its header says."""
    raw = read_bytes(path, repair)
    dims = 1 + len(item_shape)
    header = 4 + 4 * dims
    magic = bytes([0, 0, UNSIGNED_BYTE, dims])
    if raw[:4] != magic or len(raw) < header:
        raise DataError(f"{path}: magic number {raw[:4].hex()} (and {len(raw)} bytes), expected {magic.hex()}: an IDX "
                        f"file of unsigned bytes with {dims} dimension(s); {repair}")
    sizes = struct.unpack(f">{dims}I", raw[4:header])
    if sizes[1:] != item_shape or sizes[0] < 1:
        items = f"items of {' x '.join(map(str, item_shape))}" if item_shape else "one byte an item"
        raise DataError(f"{path}: dimensions {sizes}, expected (n >= 1, {', '.join(map(str, item_shape))}) "
                        f"({items}); {repair}")
    expected = sizes[0] * math.prod(item_shape)
    if len(raw) - header != expected:
        raise DataError(f"{path}: {len(raw) - header} bytes of data, its dimensions {sizes} need {expected} "
                        f"({'truncated' if len(raw) - header < expected else 'trailing bytes'}); {repair}")
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8, offset=header).view(sizes[0], *item_shape)
