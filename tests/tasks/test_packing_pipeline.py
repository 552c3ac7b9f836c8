"""`task.pack`: batches become one row with `cu_seqlens`, per-token targets packed alike; a packed batch gives the
loss of the padded one (sequence classes and next tokens), a whole `zoo train` runs packed, and tasks whose examples
are not single sequences refuse it by name."""

from __future__ import annotations

import pytest
import torch
from test_text_classification import write_keyword_texts
from zoo.tasks import get_task
from zoo.tasks.packing import pack_batch, padding_share

import zoo
from zoo.anatomy import fit_to_task
from zoo.cli import main
from zoo.module import TaskModule

# float32 losses of one batch, packed or padded, can differ only in the order of summation: over 50 seeds (make sweep)
# the worst difference was a ratio of 0.010 to this tolerance (attention-tiny, causal); bidirectional models (which
# pack a padded batch themselves) and MQAR (whose sequences fill the batch) were equal bit for bit
TOL = dict(rtol=1e-5, atol=1e-6)


def test_pack_batch_joins_the_real_positions():
    batch = {"inputs": torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]]), "lengths": torch.tensor([3, 2, 4]),
             "targets": torch.tensor([0, 1, 2])}
    packed = pack_batch(batch, per_token=False)
    assert packed["inputs"].tolist() == [[1, 2, 3, 4, 5, 6, 7, 8, 9]]
    assert packed["cu_seqlens"].tolist() == [0, 3, 5, 9] and packed["targets"].tolist() == [0, 1, 2]
    tokens = pack_batch({**batch, "targets": batch["inputs"] * 10}, per_token=True)
    assert tokens["targets"].tolist() == [[10, 20, 30, 40, 50, 60, 70, 80, 90]]
    whole = pack_batch({"inputs": torch.ones(2, 5, 3), "targets": torch.zeros(2)}, per_token=False)
    assert whole["inputs"].shape == (1, 10, 3) and whole["cu_seqlens"].tolist() == [0, 5, 10]
    assert padding_share(batch["lengths"]) == pytest.approx(1 - 9 / 12)


def _module(task_name: str, datamodule, preset: str, **model_fields) -> TaskModule:
    config = zoo.models.merge_config(zoo.models.model_config(preset), model_fields)
    model = fit_to_task(config, datamodule.io, task_name).resolved()
    optim = {"lr": 1e-3, "weight_decay": 0.1, "betas": [0.9, 0.98], "eps": 1e-8, "warmup_steps": 1, "min_lr_ratio": 0.1}
    return TaskModule(model.to_dict(), optim, datamodule.io.to_dict())


def _loss_padded_and_packed(task_name, fields, preset, **model_fields):
    config_cls, datamodule_cls = get_task(task_name)
    losses = []
    for pack in (False, True):
        datamodule = datamodule_cls(config_cls(**fields, pack=pack))
        datamodule.setup("fit")
        batch = next(iter(datamodule.val_dataloader()))  # in file order: the same examples both times
        assert ("cu_seqlens" in batch) == pack
        torch.manual_seed(0)
        module = _module(task_name, datamodule, preset, **model_fields)
        losses.append(module.objective.loss(module(batch), batch["targets"]))
    return losses


@pytest.mark.parametrize("bidirectional", [False, True], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("preset", ["mamba2-tiny", "xlstm-tiny", "deltanet-tiny", "attention-tiny"])
def test_a_packed_batch_of_texts_has_the_loss_of_the_padded_one(preset, bidirectional, tmp_path, seed):
    write_keyword_texts(tmp_path, seed % 10_000, sizes=(64, 16, 8))
    fields = dict(name="text-classification", data_dir=str(tmp_path), batch_size=16)
    padded, packed = _loss_padded_and_packed("text-classification", fields, preset, bidirectional=bidirectional,
                                             head={"kind": "classifier", "pool": "mean"})
    torch.testing.assert_close(packed, padded, **TOL, msg=lambda m: f"{preset} (seed {seed}): {m}")


@pytest.mark.parametrize("preset", ["mamba-tiny", "based-tiny", "swa-tiny"])
def test_packed_next_token_targets_have_the_loss_of_padded_ones(preset, data_dir, seed):
    fields = dict(name="mqar", num_train=32, num_val=8, num_test=8, batch_size=8, seq_len=32, num_kv_pairs=4,
                  seed=seed % 2**31)
    padded, packed = _loss_padded_and_packed("mqar", fields, preset)
    torch.testing.assert_close(packed, padded, **TOL, msg=lambda m: f"{preset} (seed {seed}): {m}")


def test_zoo_train_packed(tmp_path, seed):
    write_keyword_texts(tmp_path / "data", seed % 10_000, sizes=(64, 16, 16))
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(
        "name: packed\nmodel: {name: mamba2-tiny}\n"
        f"task: {{name: text-classification, data_dir: {tmp_path / 'data'}, batch_size: 16, pack: true}}\n"
        f"trainer: {{max_epochs: 1}}\noutput_dir: {tmp_path / 'runs'}\n")
    args = ["train", str(experiment)]
    assert main(args) == 0
    (export,) = (tmp_path / "runs" / "packed").glob("*/export")
    assert zoo.from_pretrained(export).config.head.kind == "classifier"


def test_tasks_of_images_or_pairs_refuse_packing(tmp_path, capsys, request):
    experiment = tmp_path / "images.yaml"
    experiment.write_text("name: images\nmodel: {name: mamba-tiny}\ntask: {name: cifar10-2d, pack: true}\n")
    assert main(["train", str(experiment), f"output_dir={tmp_path / 'runs'}"]) == 2
    err = capsys.readouterr().err
    assert "'task.pack': the task 'cifar10-2d' cannot be packed: the task has image inputs" in err
    assert "task.pack=false" in err and not (tmp_path / "runs").exists()
