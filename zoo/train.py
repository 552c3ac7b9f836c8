"""A training run from a composed experiment config: Lightning fit + test, run directory, hub export."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
)
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf

from zoo.anatomy import fit_to_task
from zoo.atomic import atomic_write_text
from zoo.config import ExperimentConfig, to_objects
from zoo.curves import plot_training_curves
from zoo.errors import ConfigError
from zoo.hub import save_pretrained
from zoo.module import TaskModule
from zoo.tasks import Objective, TaskDataModule, get_task, metric_mode


@dataclass
class RunResult:
    """Where a run wrote its files and what it measured."""

    run_dir: Path
    export_dir: Path
    metrics: dict[str, float]
    seconds: float


def _container(obj: Any) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(obj))


def _new_run_dir(output_dir: str, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(output_dir).expanduser() / name / stamp
    suffix = 1
    while run_dir.exists():
        run_dir = run_dir.with_name(f"{stamp}-{suffix}")
        suffix += 1
    run_dir.mkdir(parents=True)
    return run_dir


def _monitor(config: ExperimentConfig, objective: Objective) -> tuple[str, str]:
    """The metric that picks the best checkpoint and its direction: the trainer config's, else the task's."""
    metric, mode = objective.monitor
    if config.trainer.monitor is not None:
        metric, mode = config.trainer.monitor, metric_mode(config.trainer.monitor)
    mode = config.trainer.monitor_mode or mode
    if mode is None:
        raise ConfigError(f"config key 'trainer.monitor_mode': say whether '{metric}' is better high or low (max or min)")
    return metric, mode


def _trainer(config: ExperimentConfig, run_dir: Path, monitor: tuple[str, str]) -> tuple[L.Trainer, ModelCheckpoint]:
    trainer_cfg = config.trainer
    metric, mode = monitor
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor=metric,
        mode=mode,
        save_last=True,
    )
    callbacks = [checkpoint, LearningRateMonitor(logging_interval="step")]
    if trainer_cfg.stop_at is not None or trainer_cfg.patience is not None:
        callbacks.append(
            EarlyStopping(
                monitor=metric,
                mode=mode,
                stopping_threshold=trainer_cfg.stop_at,
                patience=10**9 if trainer_cfg.patience is None else trainer_cfg.patience,
                check_on_train_epoch_end=False,  # after each validation (none runs in an epoch cut short by max_steps)
            )
        )
    trainer = L.Trainer(
        default_root_dir=run_dir,
        max_epochs=trainer_cfg.max_epochs,
        max_steps=trainer_cfg.max_steps,
        max_time=trainer_cfg.max_time,
        precision=trainer_cfg.precision,
        gradient_clip_val=trainer_cfg.gradient_clip_val,
        accumulate_grad_batches=trainer_cfg.accumulate_grad_batches,
        accelerator=trainer_cfg.accelerator,
        devices=trainer_cfg.devices,
        strategy=trainer_cfg.strategy,
        log_every_n_steps=trainer_cfg.log_every_n_steps,
        val_check_interval=trainer_cfg.val_check_interval,
        deterministic=trainer_cfg.deterministic,
        logger=CSVLogger(run_dir, name="", version="logs"),
        callbacks=callbacks,
    )
    return trainer, checkpoint


def build_datamodule(experiment: ExperimentConfig) -> TaskDataModule:
    """The data module of the experiment's task."""
    _, datamodule_cls = get_task(experiment.task.name)
    return datamodule_cls(experiment.task)


def train(config: DictConfig) -> RunResult:
    """Fit, test the best checkpoint and export it. `config` comes from `zoo.config.load_config`."""
    experiment = to_objects(config)
    started = time.perf_counter()
    L.seed_everything(experiment.seed, workers=True)
    # the data is read and the model built before the run folder exists: a bad file or setting leaves nothing behind
    datamodule = build_datamodule(experiment)
    task_io = datamodule.io
    model_cfg = fit_to_task(experiment.model, task_io, experiment.task.name).resolved()
    module = TaskModule(model_cfg.to_dict(), _container(experiment.optim), task_io.to_dict())
    monitor = _monitor(experiment, module.objective)

    run_dir = _new_run_dir(experiment.output_dir, experiment.name)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(config))
    trainer, checkpoint = _trainer(experiment, run_dir, monitor)
    trainer.fit(module, datamodule=datamodule)
    best = checkpoint.best_model_path or None
    if best:
        module.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    for result in trainer.test(module, datamodule=datamodule, verbose=False):
        metrics.update({k: float(v) for k, v in result.items()})
    seconds = time.perf_counter() - started

    plot_training_curves(run_dir / "logs" / "metrics.csv", run_dir / "curves.png")
    export_dir = save_pretrained(
        module.model.cpu(),
        run_dir / "export",
        name=f"{model_cfg.name}-{experiment.task.name}",
        task=_container(experiment.task),
        task_io=task_io.to_dict(),
        task_description=datamodule.description,
        training={
            "experiment": experiment.name,
            "seed": experiment.seed,
            "imports": list(experiment.imports),  # user code that registers parts of this model (`--imports`)
            "optim": _container(experiment.optim),
            "trainer": _container(experiment.trainer),
            "train_seconds": round(seconds, 1),
        },
        results=metrics,
    )
    return RunResult(run_dir, export_dir, metrics, seconds)
