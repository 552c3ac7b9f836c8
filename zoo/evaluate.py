"""`zoo eval`: test an exported checkpoint on the task it was trained on, or on another task setting; `--write`
records the result in the checkpoint's `eval_results.json` and card as an evaluation of its own setting."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from omegaconf import OmegaConf

from zoo.anatomy import check_fits
from zoo.config import compose_task, load_yaml, parse_overrides
from zoo.errors import CheckpointError, ConfigError
from zoo.hub import load_pretrained, locate_checkpoint, read_checkpoint_config, record_evaluation
from zoo.module import TaskModule
from zoo.provenance import Evaluation
from zoo.tasks import get_task


def evaluate(
    checkpoint: str | Path,
    *,
    task_file: str | Path | None = None,
    overrides: list[str] = (),
    write: bool = False,
    command: str | None = None,
) -> dict[str, float]:
    """Test metrics (`test/acc`, `test/loss`, ...) of a checkpoint (folder, run directory or hub id) on its task's
    test split, or on the setting that `task_file` (a YAML whose `task:` section replaces the saved one) and
    `overrides` (`task.key=value` items) make of it.

    With `write=True` the result is recorded in the (local) checkpoint folder as an evaluation of that setting, with
    its own task description and `command`: it replaces an earlier evaluation of the same setting only.
    """
    folder, _ = locate_checkpoint(checkpoint)
    config = read_checkpoint_config(folder)
    raw = OmegaConf.create({"task": config.get("task")})
    if task_file is not None:
        raw = OmegaConf.merge(raw, {"task": load_yaml(Path(task_file)).get("task")})
    extra = parse_overrides(list(overrides))
    unknown = [key for key in extra.keys() if key != "task"]
    if unknown:
        raise ConfigError(f"zoo eval takes task overrides only (task.key=value), got: {', '.join(map(str, unknown))}")
    raw = OmegaConf.merge(raw, extra)
    if raw.task is None:
        raise CheckpointError(f"{folder} records no task; pass one with --task FILE")
    task = OmegaConf.to_object(compose_task(raw))

    model = load_pretrained(folder)
    _, datamodule_cls = get_task(task.name)
    datamodule = datamodule_cls(task)
    check_fits(model.config, datamodule.io, task.name, labels=(config.get("task_io") or {}).get("labels") or ())
    module = TaskModule(model.config.to_dict(), {}, datamodule.io.to_dict())
    module.model.load_state_dict(model.state_dict())
    trainer = L.Trainer(accelerator="auto", devices=1, logger=False, enable_checkpointing=False)
    metrics = {k: float(v) for result in trainer.test(module, datamodule=datamodule, verbose=False) for k, v in result.items()}
    if write:
        task_dict = OmegaConf.to_container(OmegaConf.structured(task))
        record_evaluation(folder, Evaluation(task=task_dict, description=datamodule.description, metrics=metrics,
                                             command=command))
    return metrics
