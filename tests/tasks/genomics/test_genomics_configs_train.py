"""Every genomics task trains from its generated `-cpu` config through `zoo train`, on small files written in the
real formats (a few steps: the run, the export and the metrics, not the accuracy); the families rotate over the
tasks. tests/framework/test_experiment_configs.py checks that every task x family config composes and builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from files_genomics import HELD_OUT, write_chr22, write_genomes, write_splice_rda

from benchmarks.task_runs import generated_configs, identify
from zoo.cli import main
from zoo.hub import training_metrics

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "experiments" / "genomics"
HELD = "[" + ", ".join(HELD_OUT) + "]"

# config -> (writer of its data, returning the data_dir; task overrides for a few seconds' run)
CASES = {
    "splice-deltanet-cpu": (lambda folder, seed: write_splice_rda(folder, seed, counts=(6, 6, 12))[0].parent,
                            []),
    "genome-species-mamba2-cpu": (lambda folder, seed: write_genomes(folder, seed)[0],
                                  ["task.window=128", "task.eval_windows=2", f"task.test_strains={HELD}"]),
    "bacteria-lm-gated-deltanet-cpu": (lambda folder, seed: write_genomes(folder, seed)[0],
                                       ["task.window=256", "task.eval_windows=4", f"task.test_strains={HELD}"]),
    "chr22-lm-based-cpu": (lambda folder, seed: write_chr22(folder, seed, blocks=30, size=100)[0].parent,
                           ["task.window=128", "task.eval_windows=4"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_cpu_config_trains(name, tmp_path, seed):
    writer, extra = CASES[name]
    data = writer(tmp_path / "data", seed % 100_000)
    overrides = [f"task.data_dir={data}", f"output_dir={tmp_path / 'runs'}", "trainer.max_epochs=1",
                 "trainer.max_steps=2", "task.batch_size=4", "task.train_windows=8" if "lm" in name or "species" in
                 name else "trainer.max_steps=2", f"seed={seed % 1000}", *extra]

    assert main(["train", str(CONFIGS / f"{name}.yaml"), *overrides]) == 0
    (export,) = (tmp_path / "runs").glob("*/*/export")
    metrics = training_metrics(export)
    assert metrics["test/loss"] > 0
    if name.startswith(("bacteria", "chr22")):
        config = json.loads((export / "config.json").read_text())
        assert metrics["test/bpt"] > 0 and config["model"]["head"]["kind"] == "lm"
    else:
        assert 0 <= metrics["test/acc"] <= 1


def test_every_genomics_recipe_is_trained_here():
    generated = generated_configs()
    genomics = {key for key, recipe in generated.RECIPES.items() if recipe.folder == "genomics"}
    assert {identify(Path(f"{name}.yaml"))["recipe"] for name in CASES} == genomics
