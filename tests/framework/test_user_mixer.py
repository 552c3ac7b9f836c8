"""A family is one unit: a mixer registered from a file outside the package (tests/framework/toy_mixer.py) trains
from a YAML that imports it, without any edit under models/, and its checkpoint loads back."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from zoo.models import MIXERS

import zoo
from zoo.cli import main
from zoo.config import load_config
from zoo.errors import CheckpointError, ConfigError
from zoo.hub import load_pretrained, save_pretrained
from zoo.imports import import_user_modules
from zoo.provenance import Provenance
from zoo.train import train

TOY = Path(__file__).parent / "toy_mixer.py"


def experiment(tmp_path, data_dir, extra: str = "") -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(
        f"imports: [{TOY}]\n"
        "name: toy\n"
        "model: {name: custom, d_model: 32, layers: [previous_token, attention], d_intermediate: 64,\n"
        "        mixers: {previous_token: {scale: 0.5}, attention: {num_heads: 2}}}\n"
        "task: {name: mqar, seq_len: 32, num_kv_pairs: 2, vocab_size: 64, num_train: 256, num_val: 64,\n"
        "       num_test: 64, batch_size: 32}\n"
        "trainer: {max_epochs: 1}\n"
        f"output_dir: {tmp_path / 'runs'}\n" + extra
    )
    return path


def test_a_mixer_from_outside_the_package_trains_from_yaml(tmp_path, data_dir, seed):
    result = train(load_config(experiment(tmp_path, data_dir)))
    assert set(result.metrics) >= {"test/acc", "val/loss"}
    model = load_pretrained(result.export_dir)
    assert type(model.backbone.layers[0].mixer).__name__ == "PreviousToken"
    assert model.config.mixers["previous_token"].scale == 0.5
    ids = torch.randint(0, 64, (2, 9))
    with torch.no_grad():  # the toy follows the mixer contract: decoding equals the parallel forward
        expected = model(ids)
        logits, states = model.prefill(ids[:, :4])
        steps = [logits]
        for t in range(4, 9):
            step_logits, states = model.step(ids[:, t], states)
            steps.append(step_logits[:, None])
    torch.testing.assert_close(torch.cat(steps, dim=1), expected, rtol=1e-5, atol=1e-5)
    assert main(["eval", str(result.export_dir), "--imports", str(TOY)]) == 0


def test_a_checkpoint_names_the_imports_it_needs(tmp_path, monkeypatch):
    """Without the toy registered (a fresh process), loading says which imports the model was trained with."""
    import_user_modules([str(TOY)])
    model = zoo.create_model("attention-tiny", layers=["previous_token"])
    save_pretrained(model, tmp_path / "export", Provenance(name="toy", training={"imports": [str(TOY)]}))
    monkeypatch.setattr(MIXERS, "_entries", {k: v for k, v in MIXERS._entries.items() if k != "previous_token"})
    with pytest.raises(CheckpointError, match=r"'previous_token' is not a registered mixer.*trained with `imports: "
                                              r"\[.*toy_mixer\.py'\]`.*--imports"):
        load_pretrained(tmp_path / "export")


def test_the_toy_mixer_runs_both_ways_and_packed(seed):
    import_user_modules([str(TOY)])
    model = zoo.create_model("attention-tiny", layers=["previous_token"], bidirectional=True).double().eval()
    lengths = torch.tensor([5, 3])
    ids = torch.randint(0, 256, (2, 5))
    with torch.no_grad():
        features = model.forward_features(ids, lengths)
        alone = model.forward_features(ids[1:, :3])
    torch.testing.assert_close(features[1, :3], alone[0], rtol=1e-12, atol=1e-12)


def test_a_missing_import_is_named(tmp_path, data_dir):
    path = experiment(tmp_path, data_dir).read_text().replace(str(TOY), str(tmp_path / "nowhere.py"))
    (tmp_path / "bad.yaml").write_text(path)
    with pytest.raises(ConfigError, match="'imports': file not found: .*nowhere.py"):
        load_config(tmp_path / "bad.yaml")
