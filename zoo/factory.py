"""`create_model`: a registered preset, optionally with the weights of a checkpoint shipped in `checkpoints/`."""

from __future__ import annotations

from pathlib import Path

from zoo.errors import CheckpointError
from zoo.hub import from_pretrained
from zoo.models import LMHeadModel, build_model, get_entry, model_config

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


def create_model(name: str, pretrained: bool | str = False, **overrides) -> LMHeadModel:
    """Build preset `name` with top-level `ModelConfig` overrides.

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
    return from_pretrained(shipped_checkpoint(name, tag))
