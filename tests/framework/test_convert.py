"""`zoo.convert` without the upstream packages: small fake upstream folders (config.json and weights in mamba_ssm's
or fla's names and layouts, written from one of our models), the round trip back to that model, the sharded and
hub paths, `zoo convert` and `from_pretrained(source=...)`, and every error path: each message names the file,
config key or tensor at fault. tests/peers/test_convert_*.py check the mappings against the upstream models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from zoo.models import CONVERTERS, build_model
from zoo.models.families.deltanet import convert as fla
from zoo.models.families.mamba import convert as mamba_ssm
from zoo.models.upstream import ConversionError

import zoo
from zoo.cli import main
from zoo.convert import convert, from_upstream
from zoo.errors import CheckpointError

VOCAB = 50


def mamba_ssm_config(**changes) -> dict:
    """A tiny config.json of mamba_ssm's `MambaLMHeadModel` (its `MambaConfig` fields)."""
    config = dict(d_model=16, n_layer=2, d_intermediate=0, vocab_size=VOCAB, ssm_cfg={"d_state": 4},
                  attn_layer_idx=[], attn_cfg={}, rms_norm=True, residual_in_fp32=True, fused_add_norm=True,
                  pad_vocab_size_multiple=8, tie_embeddings=True)
    config.update(changes)
    return config


def to_mamba_ssm(model) -> dict[str, torch.Tensor]:
    """Our state dict in mamba_ssm's names and layouts (the inverse of the converter's mapping)."""
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith("conv1d.weight") and tensor.dim() == 2:
            tensor = tensor.unsqueeze(1)
        name = {"encoder.embedding.weight": "backbone.embedding.weight", "head.linear.weight": "lm_head.weight"}.get(
            name, name)
        state[name] = tensor.clone()
    return state


def write_mamba_ssm(folder: Path, config: dict, state: dict | None = None):
    """A folder as mamba_ssm's `save_pretrained` writes it (config.json, pytorch_model.bin), holding the weights of
    a random model of ours built from the same config; returns that model."""
    model = build_model(mamba_ssm.model_config(config)[0]).eval()
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    torch.save(to_mamba_ssm(model) if state is None else state, folder / "pytorch_model.bin")
    return model


def fla_config(**changes) -> dict:
    """A tiny config.json of fla's `DeltaNetForCausalLM` as transformers writes it."""
    config = dict(model_type="delta_net", architectures=["DeltaNetForCausalLM"], hidden_size=16, num_hidden_layers=2,
                  num_heads=2, vocab_size=VOCAB, intermediate_size=24, tie_word_embeddings=False, norm_eps=1e-6,
                  attn=None, attn_mode="chunk", fuse_norm=True, bos_token_id=1, eos_token_id=2, dtype="float32",
                  transformers_version="5.0.0", use_cache=True)
    config.update(changes)
    return config


def to_fla(model) -> dict[str, torch.Tensor]:
    """Our state dict in fla's names and layouts (the inverse of the converter's mapping)."""
    state = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.clone().contiguous()
        if name == "encoder.embedding.weight":
            state["model.embeddings.weight"] = tensor
        elif name == "backbone.norm_f.weight":
            state["model.norm.weight"] = tensor
        elif name == "head.linear.weight":
            if not model.config.head.tie_embeddings:
                state["lm_head.weight"] = tensor
        else:
            index, rest = name.removeprefix("backbone.layers.").split(".", 1)
            prefix = f"model.layers.{index}."
            if rest == "mlp.fc1.weight":
                up, gate = tensor.chunk(2)
                state[prefix + "mlp.up_proj.weight"], state[prefix + "mlp.gate_proj.weight"] = up, gate
            else:
                rest = {"norm.weight": "attn_norm.weight", "norm2.weight": "mlp_norm.weight",
                        "mlp.fc2.weight": "mlp.down_proj.weight"}.get(rest, rest.replace("mixer.", "attn.", 1))
                if rest.endswith("conv1d.weight"):
                    tensor = tensor.unsqueeze(1)
                state[prefix + rest] = tensor
    return state


