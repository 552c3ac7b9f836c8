"""seqzoo's image classifiers in timm's registry (`zoo.models.timm_models`): every `seqzoo_*` model builds through
`timm.create_model` at a small size, trains (forward and backward, finite gradients everywhere), exposes timm's
classifier interface, and survives a state-dict round trip through a second `create_model` bit for bit."""

from __future__ import annotations

import pytest
import timm
import torch
from zoo.models.timm_models import FAMILY_PRESETS, SeqZooImageClassifier, timm_name

NAMES = timm.list_models("seqzoo_*")
SMALL = {"num_classes": 10, "in_chans": 1, "img_size": 16}  # 16 patches of 4 x 4


def test_every_family_is_listed():
    assert NAMES == sorted(timm_name(preset) for preset in FAMILY_PRESETS)
    assert len(NAMES) == 11 and "seqzoo_mamba2_hybrid_tiny_patch4" in NAMES and "seqzoo_based_tiny_patch4" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_builds_trains_and_resets_its_classifier(name, seed):
    model = timm.create_model(name, **SMALL)
    assert isinstance(model, SeqZooImageClassifier) and model.num_classes == 10
    assert model.pretrained_cfg is model.default_cfg and model.pretrained_cfg["input_size"] == (3, 32, 32)
    assert model.model.config.bidirectional and model.model.config.head.pool == "mean"
    images = torch.randn(3, 1, 16, 16)
    features = model.forward_features(images)
    assert features.shape == (3, 16, model.num_features)
    assert model.forward_head(features, pre_logits=True).shape == (3, model.num_features)
    logits = model(images)
    assert logits.shape == (3, 10)
    torch.testing.assert_close(model.forward_head(features), logits, rtol=0, atol=0)
    logits.square().sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), f"{parameter_name} (seed {seed})"
    assert model.get_classifier() is model.model.head.linear and model.get_classifier().out_features == 10
    assert "model.encoder.position" in model.no_weight_decay()
    assert all(p.ndim < 2 or getattr(p, "_no_weight_decay", False) for n, p in model.named_parameters()
               if n in model.no_weight_decay())
    backbone = model.model.backbone.state_dict()
    model.reset_classifier(5)
    assert model.num_classes == 5 and model(images).shape == (3, 5) and model.get_classifier().out_features == 5
    assert all(torch.equal(value, model.model.backbone.state_dict()[key]) for key, value in backbone.items())


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_through_create_model_is_exact(name, seed):
    model = timm.create_model(name, **SMALL).eval()
    state = {key: value.clone() for key, value in model.state_dict().items()}
    rebuilt = timm.create_model(name, **SMALL).eval()
    rebuilt.load_state_dict(state)
    images = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(images), rebuilt(images)), f"seed {seed}"


def test_options_and_refusals():
    model = timm.create_model("seqzoo_mamba_tiny_patch4", num_classes=3, img_size=(8, 8), global_pool="last",
                              drop_rate=0.1)
    assert model.model.config.head.pool == "last" and model.model.config.head.dropout == 0.1
    assert model.model.config.encoder.in_channels == 3 and model(torch.randn(2, 3, 8, 8)).shape == (2, 3)
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model("seqzoo_mamba_tiny_patch4", pretrained=True)
    with pytest.raises(ValueError, match="square images"):
        timm.create_model("seqzoo_mamba_tiny_patch4", img_size=(8, 16))
    with pytest.raises(ValueError, match="global_pool 'max'.*avg, mean, last, first"):
        timm.create_model("seqzoo_mamba_tiny_patch4", global_pool="max")
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        model.reset_classifier(0)
