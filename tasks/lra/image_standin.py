"""The offline stand-in for LRA Image: Fashion-MNIST padded to 32 x 32 (`lra-image-standin`,
`lra-image-values-standin`), and `zoo data prepare lra/image-standin`, which installs it.

CIFAR-10 is not available offline; Fashion-MNIST (Zalando, MIT: 60,000 training and 10,000 test images of 28 x 28
gray levels, 10 classes of clothing) installs from the Debian package dataset-fashion-mnist as
`/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`.

IDX files (each gzip-compressed): a magic number of 4 bytes, `00 00 08 <dims>` (08: unsigned bytes; dims 3 for
images, 1 for labels), each dimension as a big-endian uint32 (images: n, 28, 28; labels: n), then the n x 28 x 28
(n) bytes, row-major. `read_idx` checks all of it and names the file in its DataError.

Images are zero-padded by 2 pixels on every side to 32 x 32 = 1,024 steps (row r, column c of the 28 x 28 image is
step `(r + 2) * 32 + c + 2`) and fed as LRA Image's CIFAR (`image.py`): tokens 0-255, or values
`(x - 55.8) / 84.6`, the mean and standard deviation in gray levels of the 60,000 padded training images (55.845
and 84.612, rounded to 0.1 as S4's CIFAR constants are). Split: the 60k training images 54k / 6k by `image.py`'s
rule (S4's seeded permutation, its first 90% train), test 10k in file order.

Files are read from the task's `data_dir` when it is set (a folder holding the four files), else from the package:
the system's install or the copy `zoo data prepare lra/image-standin` unpacks under the data dir.
"""

from __future__ import annotations

import argparse
import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from zoo.tasks.base import DataError, register_task
from zoo.tasks.debian import debian_file, unpacked_root
from zoo.tasks.lra.image import SIDE, LRAImageConfig, PixelImages, PixelSequenceTask
from zoo.tasks.prepare import register_preparer

from zoo.atomic import atomic_write_bytes

PACKAGE = "dataset-fashion-mnist"
PACKAGE_FOLDER = "/usr/share/datasets/fashion-mnist"
PREPARER = "lra/image-standin"
FASHION_SIDE = 28
PAD = (SIDE - FASHION_SIDE) // 2
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
FASHION_NORMALISATION = (55.8, 84.6)  # mean, std of the 60k padded training images, in gray levels 0-255
UNSIGNED_BYTE = 0x08
REPAIR = f"run `zoo data prepare {PREPARER}` again, or point data_dir at intact copies of the four files"


def read_idx(path: Path, item_shape: tuple[int, ...]) -> torch.Tensor:
    """A gzip-compressed IDX file of unsigned bytes -> uint8 `[n, *item_shape]`; DataError naming `path` when it is
    missing, not (complete) gzip, of another magic number or dimensions, or holds more or fewer bytes than its
    header says."""
    if not path.is_file():
        raise DataError(f"IDX file not found: {path}; {REPAIR}")
    try:
        with gzip.open(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path} is not a complete gzip file ({type(error).__name__}: {error}); {REPAIR}") from error
    dims = 1 + len(item_shape)
    header = 4 + 4 * dims
    magic = bytes([0, 0, UNSIGNED_BYTE, dims])
    if raw[:4] != magic or len(raw) < header:
        raise DataError(f"{path}: magic number {raw[:4].hex()} (and {len(raw)} bytes), expected {magic.hex()}: an IDX "
                        f"file of unsigned bytes with {dims} dimension(s); {REPAIR}")
    sizes = struct.unpack(f">{dims}I", raw[4:header])
    if sizes[1:] != item_shape or sizes[0] < 1:
        raise DataError(f"{path}: dimensions {sizes}, expected (n >= 1, {', '.join(map(str, item_shape))}) "
                        f"{'(images of 28 x 28)' if item_shape else '(labels)'}; {REPAIR}")
    expected = sizes[0] * math.prod(item_shape)
    if len(raw) - header != expected:
        raise DataError(f"{path}: {len(raw) - header} bytes of data, its dimensions {sizes} need {expected} "
                        f"({'truncated' if len(raw) - header < expected else 'trailing bytes'}); {REPAIR}")
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8, offset=header).view(sizes[0], *item_shape)