def write_fla(folder: Path, config: dict, shards: int = 1):
    """A folder as transformers' `save_pretrained` writes an fla model (config.json, model.safetensors or shards
    with their index); returns our model whose weights it holds."""
    model = build_model(fla.model_config(config)[0]).eval()
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    state = to_fla(model)
    if shards == 1:
        save_file(state, str(folder / "model.safetensors"))
    else:
        names = sorted(state)
        weight_map = {}
        for shard in range(shards):
            file = f"model-{shard + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: state[n] for n in names[shard::shards]}
            save_file(part, str(folder / file))
            weight_map.update({n: file for n in part})
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return model


def assert_same_logits(converted, model):
    ids = torch.randint(0, VOCAB, (2, 11))
    with torch.no_grad():
        torch.testing.assert_close(converted(ids), model(ids), rtol=0, atol=0)


# ---- round trips --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [
    mamba_ssm_config(),
    mamba_ssm_config(ssm_cfg={"layer": "Mamba2", "d_state": 8, "headdim": 8, "chunk_size": 8}, d_intermediate=20,
                     attn_layer_idx=[1], attn_cfg={"num_heads": 2, "causal": True, "rotary_emb_dim": 8},
                     tie_embeddings=False, pad_vocab_size_multiple=16),
], ids=["mamba1", "mamba2-hybrid"])
def test_mamba_ssm_folder_round_trip(tmp_path, config):
    model = write_mamba_ssm(tmp_path / "up", config)
    converted = from_upstream(tmp_path / "up", "mamba_ssm")
    assert converted.config.layers == model.config.layers and not converted.training
    assert converted.vocab_size == (56 if config["pad_vocab_size_multiple"] == 8 else 64)
    assert_same_logits(converted, model)


def test_mamba_ssm_config_mapping():
    config, options = mamba_ssm.model_config(mamba_ssm_config(
        ssm_cfg={"layer": "Mamba2", "d_state": 8, "headdim": 8, "dt_limit": [0.0, 1.0], "use_mem_eff_path": False},
        d_intermediate=130, attn_layer_idx=[0],
        attn_cfg={"num_heads": 4, "num_heads_kv": 2, "head_dim": 8, "causal": True, "rotary_emb_dim": 4,
                  "rotary_emb_interleaved": True, "rotary_emb_base": 500, "qkv_proj_bias": False},
    ))
    assert config.layers == ["attention", "mamba2"] and config.family == "mamba2-hybrid"
    assert config.d_intermediate == 256  # mamba_ssm's GatedMLP rounds up to a multiple of 128
    assert config.mixers["mamba2"].chunk_size == 256 and config.mixers["mamba2"].dt_limit == [0.0, 1.0]
    attention = config.mixers["attention"]
    assert (attention.num_heads, attention.num_kv_heads, attention.head_dim) == (4, 2, 8)
    assert (attention.qkv_bias, attention.out_bias, attention.causal) == (False, True, True)
    assert (attention.position_embedding, attention.rotary_dim, attention.rope_base) == ("rope", 4, 500.0)
    assert options == {"interleaved_rotary": True}
    nope, _ = mamba_ssm.model_config(mamba_ssm_config(attn_layer_idx=[1], attn_cfg={"num_heads": 2}))
    assert nope.mixers["attention"].position_embedding == "none" and not nope.mixers["attention"].causal  # MHA's


def test_interleaved_rotary_rows_are_reordered_per_head():
    config, options = mamba_ssm.model_config(mamba_ssm_config(
        n_layer=1, attn_layer_idx=[0], attn_cfg={"num_heads": 2, "rotary_emb_dim": 4, "rotary_emb_interleaved": True}))
    rows = torch.arange(3 * 16, dtype=torch.float32)  # q heads 0-7, 8-15; k heads 16-23, 24-31; v 32-47
    converted, _ = mamba_ssm.state_dict({"backbone.layers.0.mixer.in_proj.bias": rows}, config, options)
    expected = [0, 2, 1, 3, 4, 5, 6, 7, 8, 10, 9, 11, 12, 13, 14, 15] * 2
    expected = [r + (16 if i >= 16 else 0) for i, r in enumerate(expected)] + list(range(32, 48))
    assert converted["backbone.layers.0.mixer.in_proj.bias"].tolist() == expected


@pytest.mark.parametrize("shards", [1, 3])
def test_fla_folder_round_trip(tmp_path, shards):
    model = write_fla(tmp_path / "up", fla_config(), shards=shards)
    assert_same_logits(from_upstream(tmp_path / "up", "fla"), model)


