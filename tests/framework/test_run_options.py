"""Lightning's conveniences from the config (fast_dev_run, batch limits, TensorBoard), the run folder announced as
the run starts, and a non-finite loss stopping the run with the step and the first non-finite place named."""

import csv
import dataclasses
import math

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from zoo.anatomy import fit_to_task
from zoo.cli import main
from zoo.config import load_config, to_objects
from zoo.module import TaskModule
from zoo.nonfinite import NonFiniteLossError, first_non_finite
from zoo.train import build_datamodule, train

SMALL = ["task.num_train=64", "task.num_val=32", "task.num_test=32", "task.batch_size=16", "trainer.max_epochs=1"]


@pytest.fixture
def experiment(request):
    return request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"


def test_fast_dev_run_trains_and_tests_a_few_batches_and_saves_nothing(experiment, tmp_path, data_dir):
    result = train(load_config(experiment, [*SMALL, "trainer.fast_dev_run=2", f"output_dir={tmp_path / 'runs'}"]))
    assert result.run_dir is None and result.export_dir is None
    assert {"train/loss", "val/loss", "test/loss"} <= set(result.metrics)
    assert all(math.isfinite(value) for value in result.metrics.values())
    assert not (tmp_path / "runs").exists()


def test_batch_limits_and_tensorboard(experiment, tmp_path, data_dir, capsys):
    """limit_train_batches=2 of 4: two optimiser steps an epoch; TensorBoard event files beside the CSV log; the run
    folder printed before training starts."""
    args = ["train", str(experiment), *SMALL, "trainer.max_epochs=2", "trainer.limit_train_batches=2",
            "trainer.limit_val_batches=1", "trainer.logger=tensorboard", "trainer.log_every_n_steps=1",
            f"output_dir={tmp_path}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    run_dir = next((tmp_path / "mqar-hybrid").iterdir())
    assert out.index(f"run directory: {run_dir}") < out.index("Epoch"), "the run folder is announced at the start"
    rows = list(csv.DictReader(open(run_dir / "logs" / "metrics.csv")))
    assert max(int(row["step"]) for row in rows if row.get("train/loss_step")) == 3  # steps 0..3: 2 epochs x 2
    assert list((run_dir / "logs").glob("events.out.tfevents.*")), "no TensorBoard events written"


class Poison(Callback):
    """Writes NaN into one parameter after the first optimiser step, as a diverging run would."""

    def __init__(self, name: str):
        self.name = name

    def on_train_batch_end(self, trainer, pl_module, *args):
        if trainer.global_step == 1:
            with torch.no_grad():
                pl_module.get_parameter(f"model.{self.name}").view(-1)[0] = float("nan")


def _fit_with(experiment, callbacks):
    """A TaskModule of the experiment, fitted by a plain Trainer with `callbacks`."""
    config = to_objects(load_config(experiment, SMALL))
    datamodule = build_datamodule(config)
    model = fit_to_task(config.model, datamodule.io, config.task.name).resolved()
    module = TaskModule(model.to_dict(), dataclasses.asdict(config.optim), datamodule.io.to_dict())
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, callbacks=callbacks,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=datamodule)


def test_a_nan_parameter_stops_the_run_naming_step_and_parameter(experiment, data_dir):
    name = "backbone.layers.1.mixer.out_proj.weight"
    with pytest.raises(NonFiniteLossError) as error:
        _fit_with(experiment, [Poison(name)])
    assert error.value.step == 1 and f"parameter '{name}' holds NaN/inf" in str(error.value)
    assert "at step 1" in str(error.value) and "lower optim.lr" in str(error.value)


def test_the_first_non_finite_activation_is_named():
    """Finite parameters, finite inputs, an overflow inside: the first module (in forward order) whose output is not
    finite is named, not the ones after it that inherit the inf."""
    import zoo

    model = zoo.create_model("hybrid-tiny")
    with torch.no_grad():
        model.backbone.layers[1].mixer.in_proj.weight.fill_(3e38)  # finite, but its products overflow
    message = first_non_finite(model, torch.randint(0, 256, (2, 8)))
    assert message.startswith("the first non-finite activation is the output of 'backbone.layers.1.mixer.in_proj'")
    assert first_non_finite(zoo.create_model("hybrid-tiny"), torch.randint(0, 256, (2, 8))).startswith(
        "parameters and activations are finite")


def test_a_diverging_run_exits_with_one_line(experiment, tmp_path, data_dir, capsys):
    """optim.lr=1e20 without clipping: the first update overflows the next forward pass."""
    args = ["train", str(experiment), *SMALL, "optim.lr=1e20", "optim.warmup_steps=0", "trainer.gradient_clip_val=0",
            f"output_dir={tmp_path}"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the training loss is") and "at step 1:" in err[0], err
