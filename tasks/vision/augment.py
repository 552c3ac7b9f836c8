"""The per-image transforms of the 2-D vision tasks, built from torchvision's (v2) transforms: uint8 pictures
`[C, H, W]` -> float32 `[C, H, W]`, each channel `(x / 255 - mean_c) / std_c`.

Training adds, before normalising, a random crop of the picture zero-padded by `crop_padding` pixels on every side
(`RandomCrop(side, padding)`: a shift of up to `crop_padding` pixels, the uncovered border black) and a horizontal
flip with probability 1/2 (`RandomHorizontalFlip`), the standard CIFAR-10 augmentation; the flip suits
Fashion-MNIST's clothes as well (a mirrored shirt is a shirt), though not digits. Evaluation only normalises.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2


def image_transform(side: int, mean_std: tuple[tuple[float, ...], tuple[float, ...]], crop_padding: int = 0,
                    flip: bool = False) -> v2.Compose:
    """uint8 `[C, side, side]` -> normalised float32 `[C, side, side]`, after a random crop from the picture padded by
    `crop_padding` (0: none) and a random horizontal flip (`flip`)."""
    steps = []
    if crop_padding:
        steps.append(v2.RandomCrop(side, padding=crop_padding))
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    mean, std = mean_std
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])