def test_fla_gated_deltanet_tied_hybrid_round_trip(tmp_path):
    config = fla_config(model_type="gated_deltanet", architectures=["GatedDeltaNetForCausalLM"], head_dim=8,
                        num_v_heads=4, tie_word_embeddings=True, num_hidden_layers=3, intermediate_size=None,
                        attn={"layers": [1], "num_heads": 2, "window_size": 4, "qkv_bias": True})
    model = write_fla(tmp_path / "up", config)
    converted = from_upstream(tmp_path / "up", "fla")
    assert converted.config.layers == ["gated_deltanet", "attention", "gated_deltanet"]
    assert converted.config.d_intermediate == 256 and converted.config.head.tie_embeddings  # fla's hidden_ratio 4
    attention = converted.config.mixers["attention"]
    assert (attention.kind, attention.window) == ("sliding_window", 3)
    assert_same_logits(converted, model)


def test_fla_gate_and_up_go_to_fc1_as_up_then_gate():
    config, options = fla.model_config(fla_config(num_hidden_layers=1))
    gate, up = torch.zeros(24, 16), torch.ones(24, 16)
    converted, sources = fla.state_dict(
        {"model.layers.0.mlp.gate_proj.weight": gate, "model.layers.0.mlp.up_proj.weight": up}, config, options)
    torch.testing.assert_close(converted["backbone.layers.0.mlp.fc1.weight"], torch.cat([up, gate]))


def test_hub_ids_are_fetched_through_the_hub_cache(tmp_path, monkeypatch):
    model = write_mamba_ssm(tmp_path / "up", mamba_ssm_config())
    calls = []

    def fake_snapshot_download(repo_id, allow_patterns, revision=None):
        calls.append((repo_id, tuple(allow_patterns)))
        return str(tmp_path / "up")

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot_download)
    for hub_id in ("state-spaces/mamba-tiny", "hf-hub:state-spaces/mamba-tiny"):
        converted = from_upstream(hub_id, "mamba_ssm")
        assert converted.config.name == "mamba-tiny"
        assert_same_logits(converted, model)
    assert [c[0] for c in calls] == ["state-spaces/mamba-tiny"] * 2 and "pytorch_model*.bin" in calls[0][1]


def test_hub_failure_says_what_to_do(monkeypatch):
    def offline(repo_id, allow_patterns, revision=None):
        raise OSError("offline mode is enabled")

    monkeypatch.setattr("huggingface_hub.snapshot_download", offline)
    with pytest.raises(CheckpointError, match="'org/missing' could not be fetched from the Hugging Face hub "
                                              r"\(OSError: offline mode is enabled\)"):
        from_upstream("org/missing", "mamba_ssm")


# ---- zoo convert, from_pretrained(source=...) ---------------------------------------------------------------


def test_cli_writes_our_hub_layout(tmp_path, capsys):
    model = write_mamba_ssm(tmp_path / "up", mamba_ssm_config())
    assert main(["convert", str(tmp_path / "up"), str(tmp_path / "out"), "--source", "mamba_ssm",
                 "--name", "mamba-tiny-test"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "README.md", "config.json", "eval_results.json", "model.safetensors"]
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["name"] == "mamba-tiny-test" and saved["training"] is None
    assert saved["converted_from"] == {"source": "mamba_ssm", "checkpoint": str(tmp_path / "up")}
    assert saved["license"] == "unknown" and saved["base_model"] is None, "no upstream card: nothing is claimed"
    assert_same_logits(zoo.from_pretrained(tmp_path / "out"), model)
    assert "converted mamba_ssm checkpoint" in capsys.readouterr().out


def test_converted_card_names_its_source_license_and_base_model(tmp_path):
    from huggingface_hub import ModelCard

    write_mamba_ssm(tmp_path / "up", mamba_ssm_config())
    (tmp_path / "up" / "README.md").write_text("---\nlicense: mit\n---\n# upstream\n")
    assert main(["convert", str(tmp_path / "up"), str(tmp_path / "out"), "--source", "mamba_ssm",
                 "--base-model", "state-spaces/mamba-tiny"]) == 0
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert card.data.license == "mit" and card.data.base_model == "state-spaces/mamba-tiny"
    assert f"`zoo convert --source mamba_ssm` from the mamba_ssm checkpoint `{tmp_path / 'up'}`" in card.text
    assert main(["convert", str(tmp_path / "up"), str(tmp_path / "out2"), "--source", "mamba_ssm",
                 "--license", "apache-2.0"]) == 0
    assert ModelCard.load(tmp_path / "out2" / "README.md").data.license == "apache-2.0"


def test_cli_error_exits_2_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "up").mkdir()
    assert main(["convert", str(tmp_path / "up"), str(tmp_path / "out"), "--source", "fla"]) == 2
    assert "has no config.json" in " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert not (tmp_path / "out").exists()


