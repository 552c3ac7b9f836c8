"""An interrupted `zoo train` resumes from its last checkpoint and, deterministic on CPU, ends with exactly the weights
of the run that was never interrupted; step-interval checkpoints bound what a crash loses."""

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from zoo.cli import main
from zoo.config import load_config
from zoo.hub import load_pretrained
from zoo.train import train

SHORT = ["task.num_train=256", "task.num_val=64", "task.num_test=64", "task.batch_size=32", "optim.warmup_steps=2",
         "trainer.max_epochs=3", "trainer.deterministic=true", "trainer.log_every_n_steps=1"]


class Interrupt(Callback):
    """Stops the run at the start of epoch `epoch`, as a killed or crashed process would."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("interrupted")


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture
def experiment(request, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQZOO_DATA", str(tmp_path / "data"))
    return request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(experiment, tmp_path, monkeypatch):
    full = train(load_config(experiment, [*SHORT, f"output_dir={tmp_path / 'full'}"]))

    import zoo.train

    callbacks = zoo.train._callbacks
    monkeypatch.setattr(zoo.train, "_callbacks", lambda *args: (lambda cb: (cb[0] + [Interrupt(2)], cb[1]))(
        callbacks(*args)))
    with pytest.raises(RuntimeError, match="interrupted"):
        train(load_config(experiment, [*SHORT, f"output_dir={tmp_path / 'cut'}"]))
    monkeypatch.setattr(zoo.train, "_callbacks", callbacks)
    (run_dir,) = (tmp_path / "cut" / "mqar-hybrid").iterdir()
    assert not (run_dir / "export").exists() and (run_dir / "checkpoints" / "last.ckpt").is_file()

    assert main(["train", str(run_dir)]) == 0  # `zoo train <run dir>` resumes it
    cut, uncut = _weights(run_dir / "checkpoints" / "last.ckpt"), _weights(full.run_dir / "checkpoints" / "last.ckpt")
    for name, tensor in uncut.items():
        assert torch.equal(cut[name], tensor), f"{name} differs after resuming"
    assert sorted(p.name for p in (run_dir / "logs").glob("*.csv")) == ["metrics-before-resume-0.csv", "metrics.csv"]
    assert (run_dir / "export" / "training_curves.png").is_file()
    resumed, uninterrupted = (load_pretrained(folder).state_dict() for folder in (run_dir / "export", full.export_dir))
    assert all(torch.equal(resumed[name], tensor) for name, tensor in uninterrupted.items()), "the exports differ"


def test_step_checkpoints_keep_the_latest_step(experiment, tmp_path):
    result = train(load_config(experiment, [*SHORT, "trainer.max_epochs=1", "trainer.checkpoint_every_n_steps=3",
                                            "trainer.max_steps=7", f"output_dir={tmp_path}"]))
    checkpoint = torch.load(result.run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 6, "the last multiple of checkpoint_every_n_steps before the run stopped"
    assert not list((result.run_dir / "checkpoints").glob(".*")), "no temporary checkpoint left behind"


def test_resume_of_a_folder_that_is_no_run_says_so(tmp_path, capsys, experiment):
    assert main(["train", str(experiment), f"resume={tmp_path}"]) == 2
    assert "is not a run directory" in capsys.readouterr().err
