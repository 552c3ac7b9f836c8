"""The Mamba-2-Hybrid recipe by configuration: the layer pattern (`hybrid_layers`), the standalone `mlp` layer it
needs, attention without position embeddings, and partial rotary embeddings (mamba_ssm's MHA)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from zoo.models import ModelConfig, build_model
from zoo.models.families.attention import Attention, AttentionConfig
from zoo.models.families.mamba import Mamba2Config, hybrid_layers
from zoo.models.families.mlp import MLPLayer, MLPLayerConfig
from zoo.models.layers.rotary import RotaryEmbedding

import zoo

# Random weights and inputs: every test reseeds from the `seed` fixture (tests/conftest.py), so that a failure
# names its seed and `make sweep` measures these tolerances.
pytestmark = pytest.mark.usefixtures("seed")

SYMBOLS = {"mamba2": "M", "attention": "*", "mlp": "-"}
# Megatron-LM's layer pattern for its 800M-scale Mamba-2-Hybrid (48 layers, --hybrid-attention-ratio 0.08
# --hybrid-mlp-ratio 0.5), as forks of NVIDIA/Megatron-LM spell it in examples/mamba/train.sh
# (--hybrid-override-pattern): M = Mamba-2, * = attention, - = MLP.
MEGATRON_800M_PATTERN = "M-M-M--M-*M-M-M-M--*M-M-M-M-*M--M-M-M-*M-M--M-M-"


def spell(layers: list[str]) -> str:
    return "".join(SYMBOLS[name] for name in layers)


def test_hybrid_layers_reproduce_megatrons_800m_pattern():
    assert spell(hybrid_layers(48)) == MEGATRON_800M_PATTERN


def test_hybrid_layers_of_the_8b_model_have_the_papers_counts():
    """The paper's 8B Mamba-2-Hybrid: 56 layers, 24 Mamba-2, 4 attention (7.1%), 28 MLP."""
    layers = hybrid_layers(56)
    assert (layers.count("mamba2"), layers.count("attention"), layers.count("mlp")) == (24, 4, 28)


@pytest.mark.parametrize("num_layers", [12, 24, 48, 56, 100])
def test_hybrid_layers_spread_attention_evenly_and_follow_each_mixer_by_an_mlp(num_layers):
    layers = hybrid_layers(num_layers)
    assert len(layers) == num_layers
    attention = [i for i, name in enumerate(layers) if name == "attention"]
    assert len(attention) == round(0.08 * num_layers) and layers.count("mlp") == round(0.5 * num_layers)
    assert 0 not in attention and num_layers - 1 not in attention
    runs = [b - a for a, b in zip([-1, *attention], [*attention, num_layers])]  # layers between attention layers
    assert max(runs) - min(runs) <= 2
    assert layers[-1] == "mlp" and layers[0] == "mamba2"


def test_hybrid_layers_edge_ratios():
    assert hybrid_layers(5, 0.0, 0.0) == ["mamba2"] * 5
    assert hybrid_layers(4, 0.0, 1.0) == ["mlp"] * 4
    assert hybrid_layers(4, 0.0, 0.5, mixer="mamba") == ["mamba", "mlp", "mamba", "mlp"]
    with pytest.raises(ValueError, match="sum to at most 1"):
        hybrid_layers(10, 0.6, 0.6)


def test_hybrid_presets_are_the_recipe_layer_for_layer():
    small = zoo.models.model_config("mamba2-hybrid-small")
    assert spell(small.layers) == MEGATRON_800M_PATTERN and small.d_intermediate == 0
    assert not small.head.tie_embeddings and small.mixers["attention"].position_embedding == "none"
    model = build_model(zoo.models.model_config("mamba2-hybrid-tiny"))
    for block, name in zip(model.backbone.layers, model.config.layers):
        assert block.mlp is None, "every layer of the recipe is one sublayer: no MLP inside blocks"
        assert isinstance(block.mixer, MLPLayer) == (name == "mlp")
        if name == "attention":
            assert block.mixer.rotary is None
    mlp = model.backbone.layers[model.config.layers.index("mlp")].mixer
    assert (mlp.fc1.in_features, mlp.fc1.out_features, mlp.fc1.bias) == (64, 256, None)


