"""The experiment configs: the generated ones are what configs/generate.py writes, every config composes, and every
model they name builds for its task (on the meta device: shapes only, no memory)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from zoo.models import build_model
from zoo.tasks import TaskIO, get_task, list_tasks

from zoo.anatomy import fit_to_task
from zoo.config import load_config, to_objects

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "experiments").rglob("*.yaml"))


def _generator():
    spec = importlib.util.spec_from_file_location("generate_configs", ROOT / "configs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_generated_configs_are_up_to_date(capsys):
    generator = _generator()
    assert generator.main(["--check"]) == 0, f"run `make configs`:\n{capsys.readouterr().out}"
    tasks = {recipe.task["name"] for recipe in generator.RECIPES.values()}
    assert len(generator.files()) == len(generator.RECIPES) * len(generator.FAMILIES) * 2
    assert tasks <= set(list_tasks())


def test_stand_ins_are_named_as_such():
    for path in CONFIGS:
        text = path.read_text()
        if "-standin" in text.split("task:", 1)[-1].split("\n", 1)[0] or "standin" in path.name:
            assert "standin" in path.name and "STAND-IN" in text, path


def _stand_in_io(task_name: str) -> TaskIO:
    """A TaskIO of the task's kinds with small sizes: enough to fit and build its model without reading data."""
    _, datamodule = get_task(task_name)
    sizes = {"tokens": {"vocab_size": 256}, "channels": {"channels": 1}, "image": {"channels": 1, "image_size": 32}}
    outputs = datamodule.outputs
    num_outputs = {"lm": 256, "regression": 1}.get(outputs, 10)  # a forecast of the one channel read
    return TaskIO(inputs=datamodule.inputs, outputs=outputs, num_outputs=num_outputs,
                  horizon=4 if outputs == "regression" else 0, **sizes[datamodule.inputs])


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(ROOT / "configs" / "experiments")) for p in CONFIGS])
def test_config_composes_and_its_model_builds(path):
    experiment = to_objects(load_config(path))
    named = {"lra": f"lra-{path.stem}", "synthetic": path.stem, "vision": path.stem}
    assert experiment.name == named.get(path.parent.name, experiment.name)
    config = fit_to_task(experiment.model, _stand_in_io(experiment.task.name), experiment.task.name).resolved()
    with torch.device("meta"):
        model = build_model(config)
    assert model.num_parameters() > 0
