"""Encoders and heads on their own: the patch encoder's scan orders, the linear encoder, pooling over real lengths,
`forward_features` / `forward_head` / `reset_head` in timm's manner, and the errors that name a wrong input."""

from __future__ import annotations

import pytest
import torch
from zoo.models import ENCODERS, HEADS, ModelConfigError
from zoo.models.encoders.patches import scan_order
from zoo.models.heads.pooling import pool

import zoo


def test_registered_parts():
    assert {"tokens", "linear", "patches"} <= set(ENCODERS.names())
    assert {"lm", "token_classifier", "classifier", "matching", "regression"} <= set(HEADS.names())


@pytest.mark.parametrize("scan, expected", [
    ("row", [0, 1, 2, 3, 4, 5]), ("column", [0, 3, 1, 4, 2, 5]), ("snake", [0, 1, 2, 5, 4, 3])])
def test_scan_orders(scan, expected):
    assert scan_order(2, 3, scan).tolist() == expected


def test_patch_encoder_reads_images_in_scan_order(seed):
    row = zoo.create_model("mamba2-tiny", encoder={"kind": "patches", "image_size": 8, "patch_size": 4,
                                                   "in_channels": 1}, head={"kind": "classifier", "num_outputs": 3})
    snake = zoo.create_model("mamba2-tiny", encoder={"kind": "patches", "image_size": 8, "patch_size": 4,
                                                     "in_channels": 1, "scan": "snake"},
                             head={"kind": "classifier", "num_outputs": 3})
    snake.load_state_dict(row.state_dict())
    images = torch.randn(2, 1, 8, 8)
    tokens_row, tokens_snake = row.encoder(images), snake.encoder(images)
    assert tokens_row.shape == (2, 4, 64)
    position = row.encoder.position  # added in sequence order: remove it to compare the patches themselves
    torch.testing.assert_close((tokens_snake - position)[:, [0, 1, 3, 2]], tokens_row - position)
    assert row(images).shape == (2, 3)
    with pytest.raises(ValueError, match=r"images \[B, 1, 8, 8\], got shape \(2, 3, 8, 8\)"):
        row(torch.randn(2, 3, 8, 8))


def test_patch_encoder_config_errors():
    with pytest.raises(ModelConfigError, match="'model.encoder.patch_size': must divide image_size 10"):
        zoo.create_model("mamba2-tiny", encoder={"kind": "patches", "image_size": 10, "patch_size": 4})
    with pytest.raises(ModelConfigError, match="'model.encoder.scan'.*hilbert.*row, column, snake"):
        zoo.create_model("mamba2-tiny", encoder={"kind": "patches", "scan": "hilbert"})


def test_linear_encoder_and_wrong_inputs():
    model = zoo.create_model("mamba-tiny", encoder={"kind": "linear", "in_channels": 2},
                             head={"kind": "regression", "num_outputs": 2, "horizon": 4})
    assert model(torch.randn(3, 10, 2)).shape == (3, 4, 2)
    with pytest.raises(ValueError, match=r"real values \[\.\.\., 2\].*shape \(3, 10, 5\)"):
        model(torch.randn(3, 10, 5))
    tokens = zoo.create_model("mamba-tiny")
    with pytest.raises(ValueError, match="integer ids.*'linear' encoder"):
        tokens(torch.randn(2, 5))


def test_pooling_uses_real_positions_only():
    features = torch.arange(12.0).view(2, 3, 2)
    lengths = torch.tensor([1, 3])
    assert pool(features, lengths, "last").tolist() == [[0.0, 1.0], [10.0, 11.0]]
    assert pool(features, lengths, "mean").tolist() == [[0.0, 1.0], [8.0, 9.0]]
    assert pool(features, lengths, "first").tolist() == [[0.0, 1.0], [6.0, 7.0]]
    assert pool(features, None, "mean").tolist() == [[2.0, 3.0], [8.0, 9.0]]
    features[0, 1:] = float("nan")  # padding may hold anything, NaN and inf too
    features[1, 2:] = float("inf")
    assert pool(features, torch.tensor([1, 2]), "mean").tolist() == [[0.0, 1.0], [7.0, 8.0]]
    assert pool(features, torch.tensor([1, 2]), "last").tolist() == [[0.0, 1.0], [8.0, 9.0]]


