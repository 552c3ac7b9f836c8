"""Hub-layout checkpoints the Hugging Face way: `save_pretrained` / `from_pretrained` round trips for every family and
head kind, strict JSON, file modes, atomic folders, the hub cache at a revision offline, and loading that refuses
broken folders with an error naming the problem (and returns nothing)."""

import json
import os
import shutil
import stat

import pytest
import torch

import zoo
from zoo.errors import CheckpointError
from zoo.hub import (
    CARD_FILE,
    CONFIG_FILE,
    RESULTS_FILE,
    WEIGHTS_FILE,
    SequenceModel,
    load_pretrained,
    save_pretrained,
)
from zoo.provenance import Evaluation, Provenance

TASK = {"name": "mqar", "seq_len": 64, "num_kv_pairs": 4, "vocab_size": 256}

FAMILY_PRESETS = ["attention-tiny", "swa-tiny", "longformer-tiny", "bigbird-tiny", "mamba-tiny", "mamba2-tiny",
                  "hybrid-tiny", "xlstm-tiny", "deltanet-tiny", "gated-deltanet-tiny", "based-tiny"]
HEADS = {
    "classifier": ({"kind": "classifier", "num_outputs": 5, "pool": "mean"}, None),
    "token_classifier": ({"kind": "token_classifier", "num_outputs": 4}, None),
    "regression": ({"kind": "regression", "num_outputs": 3, "horizon": 6}, {"kind": "linear", "in_channels": 3}),
    "matching": ({"kind": "matching", "num_outputs": 2}, None),
}


def _inputs(model: SequenceModel) -> torch.Tensor:
    """Fresh random inputs of the kind the model's encoder reads."""
    encoder, towers = model.config.encoder, model.towers
    if encoder.kind == "linear":
        return torch.randn(2, 17, encoder.in_channels)
    shape = (2, towers, 17) if towers > 1 else (2, 17)
    return torch.randint(0, encoder.vocab_size, shape)


def _same_outputs(a: SequenceModel, b: SequenceModel) -> None:
    inputs = _inputs(a)
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.equal(a(inputs), b(inputs))


@pytest.mark.parametrize("preset", FAMILY_PRESETS)
def test_every_family_round_trips_through_save_pretrained(preset, tmp_path, seed):
    model = zoo.create_model(preset)
    model.save_pretrained(tmp_path / "out")
    loaded = SequenceModel.from_pretrained(tmp_path / "out")
    assert loaded.config == model.config and not loaded.training
    _same_outputs(model, loaded)


@pytest.mark.parametrize("head", sorted(HEADS))
def test_every_head_kind_round_trips(head, tmp_path, seed):
    head_config, encoder = HEADS[head]
    model = zoo.create_model("mamba2-tiny", head=head_config, **({"encoder": encoder} if encoder else {}))
    model.save_pretrained(tmp_path / "out")
    loaded = zoo.from_pretrained(tmp_path / "out")
    assert loaded.config.head == model.config.head
    _same_outputs(model, loaded)


@pytest.fixture
def exported(tmp_path):
    model = zoo.create_model("hybrid-tiny")
    provenance = Provenance(
        name="hybrid-tiny-mqar", preset="hybrid-tiny", task=TASK, task_description="MQAR (T=64, 4 pairs)",
        training={"command": "zoo train configs/pretrained/hybrid-tiny-mqar.yaml", "optim": {"lr": 0.003}},
        evaluations=[Evaluation(TASK, "MQAR (T=64, 4 pairs)", {"test/acc": 0.987, "test/loss": 0.05, "val/acc": 0.99})],
    )
    return model, save_pretrained(model, tmp_path / "export", provenance)


def test_export_is_strict_json_with_readable_files(exported):
    _, folder = exported
    assert sorted(p.name for p in folder.iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE, CARD_FILE, RESULTS_FILE])

    def refuse(constant):
        raise AssertionError(f"config.json holds the non-JSON constant {constant}")

    config = json.loads((folder / CONFIG_FILE).read_text(), parse_constant=refuse)
    assert config["model_type"] == "seqzoo" and config["architectures"] == ["SeqzooForCausalLM"]
    assert config["model"]["mixers"]["mamba2"]["dt_limit"] == [0.0, "inf"]
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, f"{path.name} is not readable as a plain file"
        assert path.suffix not in (".json", ".md") or path.read_text().endswith("\n"), f"{path.name}: no final newline"
    assert not list(folder.parent.glob(".*tmp")), "temporary folder left behind"


