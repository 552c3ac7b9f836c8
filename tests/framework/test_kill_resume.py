"""A training process killed with SIGKILL mid-epoch resumes from its last step checkpoint, losing only the steps
since it, and (deterministic, on CPU) ends with exactly the weights of a run that was never killed."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from zoo.cli import main

KILLER = Path(__file__).with_name("kill_at_step.py")
# 320 examples in batches of 32: 10 steps an epoch; a step checkpoint every 4 steps
SETTINGS = ["task.num_train=320", "task.num_val=64", "task.num_test=64", "task.batch_size=32", "trainer.max_epochs=2",
            "trainer.deterministic=true", "trainer.checkpoint_every_n_steps=4", "optim.warmup_steps=2"]


def _state(run_dir):
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return checkpoint["global_step"], checkpoint["state_dict"]


@pytest.mark.slow
@pytest.mark.parametrize("kill_step", [14, 7], ids=["second-epoch", "first-epoch"])
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(kill_step, tmp_path, data_dir, request):
    experiment = request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"
    killed = subprocess.run([sys.executable, str(KILLER), str(kill_step), str(experiment), *SETTINGS,
                             f"output_dir={tmp_path / 'killed'}"], capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:] + killed.stderr[-2000:]
    (run_dir,) = (tmp_path / "killed" / "mqar-hybrid").iterdir()
    saved_step, _ = _state(run_dir)
    assert saved_step == kill_step // 4 * 4 and saved_step % 10, "the last checkpoint is a mid-epoch step checkpoint"
    assert not (run_dir / "export").exists()

    assert main(["train", str(run_dir)]) == 0  # resume the killed run from its folder
    assert main(["train", str(experiment), *SETTINGS, f"output_dir={tmp_path / 'whole'}"]) == 0
    (whole_dir,) = (tmp_path / "whole" / "mqar-hybrid").iterdir()
    (steps, resumed), (whole_steps, whole) = _state(run_dir), _state(whole_dir)
    assert steps == whole_steps == 20
    for key, value in whole.items():
        assert torch.equal(resumed[key], value), f"{key} differs after the resume (killed at step {kill_step})"
    assert not list((run_dir / "checkpoints").glob(".*")), "a temporary checkpoint was left behind"


def _corrupt(path, how: str) -> None:
    """A torch checkpoint cut short, or with one byte of its tensor data changed (its size and directory intact)."""
    torch.save({"state_dict": {"weight": torch.zeros(4096)}}, path)
    data = bytearray(path.read_bytes())
    if how == "truncated":
        del data[len(data) // 2:]
    else:
        data[data.index(bytes(64)) + 32] ^= 0xFF  # inside the zeros of the tensor's storage
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "flipped"])
def test_a_damaged_last_checkpoint_is_refused_with_the_way_out(how, tmp_path, capsys, request):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    experiment = request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"
    (run_dir / "config.yaml").write_text(experiment.read_text())
    _corrupt(run_dir / "checkpoints" / "last.ckpt", how)
    assert main(["train", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "last.ckpt is damaged" in err and "start the run again" in err, err
    assert not (run_dir / "logs").exists(), "a refused resume started anyway"
