"""Model cards: metadata the hub accepts (checked by huggingface_hub's card classes), every section, one model-index
entry per evaluated setting, the architecture's citations, the identity of a model changed from its preset."""

import pytest
from huggingface_hub import ModelCard

import zoo
from zoo.cli import main
from zoo.hub import CARD_FILE, load_pretrained, save_pretrained
from zoo.provenance import Evaluation, Provenance

SETTING = {"name": "mqar", "seq_len": 64, "num_kv_pairs": 4}
LONGER = {"name": "mqar", "seq_len": 128, "num_kv_pairs": 8}


@pytest.fixture
def card(tmp_path):
    model = zoo.create_model("hybrid-tiny")
    (tmp_path / "curves.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    provenance = Provenance(
        name="hybrid-tiny-mqar", hub_id="seqzoo/hybrid-tiny-mqar", preset="hybrid-tiny", task=SETTING,
        task_description="MQAR (length 64)", datasets=["someone/some-data"],
        training={"command": "zoo train configs/pretrained/hybrid-tiny-mqar.yaml", "config": "name: hybrid-tiny-mqar"},
        evaluations=[Evaluation(SETTING, "MQAR (length 64)", {"test/acc": 0.99, "val/acc": 0.98}),
                     Evaluation(LONGER, "MQAR (length 128)", {"test/acc": 0.41}, "zoo eval x task.seq_len=128")],
        curves=tmp_path / "curves.png",
    )
    folder = save_pretrained(model, tmp_path / "export", provenance)
    return ModelCard.load(folder / CARD_FILE), folder


def test_metadata_is_what_the_hub_reads(card):
    parsed, _ = card
    data = parsed.data
    assert data.library_name == "seqzoo" and data.license == "apache-2.0" and data.pipeline_tag == "text-generation"
    assert {"seqzoo", "mamba2-hybrid", "mamba2", "attention", "mqar"} <= set(data.tags)
    assert data.datasets == ["someone/some-data"] and data.metrics == ["accuracy"]
    assert data.model_name == "hybrid-tiny-mqar"


def test_each_setting_is_its_own_model_index_entry(card):
    parsed, _ = card
    entries = {(r.dataset_name, r.dataset_config, r.metric_name): r.metric_value for r in parsed.data.eval_results}
    assert entries == {("MQAR (length 64)", "seq_len=64,num_kv_pairs=4", "test/acc"): 0.99,
                       ("MQAR (length 128)", "seq_len=128,num_kv_pairs=8", "test/acc"): 0.41}
    assert all(r.dataset_type == "mqar" and r.dataset_split == "test" for r in parsed.data.eval_results)


def test_every_section_is_there(card):
    parsed, folder = card
    text = parsed.text
    for heading in ("## Architecture and size", "## Training data", "## Training", "## Evaluation",
                    "## Training curves", "## How to load", "## Intended use and limits", "## Citation"):
        assert heading in text, f"the card lacks {heading}"
    assert "zoo train configs/pretrained/hybrid-tiny-mqar.yaml" in text and "name: hybrid-tiny-mqar" in text
    assert "![training curves](training_curves.png)" in text and (folder / "training_curves.png").is_file()
    assert 'zoo.from_pretrained("seqzoo/hybrid-tiny-mqar")' in text and "AutoModelForCausalLM" in text
    assert "| MQAR (length 128) | test/acc | 0.4100 |" in text and "`zoo eval x task.seq_len=128`" in text


@pytest.mark.parametrize("preset, keys", [
    ("hybrid-tiny", ["dao2024transformers", "vaswani2017attention"]),
    ("mamba-tiny", ["gu2023mamba"]),
    ("xlstm-tiny", ["beck2024xlstm"]),
    ("gated-deltanet-tiny", ["yang2025gated", "yang2024parallelizing"]),
    ("based-tiny", ["arora2024simple", "vaswani2017attention", "beltagy2020longformer"]),
    ("bigbird-tiny", ["vaswani2017attention", "zaheer2020bigbird"]),
])
def test_the_architecture_papers_are_cited(preset, keys, tmp_path):
    zoo.create_model(preset).save_pretrained(tmp_path / "out")
    text = (tmp_path / "out" / CARD_FILE).read_text()
    citation = text.split("## Citation", 1)[1]
    assert [key for key in keys if f"{{{key}," not in citation] == []
    assert citation.count("@") == len(keys)


def test_a_model_changed_from_its_preset_is_named_for_what_it_is(tmp_path, request, monkeypatch):
    monkeypatch.setenv("SEQZOO_DATA", str(tmp_path / "data"))
    experiment = request.config.rootpath / "configs" / "experiments" / "mqar-hybrid.yaml"
    assert main(["train", str(experiment), "model.layers=[deltanet,attention]", "trainer.max_steps=2",
                 "task.num_train=64", "task.num_val=32", "task.num_test=32", f"output_dir={tmp_path / 'runs'}"]) == 0
    (run,) = (tmp_path / "runs" / "mqar-hybrid").iterdir()
    model = load_pretrained(run / "export")
    assert model.provenance.name == "deltanet-attention-hybrid-custom-mqar"
    assert model.config.family == "deltanet-attention-hybrid" and model.config.name == "custom"
    assert model.provenance.preset == "hybrid-tiny" and "layers" in model.provenance.changes
    data = ModelCard.load(run / "export" / CARD_FILE).data
    assert "mamba2-hybrid" not in data.tags and "deltanet-attention-hybrid" in data.tags and data.datasets is None
