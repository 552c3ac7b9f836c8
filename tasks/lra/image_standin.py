"""The offline stand-in for LRA Image: Fashion-MNIST padded to 32 x 32 (`lra-image-standin`,
`lra-image-values-standin`), and `zoo data prepare lra/image-standin`, which installs it.

CIFAR-10 is not available offline; Fashion-MNIST (Zalando, MIT: 60,000 training and 10,000 test images of 28 x 28
gray levels, 10 classes of clothing) installs from the Debian package dataset-fashion-mnist as
`/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz` (`zoo.tasks.vision.fashion_mnist`
knows the package; the vision tasks read it too). Its IDX files are read by `zoo.tasks.vision.idx.read_idx`, which
checks all of them and names the file in its DataError.

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
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from zoo.tasks.base import register_task
from zoo.tasks.debian import package_path
from zoo.tasks.lra.image import SIDE, LRAImageConfig, PixelImages, PixelSequenceTask
from zoo.tasks.prepare import register_preparer
from zoo.tasks.vision.fashion_mnist import (
    FASHION_CLASSES,
    FILES,
    PACKAGE,
    PACKAGE_FOLDER,
    PREPARER,
    REPAIR,
    fashion_paths,
    package_file,
)
from zoo.tasks.vision.mnist_files import MNIST_SIDE, read_labelled

from zoo.atomic import atomic_write_bytes

PAD = (SIDE - MNIST_SIDE) // 2
FASHION_NORMALISATION = (55.8, 84.6)  # mean, std of the 60k padded training images, in gray levels 0-255


def read_fashion(images_path: Path, labels_path: Path) -> PixelImages:
    """Fashion-MNIST images and labels -> images zero-padded to 32 x 32, as rows `[n, 1024]`, and their labels."""
    images = read_labelled(images_path, labels_path, len(FASHION_CLASSES), REPAIR)
    count = len(images.labels)
    padded = torch.zeros(count, SIDE, SIDE, dtype=torch.uint8)
    padded[:, PAD:PAD + MNIST_SIDE, PAD:PAD + MNIST_SIDE] = images.pixels
    return PixelImages(padded.view(count, SIDE * SIDE), images.labels)


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

    def read(self) -> tuple[PixelImages, PixelImages]:
        folder = self.data_dir if self.config.data_dir else None
        train, test = (read_fashion(*fashion_paths(folder, split)) for split in ("train", "test"))
        return train, test


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
    return package_path(PACKAGE, PACKAGE_FOLDER)


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
