"""The `zoo` command end to end: a short training run through the console script, then eval, card, list."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import cli
from zoo.cli import main
from zoo.hub import load_pretrained as from_pretrained

SHORT_RUN = [
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "task.num_train=256",
    "task.num_val=64",
    "task.num_test=64",
    "task.batch_size=32",
    "optim.warmup_steps=2",
]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, request):
    """Run `zoo train` on the quick-start experiment, shortened, as a user would from a shell."""
    root = tmp_path_factory.mktemp("cli")
    experiment = request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"
    zoo_script = Path(sys.executable).with_name("zoo")
    command = [str(zoo_script) if zoo_script.exists() else shutil.which("zoo"), "train", str(experiment)]
    env = {**os.environ, "SEQZOO_DATA": str(root / "data"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command + SHORT_RUN + [f"output_dir={root / 'runs'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = (root / "runs" / "mqar-hybrid").iterdir()
    return run_dir, done.stdout, env


def test_train_writes_the_run_directory(trained_run):
    run_dir, stdout, _ = trained_run
    for name in ("config.yaml", "logs/metrics.csv", "curves.png", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), f"{name} missing from {run_dir}"
    assert "test/acc" in stdout and "exported model" in stdout
    assert "task.num_train" not in (run_dir / "config.yaml").read_text()
    assert "num_train: 256" in (run_dir / "config.yaml").read_text()


def test_train_exports_a_loadable_checkpoint_with_card(trained_run):
    run_dir, _, _ = trained_run
    export = run_dir / "export"
    model = from_pretrained(export)
    assert model.config.name == "hybrid-tiny" and model.provenance.preset == "hybrid-tiny"
    (evaluation,) = json.loads((export / "eval_results.json").read_text())["evaluations"]
    assert 0.0 <= evaluation["metrics"]["test/acc"] <= 1.0 and evaluation["metrics"]["test/loss"] > 0
    assert evaluation["description"].startswith("MQAR (length 64")
    card = (export / "README.md").read_text()
    assert "library_name: seqzoo" in card and "model-index" in card
    assert "![training curves](training_curves.png)" in card
    assert (export / "training_curves.png").is_file()
    command = next(line for line in card.splitlines() if line.startswith("zoo train "))
    assert "mqar-hybrid.yaml trainer.max_epochs=1 " in command, "the card carries the exact command"


def test_eval_reproduces_the_recorded_test_metrics(trained_run, monkeypatch, capsys):
    run_dir, _, env = trained_run
    monkeypatch.setenv("SEQZOO_DATA", env["SEQZOO_DATA"])
    (recorded,) = json.loads((run_dir / "export" / "eval_results.json").read_text())["evaluations"]
    from zoo.evaluate import evaluate

    metrics = evaluate(run_dir / "export")
    assert metrics["test/acc"] == recorded["metrics"]["test/acc"]
    assert main(["eval", str(run_dir), "task.num_test=32"]) == 0, "a run directory evaluates its export"
    assert "test/acc" in capsys.readouterr().out


def test_eval_write_records_another_setting_as_its_own_entry(trained_run, monkeypatch, tmp_path):
    """`zoo eval <export> task.seq_len=128 ... --write` must not put its result under the training task's label."""
    from huggingface_hub import ModelCard

    run_dir, _, env = trained_run
    monkeypatch.setenv("SEQZOO_DATA", env["SEQZOO_DATA"])
    export = tmp_path / "export"
    shutil.copytree(run_dir / "export", export)
    overrides = ["task.seq_len=128", "task.num_kv_pairs=8", "task.num_test=64"]
    assert main(["eval", str(export), *overrides, "--write"]) == 0
    assert main(["eval", str(export), *overrides, "--write"]) == 0  # the same setting again replaces, not adds
    evaluations = json.loads((export / "eval_results.json").read_text())["evaluations"]
    assert [e["description"][:18] for e in evaluations] == ["MQAR (length 64, 4", "MQAR (length 128, "]
    assert evaluations[1]["task"]["seq_len"] == 128 and "task.seq_len=128" in evaluations[1]["command"]
    results = ModelCard.load(export / "README.md").data.eval_results
    by_setting = {r.dataset_name: r.metric_value for r in results if r.metric_name == "test/acc"}
    assert by_setting == {e["description"]: e["metrics"]["test/acc"] for e in evaluations}


def test_eval_of_a_training_checkpoint_points_to_the_export(trained_run, capsys):
    run_dir, _, _ = trained_run
    assert main(["eval", str(run_dir / "checkpoints" / "last.ckpt")]) == 2
    assert f"exported model is {run_dir / 'export'}" in " ".join(capsys.readouterr().err.split())


