"""The IDX reader (`zoo.tasks.vision.idx`) on files written in the format: gzip or plain by magic bytes, any item
shape, and every kind of damage refused with a DataError that names the file and carries the caller's repair hint.
(The LRA stand-in's tests, tests/tasks/lra/test_image.py, check the Fashion-MNIST cases of the same reader.)"""

from __future__ import annotations

import gzip

import numpy
import pytest
import torch
from zoo.tasks import DataError
from zoo.tasks.vision.idx import read_idx

from tests.tasks.lra.files_image import idx_bytes, write_idx

HINT = "ask the test for a fresh copy"


def test_gzip_and_plain_files_read_alike_for_any_item_shape(tmp_path, seed):
    array = numpy.random.default_rng(seed % 2**32).integers(0, 256, (5, 2, 3, 4), dtype=numpy.uint8)
    compressed, plain = tmp_path / "items-idx4-ubyte.gz", tmp_path / "items-idx4-ubyte"
    write_idx(compressed, array)
    plain.write_bytes(idx_bytes(array))
    for path in (compressed, plain):
        items = read_idx(path, (2, 3, 4), HINT)
        assert items.dtype == torch.uint8 and torch.equal(items, torch.from_numpy(array)), f"{path} (seed {seed})"
    labels = numpy.arange(7, dtype=numpy.uint8)
    (tmp_path / "labels").write_bytes(idx_bytes(labels))
    assert read_idx(tmp_path / "labels", ()).tolist() == list(range(7))


IMAGES = numpy.zeros((3, 5, 5), dtype=numpy.uint8)
RAW = idx_bytes(IMAGES)
DAMAGE = {  # file name, bytes -> the message
    "truncated gzip": ("a-idx3-ubyte.gz", gzip.compress(RAW)[:-12], "not a complete gzip file"),
    "plain bytes named .gz": ("a-idx3-ubyte.gz", RAW, "holds plain bytes: drop .gz"),
    "wrong magic": ("a-idx3-ubyte", b"\x00\x00\x0d\x03" + RAW[4:], "magic number 00000d03"),
    "a labels file": ("a-idx3-ubyte", idx_bytes(IMAGES[:, 0, 0]), "magic number 00000801"),
    "other item shape": ("a-idx3-ubyte", idx_bytes(IMAGES[:, :4]), r"dimensions \(3, 4, 5\).*items of 5 x 5"),
    "no items": ("a-idx3-ubyte", idx_bytes(IMAGES[:0]), r"dimensions \(0, 5, 5\)"),
    "truncated data": ("a-idx3-ubyte", RAW[:-1], "74 bytes of data.*need 75 \\(truncated\\)"),
    "trailing bytes": ("a-idx3-ubyte.gz", gzip.compress(RAW + b"\x00"), "trailing bytes"),
    "short header": ("a-idx3-ubyte", RAW[:9], "magic number 00000803 \\(and 9 bytes\\)"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_files_raise_dataerror_naming_the_file_and_the_repair(tmp_path, damage):
    name, raw, message = DAMAGE[damage]
    path = tmp_path / name
    path.write_bytes(raw)
    with pytest.raises(DataError, match=message) as error:
        read_idx(path, (5, 5), HINT)
    assert str(path) in str(error.value) and HINT in str(error.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=f"IDX file not found: {tmp_path / 'absent.gz'}; {HINT}"):
        read_idx(tmp_path / "absent.gz", (), HINT)
