"""`SequenceModule`: a seqzoo model + the task's loss and torchmetrics metrics, trained with AdamW."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from zoo.models import build_model, config_from_dict


def _no_decay(name: str, parameter: torch.nn.Parameter) -> bool:
    """Norm scales, biases, embeddings and parameters marked `_no_weight_decay` (e.g. Mamba's A_log, D)."""
    return parameter.ndim < 2 or getattr(parameter, "_no_weight_decay", False) or "embedding" in name


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Learning-rate multiplier: linear from 0 to 1 over `warmup_steps`, then cosine down to `min_ratio`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class SequenceModule(L.LightningModule):
    """Trains a per-token classifier / language model on batches `{"input_ids": [B, T], "labels": [B, T]}`.

    `model` and `optim` are plain dicts (a `ModelConfig` and an `OptimConfig` as containers) so that
    Lightning checkpoints rebuild the module with `SequenceModule.load_from_checkpoint(path)`.
    """

    def __init__(self, model: dict[str, Any], optim: dict[str, Any], ignore_index: int = -100):
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(config_from_dict(model))
        self.ignore_index = ignore_index
        num_classes = self.model.config.vocab_size
        for split in ("train", "val", "test"):
            setattr(
                self,
                f"{split}_acc",
                MulticlassAccuracy(num_classes, average="micro", ignore_index=ignore_index),
            )

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """input_ids `[B, T]` -> logits `[B, T, V]`."""
        return self.model(input_ids)

    def _shared_step(self, batch: dict[str, torch.Tensor], split: str) -> torch.Tensor:
        logits = self(batch["input_ids"])
        labels = batch["labels"]
        loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=self.ignore_index)
        accuracy = getattr(self, f"{split}_acc")
        accuracy(logits.flatten(0, 1), labels.flatten())
        on_step = split == "train"
        self.log(f"{split}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=labels.shape[0])
        self.log(f"{split}/acc", accuracy, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=labels.shape[0])
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def configure_optimizers(self):
        optim = self.hparams.optim
        decay, no_decay = [], []
        for name, parameter in self.model.named_parameters():
            if parameter.requires_grad:
                (no_decay if _no_decay(name, parameter) else decay).append(parameter)
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": optim["weight_decay"]},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=optim["lr"],
            betas=tuple(optim["betas"]),
            eps=optim["eps"],
        )
        total = int(self.trainer.estimated_stepping_batches)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: warmup_cosine(step, optim["warmup_steps"], total, optim["min_lr_ratio"]),
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

