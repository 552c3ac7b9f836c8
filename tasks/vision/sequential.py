"""Sequential image classification: an image read one pixel at a time, row by row, no padding (sequential MNIST,
permuted MNIST, sequential CIFAR: S4's sMNIST / psMNIST / sCIFAR), 10 classes.

Tasks, one encoding each (the sources and the split: `sources.py`):
- `smnist` / `smnist-tokens`: MNIST, 28 x 28 = 784 steps;
- `sfashion-mnist` / `sfashion-mnist-tokens`: Fashion-MNIST, 784 steps, the classes named;
- `scifar10`: CIFAR-10 in colour, 32 x 32 = 1,024 steps of 3 channels (R, G, B).

Encodings: values, float32 `inputs` `[B, T, C]`, each channel `(x / 255 - mean_c) / std_c` with the set's
statistics (MNIST 0.1307 / 0.3081, Fashion-MNIST 0.2860 / 0.3530, CIFAR-10 (0.4914, 0.4822, 0.4465) /
(0.2470, 0.2435, 0.2616)), for a linear encoder; or (`-tokens`) the gray levels 0-255 as token ids, LongTensor
`[B, T]`, vocabulary 256. `targets`: LongTensor `[B]`.

`permute: true` (psMNIST) reads the pixels in one fixed random order, the same for every image and split: step t
reads pixel `pixel_permutation(T, permutation_seed)[t]` of the row-major sequence (`torch.randperm` from a generator
seeded with `permutation_seed`, default 92916).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from zoo.tasks.base import register_task
from zoo.tasks.lra.image import PixelImages, PixelSequenceTask, level_values
from zoo.tasks.vision.sources import (
    CIFAR10Source,
    FashionMNISTSource,
    ImageSource,
    MNISTSource,
    VisionConfig,
    vision_splits,
)

PERMUTATION_SEED = 92916


def pixel_permutation(steps: int, seed: int) -> torch.Tensor:
    """The fixed reading order of permuted tasks: LongTensor `[steps]`, a permutation of `0 .. steps - 1`."""
    return torch.randperm(steps, generator=torch.Generator().manual_seed(seed))


def as_sequences(images: PixelImages) -> PixelImages:
    """Pictures `[N, C, H, W]` -> pixel sequences in row-major order: gray levels `[N, H * W]` (C = 1) or colours
    `[N, H * W, C]`."""
    pixels = images.pixels.flatten(2).transpose(1, 2)
    return PixelImages(pixels[..., 0] if pixels.shape[-1] == 1 else pixels.contiguous(), images.labels)


@dataclass
class SequentialImageConfig(VisionConfig):
    """A sequential image task. batch_size: S4's 50. permute: read the pixels in the fixed order
    `pixel_permutation(T, permutation_seed)` (psMNIST)."""

    name: str = "smnist"
    batch_size: int = 50
    permute: bool = False
    permutation_seed: int = PERMUTATION_SEED


class SequentialImageTask(ImageSource, PixelSequenceTask):
    """Images of an `ImageSource` read pixel by pixel (see the module docstring); subclasses name the source (a mixin
    before this class) and `inputs`: `channels` (values) or `tokens` (gray levels)."""

    config: SequentialImageConfig

    @property
    def steps(self) -> int:
        return self.side * self.side

    @property
    def pixel_channels(self) -> int:
        return self.image_channels

    def value_table(self) -> torch.Tensor:
        return level_values(*self.mean_std)

    @property
    def value_formula(self) -> str:
        means, stds = self.mean_std
        if len(means) == 1:
            return f"(x / 255 - {means[0]}) / {stds[0]}"
        return f"(x / 255 - mean) / std per channel, mean {means}, std {stds}"

    @property
    def description(self) -> str:
        order = (f"permuted (one fixed pixel order, seed {self.config.permutation_seed})" if self.config.permute
                 else "row by row")
        subset = f"; training on the first {self.config.max_train} training images" if self.config.max_train else ""
        return f"sequential {self.title}, {order}: {self.encoding}{subset}"

    def read(self) -> tuple[PixelImages, PixelImages]:
        train, test = (as_sequences(images) for images in self.read_images())
        if not self.config.permute:
            return train, test
        order = pixel_permutation(self.steps, self.config.permutation_seed)
        return PixelImages(train.pixels[:, order], train.labels), PixelImages(test.pixels[:, order], test.labels)

    def split(self, train: PixelImages, test: PixelImages) -> dict[str, PixelImages]:
        return vision_splits(train, test, self.config)


@dataclass
class SMNISTTokensConfig(SequentialImageConfig):
    name: str = "smnist-tokens"


@dataclass
class SFashionMNISTConfig(SequentialImageConfig):
    name: str = "sfashion-mnist"


@dataclass
class SFashionMNISTTokensConfig(SequentialImageConfig):
    name: str = "sfashion-mnist-tokens"


@dataclass
class SCIFAR10Config(SequentialImageConfig):
    name: str = "scifar10"


@register_task("smnist", SequentialImageConfig)
class SMNISTDataModule(MNISTSource, SequentialImageTask):
    """Sequential MNIST as values: `inputs` float32 `[B, 784, 1]`."""

    inputs = "channels"


@register_task("smnist-tokens", SMNISTTokensConfig)
class SMNISTTokensDataModule(MNISTSource, SequentialImageTask):
    """Sequential MNIST as tokens: `inputs` LongTensor `[B, 784]`."""

    inputs = "tokens"


@register_task("sfashion-mnist", SFashionMNISTConfig)
class SFashionMNISTDataModule(FashionMNISTSource, SequentialImageTask):
    """Sequential Fashion-MNIST as values: `inputs` float32 `[B, 784, 1]`."""

    inputs = "channels"


@register_task("sfashion-mnist-tokens", SFashionMNISTTokensConfig)
class SFashionMNISTTokensDataModule(FashionMNISTSource, SequentialImageTask):
    """Sequential Fashion-MNIST as tokens: `inputs` LongTensor `[B, 784]`."""

    inputs = "tokens"


@register_task("scifar10", SCIFAR10Config)
class SCIFAR10DataModule(CIFAR10Source, SequentialImageTask):
    """Sequential CIFAR-10 in colour: `inputs` float32 `[B, 1024, 3]`."""

    inputs = "channels"