def read_fashion(images_path: Path, labels_path: Path) -> PixelImages:
    """Fashion-MNIST images and labels -> images zero-padded to 32 x 32, as rows `[n, 1024]`, and their labels."""
    images = read_idx(images_path, (FASHION_SIDE, FASHION_SIDE))
    labels = read_idx(labels_path, ())
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
                        f"{REPAIR}")
    if int(labels.max()) >= len(FASHION_CLASSES):
        raise DataError(f"{labels_path}: label {int(labels.max())} is not a class id 0-9; {REPAIR}")
    padded = torch.zeros(len(images), SIDE, SIDE, dtype=torch.uint8)
    padded[:, PAD:PAD + FASHION_SIDE, PAD:PAD + FASHION_SIDE] = images
    return PixelImages(padded.view(len(images), SIDE * SIDE), labels.long())


def package_file(name: str, fetch: bool) -> Path:
    """The file `name` of dataset-fashion-mnist (the system's, or the copy unpacked under the data dir); with
    `fetch`, unpack the package when neither has it."""
    return debian_file(PACKAGE, f"{PACKAGE_FOLDER}/{name}", fetch=fetch, prepare=PREPARER)


@dataclass
class LRAImageStandinConfig(LRAImageConfig):
    """The LRA Image stand-in, gray levels as tokens; `data_dir` empty: the Debian package's files."""

    name: str = "lra-image-standin"


@dataclass
class LRAImageValuesStandinConfig(LRAImageConfig):
    """The LRA Image stand-in, normalised values."""

    name: str = "lra-image-values-standin"


class FashionMNISTTask(PixelSequenceTask):
    """Fashion-MNIST padded to 32 x 32 in place of CIFAR-10 (see the module docstring)."""

    class_names = FASHION_CLASSES
    normalisation = FASHION_NORMALISATION

    @property
    def description(self) -> str:
        return ("Fashion-MNIST padded to 32x32, stand-in for LRA Image: CIFAR-10 is not available offline "
                f"({self.encoding})")

    def path(self, name: str) -> Path:
        """`data_dir / name` when the config sets `data_dir`, else the package's file."""
        if not self.config.data_dir:
            return package_file(name, fetch=False)
        path = self.data_dir / name
        if not path.is_file():
            raise DataError(f"Fashion-MNIST file not found: {path}; put the four IDX files there, or leave data_dir "
                            f"empty to read the Debian package {PACKAGE} (`zoo data prepare {PREPARER}`)")
        return path

    def read(self) -> tuple[PixelImages, PixelImages]:
        train = read_fashion(*(self.path(name) for name in FILES["train"]))
        return train, read_fashion(*(self.path(name) for name in FILES["test"]))


@register_task("lra-image-standin", LRAImageStandinConfig)
class LRAImageStandinDataModule(FashionMNISTTask):
    """The LRA Image stand-in with gray levels as tokens: `inputs` LongTensor `[B, 1024]`."""

    inputs = "tokens"


@register_task("lra-image-values-standin", LRAImageValuesStandinConfig)
class LRAImageValuesStandinDataModule(FashionMNISTTask):
    """The LRA Image stand-in with normalised values: `inputs` float32 `[B, 1024, 1]`."""

    inputs = "channels"


def package_folder() -> Path:
    """Where the stand-in reads when its data_dir is empty: the system's copy of the package's folder when this machine
    has the package installed, else the copy `zoo data prepare lra/image-standin` unpacks under the data dir."""
    system = Path(PACKAGE_FOLDER)
    return system if system.is_dir() else unpacked_root(PACKAGE) / system.relative_to("/")


@register_preparer(PREPARER, f"Fashion-MNIST (the LRA Image stand-in) from Debian {PACKAGE}", out=package_folder)
def prepare_fashion_mnist(args: argparse.Namespace) -> Path:
    """Unpack dataset-fashion-mnist under the data dir unless this machine has it (the stand-in tasks find it there
    when data_dir is empty) and check that its four files read; with an `--out` other than that folder, also copy
    them there (each atomically), for a task whose data_dir names it. Return the folder that holds them."""
    paths = {name: package_file(name, fetch=True) for pair in FILES.values() for name in pair}
    counts = {split: len(read_fashion(*(paths[name] for name in FILES[split])).labels) for split in FILES}
    folder = paths[FILES["train"][0]].parent
    out = Path(args.out).expanduser()
    if out.resolve() != folder.resolve():
        for name, path in paths.items():
            atomic_write_bytes(out / name, lambda file, source=path: file.write(source.read_bytes()))
        folder = out
    Console().print(f"{PREPARER}: Fashion-MNIST, {counts['train']:,} training and {counts['test']:,} test images "
                    f"in {folder}")
    return folder
