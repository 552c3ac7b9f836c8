"""Model config values that used to build something other than documented, or fail with a raw error: each now
fails naming the key; section overrides given as dicts merge key by key."""

import pytest
import torch
from zoo.models.families.based import BasedLinearAttention

import zoo


def test_section_overrides_merge_key_by_key():
    model = zoo.create_model("swa-tiny", mixers={"attention": {"num_heads": 2}})
    mixer = model.backbone.layers[0].mixer
    assert mixer.num_heads == 2 and mixer.mask.window == (8, 0)  # the preset's window survives
    with pytest.raises(ValueError, match="num_headz"):
        zoo.create_model("swa-tiny", mixers={"attention": {"num_headz": 2}})


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(mixers={"attention": {"num_heads": 0}}), "mixers.attention.num_heads"),
        (dict(mixers={"attention": {"num_kv_heads": -2}}), "mixers.attention.num_kv_heads"),
        (dict(mixers={"attention": {"head_dim": -4}}), "mixers.attention.head_dim"),
        (dict(mixers={"attention": {"num_heads": 128}}), "mixers.attention.num_heads"),
        (dict(mixers={"attention": {"rope_base": 0.0}}), "mixers.attention.rope_base"),
        (dict(d_intermediate=-5), "d_intermediate"),
        (dict(norm_eps=-1e-5), "norm_eps"),
        (dict(bidirectional_tied=True), "bidirectional_tied"),
    ],
)
def test_bad_values_name_their_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        zoo.create_model("attention-tiny", **overrides)


@pytest.mark.parametrize(
    "section, message",
    [
        ({"A_init_range": [5.0, 1.0]}, "A_init_range"),
        ({"A_init_range": [1.0]}, "A_init_range"),
        ({"dt_min": 0.2, "dt_max": 0.1}, "dt_min"),
    ],
)
def test_gated_deltanet_initialisation_ranges(section, message):
    with pytest.raises(ValueError, match=message):
        zoo.create_model("gated-deltanet-tiny", mixers={"gated_deltanet": section})


def test_based_linear_attention_survives_float16_at_long_lengths():
    """The normaliser sums phi(q).phi(k) >= 1/2 per token: in float16 it would pass 65504; the layer scans in
    float32 and returns its input's dtype."""
    torch.manual_seed(0)
    model = zoo.create_model("based-tiny")
    layer = model.backbone.layers[1].mixer
    assert isinstance(layer, BasedLinearAttention)
    with torch.no_grad():
        layer.q_proj.weight.mul_(30)
        layer.k_proj.weight.mul_(30)
    x = torch.randn(1, 2048, 64)
    expected, _ = layer(x)
    y, state = layer.half()(x.half())
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    torch.testing.assert_close(y.float(), expected, rtol=2e-2, atol=2e-2)


def test_generate_refuses_nan_temperature_and_out_of_range_eos():
    model = zoo.create_model("attention-tiny")
    prompt = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(prompt, 2, temperature=float("nan"))
    with pytest.raises(ValueError, match="eos_token_id"):
        model.generate(prompt, 2, eos_token_id=999)
