"""`create_model` and `from_pretrained`: a registered preset (optionally with the weights of a checkpoint shipped in
`checkpoints/`), or a saved checkpoint in our layout or an upstream one."""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.errors import CheckpointError
from zoo.hub import load_pretrained
from zoo.models import SequenceModel, build_model, get_entry, model_config

SHIPPED_CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def shipped_checkpoint(name: str, tag: str) -> Path:
    """The folder of the checkpoint `tag` that preset `name` ships with: `checkpoints/<name>-<tag>/`."""
    entry = get_entry(name)
    if tag not in entry.pretrained:
        available = ", ".join(entry.pretrained) or "none"
        raise CheckpointError(f"model '{name}' has no pretrained checkpoint '{tag}'; available: {available}")
    folder = SHIPPED_CHECKPOINTS / f"{name}-{tag}"
    if not folder.is_dir():
        raise CheckpointError(
            f"the checkpoint folder {folder} is missing; shipped checkpoints live in the checkpoints/ "
            "folder of a seqzoo source checkout"
        )
    return folder


def create_model(name: str, pretrained: bool | str = False, **overrides) -> SequenceModel:
    """Build preset `name` with `ModelConfig` overrides (`zoo.models.model_config`): fields such as `d_model=128`,
    sections merged key by key such as `mixers={"attention": {"num_heads": 2}}`, another anatomy such as
    `head={"kind": "classifier", "num_outputs": 10}` or `encoder={"kind": "linear", "in_channels": 7}`.

    `pretrained=True` loads the preset's first shipped checkpoint, a string names one (`"mqar"`);
    overrides are refused then, since they would not fit the saved weights.
    """
    if not pretrained:
        return build_model(model_config(name, **overrides))
    if overrides:
        raise ValueError(f"create_model: overrides {sorted(overrides)} cannot be combined with pretrained weights")
    entry = get_entry(name)
    tag = pretrained if isinstance(pretrained, str) else (entry.pretrained[0] if entry.pretrained else None)
    if tag is None:
        raise CheckpointError(f"model '{name}' ships no pretrained checkpoint")
    return load_pretrained(shipped_checkpoint(name, tag))


def from_pretrained(
    path_or_id: str | Path, *, map_location: str | torch.device = "cpu", source: str | None = None
) -> SequenceModel:
    """The model of a checkpoint folder (or `"hf-hub:org/name"`) with its weights, in eval mode.

    source: None for our own layout (`zoo.hub.load_pretrained`); an upstream format such as "mamba_ssm", "fla",
    "xlstm" or "based" to convert an upstream checkpoint on load (`zoo.convert.from_upstream`; `zoo convert` writes
    the result in our layout once and for all)."""
    if source is None:
        return load_pretrained(path_or_id, map_location=map_location)
    from zoo.convert import from_upstream

    return from_upstream(path_or_id, source).to(map_location).eval()
