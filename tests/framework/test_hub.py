"""Hub-layout export, loading back bit for bit, model cards, and clear errors for broken folders."""

import json

import pytest
import torch
import yaml

import zoo
from zoo.errors import CheckpointError
from zoo.hub import (
    CARD_FILE,
    CONFIG_FILE,
    RESULTS_FILE,
    WEIGHTS_FILE,
    rewrite_card,
    save_pretrained,
)
from zoo.hub import load_pretrained as from_pretrained

TASK = {"name": "mqar", "seq_len": 64, "num_kv_pairs": 4, "vocab_size": 256}


@pytest.fixture
def exported(tmp_path):
    model = zoo.create_model("hybrid-tiny")
    folder = save_pretrained(
        model,
        tmp_path / "export",
        name="hybrid-tiny-mqar",
        task=TASK,
        task_description="MQAR (T=64, 4 pairs)",
        training={"optim": {"lr": 0.003}},
        results={"test/acc": 0.987, "test/loss": 0.05, "val/acc": 0.99},
    )
    return model, folder


def _card_metadata(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_export_has_hub_layout(exported):
    _, folder = exported
    assert sorted(p.name for p in folder.iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE, CARD_FILE, RESULTS_FILE])
    config = json.loads((folder / CONFIG_FILE).read_text())
    assert config["model"]["layers"] == ["mamba2", "attention"] and config["task"] == TASK
    assert not list(folder.parent.glob(".*tmp")), "temporary folder left behind"


def test_from_pretrained_gives_identical_logits(exported):
    model, folder = exported
    loaded = from_pretrained(folder)
    ids = torch.randint(0, 256, (2, 33))
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(ids), model(ids))
    assert loaded.head.linear.weight is loaded.encoder.embedding.weight, "tied weights must stay tied after loading"
    assert loaded.config == model.config


def test_model_card_metadata_and_body(exported):
    model, folder = exported
    text = (folder / CARD_FILE).read_text()
    meta = _card_metadata(text)
    assert meta["library_name"] == "seqzoo"
    assert {"seqzoo", "mamba2-hybrid", "mamba2", "attention"} <= set(meta["tags"])
    assert meta["datasets"] == ["seqzoo/mqar"]
    result = meta["model-index"][0]
    assert result["name"] == "hybrid-tiny-mqar"
    metrics = {m["name"]: (m["type"], m["value"]) for r in result["results"] for m in r["metrics"]}
    assert metrics == {"test/acc": ("accuracy", 0.987), "test/loss": ("loss", 0.05)}
    assert result["results"][0]["dataset"]["name"] == "MQAR (T=64, 4 pairs)"
    assert f"{model.num_parameters():,}" in text
    assert "| test/acc | 0.9870 |" in text and "lr: 0.003" in text


def test_rewrite_card_uses_recorded_results(exported):
    _, folder = exported
    (folder / CARD_FILE).unlink()
    (folder / RESULTS_FILE).write_text(json.dumps({"test/acc": 0.5}))
    text = rewrite_card(folder)
    assert (folder / CARD_FILE).read_text() == text
    assert "| test/acc | 0.5000 |" in text


def test_export_replaces_an_older_folder_whole(exported, tmp_path):
    _, folder = exported
    other = zoo.create_model("attention-tiny")
    save_pretrained(other, folder)
    assert from_pretrained(folder).config.layers == ["attention", "attention"]


def test_failed_export_leaves_old_folder_untouched(exported, monkeypatch):
    _, folder = exported
    before = (folder / WEIGHTS_FILE).read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("zoo.hub.save_model", explode)
    with pytest.raises(OSError, match="disk full"):
        save_pretrained(zoo.create_model("attention-tiny"), folder)
    assert (folder / WEIGHTS_FILE).read_bytes() == before
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "temporary folder left behind"


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint folder not found"):
        from_pretrained(tmp_path / "absent")


def test_missing_config(exported):
    _, folder = exported
    (folder / CONFIG_FILE).unlink()
    with pytest.raises(CheckpointError, match="has no config.json"):
        from_pretrained(folder)


def test_corrupt_config(exported):
    _, folder = exported
    (folder / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json is corrupt"):
        from_pretrained(folder)


def test_missing_weights(exported):
    _, folder = exported
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="has no model.safetensors"):
        from_pretrained(folder)


def test_truncated_weights(exported):
    _, folder = exported
    data = (folder / WEIGHTS_FILE).read_bytes()
    (folder / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        from_pretrained(folder)


def test_weights_of_another_model(exported):
    _, folder = exported
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["model"]["d_model"] = 32
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        from_pretrained(folder)


def test_hf_hub_ids_go_through_the_hub_cache(exported, monkeypatch):
    _, folder = exported
    calls = []

    def fake_snapshot_download(repo_id, allow_patterns):
        calls.append((repo_id, tuple(allow_patterns)))
        return str(folder)

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot_download)
    model = from_pretrained("hf-hub:seqzoo/hybrid-tiny-mqar")
    assert calls and calls[0][0] == "seqzoo/hybrid-tiny-mqar" and WEIGHTS_FILE in calls[0][1]
    assert model.config.name == "hybrid-tiny"