def test_cli_unknown_source_lists_the_converters(tmp_path, capsys):
    (tmp_path / "up").mkdir()
    assert main(["convert", str(tmp_path / "up"), str(tmp_path / "out"), "--source", "mamba-ssm"]) == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "unknown upstream source 'mamba-ssm'" in message
    assert all(source in message for source in CONVERTERS.names()) and len(CONVERTERS.names()) >= 4


def test_from_pretrained_with_a_source_converts(tmp_path):
    model = write_fla(tmp_path / "up", fla_config())
    assert_same_logits(zoo.from_pretrained(tmp_path / "up", source="fla"), model)


def test_convert_function_returns_the_folder(tmp_path):
    write_fla(tmp_path / "up", fla_config())
    assert convert(tmp_path / "up", tmp_path / "out", "fla") == tmp_path / "out"


# ---- errors -------------------------------------------------------------------------------------------------


def test_unknown_source(tmp_path):
    with pytest.raises(ConversionError, match="unknown upstream source 'hf'; choose one of: based, fla, mamba_ssm"):
        from_upstream(tmp_path, "hf")


def test_missing_folder_config_and_weights(tmp_path):
    with pytest.raises(ConversionError, match="upstream checkpoint folder not found"):
        from_upstream(tmp_path / "nowhere", "mamba_ssm")
    (tmp_path / "up").mkdir()
    with pytest.raises(ConversionError, match="has no config.json"):
        from_upstream(tmp_path / "up", "mamba_ssm")
    (tmp_path / "up" / "config.json").write_text("{not json")
    with pytest.raises(ConversionError, match="config.json is not valid JSON"):
        from_upstream(tmp_path / "up", "mamba_ssm")
    (tmp_path / "up" / "config.json").write_text(json.dumps(mamba_ssm_config()))
    with pytest.raises(ConversionError, match="holds no weights: expected one of model.safetensors, pytorch_model.bin"):
        from_upstream(tmp_path / "up", "mamba_ssm")
    (tmp_path / "up" / "pytorch_model.bin").write_bytes(b"truncated")
    with pytest.raises(ConversionError, match="pytorch_model.bin cannot be read"):
        from_upstream(tmp_path / "up", "mamba_ssm")


def test_missing_shard(tmp_path):
    write_fla(tmp_path / "up", fla_config(), shards=2)
    (tmp_path / "up" / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ConversionError, match="names the shard model-00002-of-00002.safetensors, which is missing"):
        from_upstream(tmp_path / "up", "fla")


@pytest.mark.parametrize("changes, key", [
    (dict(rms_norm=False), "'rms_norm' = False cannot be represented: mamba_ssm then builds nn.LayerNorm"),
    (dict(norm_epsilon=1e-6), r"config key\(s\) 'norm_epsilon' unknown to the mamba_ssm converter"),
    (dict(ssm_cfg={"layer": "Mamba3"}), "'ssm_cfg.layer' = 'Mamba3' cannot be represented"),
    (dict(ssm_cfg={"layer": "Mamba2", "d_ssm": 16}), "'ssm_cfg.d_ssm' = 16 cannot be represented"),
    (dict(ssm_cfg={"layer": "Mamba2", "D_has_hdim": True}), "'ssm_cfg.D_has_hdim' = True"),
    (dict(ssm_cfg={"layer": "Mamba2", "rmsnorm": False}), "'ssm_cfg.rmsnorm' = False"),
    (dict(ssm_cfg={"expand": 1.5}), "'ssm_cfg.expand' = 1.5"),
    (dict(ssm_cfg={"d_state": 4, "ssm_kind": "x"}), r"'ssm_cfg.ssm_kind' unknown"),
    (dict(attn_layer_idx=[1], attn_cfg={"num_heads": 2, "d_conv": 4}), "'attn_cfg.d_conv' = 4 cannot be represented"),
    (dict(attn_layer_idx=[1], attn_cfg={"num_heads": 2, "mlp_dim": 64}), "'attn_cfg.mlp_dim' = 64"),
    (dict(attn_layer_idx=[1], attn_cfg={"num_heads": 2, "softmax_scale": 1.0}), "'attn_cfg.softmax_scale' = 1.0"),
    (dict(attn_layer_idx=[1], attn_cfg={}), "config key 'attn_cfg.num_heads' is missing"),
    (dict(attn_layer_idx=[5], attn_cfg={"num_heads": 2}), "'attn_layer_idx' = \\[5\\]"),
])
def test_unrepresentable_mamba_ssm_config_keys_are_named(tmp_path, changes, key):
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "config.json").write_text(json.dumps(mamba_ssm_config(**changes)))
    torch.save({}, tmp_path / "up" / "pytorch_model.bin")
    with pytest.raises(ConversionError, match=key):
        from_upstream(tmp_path / "up", "mamba_ssm")


