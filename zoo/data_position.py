"""A Lightning callback that keeps the training data's position within its epoch in every checkpoint, so that a run
resumed from a checkpoint written mid-epoch (a step checkpoint, then a crash or SIGKILL) trains on the rest of that
epoch's order, not on its start again: killed and resumed, a deterministic run ends with the weights of one that was
never interrupted."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback


class DataPosition(Callback):
    """Counts the training batches of the current epoch; saved with each checkpoint, and handed back on resume to the
    training loader's sampler, which then skips what was already trained.

    It must come before the callbacks that save checkpoints at a batch's end, so that the count includes that batch."""

    def __init__(self) -> None:
        self.epoch, self.batches = 0, 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch, self.batches = trainer.current_epoch, 0  # not called when a run restarts mid-epoch

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.batches += 1

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches": self.batches}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.epoch, self.batches = state_dict["epoch"], state_dict["batches"]

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """After a checkpoint was restored and the training loader made, before its first batch is drawn: the
        sampler (`zoo.tasks.base.EpochShuffle`) leaves out what this process already trained of the epoch."""
        loader = trainer.train_dataloader
        sampler = getattr(loader, "sampler", None)
        if self.batches and hasattr(sampler, "skip_in_epoch"):
            sampler.skip_in_epoch(self.epoch, self.batches * loader.batch_size)
