"""Packed sequences (one row, `cu_seqlens`) never see each other, in any family: each document's features and pooled
outputs are what it gets alone, and the gradient of a document's outputs is exactly zero on every other document's
inputs, causal and bidirectional."""

import pytest
import torch
from small_presets import TINY_PRESETS

import zoo

LENGTHS = [7, 13, 1, 5]
# float64 runs of one document, alone or packed, differ only in the order of summation: over 50 seeds (make sweep)
# the worst difference was 1.2e-15 (xlstm-tiny, bidirectional; a ratio of 1.2e-6 to this tolerance)
TOL = dict(rtol=1e-9, atol=1e-9)


def _documents(lengths):
    ends = torch.tensor(lengths).cumsum(0)
    return torch.nn.functional.pad(ends, (1, 0)), [slice(int(e) - n, int(e)) for e, n in zip(ends, lengths)]


@pytest.mark.parametrize("bidirectional", [False, True], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_no_state_or_attention_crosses_a_document_boundary(preset, bidirectional, seed):
    model = zoo.create_model(preset, bidirectional=bidirectional).double()
    cu_seqlens, documents = _documents(LENGTHS)
    x = torch.randn(1, sum(LENGTHS), model.config.d_model, dtype=torch.float64, requires_grad=True)
    y = model.backbone(x, None, cu_seqlens)[0]
    for index, document in enumerate(documents):
        alone = x[:, document].detach().requires_grad_(True)
        y_alone = model.backbone(alone, None, None)[0]
        torch.testing.assert_close(y[:, document], y_alone, **TOL,
                                   msg=lambda m: f"{preset} document {index} forward (seed {seed}): {m}")
        weights = torch.randn_like(y_alone)
        (grad,) = torch.autograd.grad((y[:, document] * weights).sum(), x, retain_graph=True)
        (grad_alone,) = torch.autograd.grad((y_alone * weights).sum(), alone)
        outside = torch.ones(x.shape[1], dtype=torch.bool)
        outside[document] = False
        assert torch.count_nonzero(grad[:, outside]) == 0, (
            f"{preset}: the outputs of document {index} have a gradient on other documents' inputs (seed {seed})")
        torch.testing.assert_close(grad[:, document], grad_alone, **TOL,
                                   msg=lambda m: f"{preset} document {index} backward (seed {seed}): {m}")


@pytest.mark.parametrize("preset", ["mamba2-tiny", "xlstm-tiny", "based-tiny", "bigbird-tiny"])
def test_packed_batches_through_the_whole_model(preset, seed):
    """A classifier pools each packed document over its own positions; a language model predicts each document's
    tokens as it does alone."""
    cu_seqlens, documents = _documents(LENGTHS)
    ids = torch.randint(0, 256, (1, sum(LENGTHS)))
    classifier = zoo.create_model(preset, head={"kind": "classifier", "num_outputs": 3, "pool": "mean"}).double()
    lm = zoo.create_model(preset).double()
    with torch.no_grad():
        pooled, logits = classifier(ids, cu_seqlens=cu_seqlens), lm(ids, cu_seqlens=cu_seqlens)
        assert pooled.shape == (len(LENGTHS), 3) and logits.shape == (1, sum(LENGTHS), 256)
        for index, document in enumerate(documents):
            torch.testing.assert_close(pooled[index], classifier(ids[:, document])[0], **TOL,
                                       msg=lambda m: f"{preset} document {index} pooled (seed {seed}): {m}")
            torch.testing.assert_close(logits[:, document], lm(ids[:, document]), **TOL,
                                       msg=lambda m: f"{preset} document {index} logits (seed {seed}): {m}")


@pytest.mark.parametrize("cu_seqlens, message", [
    (torch.tensor([0, 5, 20]), "rise from 0 to the packed length 26"),
    (torch.tensor([0, 5, 5, 26]), "rise from 0 to the packed length 26"),
    (torch.tensor([0.0, 26.0]), "integer boundaries"),
    (torch.tensor([[0, 26]]), "integer boundaries"),
])
def test_bad_boundaries_are_named(cu_seqlens, message):
    with pytest.raises(ValueError, match=message):
        zoo.create_model("mamba-tiny")(torch.randint(0, 256, (1, 26)), cu_seqlens=cu_seqlens)
