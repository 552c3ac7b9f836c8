"""Small files in the official formats of LRA Image's sources, for tests: CIFAR-10 python batches and Fashion-MNIST
IDX files.

Import it as `from files_image import write_cifar` from a test in this folder, or as
`from tests.tasks.lra.files_image import write_cifar` from elsewhere (the repository root is on pytest's path).
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy

CIFAR_FILES = (*(f"data_batch_{index}" for index in range(1, 6)), "test_batch")


def write_cifar_batch(path: Path, data: numpy.ndarray, labels: list[int]) -> None:
    """One CIFAR-10 python batch as the official ones are: a protocol-2 pickle of the dict `b"batch_label"`,
    `b"labels"` (list of ints), `b"data"` (uint8 `[n, 3072]`, R, G, B planes of 32 x 32 per row), `b"filenames"`,
    with numpy's array reconstructor named `numpy.core.multiarray._reconstruct`, as the official files name it."""
    batch = {b"batch_label": path.name.encode(), b"labels": [int(label) for label in labels], b"data": data,
             b"filenames": [f"image_{index}.png".encode() for index in range(len(labels))]}
    blob = pickle.dumps(batch, protocol=2).replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)


def write_cifar(folder: Path, seed: int, per_batch: int = 20) -> Path:
    """Write `folder/cifar-10-batches-py/{data_batch_1..5, test_batch}`, each with `per_batch` random images and
    labels 0-9, and return `folder` (a task's data_dir). 5 x 20 training images split 90 / 10 (S4's rule)."""
    rng = numpy.random.default_rng(seed)
    for name in CIFAR_FILES:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=numpy.uint8)
        write_cifar_batch(folder / "cifar-10-batches-py" / name, data, rng.integers(0, 10, per_batch).tolist())
    return folder


def idx_bytes(array: numpy.ndarray) -> bytes:
    """An uint8 array as an IDX file (uncompressed): magic `00 00 08 <dims>`, big-endian uint32 dimensions, data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: Path, array: numpy.ndarray) -> None:
    """`idx_bytes(array)` gzip-compressed into `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(idx_bytes(array)))


def write_fashion_mnist(folder: Path, seed: int, train: int = 120, test: int = 20) -> Path:
    """Write the four Fashion-MNIST files (`{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`: random 28 x 28 images,
    labels 0-9) into `folder` and return it (a task's data_dir). 120 training images split 108 / 12."""
    rng = numpy.random.default_rng(seed)
    for prefix, count in (("train", train), ("t10k", test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28), dtype=numpy.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, count, dtype=numpy.uint8))
    return folder
