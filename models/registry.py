"""The model registry: named presets (`ModelConfig` factories), timm style."""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass
from typing import Callable

from zoo.models.config import ModelConfig, config_from_dict
from zoo.models.lm import LMHeadModel


@dataclass(frozen=True)
class ModelEntry:
    """A registered preset: its name, family, config factory and the shipped checkpoints that fit it."""

    name: str
    family: str
    make_config: Callable[[], ModelConfig]
    pretrained: tuple[str, ...] = ()


_REGISTRY: dict[str, ModelEntry] = {}


class UnknownModelError(ValueError):
    """Raised for a model name that no preset registers."""


def register_model(name: str, *, family: str, pretrained: tuple[str, ...] = ()):
    """Decorator registering a function that returns a `ModelConfig` as preset `name`."""

    def decorator(fn: Callable[[], ModelConfig]) -> Callable[[], ModelConfig]:
        if name in _REGISTRY:
            raise ValueError(f"model '{name}' is registered twice")

        def make_config() -> ModelConfig:
            return dataclasses.replace(fn(), name=name, family=family)

        _REGISTRY[name] = ModelEntry(name, family, make_config, tuple(pretrained))
        return fn

    return decorator


def get_entry(name: str) -> ModelEntry:
    """The registry entry of `name`; the error lists the registered names."""
    if name not in _REGISTRY:
        raise UnknownModelError(f"unknown model '{name}'; registered models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of registered presets matching a shell-style pattern, e.g. `"mamba2-*"`."""
    return sorted(name for name in _REGISTRY if fnmatch.fnmatch(name, pattern))


def model_config(name: str, **overrides) -> ModelConfig:
    """The preset's config with `overrides` applied: top-level fields replaced, a section given as a dict merged key
    by key (`attention={"num_heads": 2}` keeps the section's other keys); unknown fields are an error."""
    config = get_entry(name).make_config()
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown ModelConfig field(s) {unknown}; valid fields: {', '.join(sorted(fields))}")
    sections = {key: value for key, value in overrides.items() if isinstance(value, dict)}
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if k not in sections})
    if sections:
        config = config_from_dict({**dataclasses.asdict(config), **{
            key: {**dataclasses.asdict(getattr(config, key)), **value} for key, value in sections.items()
        }})
    return config


def build_model(config: ModelConfig) -> LMHeadModel:
    """Build the network a config describes (random initialisation)."""
    return LMHeadModel(config)
