"""Distributed training through Lightning: `zoo train ... trainer.strategy=ddp trainer.devices=2` on CPU (gloo), two
real processes, against one process with the same global batch."""

import os
import subprocess
import sys

import pytest
import torch

from zoo.cli import main
from zoo.config import load_config
from zoo.train import RUN_DIR_ENV, train

# float64, so that the two runs differ only by the order in which the gradient sums are added (two halves
# all-reduced, or one batch): over 20 seeds (make sweep) the largest weight difference after 8 AdamW steps was
# 6.8e-10, a ratio of 6.8e-4 to ATOL (Adam divides by sqrt(v), which magnifies rounding where a gradient is near 0)
ATOL = 1e-6
SETTINGS = ["task.num_train=128", "task.num_val=64", "task.num_test=64", "trainer.max_epochs=2",
            "trainer.deterministic=true", "trainer.accelerator=cpu", "trainer.precision=64-true",
            "optim.warmup_steps=2"]


def _last_weights(run_dir):
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return checkpoint["global_step"], checkpoint["state_dict"]


@pytest.mark.slow
def test_two_process_ddp_equals_one_process_with_the_same_global_batch(tmp_path, data_dir, seed, request):
    experiment = request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"
    common = [*SETTINGS, f"seed={seed % 2**31}"]
    single = train(load_config(experiment, [*common, "task.batch_size=32", "trainer.devices=1",
                                            f"output_dir={tmp_path / 'one'}"]))
    environment = {key: value for key, value in os.environ.items() if key != RUN_DIR_ENV}
    command = [sys.executable, "-m", "zoo.cli", "train", str(experiment), *common, "task.batch_size=16",
               "trainer.devices=2", "trainer.strategy=ddp", f"output_dir={tmp_path / 'two'}"]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in done.stdout + done.stderr
    runs = list((tmp_path / "two" / "mqar-hybrid").iterdir())
    assert len(runs) == 1, f"the two processes wrote to {len(runs)} run folders: {runs}"
    assert (runs[0] / "export" / "model.safetensors").is_file()

    steps, distributed = _last_weights(runs[0])
    single_steps, alone = _last_weights(single.run_dir)
    assert steps == single_steps == 8  # 2 epochs x 128 examples / 32 a step
    assert distributed.keys() == alone.keys()
    for key in alone:
        torch.testing.assert_close(distributed[key], alone[key], rtol=0, atol=ATOL,
                                   msg=lambda message: f"{key} (seed {seed}): {message}")


def test_fsdp_on_cpu_says_it_needs_a_gpu(tmp_path, data_dir, capsys, request):
    experiment = request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"
    args = ["train", str(experiment), "trainer.strategy=fsdp", "trainer.accelerator=cpu", "trainer.devices=2",
            f"output_dir={tmp_path}"]
    assert main(args) == 2
    assert "The strategy `fsdp` requires a GPU accelerator" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
