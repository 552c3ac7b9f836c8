"""Fashion-MNIST (Zalando, MIT): 60,000 training and 10,000 test images of 28 x 28 gray levels, 10 classes of
clothing, in MNIST's file layout (`mnist_files.py`). It installs offline from the Debian package
dataset-fashion-mnist as `/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`;
`zoo data prepare lra/image-standin` (registered by `zoo.tasks.lra.image_standin`, the LRA Image stand-in that reads
it too) unpacks the package under the data dir where the system lacks it.

Statistics of the 60k training images on the scale of `x / 255` (REFERENCES §2): mean 0.2860, std 0.3530.
"""

from __future__ import annotations

from pathlib import Path

from zoo.tasks.debian import debian_file
from zoo.tasks.vision.mnist_files import STEMS, split_paths

PACKAGE = "dataset-fashion-mnist"
PACKAGE_FOLDER = "/usr/share/datasets/fashion-mnist"
PREPARER = "lra/image-standin"
FILES = {split: tuple(f"{stem}.gz" for stem in stems) for split, stems in STEMS.items()}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
FASHION_MEAN_STD = ((0.2860,), (0.3530,))  # per channel, of x / 255 over the 60k training images
REPAIR = f"run `zoo data prepare {PREPARER}` again, or point data_dir at intact copies of the four files"


def package_file(name: str, fetch: bool) -> Path:
    """The file `name` of dataset-fashion-mnist (the system's, or the copy unpacked under the data dir); with
    `fetch`, unpack the package when neither has it."""
    return debian_file(PACKAGE, f"{PACKAGE_FOLDER}/{name}", fetch=fetch, prepare=PREPARER)


def fashion_paths(data_dir: Path | None, split: str) -> tuple[Path, Path]:
    """The images and labels files of `split` ("train" or "test"): in `data_dir` (`.gz` or unpacked), or the
    package's when `data_dir` is None; DataError naming the missing file and how to get it."""
    if data_dir is None:
        images, labels = FILES[split]
        return package_file(images, fetch=False), package_file(labels, fetch=False)
    return split_paths(data_dir, split, "Fashion-MNIST", "put the four IDX files there, or leave data_dir empty to "
                       f"read the Debian package {PACKAGE} (`zoo data prepare {PREPARER}`)")
