"""Every LRA task trains from its generated `-cpu` config through `zoo train`, on small files written in the
official formats (a few steps: the run, the export and the metrics, not the accuracy). The families rotate over the
tasks so that each family trains on some LRA task; tests/framework/test_experiment_configs.py checks that every
task x family config composes and builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from files_image import write_cifar, write_fashion_mnist
from files_listops import write_listops
from files_pathfinder import write_pathfinder
from files_text import write_aan, write_books, write_imdb

from benchmarks.task_runs import generated_configs, identify
from zoo.cli import main
from zoo.hub import training_metrics

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "experiments" / "lra"

# config (recipe-family-cpu) -> the writer of its data in the official layout
CASES = {
    "listops-attention-cpu": lambda folder, seed: write_listops(folder, seed, sizes=(24, 8, 8)),
    "text-swa-cpu": lambda folder, seed: write_imdb(folder, seed, per_class=6),
    "text-standin-longformer-cpu": lambda folder, seed: write_books(folder, seed, num_books=3, chars=3000),
    "retrieval-bigbird-cpu": lambda folder, seed: write_aan(folder, seed, rows=(16, 6, 6)),
    "retrieval-standin-mamba-cpu": lambda folder, seed: write_books(folder, seed, num_books=3, chars=3000),
    "image-mamba2-cpu": lambda folder, seed: write_cifar(folder, seed, per_batch=6),
    "image-standin-mamba2-hybrid-cpu": lambda folder, seed: write_fashion_mnist(folder, seed, train=30, test=8),
    "pathfinder-xlstm-cpu": lambda folder, seed: write_pathfinder(folder, seed, num_samples=30),
    "pathx-based-cpu": lambda folder, seed: write_pathfinder(folder, seed, num_samples=10, resolution=128),
}
# shorter documents for the byte-level tasks, so that a few steps take seconds
# (the books of 3000-4500 characters make 23-35 windows of 128 bytes: at least 2 a book for validation and for test)
EXTRA = {"text-standin-longformer-cpu": ["task.max_length=128"], "text-swa-cpu": ["task.max_length=512"],
         "retrieval-bigbird-cpu": ["task.max_length=256"], "retrieval-standin-mamba-cpu": [
             "task.max_length=128", "task.train_pairs=16", "task.val_pairs=6", "task.test_pairs=6"],
         "pathx-based-cpu": ["task.batch_size=2"]}  # 16,384 steps: about 2 s a sample forward and backward


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_cpu_config_trains(name, tmp_path, seed):
    data = CASES[name](tmp_path / "data", seed % 100_000)
    overrides = [f"task.data_dir={data}", f"output_dir={tmp_path / 'runs'}", "trainer.max_epochs=1",
                 "trainer.max_steps=2", "task.batch_size=4", f"seed={seed % 1000}", *EXTRA.get(name, [])]

    assert main(["train", str(CONFIGS / f"{name}.yaml"), *overrides]) == 0
    (export,) = (tmp_path / "runs").glob("*/*/export")
    metrics = training_metrics(export)
    assert 0 <= metrics["test/acc"] <= 1 and metrics["test/loss"] > 0
    config = json.loads((export / "config.json").read_text())
    assert config["model"]["bidirectional"] and config["model"]["head"]["pool"] == "mean"
    assert ("stand-in" in config["task_description"]) == ("standin" in name)


def test_every_lra_recipe_is_trained_here():
    generated = generated_configs()
    lra = {key for key, recipe in generated.RECIPES.items() if recipe.folder == "lra"}
    assert {identify(Path(f"{name}.yaml"))["recipe"] for name in CASES} == lra
