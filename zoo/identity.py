"""What a model config is, for names and cards: the registered preset it is, or how it departs from one.

A model trained with `model.layers=[deltanet,attention]` from the `hybrid-tiny` preset is no longer `hybrid-tiny`,
nor of its family: `identify` names it after its own mixers and lists the keys it changed. What every task adapts
(encoder, head, bidirectional use, instance normalisation) is not a change of architecture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zoo.models import PRESETS, ModelConfig, model_config

# keys a task fits or a run names: they say how the architecture is used, not what it is
TASK_FITTED = ("name", "family", "encoder", "head", "bidirectional", "bidirectional_tied", "instance_norm")


@dataclass(frozen=True)
class Identity:
    """name: the preset's name, or `<family>-custom`; family: the preset's, or the mixers' own when the layers
    changed; preset: the preset the config started from (None when it names none); changes: dotted keys that differ
    from the preset (`["d_model", "mixers.attention.num_heads"]`), empty when it is the preset."""

    name: str
    family: str
    preset: str | None
    changes: list[str] = field(default_factory=list)


def family_of_layers(layers: list[str]) -> str:
    """A family name from the mixers of a layer pattern: `mamba2`, or `deltanet-attention-hybrid`."""
    mixers = list(dict.fromkeys(layers))
    return mixers[0] if len(mixers) == 1 else "-".join([*mixers, "hybrid"])


def _differences(ours: Any, theirs: Any, prefix: str = "") -> list[str]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        keys = sorted(set(ours) | set(theirs))
        return [key for name in keys for key in _differences(ours.get(name), theirs.get(name), f"{prefix}{name}.")]
    return [] if ours == theirs else [prefix.rstrip(".")]


def identify(config: ModelConfig) -> Identity:
    """The identity of a (resolved or not) model config."""
    if config.name not in PRESETS:
        return Identity(config.name, config.family, None)
    ours = {key: value for key, value in config.resolved().to_dict().items() if key not in TASK_FITTED}
    preset = model_config(config.name).resolved().to_dict()
    changes = _differences(ours, {key: value for key, value in preset.items() if key not in TASK_FITTED})
    if not changes:
        return Identity(config.name, config.family, config.name)
    family = family_of_layers(config.layers) if "layers" in changes else config.family
    return Identity(f"{family}-custom", family, config.name, changes)
