"""Networks: encoder -> backbone -> head (`zoo.models`).

Families (`families/`), encoders (`encoders/`) and heads (`heads/`) register themselves when imported; importing
this package imports all of them. A preset is a named `ModelConfig`; `build_model` turns a config into a
`SequenceModel`.
"""

from importlib import import_module

from zoo.models.config import (
    ModelConfig,
    ModelConfigError,
    config_from_dict,
    merge_config,
)
from zoo.models.model import SequenceModel
from zoo.models.registry import (
    CONVERTERS,
    ENCODERS,
    HEADS,
    MIXERS,
    PRESETS,
    ModelEntry,
    UnknownNameError,
    get_entry,
    import_all,
    list_models,
    register_converter,
    register_encoder,
    register_head,
    register_mixer,
    register_model,
)

for _package in ("zoo.models.encoders", "zoo.models.heads", "zoo.models.families"):
    import_all(_package)
import_module("zoo.models.timm_models")  # the image classifiers in timm's registry (`timm.list_models("seqzoo_*")`)


def model_config(name: str, **overrides) -> ModelConfig:
    """Preset `name`'s config with `overrides` applied (`zoo.models.config.merge_config`: fields replaced, sections
    such as `mixers={"attention": {"num_heads": 2}}` or `head={"kind": "classifier"}` merged key by key)."""
    return merge_config(get_entry(name).make_config(), overrides)


def build_model(config: ModelConfig) -> SequenceModel:
    """The network a config describes (random initialisation)."""
    return SequenceModel(config)


__all__ = [
    "CONVERTERS",
    "ENCODERS",
    "HEADS",
    "MIXERS",
    "PRESETS",
    "ModelConfig",
    "ModelConfigError",
    "ModelEntry",
    "SequenceModel",
    "UnknownNameError",
    "build_model",
    "config_from_dict",
    "get_entry",
    "list_models",
    "merge_config",
    "model_config",
    "register_converter",
    "register_encoder",
    "register_head",
    "register_mixer",
    "register_model",
]
