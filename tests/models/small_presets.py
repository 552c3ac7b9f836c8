"""The registered presets small enough to run whole in the model tests (at most MAX_PARAMETERS parameters);
full-size presets (based-360m, deltanet-340m, ...) are checked by their family's tests (parameter counts against
upstream) and share every line of code with the tiny ones."""

import torch

import zoo

MAX_PARAMETERS = 5_000_000


def parameter_count(name: str) -> int:
    """The preset's parameter count, from a build on the meta device (no memory, no compute)."""
    with torch.device("meta"):
        return zoo.create_model(name).num_parameters()


SMALL_PRESETS = [name for name in zoo.list_models() if parameter_count(name) <= MAX_PARAMETERS]


# Every `*-tiny` preset: at least one per family and one per attention mask kind (full, sliding window, Longformer,
# BigBird), each under 1M parameters; the anatomy tests run them all.
TINY_PRESETS = [name for name in SMALL_PRESETS if name.endswith("-tiny")]
