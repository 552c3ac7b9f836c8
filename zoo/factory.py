"""`create_model` and `from_pretrained`: a registered preset (optionally with the weights of one of its pretrained
checkpoints, found by hub id), or a saved checkpoint in our layout or an upstream one."""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.errors import CheckpointError
from zoo.hub import SequenceModel, build, load_pretrained
from zoo.models import get_entry, model_config
from zoo.pretrained import ShippedCheckpoint, shipped_for


def pretrained_checkpoint(name: str, tag: bool | str) -> ShippedCheckpoint:
    """The pretrained checkpoint of preset `name` that `tag` asks for (True: its first)."""
    get_entry(name)  # an unknown preset says so, listing the registered ones
    checkpoints = shipped_for(name)
    if not checkpoints:
        raise CheckpointError(f"model '{name}' has no pretrained checkpoint; `zoo list --pretrained` lists those "
                              "that have one")
    if tag is True:
        return checkpoints[0]
    for checkpoint in checkpoints:
        if checkpoint.tag == tag:
            return checkpoint
    raise CheckpointError(f"model '{name}' has no pretrained checkpoint '{tag}'; available: "
                          f"{', '.join(c.tag for c in checkpoints)}")


def create_model(name: str, pretrained: bool | str = False, **overrides) -> SequenceModel:
    """Build preset `name` with `ModelConfig` overrides (`zoo.models.model_config`): fields such as `d_model=128`,
    sections merged key by key such as `mixers={"attention": {"num_heads": 2}}`, another anatomy such as
    `head={"kind": "classifier", "num_outputs": 10}` or `encoder={"kind": "linear", "in_channels": 7}`.

    `pretrained=True` loads the preset's first pretrained checkpoint, a string names one by its tag (`"mqar"`):
    resolved to its hub id (`seqzoo/<preset>-<tag>`), read from the copy seqzoo ships or else through the hub
    cache. Overrides are refused then, since they would not fit the saved weights.
    """
    if not pretrained:
        return build(model_config(name, **overrides))
    if overrides:
        raise ValueError(f"create_model: overrides {sorted(overrides)} cannot be combined with pretrained weights")
    return load_pretrained(pretrained_checkpoint(name, pretrained).hub_id)


def from_pretrained(
    path_or_id: str | Path,
    *,
    revision: str | None = None,
    map_location: str | torch.device = "cpu",
    source: str | None = None,
    **hub_options,
) -> SequenceModel:
    """The model of a checkpoint folder, run directory or hub repository (`"org/name"`, at `revision`) with its
    weights, in eval mode (`SequenceModel.from_pretrained`).

    source: None for our own layout; an upstream format such as "mamba_ssm", "fla", "xlstm" or "based" to convert an
    upstream checkpoint on load (`zoo.convert.from_upstream`; `zoo convert` writes the result in our layout once and
    for all). hub_options: huggingface_hub's `cache_dir`, `force_download`, `local_files_only`, `token`."""
    if source is None:
        return load_pretrained(path_or_id, revision=revision, map_location=map_location, **hub_options)
    from zoo.convert import from_upstream

    return from_upstream(path_or_id, source).to(map_location).eval()
