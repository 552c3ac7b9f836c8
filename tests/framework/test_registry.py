"""The model registry: presets, overrides, listing, pretrained lookup."""

import pytest
from zoo.models import (
    ModelConfig,
    UnknownNameError,
    get_entry,
    model_config,
    register_model,
)

import zoo
from zoo.errors import CheckpointError


def test_list_models_and_patterns():
    names = zoo.list_models()
    assert names == sorted(names)
    assert {"attention-tiny", "mamba2-tiny", "hybrid-tiny"} <= set(names)
    assert zoo.list_models("mamba2-t*") == ["mamba2-tiny"]
    assert zoo.list_models("nothing-*") == []


def test_tiny_presets_are_tiny():
    for name in zoo.list_models("*-tiny"):
        assert zoo.create_model(name).num_parameters() < 1_000_000


def test_create_model_applies_overrides_and_names_family():
    model = zoo.create_model("hybrid-tiny", d_model=32, encoder={"vocab_size": 100})
    assert model.config.d_model == 32 and model.config.encoder.vocab_size == 100 and model.vocab_size == 100
    assert model.config.name == "hybrid-tiny" and model.config.family == "mamba2-hybrid"
    assert model.encoder.embedding.weight.shape == (100, 32)


def test_section_overrides_merge_key_by_key():
    config = model_config("hybrid-tiny", mixers={"attention": {"num_heads": 2}})
    assert config.mixers["attention"].num_heads == 2
    assert config.mixers["mamba2"] == model_config("hybrid-tiny").mixers["mamba2"]


def test_presets_are_fresh_copies():
    first = model_config("hybrid-tiny")
    first.mixers["attention"].num_heads = 1
    assert model_config("hybrid-tiny").mixers["attention"].num_heads == 4


def test_unknown_name_and_field_errors():
    with pytest.raises(UnknownNameError, match="unknown model 'mamba9'.*hybrid-tiny"):
        zoo.create_model("mamba9")
    with pytest.raises(ValueError, match=r"unknown config key 'model.dmodel' \(did you mean 'model.d_model'\?\)"):
        zoo.create_model("hybrid-tiny", dmodel=3)
    with pytest.raises(ValueError, match=r"unknown config key 'model.mixers.attention.num_head'"):
        zoo.create_model("hybrid-tiny", mixers={"attention": {"num_head": 3}})
    with pytest.raises(ValueError, match=r"'model.mixers.attentio'.*unknown mixer section"):
        zoo.create_model("hybrid-tiny", mixers={"attentio": {"num_heads": 3}})


def test_register_model_rejects_duplicates_and_registers_new_presets():
    @register_model("test-registry-probe", family="attention")
    def probe() -> ModelConfig:
        return ModelConfig(d_model=16, layers=["attention"])

    assert "test-registry-probe" in zoo.list_models()
    assert get_entry("test-registry-probe").family == "attention"
    with pytest.raises(ValueError, match="registered twice"):
        register_model("test-registry-probe", family="attention")(probe)


def test_pretrained_tag_errors():
    with pytest.raises(CheckpointError, match="no pretrained checkpoint 'nope'; available: mqar"):
        zoo.create_model("hybrid-tiny", pretrained="nope")
    with pytest.raises(CheckpointError, match="has no pretrained checkpoint; `zoo list --pretrained`"):
        zoo.create_model("attention-small", pretrained=True)
    with pytest.raises(ValueError, match="cannot be combined with pretrained"):
        zoo.create_model("hybrid-tiny", pretrained=True, d_model=8)
