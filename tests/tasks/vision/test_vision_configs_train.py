"""The vision tasks train from their generated `-cpu` configs through `zoo train`, on small files written in the
official formats (a few steps: the run, the export and the metrics, not the accuracy). Each of the 11 families
trains once, the five recipes rotating over them; the 2-D runs take batches of 3, so that mixup meets an odd batch
in a real run. tests/framework/test_experiment_configs.py checks that every task x family config composes and
builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.task_runs import generated_configs, identify
from tests.tasks.lra.files_image import write_cifar, write_fashion_mnist
from zoo.cli import main
from zoo.hub import training_metrics

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "experiments" / "vision"


def _mnist_layout(folder: Path, seed: int) -> Path:
    return write_fashion_mnist(folder, seed, train=30, test=8)  # 27 / 3 / 8


def _cifar(folder: Path, seed: int) -> Path:
    return write_cifar(folder, seed, per_batch=6)  # 27 / 3 / 6


# config -> the writer of its data in the official layout (MNIST's layout serves MNIST and Fashion-MNIST)
CASES = {
    "smnist-mamba-cpu": _mnist_layout,
    "smnist-swa-cpu": _mnist_layout,
    "sfashion-mnist-xlstm-cpu": _mnist_layout,
    "sfashion-mnist-bigbird-cpu": _mnist_layout,
    "scifar10-deltanet-cpu": _cifar,
    "scifar10-based-cpu": _cifar,
    "fashion-mnist-2d-mamba2-cpu": _mnist_layout,
    "fashion-mnist-2d-longformer-cpu": _mnist_layout,
    "fashion-mnist-2d-mamba2-hybrid-cpu": _mnist_layout,
    "cifar10-2d-attention-cpu": _cifar,
    "cifar10-2d-gated-deltanet-cpu": _cifar,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_cpu_config_trains(name, tmp_path, seed):
    data = CASES[name](tmp_path / "data", seed % 100_000)
    pictures = "-2d-" in name
    overrides = [f"task.data_dir={data}", f"output_dir={tmp_path / 'runs'}", "trainer.max_epochs=1",
                 "trainer.max_steps=2", f"task.batch_size={3 if pictures else 4}", f"seed={seed % 1000}"]

    assert main(["train", str(CONFIGS / f"{name}.yaml"), *overrides]) == 0
    (export,) = (tmp_path / "runs").glob("*/*/export")
    metrics = training_metrics(export)
    assert 0 <= metrics["test/acc"] <= 1 and metrics["test/loss"] > 0
    config = json.loads((export / "config.json").read_text())
    model = config["model"]
    assert model["bidirectional"] == pictures and model["head"]["pool"] == "mean"
    colour = name.startswith(("scifar10", "cifar10"))
    if pictures:
        assert model["encoder"]["kind"] == "patches" and model["encoder"]["in_channels"] == (3 if colour else 1)
        assert model["encoder"]["image_size"] == (32 if colour else 28)
    else:
        assert model["encoder"]["kind"] == "linear" and model["encoder"]["in_channels"] == (3 if colour else 1)
    assert len(config["task_io"]["labels"]) == 10


def test_every_vision_recipe_and_family_is_trained_here():
    generated = generated_configs()
    vision = {key for key, recipe in generated.RECIPES.items() if recipe.folder == "vision"}
    identified = [identify(Path(f"{name}.yaml")) for name in CASES]
    assert {entry["recipe"] for entry in identified} == vision
    assert sorted(entry["family"] for entry in identified) == sorted(generated.FAMILIES)