def test_provenance_comes_back_with_the_model(exported):
    _, folder = exported
    loaded = load_pretrained(folder)
    assert loaded.provenance.name == "hybrid-tiny-mqar" and loaded.provenance.preset == "hybrid-tiny"
    assert loaded.provenance.evaluations[0].metrics["test/acc"] == 0.987
    assert loaded.head.linear.weight is loaded.encoder.embedding.weight, "tied weights must stay tied after loading"


def test_saving_a_loaded_model_keeps_its_card(exported, tmp_path):
    _, folder = exported
    load_pretrained(folder).save_pretrained(tmp_path / "again")
    assert (tmp_path / "again" / CARD_FILE).read_text() == (folder / CARD_FILE).read_text()
    assert (tmp_path / "again" / RESULTS_FILE).read_text() == (folder / RESULTS_FILE).read_text()


def test_a_new_head_makes_a_fine_tune_based_on_the_checkpoint(exported):
    _, folder = exported
    model = load_pretrained(folder)
    model.provenance.hub_id = "seqzoo/hybrid-tiny-mqar"
    model.reset_head("classifier", num_outputs=3)
    assert model.provenance.base_model == "seqzoo/hybrid-tiny-mqar"
    assert model.provenance.evaluations == [] and model.provenance.task is None


def test_export_replaces_an_older_folder_whole(exported):
    _, folder = exported
    save_pretrained(zoo.create_model("attention-tiny"), folder)
    assert load_pretrained(folder).config.layers == ["attention", "attention"]
    assert json.loads((folder / RESULTS_FILE).read_text()) == {"evaluations": []}


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


# ---- broken folders: one clear error, nothing loaded -----------------------------------------------------------


def _rewrite_config(folder, change):
    config = json.loads((folder / CONFIG_FILE).read_text())
    change(config)
    (folder / CONFIG_FILE).write_text(json.dumps(config))


def _weights_without(folder, drop=(), add=None, reshape=None):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(folder / WEIGHTS_FILE))
    for name in drop:
        tensors.pop(name)
    tensors.update(add or {})
    if reshape:
        tensors[reshape] = tensors[reshape][..., :-1].contiguous()
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})


@pytest.mark.parametrize("breakage, message", [
    (lambda f: shutil.rmtree(f), "checkpoint folder not found"),
    (lambda f: (f / CONFIG_FILE).unlink(), "has no config.json"),
    (lambda f: (f / CONFIG_FILE).write_text("{not json"), "config.json is corrupt"),
    (lambda f: (f / WEIGHTS_FILE).unlink(), "has no model.safetensors"),
    (lambda f: (f / WEIGHTS_FILE).write_bytes((f / WEIGHTS_FILE).read_bytes()[:1000]), "corrupt or truncated"),
    (lambda f: _rewrite_config(f, lambda c: c["model"].update(d_model=32)), "does not fit the model.*size mismatch"),
    (lambda f: _rewrite_config(f, lambda c: c["model"].update(layers=["mamba2", "nonesuch"])),
     "'nonesuch' is not a registered mixer"),
    (lambda f: _rewrite_config(f, lambda c: c.update(architecture="GPT2LMHeadModel")),
     "names the architecture 'GPT2LMHeadModel'"),
    (lambda f: _weights_without(f, drop=["backbone.norm_f.weight"]), "Missing key.*backbone.norm_f.weight"),
    (lambda f: _weights_without(f, add={"backbone.extra": torch.zeros(2)}), "Unexpected key.*backbone.extra"),
    (lambda f: _weights_without(f, reshape="backbone.norm_f.weight"), "size mismatch.*backbone.norm_f.weight"),
    (lambda f: (f / RESULTS_FILE).write_text("[1, 2"), "eval_results.json is corrupt"),
], ids=["no-folder", "no-config", "corrupt-config", "no-weights", "truncated-weights", "other-shape",
        "unknown-mixer", "unknown-architecture", "missing-key", "extra-key", "wrong-shape", "corrupt-results"])
