"""The file layout of MNIST, which Fashion-MNIST copies: per data set four IDX files (`idx.py`),

    train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte

each gzip-compressed with `.gz` added to its name (as published) or unpacked without it; images of 28 x 28 gray
levels (0 white background for MNIST's digits and Fashion-MNIST's clothes), labels one byte each.
"""

from __future__ import annotations

from pathlib import Path

from zoo.tasks.base import DataError
from zoo.tasks.lra.image import PixelImages
from zoo.tasks.vision.idx import read_idx

MNIST_SIDE = 28
STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def split_paths(folder: Path, split: str, title: str, missing: str) -> tuple[Path, Path]:
    """The images and labels files of `split` ("train" or "test") in `folder`, each `<stem>.gz` or else `<stem>`;
    DataError naming the file and `missing` (what to do) when neither is there (`title` names the data set)."""
    paths = []
    for stem in STEMS[split]:
        compressed, plain = folder / f"{stem}.gz", folder / stem
        if not compressed.is_file() and not plain.is_file():
            raise DataError(f"{title} file not found: {compressed} (nor {plain.name}); {missing}")
        paths.append(compressed if compressed.is_file() else plain)
    return paths[0], paths[1]


def read_labelled(images_path: Path, labels_path: Path, num_classes: int, repair: str) -> PixelImages:
    """An images file and its labels file -> images uint8 `[n, 28, 28]` and labels LongTensor `[n]`; DataError naming
    the files, with `repair` (what to do), when either is malformed (`read_idx`), their counts differ or a label is
    not a class id below `num_classes`."""
    images = read_idx(images_path, (MNIST_SIDE, MNIST_SIDE), repair)
    labels = read_idx(labels_path, (), repair)
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
                        f"{repair}")
    if int(labels.max()) >= num_classes:
        raise DataError(f"{labels_path}: label {int(labels.max())} is not a class id 0-{num_classes - 1}; {repair}")
    return PixelImages(images, labels.long())
