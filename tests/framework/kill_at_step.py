"""`python kill_at_step.py STEP zoo-train-arguments...`: `zoo train` that kills its own process with SIGKILL as
training step STEP begins: a crash that no Python code sees coming (no exception, no cleanup, no flush)."""

import os
import signal
import sys

from lightning.pytorch.callbacks import Callback

import zoo.train
from zoo.cli import main


class KillAt(Callback):
    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, *args):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def _with_kill(original, step):
    def callbacks(*args, **kwargs):
        found, best = original(*args, **kwargs)
        return [*found, KillAt(step)], best
    return callbacks


if __name__ == "__main__":
    zoo.train._callbacks = _with_kill(zoo.train._callbacks, int(sys.argv[1]))
    sys.exit(main(["train", *sys.argv[2:]]))