def test_broken_checkpoints_fail_with_an_error_naming_the_problem(exported, breakage, message):
    _, folder = exported
    breakage(folder)
    with pytest.raises(CheckpointError, match=message) as error:
        load_pretrained(folder)
    assert "\n" not in str(error.value)


# ---- hub ids, the hub cache, revisions, offline ------------------------------------------------------------------


def _populate_cache(cache, repo_id, commits):
    """Write huggingface_hub's cache layout for `repo_id`: `commits` maps a commit hash to (ref names, folder)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    for commit, (refs, folder) in commits.items():
        shutil.copytree(folder, repo / "snapshots" / commit)
        for ref in refs:
            (repo / "refs").mkdir(parents=True, exist_ok=True)
            (repo / "refs" / ref).write_text(commit)


@pytest.fixture
def offline(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_hub_ids_resolve_in_the_cache_at_a_revision_offline(tmp_path, offline, seed):
    first, second = zoo.create_model("mamba-tiny"), zoo.create_model("xlstm-tiny")
    first.save_pretrained(tmp_path / "first")
    second.save_pretrained(tmp_path / "second")
    cache = tmp_path / "hub"
    _populate_cache(cache, "someone/tiny", {"a" * 40: (["main"], tmp_path / "first"),
                                            "b" * 40: (["v1"], tmp_path / "second")})
    for spelling in ("someone/tiny", "hf-hub:someone/tiny"):
        loaded = zoo.from_pretrained(spelling, cache_dir=cache)
        assert loaded.config.layers == ["mamba", "mamba"] and loaded.provenance.hub_id == "someone/tiny"
        _same_outputs(first, loaded)
    at_tag = SequenceModel.from_pretrained("someone/tiny", revision="v1", cache_dir=cache)
    at_commit = zoo.from_pretrained("someone/tiny", revision="b" * 40, cache_dir=cache)
    _same_outputs(second, at_tag)
    _same_outputs(second, at_commit)


def test_a_repository_missing_offline_is_one_clear_line(tmp_path, offline):
    with pytest.raises(CheckpointError, match="'someone/absent@v2' could not be fetched.*HF_HUB_OFFLINE") as error:
        zoo.from_pretrained("someone/absent", revision="v2", cache_dir=tmp_path)
    assert "\n" not in str(error.value)


def test_hub_cache_comes_from_the_environment(tmp_path, offline, monkeypatch):
    import huggingface_hub.constants

    zoo.create_model("mamba-tiny").save_pretrained(tmp_path / "model")
    _populate_cache(tmp_path / "hub", "someone/env", {"c" * 40: (["main"], tmp_path / "model")})
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert zoo.from_pretrained("someone/env").config.layers == ["mamba", "mamba"]


def test_push_to_hub_uploads_the_whole_folder(exported, monkeypatch):
    model = load_pretrained(exported[1])
    uploads = []

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private=None, exist_ok=False):
            return type("Repo", (), {"repo_id": repo_id})

        def upload_folder(self, repo_id, folder_path, **kwargs):
            uploads.append((repo_id, sorted(p.name for p in folder_path.iterdir()),
                            (folder_path / CARD_FILE).read_text()))
            return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr("huggingface_hub.hub_mixin.HfApi", FakeApi)
    url = model.push_to_hub("me/hybrid-tiny-mqar")
    assert url.endswith("/commit/0")
    (repo_id, files, card), = uploads
    assert repo_id == "me/hybrid-tiny-mqar" and WEIGHTS_FILE in files and CONFIG_FILE in files
    assert card == (exported[1] / CARD_FILE).read_text()


def test_every_model_zoo_makes_has_the_hub_methods():
    from zoo.models import build_model, model_config

    for model in (zoo.create_model("mamba-tiny"), zoo.SequenceModel(model_config("xlstm-tiny"))):
        assert isinstance(model, SequenceModel) and callable(model.push_to_hub)
    plain = build_model(model_config("mamba-tiny"))  # zoo.models' own class: exported through zoo.hub
    assert not hasattr(plain, "push_to_hub") and isinstance(zoo.create_model("mamba-tiny"), type(plain))
