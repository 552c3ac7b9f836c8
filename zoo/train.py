"""A training run from a composed experiment config: Lightning fit + test, run directory, hub export; and the
resumption of an interrupted run from its last checkpoint."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterator
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
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from zoo.anatomy import fit_to_task
from zoo.atomic import atomic_write_text
from zoo.config import ExperimentConfig, to_objects
from zoo.curves import keep_log_before_resume, plot_training_curves
from zoo.data_position import DataPosition
from zoo.errors import CheckpointError, ConfigError
from zoo.hub import save_pretrained
from zoo.identity import Identity, identify
from zoo.module import TaskModule
from zoo.provenance import Evaluation, Provenance
from zoo.rng_state import RngState
from zoo.tasks import Objective, TaskDataModule, get_task, metric_mode

CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
# The run directory of a distributed run: set by the first process before Lightning launches the others (which
# inherit it), or by the user for every node of a multi-node launch, so that all processes write to one folder
RUN_DIR_ENV = "SEQZOO_RUN_DIR"
# Lightning's warnings about a run folder in use, which a resumed run uses on purpose (its log is kept aside first)
RESUME_WARNINGS = (".*Experiment logs directory .* exists and is not empty.*",
                   ".*Checkpoint directory .* exists and is not empty.*",
                   # a mid-epoch resume continues the epoch's order (DataPosition), which Lightning cannot see
                   ".*resuming from a checkpoint that ended before the epoch ended.*")


@dataclass
class RunResult:
    """Where a run wrote its files and what it measured. A `fast_dev_run` writes nothing: both folders are None.
    `primary`: whether this process is the one that writes (rank 0 of a distributed run)."""

    run_dir: Path | None
    export_dir: Path | None
    metrics: dict[str, float]
    seconds: float
    primary: bool = True


def _container(obj: Any) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(obj))


def _new_run_dir(output_dir: str, name: str) -> Path:
    """`<output_dir>/<name>/<date-time>` (a suffix where that exists); not created yet. A distributed run's other
    processes take the folder the first one chose (`SEQZOO_RUN_DIR`)."""
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(output_dir).expanduser() / name / stamp
    suffix = 1
    while run_dir.exists():
        run_dir = run_dir.with_name(f"{stamp}-{suffix}")
        suffix += 1
    return run_dir


@contextlib.contextmanager
def _shared_run_dir(run_dir: Path) -> Iterator[None]:
    """`SEQZOO_RUN_DIR` names `run_dir` while the run fits: the processes Lightning launches for ddp inherit it."""
    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous


def _make_run_dir(run_dir: Path) -> None:
    """Create the run directory, or say in one line why it cannot be (a read-only or full output_dir)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".writable"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"cannot write the run directory {run_dir}: {error.strerror or error}; set output_dir to a "
                          "folder you can write (output_dir=/path/to/runs)") from None


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
        trainer.save_checkpoint(temporary, weights_only=False)  # everything a resume needs (said, so not logged)
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
    # DataPosition first: a checkpoint written at a batch's end must count that batch
    callbacks = [DataPosition(), best,
                 LatestCheckpoint(run_dir / CHECKPOINTS / LAST_CHECKPOINT, trainer_cfg.checkpoint_every_n_steps),
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


def _loggers(config: ExperimentConfig, run_dir: Path) -> list[Logger]:
    """The CSV log (`logs/metrics.csv`, which the training curves are drawn from), and TensorBoard event files in
    `logs/` beside it when `trainer.logger` asks for them."""
    loggers: list[Logger] = [CSVLogger(run_dir, name="", version="logs")]
    if config.trainer.logger == "tensorboard":
        loggers.append(TensorBoardLogger(run_dir, name="", version="logs", default_hp_metric=False))
    return loggers


def _trainer_settings(config: ExperimentConfig) -> dict[str, Any]:
    """The `lightning.Trainer` arguments the trainer config sets."""
    cfg = config.trainer
    return dict(max_epochs=cfg.max_epochs, max_steps=cfg.max_steps, max_time=cfg.max_time, precision=cfg.precision,
                gradient_clip_val=cfg.gradient_clip_val, accumulate_grad_batches=cfg.accumulate_grad_batches,
                accelerator=cfg.accelerator, devices=cfg.devices, num_nodes=cfg.num_nodes, strategy=cfg.strategy,
                log_every_n_steps=cfg.log_every_n_steps, val_check_interval=cfg.val_check_interval,
                deterministic=cfg.deterministic, fast_dev_run=cfg.fast_dev_run,
                limit_train_batches=_count_or_share(cfg.limit_train_batches),
                limit_val_batches=_count_or_share(cfg.limit_val_batches))


def _count_or_share(value: float) -> int | float | None:
    """Lightning reads an int as a number of batches and a float as a share of them: 0.5 is half, 5 five batches;
    None (every batch) for 1.0, which Lightning would otherwise announce on every run."""
    return None if value == 1 else int(value) if value > 1 else float(value)


class _NoAdvert(logging.Filter):
    """Drops Lightning's tip to install its cloud logger, printed at the start of every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in str(record.msg)


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoAdvert())


def check_trainer_settings(config: ExperimentConfig) -> None:
    """Build (and drop) a Trainer from the config's settings, so that a wrong strategy, accelerator, device list or
    precision is one ConfigError before any data is read or folder made, with Lightning's own reason."""
    quiet = logging.getLogger("lightning.pytorch")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the real Trainer reports the devices; this one stays silent
    try:
        L.Trainer(**_trainer_settings(config), logger=False, enable_checkpointing=False, enable_progress_bar=False,
                  enable_model_summary=False)
    except (MisconfigurationException, ValueError, RuntimeError, TypeError) as error:
        reason = " ".join(str(error).split())
        cfg = config.trainer
        raise ConfigError(f"the trainer settings are not usable (trainer.strategy={cfg.strategy}, trainer.accelerator="
                          f"{cfg.accelerator}, trainer.devices={cfg.devices}, trainer.precision={cfg.precision}): "
                          f"{reason}") from None
    finally:
        quiet.setLevel(level)


def _trainer(config: ExperimentConfig, run_dir: Path, callbacks: list[Callback]) -> L.Trainer:
    return L.Trainer(**_trainer_settings(config), default_root_dir=run_dir, logger=_loggers(config, run_dir),
                     callbacks=callbacks)


def resume_checkpoint(run_dir: Path) -> Path:
    """The checkpoint an interrupted run resumes from; the error says what to do when there is none."""
    path = run_dir / CHECKPOINTS / LAST_CHECKPOINT
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(f"{run_dir} is not a run directory of `zoo train` (it has no config.yaml)")
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {CHECKPOINTS}/{LAST_CHECKPOINT}: the run stopped before its first "
                              "checkpoint, so there is nothing to resume; start it again from its config")
    try:  # torch checkpoints are zip archives: every member's CRC-32 is checked, a truncated one has no directory
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
        if damaged is not None:
            raise zipfile.BadZipFile(f"the CRC of {damaged} does not match")
    except (zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(f"{path} is damaged ({error}); it cannot be resumed from: start the run again from its "
                              "config, or resume from a copy of the run directory with an intact checkpoint") from None
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


def _with_test_metrics(trainer: L.Trainer, module: TaskModule, datamodule: TaskDataModule,
                       metrics: dict[str, float]) -> dict[str, float]:
    """`metrics` and the test split's metrics of `module`."""
    for result in trainer.test(module, datamodule=datamodule, verbose=False):
        metrics.update({k: float(v) for k, v in result.items()})
    return metrics


def _dev_run(trainer_settings: dict[str, Any], module: TaskModule, datamodule: TaskDataModule) -> dict[str, float]:
    """Lightning's fast_dev_run: a few batches of fit and test in a temporary folder that is removed after."""
    with tempfile.TemporaryDirectory(prefix="seqzoo-dev-run-") as folder:
        trainer = L.Trainer(**trainer_settings, default_root_dir=folder)
        trainer.fit(module, datamodule=datamodule)
        fitted = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("train/", "val/"))}
        return _with_test_metrics(trainer, module, datamodule, fitted)