def test_mlp_layer_plain_and_gated():
    x = torch.randn(2, 5, 8)
    plain = MLPLayer(8, MLPLayerConfig(d_intermediate=12))
    y, state = plain(x)
    assert state is None
    torch.testing.assert_close(y, plain.fc2(torch.nn.functional.gelu(plain.fc1(x))))
    gated = MLPLayer(8, MLPLayerConfig(d_intermediate=12, gated=True, activation="silu", bias=True))
    assert gated.fc1.out_features == 24 and gated.fc1.bias is not None
    a, g = gated.fc1(x).chunk(2, dim=-1)
    torch.testing.assert_close(gated(x)[0], gated.fc2(a * torch.nn.functional.silu(g)))
    torch.testing.assert_close(gated.step(x[:, 2], None)[0], gated(x)[0][:, 2])


@pytest.mark.parametrize("field, value", [("activation", "tanh"), ("d_intermediate", -3)])
def test_mlp_layer_config_errors_name_the_key(field, value):
    with pytest.raises(ValueError, match=f"'model.mixers.mlp.{field}'"):
        MLPLayer(8, dataclasses.replace(MLPLayerConfig(), **{field: value}))


def test_mlp_layers_stay_position_wise_in_bidirectional_models():
    config = ModelConfig(d_model=16, layers=["mamba2", "mlp"], bidirectional=True,
                         mixers={"mamba2": Mamba2Config(d_state=8, headdim=8, chunk_size=8)})
    model = build_model(config)
    assert isinstance(model.backbone.layers[1].mixer, MLPLayer) and model.backbone.layers[1].mlp is None


def test_attention_without_position_embedding_ignores_the_order_of_earlier_tokens():
    layer = Attention(16, AttentionConfig(num_heads=2, position_embedding="none"))
    x = torch.randn(1, 6, 16)
    shuffled = torch.cat([x[:, [3, 0, 4, 2, 1]], x[:, 5:]], dim=1)
    torch.testing.assert_close(layer(x)[0][:, -1], layer(shuffled)[0][:, -1])
    with_rope = Attention(16, AttentionConfig(num_heads=2))
    with_rope.load_state_dict(layer.state_dict())
    assert not torch.allclose(with_rope(x)[0][:, -1], with_rope(shuffled)[0][:, -1])


def test_partial_rotary_rotates_the_leading_channels_only():
    x = torch.randn(2, 7, 3, 16)
    positions = torch.arange(7)
    partial = RotaryEmbedding(16, base=500.0, rotary_dim=8)(x, positions)
    torch.testing.assert_close(partial[..., 8:], x[..., 8:])
    torch.testing.assert_close(partial[..., :8], RotaryEmbedding(8, base=500.0)(x[..., :8], positions))
    torch.testing.assert_close(RotaryEmbedding(16, rotary_dim=16)(x, positions), RotaryEmbedding(16)(x, positions))


@pytest.mark.parametrize("field, value", [("position_embedding", "alibi"), ("rotary_dim", 7), ("rotary_dim", 32)])
def test_attention_position_config_errors_name_the_key(field, value):
    with pytest.raises(ValueError, match=f"'model.mixers.attention.{field}'"):
        Attention(16, dataclasses.replace(AttentionConfig(num_heads=2), **{field: value}))


def test_partial_rotary_attention_decodes_like_its_parallel_forward():
    layer = Attention(32, AttentionConfig(num_heads=2, num_kv_heads=1, rotary_dim=6)).double()
    x = torch.randn(2, 9, 32, dtype=torch.float64)
    expected, _ = layer(x)
    _, state = layer(x[:, :4])
    steps = []
    for t in range(4, 9):
        y, state = layer.step(x[:, t], state)
        steps.append(y)
    torch.testing.assert_close(torch.stack(steps, dim=1), expected[:, 4:])
