"""Training internals: the learning-rate schedule, weight-decay groups, mixed precision keeping float32 weights."""

import csv
import math

import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo.config import load_config
from zoo.module import TaskModule, warmup_cosine
from zoo.train import train


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(10, 10, 100, 0.1) == pytest.approx(1.0)
    middle = 10 + 45
    assert warmup_cosine(middle, 10, 100, 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert warmup_cosine(100, 10, 100, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(500, 10, 100, 0.1) == pytest.approx(0.1)


def test_weight_decay_skips_norms_biases_embeddings_and_marked_parameters():
    module = TaskModule(
        model={"name": "hybrid-tiny", "layers": ["mamba2", "attention"], "d_model": 32,
               "mixers": {"mamba2": {"d_state": 8, "headdim": 16}}},
        optim={"lr": 1e-3, "weight_decay": 0.1, "betas": [0.9, 0.98], "eps": 1e-8, "warmup_steps": 1, "min_lr_ratio": 0.1},
        task_io={"inputs": "tokens", "outputs": "lm", "num_outputs": 256, "vocab_size": 256},
    )
    module.trainer = type("FakeTrainer", (), {"estimated_stepping_batches": 10})()
    optimizer = module.configure_optimizers()["optimizer"]
    decayed = {id(p) for p in optimizer.param_groups[0]["params"]}
    names = {name for name, p in module.model.named_parameters() if id(p) in decayed}
    assert optimizer.param_groups[1]["weight_decay"] == 0.0
    assert "backbone.layers.0.mixer.in_proj.weight" in names
    assert not any(n.endswith(("A_log", "D", "dt_bias", "norm.weight")) or "embedding" in n for n in names), names


def test_bf16_mixed_precision_keeps_float32_parameters(tmp_path, data_dir, request):
    experiment = request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"
    config = load_config(
        experiment,
        [
            "trainer.precision=bf16-mixed",
            "trainer.max_steps=3",
            "trainer.max_epochs=1",
            "task.num_train=192",
            "task.num_val=64",
            "task.num_test=64",
            f"output_dir={tmp_path}",
        ],
    )
    result = train(config)
    weights = load_file(result.export_dir / "model.safetensors")
    assert weights and all(t.dtype == torch.float32 for t in weights.values())
    checkpoint = torch.load(result.run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert all(t.dtype == torch.float32 for t in checkpoint["state_dict"].values() if t.is_floating_point())
    assert set(result.metrics) >= {"test/acc", "test/loss", "val/acc", "val/loss"}


def test_lightning_checkpoints_rebuild_the_module_from_their_hyperparameters(tmp_path, data_dir, request, seed):
    experiment = request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"
    config = load_config(experiment, ["trainer.max_steps=2", "trainer.max_epochs=1", "task.num_train=64",
                                      "task.num_val=32", "task.num_test=32", f"output_dir={tmp_path}"])
    result = train(config)
    module = TaskModule.load_from_checkpoint(result.run_dir / "checkpoints" / "best.ckpt", map_location="cpu")
    exported = zoo.from_pretrained(result.export_dir)
    assert module.model.config == exported.config and module.objective.monitor == ("val/acc", "max")
    ids = torch.randint(0, 256, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(module.model.eval()(ids), exported(ids), rtol=0, atol=0)


@pytest.mark.slow
def test_patience_stops_when_validation_stops_improving(tmp_path, data_dir, request):
    """With a learning rate of 0 the validation loss never improves: patience 1 stops after the second validation
    (the first sets the best), long before max_epochs; without patience every epoch runs."""
    experiment = request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"
    common = ["optim.lr=0", "optim.warmup_steps=0", "trainer.monitor=val/loss", "trainer.stop_at=null",
              "trainer.max_epochs=4", "task.num_train=64", "task.num_val=32", "task.num_test=32",
              f"output_dir={tmp_path}"]
    stopped = train(load_config(experiment, [*common, "trainer.patience=1"]))
    full = train(load_config(experiment, [*common, "name=no-patience"]))
    epochs = [sum(1 for row in csv.DictReader(open(r.run_dir / "logs" / "metrics.csv")) if row["val/loss"])
              for r in (stopped, full)]
    assert stopped.metrics["val/loss"] == full.metrics["val/loss"]
    assert epochs == [2, 4], epochs


def test_patience_must_be_positive(tmp_path, request):
    from zoo.config import ConfigError

    experiment = request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"
    with pytest.raises(ConfigError, match="'trainer.patience' is 0; give the number of validations"):
        load_config(experiment, ["trainer.patience=0"])
