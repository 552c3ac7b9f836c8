"""Bad inputs at model entry get the same clear ValueError from every family (checked once, at the encoder and
`forward_features`), never a torch error from deep inside a mixer."""

import pytest
import torch
from small_presets import TINY_PRESETS

import zoo

# what is wrong -> (a batch that is wrong in that way, a piece of the message)
BAD_TOKEN_INPUTS = {
    "float ids": (lambda: torch.rand(2, 8), "takes integer ids, got a torch.float32"),
    "bool ids": (lambda: torch.ones(2, 8, dtype=torch.bool), "takes integer ids, got a torch.bool"),
    "rank 1": (lambda: torch.randint(0, 256, (8,)), "a batch of sequences is [B, T] integer ids; got shape (8,)"),
    "rank 3": (lambda: torch.randint(0, 256, (2, 8, 3)), "[B, T] integer ids; got shape (2, 8, 3)"),
    "id >= vocab": (lambda: torch.full((2, 8), 256), "token ids must lie in [0, 255]"),
    "negative id": (lambda: torch.full((2, 8), -1), "token ids must lie in [0, 255]"),
    "T = 0": (lambda: torch.zeros(2, 0, dtype=torch.long), "of shape (2, 0) hold no position"),
    "B = 0": (lambda: torch.zeros(0, 8, dtype=torch.long), "of shape (0, 8) hold no sequence"),
}


@pytest.mark.parametrize("case", BAD_TOKEN_INPUTS)
@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_bad_token_inputs_get_one_message_in_every_family(preset, case):
    make, message = BAD_TOKEN_INPUTS[case]
    model = zoo.create_model(preset)
    with pytest.raises(ValueError) as error:
        model(make())
    assert message in str(error.value), f"{preset} / {case}: {error.value}"


@pytest.mark.parametrize("preset", ["mamba2-tiny", "attention-tiny"])
def test_bad_channel_inputs_are_named(preset):
    model = zoo.create_model(preset, encoder={"kind": "linear", "in_channels": 3}, head={"kind": "regression",
                                                                                       "num_outputs": 3, "horizon": 2})
    with pytest.raises(ValueError, match=r"takes real values \[\.\.\., 3\] \(channels last\), got a torch.int64"):
        model(torch.zeros(2, 8, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"takes real values \[\.\.\., 3\]"):
        model(torch.randn(2, 8, 4))
    with pytest.raises(ValueError, match=r"\(2, 0, 3\) hold no position"):
        model(torch.randn(2, 0, 3))
