"""`TaskModule`: any seqzoo model trained on any task, with the task's loss and metrics and AdamW."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import nn

from zoo.hub import build
from zoo.models import config_from_dict
from zoo.nonfinite import NonFiniteLossError, first_non_finite
from zoo.tasks import Objective, TaskIO

SPLITS = ("train", "val", "test")


def _no_decay(name: str, parameter: torch.nn.Parameter) -> bool:
    """Norm scales, biases, embeddings and parameters marked `_no_weight_decay` (e.g. Mamba's A_log, D)."""
    return parameter.ndim < 2 or getattr(parameter, "_no_weight_decay", False) or "embedding" in name


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Learning-rate multiplier: linear from 0 to 1 over `warmup_steps`, then cosine down to `min_ratio`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class TaskModule(L.LightningModule):
    """Trains a model on batches `{"inputs", "targets"[, "lengths"]}` (`zoo.tasks.base`): the task's loss, its
    metrics per split (`train/`, `val/`, `test/`), AdamW with warmup and cosine decay.

    `model`, `optim` and `task_io` are plain dicts (a resolved `ModelConfig`, an `OptimConfig`, a `TaskIO`) so that
    Lightning checkpoints rebuild the module with `TaskModule.load_from_checkpoint(path)`.
    """

    def __init__(self, model: dict[str, Any], optim: dict[str, Any], task_io: dict[str, Any],
                 activation_checkpointing: bool = False):
        super().__init__()
        self.save_hyperparameters()
        self.model = build(config_from_dict(model))
        self.model.set_activation_checkpointing(activation_checkpointing)
        self.objective = Objective(TaskIO(**task_io))
        # keyed "<split>_metrics": ModuleDict keys must not shadow nn.Module attributes such as `train`
        self.split_metrics = nn.ModuleDict({f"{split}_metrics": self.objective.metrics(split) for split in SPLITS})
        # per group of examples (TaskIO.groups), validation and test only: `group_metrics["test"][index]`
        self.group_metrics = nn.ModuleDict({split: nn.ModuleList(self.objective.group_metrics(split).values())
                                            for split in SPLITS[1:]})

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """A batch -> the model's outputs for it."""
        if "cu_seqlens" in batch:  # a packed batch (task.pack): one row, no padding
            return self.model(batch["inputs"], cu_seqlens=batch["cu_seqlens"])
        return self.model(batch["inputs"], batch.get("lengths"))

    def _shared_step(self, batch: dict[str, torch.Tensor], split: str) -> torch.Tensor:
        outputs = self(batch)
        targets = batch["targets"]
        loss = self.objective.loss(outputs, targets)
        metrics = self.split_metrics[f"{split}_metrics"]
        self.objective.update(metrics, outputs, targets)
        on_step = split == "train"
        if on_step and not torch.isfinite(loss):
            raise NonFiniteLossError(self.global_step, float(loss), first_non_finite(self.model, batch["inputs"],
                                                                                      batch.get("lengths"),
                                                                                      batch.get("cu_seqlens")))
        size = len(batch["lengths"]) if "cu_seqlens" in batch else targets.shape[0]  # sequences in the batch
        # validation and test losses are averaged over the processes of a distributed run (train: each its own)
        self.log(f"{split}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=size,
                 sync_dist=not on_step)
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=True, batch_size=size)
        if "group" in batch and split in self.group_metrics:
            self._update_groups(self.group_metrics[split], outputs, targets, batch["group"])
        return loss

    def _update_groups(self, groups: nn.ModuleList, outputs: torch.Tensor, targets: torch.Tensor,
                       group: torch.Tensor) -> None:
        """Accumulate each group's examples (`group`: `[B]` indices into `TaskIO.groups`) into its own metric."""
        for index in group.unique().tolist():
            rows = group == index
            self.objective.update(groups[index], outputs[rows], targets[rows])
            self.log_dict(groups[index], on_step=False, on_epoch=True, batch_size=int(rows.sum()))

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
