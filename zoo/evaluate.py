"""`zoo eval`: test an exported checkpoint on the task it was trained on, or on another task config."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
from omegaconf import OmegaConf

from zoo.anatomy import check_fits
from zoo.atomic import atomic_write_text
from zoo.card import render_card
from zoo.config import compose_task, load_yaml, parse_overrides
from zoo.errors import CheckpointError, ConfigError
from zoo.hub import (
    CARD_FILE,
    RESULTS_FILE,
    load_pretrained,
    read_checkpoint_config,
    read_results,
    resolve_checkpoint,
)
from zoo.module import TaskModule
from zoo.tasks import get_task


def evaluate(
    checkpoint: str | Path,
    *,
    task_file: str | Path | None = None,
    overrides: list[str] = (),
    write: bool = False,
) -> dict[str, float]:
    """Test metrics (`test/acc`, `test/loss`, ...) of a checkpoint folder on its task's test split.

    `task_file`: a YAML whose `task:` section replaces the saved one; `overrides`: `task.key=value`
    items. With `write=True` the metrics are merged into `eval_results.json` and the model card.
    """
    folder = resolve_checkpoint(checkpoint)
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
        results = {**read_results(folder), **metrics}
        atomic_write_text(folder / RESULTS_FILE, json.dumps(results, indent=2) + "\n")
        atomic_write_text(folder / CARD_FILE, str(render_card(config, results, model.num_parameters())))
    return metrics