def test_eval_of_an_unfinished_run_says_how_to_finish_it(trained_run, tmp_path, capsys):
    run_dir, _, _ = trained_run
    unfinished = tmp_path / "run"
    shutil.copytree(run_dir, unfinished, ignore=shutil.ignore_patterns("export"))
    assert main(["eval", str(unfinished)]) == 2
    assert f"zoo train {unfinished}" in " ".join(capsys.readouterr().err.split())


def test_eval_of_a_hub_id_offline_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "zoo.cli", "eval", "someone/absent"], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "300"}, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "'someone/absent' could not be fetched" in lines[0], done.stderr


def test_card_command_prints_the_card_verbatim(trained_run):
    """Narrow terminals must not re-wrap the card: its YAML header would break."""
    import yaml

    run_dir, _, env = trained_run
    done = subprocess.run([sys.executable, "-m", "zoo.cli", "card", str(run_dir / "export")], capture_output=True,
                          text=True, env={**env, "COLUMNS": "40"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (run_dir / "export" / "README.md").read_text()
    assert yaml.safe_load(done.stdout.split("---\n")[1])["library_name"] == "seqzoo"


def test_list_prints_every_model(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("attention-tiny", "mamba2-tiny", "hybrid-tiny", "xlstm-7-1-125m"):
        assert name in out


def test_list_filters_by_family_and_pretrained(capsys, monkeypatch):
    from zoo.pretrained import shipped_checkpoints

    monkeypatch.setattr(cli.console, "width", 400)  # one line per cell: the console may predate COLUMNS
    assert main(["list", "--family", "xlstm"]) == 0
    out = capsys.readouterr().out
    assert "xlstm-tiny" in out and "mamba-tiny" not in out and "80,136" in out
    assert main(["list", "--pretrained"]) == 0
    out = capsys.readouterr().out
    assert "attention-small" not in out, "presets without weights are left out"
    for checkpoint in shipped_checkpoints():
        assert checkpoint.hub_id in out and checkpoint.preset in out


def test_config_error_exits_2_with_message(tmp_path, capsys, request):
    experiment = request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"
    assert main(["train", str(experiment), "model.d_modl=3", f"output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'model.d_modl'" in err and "did you mean 'model.d_model'" in err
    assert not list(tmp_path.iterdir()), "a failing config must not create a run directory"


@pytest.mark.parametrize(
    "override, message",
    [("task.data_dir={data}/elsewhere", r"datafilenotfound:.*elsewhere/train\.tsv"),
     ("model.mixers.attention.kind=sparse", "model.mixers.attention.kind"),
     ("task.max_length=0", "max_length")],
)
def test_bad_data_or_model_settings_exit_2_and_leave_no_run_directory(tmp_path, capsys, override, message):
    """Data is read and the model built before the run folder exists; the message is the error, not a traceback."""
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "val", "test"):
        (data / f"{split}.tsv").write_text("label\ttext\na\txy\nb\tyz\n")
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(f"model: attention-tiny\ntask: {{name: text-classification, data_dir: {data}}}\n"
                          f"output_dir: {tmp_path / 'runs'}\n")
    assert main(["train", str(experiment), override.format(data=tmp_path)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, "".join(err.split())) and "Traceback" not in err, err  # rich folds long lines
    assert not (tmp_path / "runs").exists(), "a failing run must not leave a run directory"


def test_missing_checkpoint_exits_2(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nothing")]) == 2
    assert "checkpoint folder not found" in capsys.readouterr().err


def test_data_list_names_every_preparer_and_its_folder(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SEQZOO_DATA", str(tmp_path))
    monkeypatch.setattr(cli.console, "width", 250)  # the table wraps long folders at the terminal's width
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("lra/listops", "lra/pathfinder", "lra/austen", "lra/image-standin"):
        assert name in out
    assert str(tmp_path / "lra" / "listops") in out


def test_data_prepare_unknown_name_exits_2(capsys):
    assert main(["data", "prepare", "lra/nope"]) == 2
    assert "no data preparer 'lra/nope'; choose one of: " in capsys.readouterr().err


def test_data_prepare_runs_the_preparer_with_its_own_options(tmp_path, capsys):
    assert main(["data", "prepare", "lra/listops", "--out", str(tmp_path / "listops"), "--num-train", "6",
                 "--num-val", "2", "--num-test", "2", "--min-length", "5", "--max-length", "30", "--workers", "1"]) == 0
    assert sorted(path.name for path in (tmp_path / "listops").iterdir()) == [
        "basic_test.tsv", "basic_train.tsv", "basic_val.tsv"]
    assert "lra/listops: ready in" in capsys.readouterr().out