@pytest.mark.parametrize("changes, key", [
    (dict(model_type="rwkv7", architectures=["RWKV7ForCausalLM"]), "'model_type' = 'rwkv7' is not a model"),
    (dict(hidden_act="gelu"), "'hidden_act' = 'gelu' cannot be represented"),
    (dict(use_output_norm=False), "'use_output_norm' = False"),
    (dict(attnres_block_size=4), "'attnres_block_size' = 4"),
    (dict(attn=[{"layers": [0], "num_heads": 2}, {"layers": [1], "num_heads": 4}]), "its specs differ"),
    (dict(attn={"layers": [0], "num_heads": 2, "qk_norm": True}), r"spec key\(s\) \['qk_norm'\] unknown"),
    (dict(use_mtp=True), r"config key\(s\) 'use_mtp' unknown to the fla delta_net converter"),
])
def test_unrepresentable_fla_config_keys_are_named(tmp_path, changes, key):
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "config.json").write_text(json.dumps(fla_config(**changes)))
    save_file({}, str(tmp_path / "up" / "model.safetensors"))
    with pytest.raises(ConversionError, match=key):
        from_upstream(tmp_path / "up", "fla")


def test_tensor_errors_name_the_upstream_tensor(tmp_path):
    config = mamba_ssm_config()
    model = build_model(mamba_ssm.model_config(config)[0])
    state = to_mamba_ssm(model)

    wrong = dict(state, **{"backbone.layers.0.mixer.A_log": torch.zeros(32, 5)})
    write_mamba_ssm(tmp_path / "shape", config, wrong)
    with pytest.raises(ConversionError, match=r"tensor 'backbone.layers.0.mixer.A_log' has shape \(32, 5\), but the "
                                              r"config asks for \(32, 4\)"):
        from_upstream(tmp_path / "shape", "mamba_ssm")

    extra = dict(state, **{"backbone.layers.0.mixer.extra_gate.weight": torch.zeros(3)})
    write_mamba_ssm(tmp_path / "extra", config, extra)
    with pytest.raises(ConversionError, match="'backbone.layers.0.mixer.extra_gate.weight' have no counterpart"):
        from_upstream(tmp_path / "extra", "mamba_ssm")

    fewer = {n: t for n, t in state.items() if n != "backbone.layers.1.mixer.dt_proj.bias"}
    write_mamba_ssm(tmp_path / "fewer", config, fewer)
    with pytest.raises(ConversionError, match="lacks the tensor\\(s\\) for backbone.layers.1.mixer.dt_proj.bias"):
        from_upstream(tmp_path / "fewer", "mamba_ssm")

    untied = dict(state, **{"lm_head.weight": state["backbone.embedding.weight"] + 1})
    write_mamba_ssm(tmp_path / "untied", config, untied)
    with pytest.raises(ConversionError, match="ties the LM head to the embedding, but the checkpoint's 'lm_head"):
        from_upstream(tmp_path / "untied", "mamba_ssm")


def test_fla_missing_lm_head_of_an_untied_model(tmp_path):
    model = build_model(fla.model_config(fla_config())[0])
    state = {n: t for n, t in to_fla(model).items() if n != "lm_head.weight"}
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "config.json").write_text(json.dumps(fla_config()))
    save_file(state, str(tmp_path / "up" / "model.safetensors"))
    with pytest.raises(ConversionError, match="lacks the tensor\\(s\\) for head.linear.weight"):
        from_upstream(tmp_path / "up", "fla")