def test_nan_in_padding_of_a_causal_model_stays_out(seed):
    model = zoo.create_model("mamba-tiny", encoder={"kind": "linear", "in_channels": 2},
                             head={"kind": "classifier", "num_outputs": 3, "pool": "mean"}).double().eval()
    inputs = torch.randn(2, 6, 2, dtype=torch.float64)
    inputs[1, 3:] = float("nan")
    with torch.no_grad():
        padded = model(inputs, torch.tensor([6, 3]))
        alone = model(inputs[1:, :3])
    assert torch.isfinite(padded).all()
    torch.testing.assert_close(padded[1:], alone, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "inputs, message",
    [(torch.randint(0, 256, (8,)), r"a batch of sequences is \[B, T\] integer ids; got shape \(8,\)"),
     (torch.randint(0, 256, (2, 5, 3)), r"\[B, T\] integer ids; got shape \(2, 5, 3\)"),
     (torch.full((2, 5), 256), r"token ids must lie in \[0, 255\].*got ids from 256 to 256"),
     (torch.full((2, 5), -1), r"token ids must lie in \[0, 255\].*got ids from -1 to -1")],
)
def test_wrong_input_shapes_and_ids_are_named(inputs, message):
    with pytest.raises(ValueError, match=message):
        zoo.create_model("attention-tiny")(inputs)


def test_bad_lengths_are_named():
    model = zoo.create_model("mamba-tiny", head={"kind": "classifier"}, bidirectional=True)
    ids = torch.randint(0, 256, (2, 5))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]"):
        model(ids, torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"one integer per sequence, shape \[2\]"):
        model(ids, torch.tensor([5]))


def test_forward_features_head_and_pre_logits(seed):
    model = zoo.create_model("hybrid-tiny", head={"kind": "classifier", "num_outputs": 7, "pool": "last"}).eval()
    ids = torch.randint(0, 256, (2, 11))
    with torch.no_grad():
        features = model.forward_features(ids)
        assert features.shape == (2, 11, 64)
        pooled = model.forward_head(features, pre_logits=True)
        torch.testing.assert_close(pooled, features[:, -1])
        torch.testing.assert_close(model.forward_head(features), model(ids))
        torch.testing.assert_close(model.head.linear(pooled), model(ids))


def test_reset_head_keeps_the_backbone_and_fits_a_new_task(tmp_path, seed):
    """A pretrained language model's backbone, fine-tuned as a classifier (timm's reset_classifier)."""
    lm = zoo.create_model("hybrid-tiny", pretrained="mqar")
    backbone = {n: p.clone() for n, p in lm.backbone.state_dict().items()}
    lm.reset_head("classifier", num_outputs=5, pool="mean")
    assert lm.config.head.kind == "classifier" and lm.config.head.num_outputs == 5
    assert all(torch.equal(backbone[n], p) for n, p in lm.backbone.state_dict().items())
    assert lm(torch.randint(0, 256, (2, 9))).shape == (2, 5)
    lm.reset_head(num_outputs=3)  # the same kind, other fields
    assert lm.config.head.kind == "classifier" and lm.config.head.pool == "mean" and lm.head.linear.out_features == 3
    zoo.save_pretrained(lm, tmp_path / "classifier")
    assert zoo.from_pretrained(tmp_path / "classifier").config.head == lm.config.head
    lm.reset_head("lm")
    assert lm.head.linear.weight is lm.encoder.embedding.weight, "a new LM head is tied again"


def test_per_sequence_heads_do_not_decode():
    model = zoo.create_model("mamba-tiny", head={"kind": "classifier"})
    with pytest.raises(ValueError, match="predicts once per sequence"):
        model.prefill(torch.randint(0, 256, (1, 4)))
    with pytest.raises(ValueError, match="generate needs the 'lm' head"):
        model.generate(torch.randint(0, 256, (1, 4)), 2)
    with pytest.raises(ModelConfigError, match="'model.head.kind': the 'lm' head predicts tokens and needs the 'tokens'"):
        zoo.create_model("mamba-tiny", encoder={"kind": "linear", "in_channels": 2})


def test_per_token_heads_decode_real_valued_inputs_step_by_step(seed):
    model = zoo.create_model("hybrid-tiny", encoder={"kind": "linear", "in_channels": 2},
                             head={"kind": "token_classifier", "num_outputs": 3}).double().eval()
    values = torch.randn(2, 9, 2, dtype=torch.float64)
    with torch.no_grad():
        expected = model(values)
        outputs, states = model.prefill(values[:, :4])
        steps = [outputs]
        for t in range(4, 9):
            step, states = model.step(values[:, t], states)
            steps.append(step[:, None])
    torch.testing.assert_close(torch.cat(steps, dim=1), expected, rtol=1e-9, atol=1e-9)
