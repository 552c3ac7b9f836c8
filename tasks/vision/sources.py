"""The image sets of the vision tasks, each read whole into memory as uint8 pictures `[N, C, H, W]`: MNIST (from the
task's data_dir), Fashion-MNIST (the Debian package, or data_dir) and CIFAR-10 (python batches in data_dir), with
their classes and per-channel statistics; and how the vision tasks split them.

A source is a mixin of a `TaskDataModule`: it reads through the module's `data_dir` and `config`.

Split: the training files' images by LRA Image's rule (`zoo.tasks.lra.image.train_val_split`: a permutation seeded
with `split_seed`, its first 90% train, the rest validate: 54k / 6k for MNIST and Fashion-MNIST, 45k / 5k for
CIFAR-10), the test file's in file order. `max_train` > 0 keeps only the first `max_train` images of the training
split (the CPU settings; validation and test stay whole).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from zoo.tasks.base import TaskConfig
from zoo.tasks.lra.image import (
    CIFAR_CLASSES,
    SIDE,
    PixelImages,
    read_cifar,
    read_cifar_colour,
    split_images,
)
from zoo.tasks.vision.fashion_mnist import FASHION_CLASSES, FASHION_MEAN_STD, fashion_paths
from zoo.tasks.vision.fashion_mnist import REPAIR as FASHION_REPAIR
from zoo.tasks.vision.idx import REPAIR
from zoo.tasks.vision.mnist_files import MNIST_SIDE, read_labelled, split_paths

MNIST_CLASSES = tuple(str(digit) for digit in range(10))
MNIST_MEAN_STD = ((0.1307,), (0.3081,))  # of x / 255 over MNIST's 60k training images (torchvision's example)
CIFAR_MEAN_STD = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # R, G, B of x / 255 over the 50k
MNIST_HELP = ("full MNIST is not available offline: where there is internet, download its four files "
              "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
              "t10k-labels-idx1-ubyte.gz) and point the task's data_dir at the folder holding them")


class ImageSource:
    """A labelled image set: `read_images` returns the training images (validation included) and the test images,
    pixels uint8 `[N, channels, side, side]`; `mean_std` holds the per-channel mean and std of `x / 255`."""

    title: ClassVar[str]
    class_names: ClassVar[tuple[str, ...]]
    mean_std: ClassVar[tuple[tuple[float, ...], tuple[float, ...]]]
    side: ClassVar[int]
    data_dir: Path
    config: TaskConfig

    @property
    def image_channels(self) -> int:
        """Channels per pixel: 1 (gray) or 3 (R, G, B)."""
        return len(self.mean_std[0])

    def read_images(self) -> tuple[PixelImages, PixelImages]:
        raise NotImplementedError(f"{type(self).__name__} must define `read_images`")


def _pictures(images: PixelImages) -> PixelImages:
    """Gray images `[N, H, W]` as pictures of one channel `[N, 1, H, W]`."""
    return PixelImages(images.pixels.unsqueeze(1), images.labels)


class MNISTSource(ImageSource):
    """MNIST's four IDX files (`.gz` or unpacked) in the task's data_dir (default `<data dir>/vision/mnist`)."""

    title = "MNIST"
    hub_datasets = ("ylecun/mnist",)  # the same images on the Hugging Face hub (model cards' `datasets`)
    class_names = MNIST_CLASSES
    mean_std = MNIST_MEAN_STD
    side = MNIST_SIDE
    default_subdir = "vision/mnist"

    def read_images(self) -> tuple[PixelImages, PixelImages]:
        train, test = (_pictures(read_labelled(*split_paths(self.data_dir, split, "MNIST", MNIST_HELP),
                                               len(MNIST_CLASSES), REPAIR)) for split in ("train", "test"))
        return train, test


class FashionMNISTSource(ImageSource):
    """Fashion-MNIST from the Debian package (`zoo data prepare lra/image-standin`), or from the task's data_dir when
    it is set."""

    title = "Fashion-MNIST"
    hub_datasets = ("zalando-datasets/fashion_mnist",)  # the same images on the Hugging Face hub (model cards)
    class_names = FASHION_CLASSES
    mean_std = FASHION_MEAN_STD
    side = MNIST_SIDE

    def read_images(self) -> tuple[PixelImages, PixelImages]:
        folder = self.data_dir if self.config.data_dir else None
        train, test = (_pictures(read_labelled(*fashion_paths(folder, split), len(FASHION_CLASSES), FASHION_REPAIR))
                       for split in ("train", "test"))
        return train, test


class CIFAR10Source(ImageSource):
    """CIFAR-10's python batches in colour, in the task's data_dir (default `<data dir>/lra/cifar10`, where LRA
    Image reads them too; see `zoo.tasks.lra.image`)."""

    title = "CIFAR-10"
    hub_datasets = ("uoft-cs/cifar10",)  # the same images on the Hugging Face hub (model cards' `datasets`)
    class_names = CIFAR_CLASSES
    mean_std = CIFAR_MEAN_STD
    side = SIDE
    default_subdir = "lra/cifar10"

    def read_images(self) -> tuple[PixelImages, PixelImages]:
        return read_cifar(self.data_dir, read_cifar_colour)


@dataclass
class VisionConfig(TaskConfig):
    """Fields every vision task has. split_seed: seeds the train/val permutation (42, S4's). max_train: keep only
    the first `max_train` images of the training split (0: all of them; a CPU setting)."""

    split_seed: int = 42
    max_train: int = 0

    def validate(self) -> None:
        super().validate()
        if self.max_train < 0:
            raise ValueError(f"max_train must be >= 0 (0: every training image), got {self.max_train}")


def vision_splits(train: PixelImages, test: PixelImages, config: VisionConfig) -> dict[str, PixelImages]:
    """The "train", "val" and "test" images (see the module docstring)."""
    splits = split_images(train, test, config.split_seed)
    if config.max_train:
        splits["train"] = splits["train"].take(torch.arange(min(config.max_train, len(splits["train"].labels))))
    return splits
