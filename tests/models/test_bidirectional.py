"""Bidirectional mode: recurrent mixers run both ways and summed, attention without its causal mask; every output
sees the whole sequence, packed sequences stay independent, and decoding is refused with a clear message."""

import pytest
import torch
from zoo.models.bidirectional import BidirectionalMixer, reverse_sequences
from zoo.models.families.mamba import Mamba2, Mamba2Config

import zoo

# Random weights and inputs: every test reseeds from the `seed` fixture (tests/conftest.py), so that a failure
# names its seed and `make sweep` measures these tolerances.
pytestmark = pytest.mark.usefixtures("seed")

FAMILIES = ["mamba-tiny", "mamba2-tiny", "hybrid-tiny", "deltanet-tiny", "gated-deltanet-tiny", "based-tiny",
            "xlstm-tiny", "swa-tiny", "bigbird-tiny", "longformer-tiny", "attention-tiny"]


def test_reverse_sequences_flips_each_packed_sequence_in_place():
    x = torch.arange(9.0).view(1, 9, 1)
    cu_seqlens = torch.tensor([0, 3, 3, 9])
    flipped = reverse_sequences(x, cu_seqlens).flatten().tolist()
    assert flipped == [2, 1, 0, 8, 7, 6, 5, 4, 3]
    assert torch.equal(reverse_sequences(reverse_sequences(x, cu_seqlens), cu_seqlens), x)
    assert reverse_sequences(x).flatten().tolist() == list(range(8, -1, -1))


def test_wrapper_is_forward_plus_reversed_backward():
    torch.manual_seed(0)
    f, g = Mamba2(32, Mamba2Config(d_state=8, headdim=16)), Mamba2(32, Mamba2Config(d_state=8, headdim=16))
    x = torch.randn(2, 11, 32)
    y, state = BidirectionalMixer(f, g)(x)
    expected = f(x)[0] + g(x.flip(1))[0].flip(1)
    torch.testing.assert_close(y, expected)
    assert state is None
    tied, _ = BidirectionalMixer(f)(x)
    torch.testing.assert_close(tied, f(x)[0] + f(x.flip(1))[0].flip(1))


# Presets whose attention sees a bounded neighbourhood: the first output sees position 4, not the end.
LOCAL = {"swa-tiny", "bigbird-tiny", "longformer-tiny"}


@pytest.mark.parametrize("name", FAMILIES)
def test_outputs_see_later_tokens(name):
    model = zoo.create_model(name, bidirectional=True).double().eval()
    ids = torch.randint(0, 256, (1, 24))
    positions = [4] if name in LOCAL else [4, 23]
    with torch.no_grad():
        first = model(ids)
        for position in positions:
            changed = ids.clone()
            changed[0, position] = (ids[0, position] + 1) % 256
            second = model(changed)
            assert not torch.allclose(first[0, 0], second[0, 0]), f"the first output ignores token {position}"


@pytest.mark.parametrize("name", FAMILIES)
def test_packed_sequences_stay_independent(name):
    model = zoo.create_model(name, bidirectional=True).double().eval()
    sequences = [torch.randint(0, 256, (1, n)) for n in (6, 13, 9)]
    with torch.no_grad():
        packed = model(torch.cat(sequences, 1), cu_seqlens=torch.tensor([0, 6, 19, 28]))
        separate = torch.cat([model(s) for s in sequences], 1)
    torch.testing.assert_close(packed, separate, rtol=1e-9, atol=1e-9)


def test_bidirectional_models_refuse_to_decode():
    model = zoo.create_model("mamba2-tiny", bidirectional=True)
    with pytest.raises(ValueError, match="cannot decode token by token"):
        model.step(torch.tensor([1]), None)


def test_tied_directions_share_weights():
    plain = zoo.create_model("mamba2-tiny").num_parameters()
    untied = zoo.create_model("mamba2-tiny", bidirectional=True).num_parameters()
    tied = zoo.create_model("mamba2-tiny", bidirectional=True, bidirectional_tied=True).num_parameters()
    assert tied == plain < untied
    mixer_parameters = sum(p.numel() for p in zoo.create_model("mamba2-tiny").backbone.layers[0].mixer.parameters())
    assert untied - plain == 2 * mixer_parameters
