"""Every registered preset small enough to run here (small_presets.py): forward, backward, finite gradients,
decoding equal to the parallel forward, and packed sequences equal to separate runs."""

import pytest
import torch
from small_presets import SMALL_PRESETS as PRESETS
from zoo.models import build_model, model_config

import zoo

# Random weights and inputs: every test reseeds from the `seed` fixture (tests/conftest.py), so that a failure
# names its seed and `make sweep` measures these tolerances.
pytestmark = pytest.mark.usefixtures("seed")


@pytest.mark.parametrize("name", PRESETS)
def test_forward_backward_finite(name):
    model = zoo.create_model(name)
    ids = torch.randint(0, model.vocab_size, (2, 37))
    logits = model(ids)
    assert logits.shape == (2, 37, model.vocab_size)
    logits.float().logsumexp(-1).mean().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name}: {parameter_name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{name}: {parameter_name} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", PRESETS)
def test_step_decoding_matches_parallel_forward(name):
    """Prefill a prompt, then feed tokens one at a time: the step logits equal the parallel logits.

    float64 so that the only difference is the order of summation (tolerance 1e-9)."""
    model = zoo.create_model(name).double().eval()
    ids = torch.randint(0, model.vocab_size, (3, 23))
    with torch.no_grad():
        expected = model(ids)
        prompt = 9
        logits, states = model.prefill(ids[:, :prompt])
        stepped = [logits]
        for t in range(prompt, ids.shape[1]):
            step_logits, states = model.step(ids[:, t], states)
            stepped.append(step_logits[:, None])
    torch.testing.assert_close(torch.cat(stepped, dim=1), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", PRESETS)
def test_decoding_from_empty_state(name):
    model = zoo.create_model(name).double().eval()
    ids = torch.randint(0, model.vocab_size, (2, 6))
    with torch.no_grad():
        expected = model(ids)
        states, outputs = None, []
        for t in range(ids.shape[1]):
            logits, states = model.step(ids[:, t], states)
            outputs.append(logits)
    torch.testing.assert_close(torch.stack(outputs, dim=1), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", PRESETS)
def test_packed_sequences_match_separate_runs(name):
    """cu_seqlens packing (B == 1) gives each sequence the logits it gets alone."""
    model = zoo.create_model(name).double().eval()
    lengths = [5, 17, 9]
    sequences = [torch.randint(0, model.vocab_size, (1, n)) for n in lengths]
    cu_seqlens = torch.tensor([0, 5, 22, 31])
    with torch.no_grad():
        packed = model(torch.cat(sequences, dim=1), cu_seqlens=cu_seqlens)
        separate = torch.cat([model(s) for s in sequences], dim=1)
    torch.testing.assert_close(packed, separate, rtol=1e-9, atol=1e-9)


def test_tied_embeddings_share_storage_and_untied_do_not():
    tied = zoo.create_model("attention-tiny")
    assert tied.head.linear.weight is tied.encoder.embedding.weight
    untied = zoo.create_model("attention-tiny", head={"tie_embeddings": False})
    assert untied.head.linear.weight is not untied.encoder.embedding.weight
    assert untied.num_parameters() == tied.num_parameters() + 256 * 64


def test_hybrid_pattern_builds_the_named_mixers():
    model = build_model(model_config("hybrid-tiny", layers=["mamba2", "mamba2", "attention"]))
    kinds = [type(block.mixer).__name__ for block in model.backbone.layers]
    assert kinds == ["Mamba2", "Mamba2", "Attention"]


def test_unknown_mixer_is_refused_with_choices():
    with pytest.raises(ValueError, match="'model.layers\\[1\\]': 'mamba9' is not a registered mixer; choose from: attention, .*mamba, mamba2"):
        build_model(model_config("attention-tiny", layers=["attention", "mamba9"]))


SMALL_CLASS = [name for name in zoo.list_models() if name.endswith("-small")]


@pytest.mark.parametrize("name", SMALL_CLASS)
def test_small_presets_are_cpu_trainable_sizes(name):
    """*-small presets sit in the 10-30M size class the issue sets for CPU training."""
    with torch.device("meta"):
        count = zoo.create_model(name).num_parameters()
    assert 10_000_000 <= count <= 30_000_000, f"{name} has {count:,} parameters"


def test_every_family_has_a_small_preset():
    families = {zoo.models.get_entry(name).family for name in zoo.list_models()}
    with_small = {zoo.models.get_entry(name).family for name in SMALL_CLASS}
    assert families - with_small <= {"mamba2-hybrid"}, f"families without a *-small preset: {families - with_small}"
