"""2-D image classification for patch encoders (`zoo.models.encoders.patches`: timm's `PatchEmbed`, a scan order,
a learned position embedding): `fashion-mnist-2d` (1 x 28 x 28) and `cifar10-2d` (3 x 32 x 32), 10 classes.

Batches: `inputs` float32 `[B, C, H, W]`, each channel `(x / 255 - mean_c) / std_c` (the set's statistics,
`sources.py`); `targets` LongTensor `[B]`, or, for training batches with mixup, CutMix or label smoothing on,
float32 `[B, 10]` soft targets (`mixing.py`; the objective takes both). Training images are augmented per image by
`augment.py` (random crop from the picture padded by `crop_padding`, horizontal flip; each can be switched off);
validation and test images only normalised. Split and sources: `sources.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset
from zoo.tasks.base import TaskDataModule, TaskIO, register_task
from zoo.tasks.lra.image import PixelImages
from zoo.tasks.vision.augment import image_transform
from zoo.tasks.vision.mixing import BatchMixer
from zoo.tasks.vision.sources import CIFAR10Source, FashionMNISTSource, ImageSource, VisionConfig, vision_splits


class PictureDataset(Dataset):
    """Item `i`: `{"inputs": transform(pixels[i]), "targets": LongTensor []}` for pictures uint8 `[N, C, H, W]`."""

    def __init__(self, images: PixelImages, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"inputs": self.transform(self.images.pixels[index]), "targets": self.images.labels[index]}


@dataclass
class ImageClassificationConfig(VisionConfig):
    """A 2-D image task. crop_padding: training crops from the picture zero-padded by this many pixels (0: no crop);
    flip: random horizontal flips in training; mixup_alpha, cutmix_alpha, label_smoothing: timm's mixing of training
    batches (0: off; see `mixing.py`)."""

    name: str = "fashion-mnist-2d"
    batch_size: int = 128
    crop_padding: int = 4
    flip: bool = True
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    label_smoothing: float = 0.0

    def validate(self) -> None:
        super().validate()
        for key in ("crop_padding", "mixup_alpha", "cutmix_alpha"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0 (0: off), got {getattr(self, key)}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must lie in [0, 1) (0: off), got {self.label_smoothing}")


class ImageClassificationTask(ImageSource, TaskDataModule):
    """Pictures of an `ImageSource` (a mixin before this class) classified whole (see the module docstring)."""

    config: ImageClassificationConfig
    inputs = "image"
    outputs = "classifier"

    def __init__(self, config: ImageClassificationConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, PictureDataset] = {}
        self.mixer = BatchMixer(len(self.class_names), self.config.mixup_alpha, self.config.cutmix_alpha,
                                self.config.label_smoothing)

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="image", outputs="classifier", num_outputs=len(self.class_names),
                      channels=self.image_channels, image_size=self.side, labels=self.class_names)

    @property
    def description(self) -> str:
        config = self.config
        augment = [f"random crop with padding {config.crop_padding}" if config.crop_padding else "",
                   "horizontal flip" if config.flip else "",
                   f"mixup {config.mixup_alpha}" if config.mixup_alpha else "",
                   f"CutMix {config.cutmix_alpha}" if config.cutmix_alpha else "",
                   f"label smoothing {config.label_smoothing}" if config.label_smoothing else "",
                   f"the first {config.max_train} training images" if config.max_train else ""]
        training = ", ".join(part for part in augment if part) or "no augmentation"
        return f"{self.title} as {self.image_channels}x{self.side}x{self.side} images (training: {training})"

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        config = self.config
        plain = image_transform(self.side, self.mean_std)
        augmented = image_transform(self.side, self.mean_std, config.crop_padding, config.flip)
        splits = vision_splits(*self.read_images(), config)
        self.datasets = {split: PictureDataset(images, augmented if split == "train" else plain)
                         for split, images in splits.items()}

    def on_after_batch_transfer(self, batch: dict[str, torch.Tensor], dataloader_idx: int) -> dict[str, torch.Tensor]:
        """Training batches (on their device) mixed by `self.mixer`; other batches unchanged."""
        if self.trainer is not None and self.trainer.training:
            return self.mixer(batch)
        return batch


@dataclass
class CIFAR102DConfig(ImageClassificationConfig):
    name: str = "cifar10-2d"


@register_task("fashion-mnist-2d", ImageClassificationConfig)
class FashionMNIST2DDataModule(FashionMNISTSource, ImageClassificationTask):
    """Fashion-MNIST pictures: `inputs` float32 `[B, 1, 28, 28]`."""


@register_task("cifar10-2d", CIFAR102DConfig)
class CIFAR102DDataModule(CIFAR10Source, ImageClassificationTask):
    """CIFAR-10 pictures in colour: `inputs` float32 `[B, 3, 32, 32]`."""
