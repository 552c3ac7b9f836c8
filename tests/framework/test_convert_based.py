"""The BASED converter (`zoo.models.families.based.convert`) without HazyResearch/based (it needs flash_attn's
CUDA extensions): tiny fake upstream folders (config.json in `GPT2MixerConfig` fields and pytorch_model.bin in the upstream names and layouts, as
tests/models/test_based.py lists them for based-360m), the round trip through our tiny BASED model, the published
based-360m config against our preset, and the error paths, each naming the config key or tensor."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from zoo.models import CONVERTERS, build_model, model_config
from zoo.models.families.based import convert as based
from zoo.models.upstream import ConversionError

import zoo
from zoo.convert import from_upstream

VOCAB = 45  # padded to 48 by pad_vocab_size_multiple 8
D, HEADS, FEATURE, INNER, LAYERS = 32, 4, 8, 128, 5
LINEAR_LAYERS, WINDOW_LAYERS = [1], [2]


def upstream_config(**changes) -> dict:
    """A tiny BASED config.json (GPT2MixerConfig fields, as based-360m's yaml sets them, at toy sizes)."""
    config = dict(
        architectures=["GPTLMHeadModel"], model_type="gpt2", n_embd=D, n_head=HEADS, n_layer=LAYERS, n_inner=INNER,
        n_positions=64, vocab_size=VOCAB, pad_vocab_size_multiple=8, rms_norm=True, layer_norm_epsilon=1e-5,
        activation_function="swiglu", mlp_fc1_bias=False, mlp_fc2_bias=False, qkv_proj_bias=False,
        out_proj_bias=False, rotary_emb_fraction=1.0, max_position_embeddings=0, fused_mlp=False, fused_bias_fc=True,
        fused_dropout_add_ln=True, residual_in_fp32=True, use_flash_attn=True, special_initializer=True,
        attn_pdrop=0, embd_pdrop=0, resid_pdrop=0, reorder_and_upcast_attn=False, scale_attn_by_inverse_layer_idx=False,
        scale_attn_weights=True, initializer_range=0.02, bos_token_id=50256, eos_token_id=50256, use_cache=True,
        transformers_version="4.35.2",
        alt_mixer_layers=LINEAR_LAYERS, alt_mixer_2_layers=WINDOW_LAYERS,
        mixer={"_target_": "based.models.mixers.convolution.BaseConv", "l_max": 64, "use_bias": True,
               "expand_proj": 4, "kernel_sizes": 3},
        alt_mixer={"_target_": "based.models.mixers.linear_attention.LinearAttention", "l_max": 64,
                   "feature_map": {"_target_": "based.models.mixers.linear_attention.TaylorExp",
                                   "input_dim": FEATURE},
                   "feature_dim": FEATURE, "num_heads": HEADS},
        alt_mixer_2={"_target_": "based.models.mixers.slide_attention.SlidingAttention", "window_size": 16,
                     "num_heads": HEADS, "causal": True},
    )
    config.update(changes)
    return config


def upstream_tensors(config: dict) -> dict[str, tuple[int, ...]]:
    """Upstream tensor names and shapes of a (tiny) BASED model, in the layout test_based.py lists for based-360m."""
    d, inner = config["n_embd"], config["n_inner"]
    vocab = -(-config["vocab_size"] // config["pad_vocab_size_multiple"]) * config["pad_vocab_size_multiple"]
    heads, feature = config["alt_mixer"]["num_heads"], config["alt_mixer"]["feature_dim"]
    expand = config["mixer"]["expand_proj"]
    shapes = {"transformer.embeddings.word_embeddings.weight": (vocab, d)}
    for i in range(config["n_layer"]):
        prefix = f"transformer.layers.{i}."
        shapes |= {prefix + "norm1.weight": (d,), prefix + "norm2.weight": (d,),
                   prefix + "mlp.fc1.weight": (2 * inner, d), prefix + "mlp.fc2.weight": (d, inner)}
        mixer = prefix + "mixer."
        if i in config["alt_mixer_2_layers"]:
            shapes |= {mixer + "Wqkv.weight": (3 * d, d), mixer + "out_proj.weight": (d, d)}
        elif i in config["alt_mixer_layers"]:
            shapes |= {mixer + "proj_q.weight": (heads * feature, d), mixer + "proj_k.weight": (heads * feature, d),
                       mixer + "proj_v.weight": (d, d), mixer + "out_proj.weight": (d, d)}
        else:
            shapes |= {mixer + "in_proj.weight": (expand * d, d), mixer + "in_proj.bias": (expand * d,),
                       mixer + "conv.conv.weight": (expand * d // 2, 1, 3),
                       mixer + "out_proj.weight": (d, expand * d // 2), mixer + "out_proj.bias": (d,)}
    shapes["transformer.ln_f.weight"] = (d,)
    shapes["lm_head.weight"] = (vocab, d)
    return shapes


def random_upstream(config: dict) -> dict[str, torch.Tensor]:
    state = {name: torch.randn(shape) for name, shape in upstream_tensors(config).items()}
    state["lm_head.weight"] = state["transformer.embeddings.word_embeddings.weight"]  # tied, saved twice
    return state


# the inverse of the converter's mapping, written here from the upstream module names
_MIXER_INVERSE = {"q_proj": "proj_q", "k_proj": "proj_k", "v_proj": "proj_v"}


def to_upstream(model) -> dict[str, torch.Tensor]:
    """Our BASED model's weights in HazyResearch/based's names and layouts."""
    state = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.clone()
        if name == "encoder.embedding.weight":
            state["transformer.embeddings.word_embeddings.weight"] = tensor
            state["lm_head.weight"] = tensor
            continue
        if name == "head.linear.weight":
            continue
        if name == "backbone.norm_f.weight":
            state["transformer.ln_f.weight"] = tensor
            continue
        _, _, index, rest = name.split(".", 3)
        kind = model.config.layers[int(index)]
        rest = {"norm.weight": "norm1.weight"}.get(rest, rest)
        if rest.startswith("mixer."):
            module, part = rest.removeprefix("mixer.").split(".")
            if kind == "based_conv" and module == "conv":
                module, tensor = "conv.conv", tensor.unsqueeze(1) if part == "weight" else tensor
            elif kind == "attention" and module == "in_proj":
                module = "Wqkv"
            module = _MIXER_INVERSE.get(module, module) if kind == "based" else module
            rest = f"mixer.{module}.{part}"
        state[f"transformer.layers.{index}.{rest}"] = tensor
    return state


def write(folder: Path, config: dict, state: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def test_registered():
    assert CONVERTERS.get("based").model_config is based.model_config


def test_converted_model_is_filled_exactly(tmp_path, seed):
    config = upstream_config()
    state = random_upstream(config)
    model = from_upstream(write(tmp_path / "up", config, state), source="based")
    assert model.config.layers == ["based_conv", "based", "attention", "based_conv", "based_conv"]
    ours = model.state_dict()
    converted, sources = based.state_dict(state, model.config, {})
    assert set(converted) == set(ours)  # every upstream tensor has a place, every place a tensor
    assert set(sources.values()) == set(state)
    expected = {
        "encoder.embedding.weight": "transformer.embeddings.word_embeddings.weight",
        "backbone.norm_f.weight": "transformer.ln_f.weight",
        "backbone.layers.0.mixer.conv.weight": "transformer.layers.0.mixer.conv.conv.weight",
        "backbone.layers.0.mixer.in_proj.bias": "transformer.layers.0.mixer.in_proj.bias",
        "backbone.layers.1.mixer.q_proj.weight": "transformer.layers.1.mixer.proj_q.weight",
        "backbone.layers.1.mixer.v_proj.weight": "transformer.layers.1.mixer.proj_v.weight",
        "backbone.layers.2.mixer.in_proj.weight": "transformer.layers.2.mixer.Wqkv.weight",
        "backbone.layers.3.norm.weight": "transformer.layers.3.norm1.weight",
        "backbone.layers.4.mlp.fc1.weight": "transformer.layers.4.mlp.fc1.weight",
    }
    for mine, theirs in expected.items():
        torch.testing.assert_close(ours[mine], state[theirs].reshape(ours[mine].shape), rtol=0, atol=0)
    # every upstream tensor lands somewhere and every one of ours is filled: the upstream parameter count is ours
    upstream_count = sum(t.numel() for n, t in state.items() if n != "lm_head.weight")
    assert model.num_parameters() == upstream_count
    assert sorted(t.numel() for n, t in state.items() if n != "lm_head.weight") == sorted(
        t.numel() for n, t in model.state_dict().items() if n != "head.linear.weight"
    )


def test_round_trip_gives_identical_logits(tmp_path, seed):
    config = upstream_config()
    ours_config, _ = based.model_config(config)
    model = build_model(ours_config).eval()
    converted = from_upstream(write(tmp_path / "up", config, to_upstream(model)), source="based")
    tokens = torch.randint(0, 48, (2, 40))  # longer than the window (8 keys)
    with torch.no_grad():
        torch.testing.assert_close(converted(tokens), model(tokens), rtol=0, atol=0)


def test_prefixed_checkpoint_and_metrics_are_read(tmp_path, seed):
    """Upstream's from_pretrained_hf strips a leading 'model.' and drops '*metrics*' entries; so does the converter."""
    config = upstream_config()
    state = {f"model.{n}": t for n, t in random_upstream(config).items()}
    state["train_metrics.num-tokens.count"] = torch.tensor(3.0)
    model = from_upstream(write(tmp_path / "up", config, state), source="based")
    torch.testing.assert_close(model.encoder.embedding.weight, state["model.transformer.embeddings.word_embeddings.weight"])


def published_based_360m_config() -> dict:
    """hazyresearch/based-360m's config as HazyResearch/based's train/configs/experiment/reference/based-360m.yaml
    sets it (GPT-2 defaults for the rest). Reconstructed from the yaml and the BASED presets' account of it
    (models/families/based/presets.py); the released config.json was not read here."""
    return dict(
        architectures=["GPTLMHeadModel"], model_type="gpt2", n_embd=1024, n_head=16, n_layer=27, n_inner=2048,
        n_positions=2048, vocab_size=50257, pad_vocab_size_multiple=8, rms_norm=True, layer_norm_epsilon=1e-5,
        activation_function="swiglu", mlp_fc1_bias=False, mlp_fc2_bias=False, qkv_proj_bias=False,
        out_proj_bias=False, rotary_emb_fraction=1, max_position_embeddings=0, fused_mlp=False, fused_bias_fc=True,
        fused_dropout_add_ln=True, residual_in_fp32=True, use_flash_attn=True, special_initializer=True,
        attn_pdrop=0, embd_pdrop=0, resid_pdrop=0, reorder_and_upcast_attn=False,
        scale_attn_by_inverse_layer_idx=False, scale_attn_weights=True, initializer_range=0.02,
        summary_activation=None, summary_first_dropout=0.1, summary_proj_to_labels=True, summary_type="cls_index",
        summary_use_proj=True, bos_token_id=50256, eos_token_id=50256, use_cache=True,
        alt_mixer_layers=[1, 6, 11, 16, 21], alt_mixer_2_layers=[2, 7, 12, 17, 22],
        mixer={"_target_": "based.models.mixers.convolution.BaseConv", "l_max": 2048, "use_bias": True,
               "expand_proj": 4, "kernel_sizes": 3},
        alt_mixer={"_target_": "based.models.mixers.linear_attention.LinearAttention", "l_max": 2048,
                   "feature_map": {"_target_": "based.models.mixers.linear_attention.TaylorExp", "input_dim": 16},
                   "feature_dim": 16, "num_heads": 16},
        alt_mixer_2={"_target_": "based.models.mixers.slide_attention.SlidingAttention", "window_size": 256,
                     "num_heads": 16, "causal": True},
    )


def test_published_based_360m_config_is_our_preset():
    converted, _ = based.model_config(published_based_360m_config())
    preset = model_config("based-360m")
    converted.name = preset.name
    assert converted == preset
    with torch.device("meta"):
        assert build_model(converted).num_parameters() == zoo.create_model("based-360m").num_parameters()


def _with(config: dict, path: str, value) -> dict:
    config = copy.deepcopy(config)
    *parents, last = path.split(".")
    section = config
    for part in parents:
        section = section[part]
    if value is _DELETE:
        section.pop(last)
    else:
        section[last] = value
    return config


_DELETE = object()


@pytest.mark.parametrize(
    "path, value, key",
    [
        ("rms_norm", False, "rms_norm"),
        ("activation_function", "gelu_new", "activation_function"),
        ("mlp_fc1_bias", True, "mlp_fc1_bias"),
        ("max_position_embeddings", 2048, "max_position_embeddings"),
        ("rotary_emb_interleaved", True, "rotary_emb_interleaved"),
        ("n_head_kv", 2, "n_head_kv"),
        ("n_inner", _DELETE, "n_inner"),
        ("n_inner", 96, "n_inner"),
        ("n_embd", _DELETE, "n_embd"),
        ("alt_mixer._target_", "based.models.mixers.hedgehog.Hedgehog", "alt_mixer._target_"),
        ("alt_mixer.feature_map", {"_target_": "x.PosELU"}, "alt_mixer.feature_map"),
        ("alt_mixer.num_key_value_heads", 2, "alt_mixer.num_key_value_heads"),
        ("alt_mixer.mystery", 1, "alt_mixer.mystery"),
        ("mixer.kernel_sizes", 4, "mixer.kernel_sizes"),
        ("alt_mixer_layers", [1, 9], "alt_mixer_layers"),
        ("parallel_block", True, "parallel_block"),
        ("mystery_key", 1, "mystery_key"),
    ],
)
def test_unrepresentable_configs_name_the_key(path, value, key):
    config = _with(upstream_config(), path, value)
    with pytest.raises(ConversionError, match=f"'{key.replace('.', '[.]')}'"):
        based.model_config(config, "based checkpoint x")


def test_full_attention_layers_convert():
    config = upstream_config(alt_mixer_2=None)
    converted, options = based.model_config(config)
    assert converted.layers[2] == "attention" and converted.mixers["attention"].kind == "full"
    assert options["kinds"][2] == "mha"


def test_full_and_sliding_attention_together_are_refused():
    config = upstream_config(alt_mixer=None)  # layer 1 is full MHA, layer 2 sliding-window: two attention sections
    with pytest.raises(ConversionError, match="'alt_mixer_2'"):
        based.model_config(config)


def test_tensor_errors_name_the_tensor(tmp_path, seed):
    config = upstream_config()
    state = random_upstream(config)
    extra = dict(state, **{"transformer.embeddings.position_embeddings.weight": torch.zeros(64, D)})
    with pytest.raises(ConversionError, match="transformer.embeddings.position_embeddings.weight"):
        from_upstream(write(tmp_path / "extra", config, extra), source="based")
    missing = {n: t for n, t in state.items() if n != "transformer.layers.1.mixer.proj_k.weight"}
    with pytest.raises(ConversionError, match=r"backbone\.layers\.1\.mixer\.k_proj\.weight"):
        from_upstream(write(tmp_path / "missing", config, missing), source="based")
    wrong = dict(state, **{"transformer.layers.0.mixer.conv.conv.weight": torch.zeros(2 * D, 1, 4)})
    with pytest.raises(ConversionError, match=r"transformer\.layers\.0\.mixer\.conv\.conv\.weight"):
        from_upstream(write(tmp_path / "wrong", config, wrong), source="based")
    untied = dict(state, **{"lm_head.weight": torch.zeros_like(state["lm_head.weight"])})
    with pytest.raises(ConversionError, match="lm_head.weight"):
        from_upstream(write(tmp_path / "untied", config, untied), source="based")
    biased = dict(state, **{"transformer.layers.0.mixer.conv.conv.bias": torch.zeros(2 * D)})
    with pytest.raises(ConversionError, match=r"transformer\.layers\.0\.mixer\.conv\.conv\.bias"):
        from_upstream(write(tmp_path / "biased", config, biased), source="based")
