"""A training run from a composed experiment config: Lightning fit + test, run directory, hub export; and the
resumption of an interrupted run from its last checkpoint."""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    Callback,
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
)
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf

from zoo.anatomy import fit_to_task
from zoo.atomic import atomic_write_text
from zoo.config import ExperimentConfig, to_objects
from zoo.curves import keep_log_before_resume, plot_training_curves
from zoo.errors import CheckpointError, ConfigError
from zoo.hub import save_pretrained
from zoo.identity import Identity, identify
from zoo.module import TaskModule
from zoo.provenance import Evaluation, Provenance
from zoo.rng_state import RngState
from zoo.tasks import Objective, TaskDataModule, get_task, metric_mode

CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
# Lightning's warnings about a run folder in use, which a resumed run uses on purpose (its log is kept aside first)
RESUME_WARNINGS = (".*Experiment logs directory .* exists and is not empty.*",
                   ".*Checkpoint directory .* exists and is not empty.*")


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


class LatestCheckpoint(Callback):
    """`checkpoints/last.ckpt`, rewritten after every `every_n_steps` optimiser steps and after every validation
    (written beside and renamed over the old one, so a crash never leaves it half-written): what a killed run
    resumes from, losing at most the steps since."""

    def __init__(self, path: Path, every_n_steps: int):
        self.path, self.every_n_steps, self._saved_step = path, every_n_steps, -1

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.global_step == self._saved_step:
            return
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(temporary)
        if trainer.is_global_zero:
            os.replace(temporary, self.path)
        self._saved_step = trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        if self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0:
            self._save(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._save(trainer)


def _callbacks(config: ExperimentConfig, run_dir: Path,
               monitor: tuple[str, str]) -> tuple[list[Callback], ModelCheckpoint]:
    """The run's callbacks, and the one that keeps the best checkpoint (`checkpoints/best.ckpt`)."""
    trainer_cfg = config.trainer
    metric, mode = monitor
    best = ModelCheckpoint(dirpath=run_dir / CHECKPOINTS, filename="best", monitor=metric, mode=mode,
                           enable_version_counter=False)
    callbacks = [best, LatestCheckpoint(run_dir / CHECKPOINTS / LAST_CHECKPOINT, trainer_cfg.checkpoint_every_n_steps),
                 RngState(), LearningRateMonitor(logging_interval="step")]
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
    return callbacks, best


def _trainer(config: ExperimentConfig, run_dir: Path, callbacks: list[Callback]) -> L.Trainer:
    trainer_cfg = config.trainer
    return L.Trainer(
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


def resume_checkpoint(run_dir: Path) -> Path:
    """The checkpoint an interrupted run resumes from; the error says what to do when there is none."""
    path = run_dir / CHECKPOINTS / LAST_CHECKPOINT
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(f"{run_dir} is not a run directory of `zoo train` (it has no config.yaml)")
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {CHECKPOINTS}/{LAST_CHECKPOINT}: the run stopped before its first "
                              "checkpoint, so there is nothing to resume; start it again from its config")
    return path


def build_datamodule(experiment: ExperimentConfig) -> TaskDataModule:
    """The data module of the experiment's task."""
    _, datamodule_cls = get_task(experiment.task.name)
    return datamodule_cls(experiment.task)


def _provenance(experiment: ExperimentConfig, config: DictConfig, datamodule: TaskDataModule, identity: Identity,
                metrics: dict[str, float], command: str | None, seconds: float, curves: Path | None) -> Provenance:
    """What the export records about the run: identity, task, the exact command and config, the evaluation."""
    task = _container(experiment.task)
    return Provenance(
        name=f"{identity.name}-{experiment.task.name}",
        preset=identity.preset,
        changes=identity.changes,
        task=task,
        datasets=list(getattr(datamodule, "hub_datasets", ())),
        task_io=datamodule.io.to_dict(),
        task_description=datamodule.description,
        training={
            "experiment": experiment.name,
            "seed": experiment.seed,
            "command": command,
            "config": OmegaConf.to_yaml(config).strip(),
            "imports": list(experiment.imports),  # user code that registers parts of this model (`--imports`)
            "optim": _container(experiment.optim),
            "trainer": _container(experiment.trainer),
            "train_seconds": round(seconds, 1),
            "cpu_threads": torch.get_num_threads(),  # `zoo eval` on CPU matches the card bit for bit at this count
        },
        evaluations=[Evaluation(task=task, description=datamodule.description, metrics=metrics, command=None)],
        curves=curves,
    )


def train(config: DictConfig, *, command: str | None = None, resume: Path | None = None) -> RunResult:
    """Fit, test the best checkpoint and export it. `config` comes from `zoo.config.load_config`; `command` is the
    command line that started the run (recorded in the model card); `resume`: the run directory of an interrupted
    run to continue from its `checkpoints/last.ckpt` (the same directory is used)."""
    experiment = to_objects(config)
    started = time.perf_counter()
    ckpt_path = resume_checkpoint(resume) if resume is not None else None
    L.seed_everything(experiment.seed, workers=True)
    # the data is read and the model built before the run folder exists: a bad file or setting leaves nothing behind
    datamodule = build_datamodule(experiment)
    task_io = datamodule.io
    model_cfg = fit_to_task(experiment.model, task_io, experiment.task.name).resolved()
    identity = identify(model_cfg)
    model_cfg = dataclasses.replace(model_cfg, family=identity.family, name="custom" if identity.changes
                                    else model_cfg.name)
    module = TaskModule(model_cfg.to_dict(), _container(experiment.optim), task_io.to_dict())
    monitor = _monitor(experiment, module.objective)

    run_dir = resume if resume is not None else _new_run_dir(experiment.output_dir, experiment.name)
    if resume is None:
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(config))
    else:
        keep_log_before_resume(run_dir / "logs")
    callbacks, best_checkpoint = _callbacks(experiment, run_dir, monitor)
    trainer = _trainer(experiment, run_dir, callbacks)
    with warnings.catch_warnings():
        if resume is not None:  # a resumed run writes into its own folders again, on purpose
            for message in RESUME_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    best = best_checkpoint.best_model_path or None
    if best:
        module.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    for result in trainer.test(module, datamodule=datamodule, verbose=False):
        metrics.update({k: float(v) for k, v in result.items()})
    seconds = time.perf_counter() - started

    curves = plot_training_curves(run_dir / "logs", run_dir / "curves.png")
    provenance = _provenance(experiment, config, datamodule, identity, metrics, command, seconds, curves)
    export_dir = save_pretrained(module.model.cpu(), run_dir / "export", provenance)
    return RunResult(run_dir, export_dir, metrics, seconds)
