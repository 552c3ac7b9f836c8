"""BASED's layers (`zoo.models.families.based`) and presets.

- The Taylor feature map reproduces 1 + s + s^2 / 2.
- `BasedLinearAttention` equals the quadratic form written here from the paper's definition (normalised causal
  attention with weights 1 + s + s^2 / 2), with and without grouped key/value heads; decoding equals the parallel
  forward; a forward continued from a state equals one forward; packed sequences equal separate runs.
- `BasedConv` equals in_proj, a causal depthwise conv1d (torch's conv1d with left padding), SiLU, gate, out_proj.
- The based-360m preset has the published layer pattern and the parameter count of the upstream model.
Float64, tolerance 1e-10.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from zoo.models import model_config
from zoo.models.families.attention import Attention
from zoo.models.families.based import (
    BasedConfig,
    BasedConv,
    BasedLinearAttention,
    TaylorFeatureMap,
)

import zoo

TOL = dict(rtol=1e-10, atol=1e-10)
D_MODEL = 32
CONFIG = BasedConfig(feature_dim=8, num_heads=4, chunk_size=8)


def linear_attention(kv_heads: int = 0, **changes) -> BasedLinearAttention:
    config = dataclasses.replace(CONFIG, num_kv_heads=kv_heads, **changes)
    return BasedLinearAttention(D_MODEL, config).double().eval()


def quadratic_based(layer: BasedLinearAttention, x: torch.Tensor) -> torch.Tensor:
    """y_t = sum_{s<=t} a_ts v_s / (sum_{s<=t} a_ts + eps), a_ts = 1 + s + s^2 / 2, s = q_t . k_s / sqrt(d)."""
    batch, length, _ = x.shape
    groups = layer.num_heads // layer.num_kv_heads
    q = layer.q_proj(x).view(batch, length, layer.num_heads, -1)
    k = layer.k_proj(x).view(batch, length, layer.num_kv_heads, -1).repeat_interleave(groups, 2)
    v = layer.v_proj(x).view(batch, length, layer.num_kv_heads, -1).repeat_interleave(groups, 2)
    s = torch.einsum("bthd,bshd->bhts", q, k) / layer.feature_dim**0.5
    a = (1 + s + s**2 / 2) * torch.ones(length, length, dtype=torch.bool).tril()
    y = torch.einsum("bhts,bshd->bthd", a, v) / (a.sum(-1).transpose(1, 2)[..., None] + layer.eps)
    return layer.out_proj(y.flatten(2))


def test_taylor_feature_map_gives_the_second_order_expansion(seed):
    dim = 16
    phi = TaylorFeatureMap(dim)
    q, k = torch.randn(5, dim, dtype=torch.float64), torch.randn(7, dim, dtype=torch.float64)
    s = q @ k.T / dim**0.5
    assert phi.out_dim == 153 and phi(q).shape == (5, 153)
    torch.testing.assert_close(phi(q) @ phi(k).T, 1 + s + s**2 / 2, **TOL)


@pytest.mark.parametrize("kv_heads", [0, 2], ids=["mha", "gqa"])
def test_linear_attention_matches_the_quadratic_form(kv_heads, seed):
    layer = linear_attention(kv_heads)
    x = torch.randn(2, 37, D_MODEL, dtype=torch.float64)
    with torch.no_grad():
        y, state = layer(x)
        expected = quadratic_based(layer, x)
    torch.testing.assert_close(y, expected, **TOL)
    features = TaylorFeatureMap(CONFIG.feature_dim).out_dim
    assert state.shape == (2, CONFIG.num_heads, features, D_MODEL // CONFIG.num_heads + 1)


@pytest.mark.parametrize("kv_heads", [0, 2], ids=["mha", "gqa"])
def test_linear_attention_decoding_and_continuation(kv_heads, seed):
    layer = linear_attention(kv_heads)
    x = torch.randn(3, 29, D_MODEL, dtype=torch.float64)
    with torch.no_grad():
        expected, final = layer(x)
        y, state = layer(x[:, :10])
        outputs = [y]
        for t in range(10, 29):
            y_t, state = layer.step(x[:, t], state)
            outputs.append(y_t[:, None])
        torch.testing.assert_close(torch.cat(outputs, 1), expected, **TOL)
        torch.testing.assert_close(state, final, **TOL)
        first, middle = layer(x[:, :13])
        second, end = layer(x[:, 13:], middle)
    torch.testing.assert_close(torch.cat((first, second), 1), expected, **TOL)
    torch.testing.assert_close(end, final, **TOL)


@pytest.mark.parametrize("mixer", ["based", "based_conv"])
def test_packed_sequences_match_separate_runs(mixer, seed):
    layer = linear_attention() if mixer == "based" else BasedConv(D_MODEL, CONFIG).double()
    sequences = [torch.randn(1, n, D_MODEL, dtype=torch.float64) for n in (5, 19, 2)]
    cu_seqlens = torch.tensor([0, 5, 24, 26])
    with torch.no_grad():
        packed, states = layer(torch.cat(sequences, 1), cu_seqlens=cu_seqlens)
        runs = [layer(s) for s in sequences]
    torch.testing.assert_close(packed, torch.cat([y for y, _ in runs], 1), **TOL)
    torch.testing.assert_close(states, torch.cat([state for _, state in runs], 0), **TOL)


def test_based_conv_matches_its_definition(seed):
    config = dataclasses.replace(CONFIG, conv_bias=True)
    layer = BasedConv(D_MODEL, config).double()
    x = torch.randn(2, 23, D_MODEL, dtype=torch.float64)
    with torch.no_grad():
        y, _ = layer(x)
        u, gate = layer.in_proj(x).chunk(2, dim=-1)
        width = config.conv_kernel
        conv = F.conv1d(F.pad(u.transpose(1, 2), (width - 1, 0)), layer.conv.weight[:, None], layer.conv.bias,
                        groups=u.shape[-1])
        expected = layer.out_proj(F.silu(conv.transpose(1, 2)) * gate)
    torch.testing.assert_close(y, expected, **TOL)
    assert layer.in_proj.weight.shape == (4 * D_MODEL, D_MODEL)
    assert layer.out_proj.weight.shape == (D_MODEL, 2 * D_MODEL)


def test_based_conv_decoding_matches_parallel_forward(seed):
    layer = BasedConv(D_MODEL, CONFIG).double()
    x = torch.randn(2, 17, D_MODEL, dtype=torch.float64)
    with torch.no_grad():
        expected, _ = layer(x)
        y, state = layer(x[:, :4])
        outputs = [y]
        for t in range(4, 17):
            y_t, state = layer.step(x[:, t], state)
            outputs.append(y_t[:, None])
    torch.testing.assert_close(torch.cat(outputs, 1), expected, **TOL)
    assert state.shape == (2, 2 * D_MODEL, CONFIG.conv_kernel - 1)


@pytest.mark.parametrize(
    "changes, key",
    [
        (dict(feature_dim=0), "based.feature_dim"),
        (dict(num_heads=4, num_kv_heads=3), "based.num_kv_heads"),
        (dict(chunk_size=0), "based.chunk_size"),
    ],
)
def test_linear_attention_config_errors_name_the_key(changes, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        BasedLinearAttention(D_MODEL, dataclasses.replace(CONFIG, **changes))


@pytest.mark.parametrize(
    "changes, key", [(dict(conv_kernel=0), "based.conv_kernel"), (dict(conv_expand=0), "based.conv_expand")]
)
def test_conv_config_errors_name_the_key(changes, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        BasedConv(D_MODEL, dataclasses.replace(CONFIG, **changes))


def test_based_tiny_mixes_the_three_layer_types(seed):
    model = zoo.create_model("based-tiny")
    kinds = [type(block.mixer).__name__ for block in model.backbone.layers]
    assert kinds == ["BasedConv", "BasedLinearAttention", "Attention", "BasedConv"]
    assert model.backbone.layers[2].mixer.mask.max_left == 8  # sliding window: a rolling cache of 9 keys
    assert model.num_parameters() < 1_000_000


# ---- based-360m against the upstream model -------------------------------------------------------------------

LINEAR_LAYERS, WINDOW_LAYERS = (1, 6, 11, 16, 21), (2, 7, 12, 17, 22)


def upstream_based_360m_tensors() -> dict[str, tuple[int, ...]]:
    """The parameter tensors of HazyResearch/based's `GPTLMHeadModel` built from
    `train/configs/experiment/reference/based-360m.yaml` (the hazyresearch/based-360m checkpoint), by upstream name.

    From the upstream modules: `GPT2Embeddings` (word embeddings only: `max_position_embeddings: 0`) over the GPT-2
    vocabulary 50257 padded to a multiple of 8 (50264), with `lm_head` tied to it; per block `norm1`, `norm2`
    (flash_attn RMSNorm: a weight, no bias) and `GatedMlp(hidden_features=n_inner=2048, bias1=bias2=False)`: fc1
    d -> 2 * 2048, fc2 2048 -> d; mixers by `alt_mixer_layers` / `alt_mixer_2_layers`: `LinearAttention`
    (proj_q, proj_k: d -> 16 heads * feature_dim 16, proj_v, out_proj: d -> d, no biases), `SlidingAttention`
    (Wqkv: d -> 3 d and out_proj, `qkv_proj_bias: false`, `out_proj_bias: false`), otherwise `BaseConv`
    (`expand_proj: 4`, `use_bias: True`: in_proj d -> 4 d with bias, out_proj 2 d -> d with bias, and a
    `ShortConvolution` over 2 d channels, kernel 3, `conv_bias=False`: an nn.Conv1d weight [2 d, 1, 3]); `ln_f`.
    The names match the checkpoint's (as candle's loader of hazyresearch/based-360m reads them).

    Neither upstream runs here: HazyResearch/based needs flash_attn's CUDA extensions and is not on PyPI, and
    flash-linear-attention (0.1 to 0.6) ships BASED's linear-attention layer only, no BasedForCausalLM; the peer test
    tests/peers/test_based_parity.py builds that fla layer on the meta device and checks its share of this count.
    """
    d, vocab, inner, heads, feature = 1024, 50264, 2048, 16, 16
    tensors = {"transformer.embeddings.word_embeddings.weight": (vocab, d)}
    for i in range(27):
        prefix = f"transformer.layers.{i}."
        tensors |= {
            prefix + "norm1.weight": (d,),
            prefix + "norm2.weight": (d,),
            prefix + "mlp.fc1.weight": (2 * inner, d),
            prefix + "mlp.fc2.weight": (d, inner),
        }
        mixer = prefix + "mixer."
        if i in LINEAR_LAYERS:
            tensors |= {
                mixer + "proj_q.weight": (heads * feature, d),
                mixer + "proj_k.weight": (heads * feature, d),
                mixer + "proj_v.weight": (d, d),
                mixer + "out_proj.weight": (d, d),
            }
        elif i in WINDOW_LAYERS:
            tensors |= {mixer + "Wqkv.weight": (3 * d, d), mixer + "out_proj.weight": (d, d)}
        else:
            tensors |= {
                mixer + "in_proj.weight": (4 * d, d),
                mixer + "in_proj.bias": (4 * d,),
                mixer + "conv.conv.weight": (2 * d, 1, 3),
                mixer + "out_proj.weight": (d, 2 * d),
                mixer + "out_proj.bias": (d,),
            }
    tensors["transformer.ln_f.weight"] = (d,)
    return tensors


UPSTREAM_BASED_360M_PARAMETERS = 362_620_928


def test_upstream_inventory_sums_to_the_recorded_count():
    total = sum(torch.Size(shape).numel() for shape in upstream_based_360m_tensors().values())
    assert total == UPSTREAM_BASED_360M_PARAMETERS


def test_based_360m_has_the_upstream_parameter_count_and_layout():
    config = model_config("based-360m")
    kinds = {"based": LINEAR_LAYERS, "attention": WINDOW_LAYERS}
    for i, name in enumerate(config.layers):
        assert name == next((kind for kind, where in kinds.items() if i in where), "based_conv"), f"layer {i}"
    assert len(config.layers) == 27
    with torch.device("meta"):
        model = zoo.create_model("based-360m")
    assert model.num_parameters() == UPSTREAM_BASED_360M_PARAMETERS
    # per-module shapes, to catch two differences cancelling out in the total
    upstream = upstream_based_360m_tensors()
    ours = dict(model.named_parameters())
    assert ours["encoder.embedding.weight"].shape == upstream["transformer.embeddings.word_embeddings.weight"]
    pairs = {
        1: {"q_proj.weight": "proj_q.weight", "k_proj.weight": "proj_k.weight", "v_proj.weight": "proj_v.weight",
            "out_proj.weight": "out_proj.weight"},
        2: {"in_proj.weight": "Wqkv.weight", "out_proj.weight": "out_proj.weight"},
        0: {"in_proj.weight": "in_proj.weight", "in_proj.bias": "in_proj.bias", "out_proj.weight": "out_proj.weight",
            "out_proj.bias": "out_proj.bias"},
    }
    for layer, names in pairs.items():
        for mine, theirs in names.items():
            assert ours[f"backbone.layers.{layer}.mixer.{mine}"].shape == upstream[
                f"transformer.layers.{layer}.mixer.{theirs}"
            ], (layer, mine)
    assert ours["backbone.layers.0.mixer.conv.weight"].numel() == 2 * 1024 * 3
    mixer = model.backbone.layers[2].mixer
    assert isinstance(mixer, Attention) and mixer.mask.window == (128, 0) and mixer.num_heads == 16