def train(config: DictConfig, *, command: str | None = None, resume: Path | None = None,
          console: Console | None = None) -> RunResult:
    """Fit, test the best checkpoint and export it. `config` comes from `zoo.config.load_config`; `command` is the
    command line that started the run (recorded in the model card); `resume`: the run directory of an interrupted
    run to continue from its `checkpoints/last.ckpt` (the same directory is used); `console`: where the run
    directory is announced as the run starts (rich's default console when None).

    In a distributed run (trainer.strategy=ddp / fsdp) every process runs this; the first (global rank 0) writes the
    config, the export and the card, and all write into one run directory."""
    experiment = to_objects(config)
    started = time.perf_counter()
    primary = rank_zero_only.rank == 0
    ckpt_path = resume_checkpoint(resume) if resume is not None else None
    check_trainer_settings(experiment)
    L.seed_everything(experiment.seed, workers=True, verbose=False)
    # the data is read and the model built before the run folder exists: a bad file or setting leaves nothing behind
    datamodule = build_datamodule(experiment)
    task_io = datamodule.io
    model_cfg = fit_to_task(experiment.model, task_io, experiment.task.name).resolved()
    identity = identify(model_cfg)
    model_cfg = dataclasses.replace(model_cfg, family=identity.family, name="custom" if identity.changes
                                    else model_cfg.name)
    module = TaskModule(model_cfg.to_dict(), _container(experiment.optim), task_io.to_dict(),
                        activation_checkpointing=experiment.trainer.activation_checkpointing)
    monitor = _monitor(experiment, module.objective)
    datamodule.setup("fit")  # data generated or read now: data that cannot be made leaves no run folder
    if experiment.trainer.fast_dev_run:
        metrics = _dev_run(_trainer_settings(experiment), module, datamodule)
        return RunResult(None, None, metrics, time.perf_counter() - started, primary)

    run_dir = resume if resume is not None else _new_run_dir(experiment.output_dir, experiment.name)
    if primary:
        _make_run_dir(run_dir)
        if resume is None:
            atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(config))
        else:
            keep_log_before_resume(run_dir / "logs")
        (console or Console()).print(f"run directory: {run_dir}", soft_wrap=True, highlight=False)
    callbacks, best_checkpoint = _callbacks(experiment, run_dir, monitor)
    trainer = _trainer(experiment, run_dir, callbacks)
    with warnings.catch_warnings(), _shared_run_dir(run_dir):
        if resume is not None:  # a resumed run writes into its own folders again, on purpose
            for message in RESUME_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    best = best_checkpoint.best_model_path or None
    if best:
        module.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
    validated = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    metrics = _with_test_metrics(trainer, module, datamodule, validated)
    seconds = time.perf_counter() - started
    if not primary:
        return RunResult(run_dir, None, metrics, seconds, primary=False)

    curves = plot_training_curves(run_dir / "logs", run_dir / "curves.png")
    provenance = _provenance(experiment, config, datamodule, identity, metrics, command, seconds, curves)
    export_dir = save_pretrained(module.model.cpu(), run_dir / "export", provenance)
    return RunResult(run_dir, export_dir, metrics, seconds)
