"""Mixup, CutMix and label smoothing of training batches by timm's `Mixup`: images `[B, C, H, W]` and class ids
`[B]` -> mixed images and soft targets float32 `[B, num_classes]` (each row sums to 1).

timm mixes a batch with its reverse (example i with example B - 1 - i) and needs an even batch: an odd batch has its
first B - 1 examples mixed and its last kept as it is, with its label smoothed alone (`timm.data.mixup.mixup_target`
at lam = 1), so that no example is dropped and every target is soft.
"""

from __future__ import annotations

import torch
from timm.data import Mixup
from timm.data.mixup import mixup_target


class BatchMixer:
    """Mixes batches `{"inputs": [B, C, H, W] float, "targets": [B] long, ...}` in place and returns them with soft
    targets float32 `[B, num_classes]`. mixup_alpha, cutmix_alpha: the Beta distributions' alphas (0: off; both on:
    timm switches between them with probability 1/2 per batch); label_smoothing: timm's (0: off). All three 0:
    `enabled` is False and batches pass unchanged."""

    def __init__(self, num_classes: int, mixup_alpha: float, cutmix_alpha: float, label_smoothing: float) -> None:
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.enabled = bool(mixup_alpha or cutmix_alpha or label_smoothing)
        self.mixup = None
        if mixup_alpha or cutmix_alpha:
            self.mixup = Mixup(mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, label_smoothing=label_smoothing,
                               num_classes=num_classes)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not self.enabled:
            return batch
        inputs, targets = batch["inputs"], batch["targets"]
        soft = mixup_target(targets, self.num_classes, 1.0, self.label_smoothing)
        even = len(targets) - len(targets) % 2
        if self.mixup is not None and even:
            mixed, soft[:even] = self.mixup(inputs[:even], targets[:even])
            inputs[:even] = mixed
        return {**batch, "inputs": inputs, "targets": soft}
