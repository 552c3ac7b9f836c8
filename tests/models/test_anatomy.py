"""Encoder -> backbone -> head for every family: each head kind builds on every tiny preset, trains a step,
round-trips through save_pretrained / load_pretrained bit for bit, and gives a padded sequence exactly what it gives
alone, causal or bidirectional."""

from __future__ import annotations

import pytest
import torch
from small_presets import TINY_PRESETS
from zoo.models.heads.pooling import pool

import zoo
from zoo.hub import load_pretrained, save_pretrained

CHANNELS = 3
# head kind -> (head fields, encoder override, the output shape for a batch of B sequences of length T)
HEADS = {
    "lm": ({}, None, lambda b, t, vocab: (b, t, vocab)),
    "token_classifier": ({"num_outputs": 5}, None, lambda b, t, vocab: (b, t, 5)),
    "classifier": ({"num_outputs": 4, "pool": "mean"}, None, lambda b, t, vocab: (b, 4)),
    "matching": ({"num_outputs": 2, "pool": "last"}, None, lambda b, t, vocab: (b, 2)),
    "regression": ({"num_outputs": 2, "horizon": 6}, {"kind": "linear", "in_channels": CHANNELS},
                   lambda b, t, vocab: (b, 6, 2)),
}
# Float64 runs differ from each other only in the order of summation: over 50 seeds (make sweep) the worst padded vs
# alone difference was 5.8e-15 (ratio 5.8e-6 of this tolerance); the save/load round trip is compared exactly.
TOL = dict(rtol=1e-9, atol=1e-9)


def build(preset: str, head: str, bidirectional: bool = False) -> zoo.models.SequenceModel:
    fields, encoder, _ = HEADS[head]
    overrides = {"head": {"kind": head, **fields}, "bidirectional": bidirectional}
    if encoder is not None:
        overrides["encoder"] = encoder
    return zoo.create_model(preset, **overrides)


def inputs_for(model, batch: int, length: int) -> torch.Tensor:
    """Random inputs of the model's encoder kind, with a pair axis for two-tower heads."""
    shape = (batch, model.towers, length) if model.towers > 1 else (batch, length)
    if model.config.encoder.kind == "linear":
        return torch.randn(*shape, CHANNELS, dtype=torch.float64)
    return torch.randint(0, model.config.encoder.vocab_size, shape)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_every_head_on_every_family_trains_a_step_and_round_trips(preset, head, tmp_path, seed):
    model = build(preset, head)
    vocab = model.config.encoder.vocab_size if model.config.encoder.kind == "tokens" else 0
    inputs = inputs_for(model, 3, 19).to(torch.float32) if head == "regression" else inputs_for(model, 3, 19)
    outputs = model(inputs)
    assert outputs.shape == HEADS[head][2](3, 19, vocab), f"{preset}/{head} (seed {seed})"

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    outputs.float().square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), f"{preset}/{head}: {name}"
    optimizer.step()
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters()), "the step changed nothing"

    model.eval()
    save_pretrained(model, tmp_path / "export")
    loaded = load_pretrained(tmp_path / "export")
    assert loaded.config == model.config
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    with torch.no_grad():
        assert torch.equal(loaded(inputs), model(inputs)), f"{preset}/{head}: outputs changed after loading"


@pytest.mark.parametrize("bidirectional", [False, True], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_padding_never_changes_a_result(preset, bidirectional, seed):
    """A padded batch with real lengths gives each sequence the features and pooled outputs it gets alone; the
    backward direction starts at each sequence's last real token."""
    lengths = torch.tensor([7, 13, 4])
    padded_length = 13
    for head in ("classifier", "regression"):
        model = build(preset, head, bidirectional).double().eval()
        inputs = inputs_for(model, 3, padded_length)
        garbage = inputs_for(model, 3, padded_length)  # whatever sits in the padding must not matter
        real = torch.arange(padded_length)[None] < lengths[:, None]
        mask = real.view(*real.shape, *[1] * (inputs.ndim - 2))
        inputs = torch.where(mask, inputs, garbage)
        with torch.no_grad():
            features = model.forward_features(inputs, lengths)
            outputs = model(inputs, lengths)
            for row, length in enumerate(lengths.tolist()):
                alone = inputs[row : row + 1, :length]
                torch.testing.assert_close(features[row, :length], model.forward_features(alone)[0], **TOL,
                                           msg=lambda m: f"{preset} {head} row {row} (seed {seed}): {m}")
                torch.testing.assert_close(outputs[row], model(alone)[0], **TOL,
                                           msg=lambda m: f"{preset} {head} row {row} (seed {seed}): {m}")


@pytest.mark.parametrize("preset", ["mamba2-tiny", "attention-tiny"])
def test_pairs_are_padded_and_compared_as_two_sequences(preset, seed):
    """Two-tower matching: each member of a padded pair is encoded alone by the shared towers, pooled to u and v,
    and `[u, v, u * v, u - v]` goes through the head's MLP."""
    model = build(preset, "matching", bidirectional=True).double().eval()
    pairs = inputs_for(model, 2, 9)
    lengths = torch.tensor([[9, 5], [3, 7]])

    def tower(sequence: torch.Tensor) -> torch.Tensor:  # [1, L] -> pooled features [d_model]
        return pool(model.backbone(model.encoder(sequence))[0], None, model.config.head.pool)[0]

    with torch.no_grad():
        joint = model(pairs, lengths)
        for row in range(2):
            u, v = (tower(pairs[row : row + 1, j, : lengths[row, j]]) for j in range(2))
            expected = model.head.mlp(torch.cat([u, v, u * v, u - v]))
            torch.testing.assert_close(joint[row], expected, **TOL, msg=lambda m: f"row {row} (seed {seed}): {m}")
