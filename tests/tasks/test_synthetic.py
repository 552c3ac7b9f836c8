"""Selective copying, induction heads and the MQAR grid: generator layouts, validation, per-setting batches and the
per-setting metrics they feed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from zoo.tasks import get_task
from zoo.tasks.synthetic.induction_heads import InductionHeadsConfig, generate_induction_heads
from zoo.tasks.synthetic.mqar_grid import MQARGridConfig, MQARGridDataModule
from zoo.tasks.synthetic.selective_copying import SelectiveCopyingConfig, generate_selective_copying

from zoo.cli import main
from zoo.hub import training_metrics


@pytest.mark.parametrize(("context", "tokens", "vocab"), [(64, 16, 16), (16, 16, 3), (200, 5, 30)])
def test_selective_copying_layout(seed, context, tokens, vocab):
    inputs, labels = generate_selective_copying(300, context, tokens, vocab, seed)
    assert inputs.shape == labels.shape == (300, context + tokens)
    head, tail = inputs[:, :context], inputs[:, context:]
    assert (tail == vocab - 1).all(), "the markers"
    assert ((head >= 0) & (head <= vocab - 2)).all()
    assert ((head != 0).sum(dim=1) == tokens).all(), "exactly num_tokens data tokens among the noise"
    assert (labels[:, :context] == -100).all()
    for row in range(300):
        assert labels[row, context:].tolist() == head[row][head[row] != 0].tolist(), "data tokens in order"
    again, _ = generate_selective_copying(300, context, tokens, vocab, seed)
    assert torch.equal(inputs, again)


def test_induction_heads_layout(seed):
    seq_len, vocab = 40, 20
    inputs, labels = generate_induction_heads(2000, seq_len, vocab, seed)
    trigger = inputs == vocab - 1
    assert (trigger.sum(dim=1) == 2).all() and trigger[:, -1].all(), "the trigger occurs twice, last at the end"
    first = trigger[:, :-1].float().argmax(dim=1)
    assert first.max() <= seq_len - 3
    assert torch.equal(labels[:, -1], inputs[torch.arange(2000), first + 1])
    assert (labels[:, :-1] == -100).all() and (labels[:, -1] < vocab - 1).all()
    # 2000 draws of a position uniform over 38 values: both ends occur (a miss has probability < 2 * (37/38)^2000)
    assert first.min() == 0 and first.max() == seq_len - 3


@pytest.mark.parametrize(("config", "fields", "message"), [
    (SelectiveCopyingConfig, {"context_len": 4, "num_tokens": 5}, "context_len"),
    (SelectiveCopyingConfig, {"vocab_size": 2}, "vocab_size"),
    (InductionHeadsConfig, {"seq_len": 2}, "seq_len"),
    (MQARGridConfig, {"vocab_size": 64, "train_settings": [[64, 4, 10]], "test_settings": [[64, 4, 10], [256, 64, 10]]},
     r"test_settings\[1\] = \[256, 64, 10\]: vocab_size"),
    (MQARGridConfig, {"train_settings": [[64, 4]]}, r"train_settings\[0\] must be"),
    (MQARGridConfig, {"test_settings": [[64, 4, 10], [64, 4, 20]]}, "twice"),
    (MQARGridConfig, {"train_settings": []}, "train_settings is empty"),
])
def test_config_errors_name_the_field(config, fields, message):
    with pytest.raises(ValueError, match=message):
        config(**fields)


def _grid(tmp_path, seed, **fields) -> MQARGridDataModule:
    sizes = dict(vocab_size=128, train_settings=[[32, 4, 100], [64, 8, 70]],
                 test_settings=[[32, 4, 30], [64, 8, 20], [128, 16, 10]], batch_size=16, seed=seed % 1000)
    return MQARGridDataModule(MQARGridConfig(data_dir=str(tmp_path), **{**sizes, **fields}))


def test_grid_batches_hold_one_setting_each(tmp_path, seed):
    dm = _grid(tmp_path, seed)
    assert dm.io.groups == ("T32-kv4", "T64-kv8", "T128-kv16")
    dm.setup()
    assert {split: len(dm.datasets[split]) for split in ("train", "val", "test")} == {"train": 170, "val": 60,
                                                                                       "test": 60}
    train = list(dm.train_dataloader())
    assert len(train) == len(dm.train_dataloader()) == 7 + 5
    assert sum(len(batch["inputs"]) for batch in train) == 170
    lengths = {batch["inputs"].shape[1] for batch in train}
    assert lengths == {32, 64} and all((batch["group"] == -1).all() for batch in train)
    for batch in dm.test_dataloader():
        group = int(batch["group"][0])
        assert (batch["group"] == group).all()
        seq_len, pairs, _ = dm.config.test_settings[group]
        assert batch["inputs"].shape[1] == seq_len and ((batch["targets"] != -100).sum(dim=1) == pairs).all()
    val = torch.cat([b["inputs"] for b in dm.val_dataloader() if b["group"][0] == 0])
    test = torch.cat([b["inputs"] for b in dm.test_dataloader() if b["group"][0] == 0])
    assert not torch.equal(val, test), "validation examples have their own seed"
    again = _grid(tmp_path, seed)
    again.setup()
    assert all(torch.equal(a["inputs"], b["inputs"]) for a, b in zip(again.train_dataloader(), train)), \
        "shuffling follows the seed"


@pytest.mark.slow
def test_grid_trains_from_yaml_with_accuracy_per_setting(tmp_path, seed):
    """Per-setting test accuracies are logged, and weighted by their queries they add up to the overall one."""
    experiment = tmp_path / "grid.yaml"
    experiment.write_text(
        "name: grid\nmodel: {name: attention-tiny}\n"
        "task: {name: mqar-grid, vocab_size: 64, train_settings: [[32, 4, 256]], "
        "test_settings: [[32, 4, 64], [64, 8, 32]], batch_size: 32}\n"
        f"trainer: {{max_epochs: 1}}\nseed: {seed % 1000}\noutput_dir: {tmp_path / 'runs'}\n")
    assert main(["train", str(experiment), f"task.data_dir={tmp_path / 'data'}"]) == 0
    (export,) = (tmp_path / "runs" / "grid").glob("*/export")
    metrics = training_metrics(export)
    per_setting = [metrics["test/T32-kv4/acc"], metrics["test/T64-kv8/acc"]]
    queries = [64 * 4, 32 * 8]
    overall = sum(a * q for a, q in zip(per_setting, queries)) / sum(queries)
    assert abs(overall - metrics["test/acc"]) < 1e-6, metrics


CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "experiments" / "synthetic"


@pytest.mark.slow
@pytest.mark.parametrize(("name", "sizes"), [
    ("mqar-grid-deltanet-cpu", ["task.train_settings=[[32,4,64]]", "task.test_settings=[[32,4,16],[64,8,16]]"]),
    ("selective-copying-gated-deltanet-cpu", ["task.context_len=48", "task.num_train=64", "task.num_val=16",
                                              "task.num_test=16"]),
    ("induction-heads-mamba-cpu", ["task.seq_len=32", "task.num_train=64", "task.num_val=16", "task.num_test=16"]),
])
def test_generated_cpu_config_trains(name, sizes, tmp_path, seed):
    """The synthetic tasks train from their generated -cpu configs (a few steps: the run and its metrics)."""
    overrides = [f"task.data_dir={tmp_path / 'data'}", f"output_dir={tmp_path / 'runs'}", "trainer.max_steps=2",
                 "task.batch_size=8", f"seed={seed % 1000}", *sizes]
    assert main(["train", str(CONFIGS / f"{name}.yaml"), *overrides]) == 0
    (export,) = (tmp_path / "runs").glob("*/*/export")
    metrics = training_metrics(export)
    assert 0 <= metrics["test/acc"] <= 1
    if name.startswith("mqar-grid"):
        assert {"test/T32-kv4/acc", "test/T64-kv8/acc"} <= set(metrics)


def test_registered():
    for name in ("mqar-grid", "selective-copying", "induction-heads"):
        assert get_task(name)[0]().name == name
