"""Activation checkpointing (`set_activation_checkpointing`, the config's trainer.activation_checkpointing) changes
what is kept for the backward pass, never a result: outputs and every gradient are bit for bit those of the plain
run, for every family, causal and bidirectional, padded and packed."""

import pytest
import torch
from small_presets import TINY_PRESETS

import zoo


def _outputs_and_gradients(model, ids, lengths):
    model.zero_grad()
    outputs = model(ids, lengths)
    outputs.square().mean().backward()
    return outputs.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("bidirectional", [False, True], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_checkpointed_blocks_give_the_same_outputs_and_gradients(preset, bidirectional, seed):
    model = zoo.create_model(preset, head={"kind": "classifier", "num_outputs": 3}, bidirectional=bidirectional)
    model = model.double()
    ids = torch.randint(0, 256, (3, 21))
    lengths = torch.tensor([21, 9, 14])
    plain = _outputs_and_gradients(model, ids, lengths)
    model.set_activation_checkpointing(True)
    checkpointed = _outputs_and_gradients(model, ids, lengths)
    assert torch.equal(plain[0], checkpointed[0]), f"{preset}: outputs differ (seed {seed})"
    assert plain[1].keys() == checkpointed[1].keys()
    for name, grad in plain[1].items():
        assert torch.equal(grad, checkpointed[1][name]), f"{preset}: gradient of {name} differs (seed {seed})"


def test_blocks_are_recomputed_only_while_gradients_are_recorded(monkeypatch):
    """Training goes through torch's checkpoint once per block; inference (no_grad) runs the blocks directly."""
    import zoo.models.backbone as backbone

    calls = []
    real = backbone.checkpoint
    monkeypatch.setattr(backbone, "checkpoint", lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    model = zoo.create_model("mamba2-tiny")
    model.set_activation_checkpointing(True)
    ids = torch.randint(0, 256, (1, 5))
    with torch.no_grad():
        model(ids)
    assert not calls
    model(ids).sum().backward()
    assert len(calls) == len(model.backbone.layers)
