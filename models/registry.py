"""The registries a model is built from, each filled by the file that defines what it registers:

- `MIXERS`: layer names a `ModelConfig.layers` entry can use (`@register_mixer` beside the mixer class);
- `ENCODERS` and `HEADS`: the parts before and after the backbone (`@register_encoder`, `@register_head`);
- `PRESETS`: named model configurations (`@register_model`, timm style, beside the family's mixers);
- `CONVERTERS`: upstream checkpoint formats (`register_converter`, beside the mapping it registers).

Nothing here names a family: a family's folder under `zoo/models/families/` registers itself when it is imported
(`zoo.models` imports every folder there), and code outside the package registers the same way.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Entry = TypeVar("Entry")


class UnknownNameError(ValueError):
    """A name that a registry does not hold; the message lists the names it does."""


class Registry(Generic[Entry]):
    """Names -> entries, filled once per name; `what` names the kind of thing in messages ("mixer", "model")."""

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, entry: Entry) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} name must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.what} '{name}' is registered twice")
        self._entries[name] = entry

    def get(self, name: str) -> Entry:
        if not isinstance(name, str) or name not in self._entries:
            raise UnknownNameError(f"unknown {self.what} '{name}'; choose one of: {', '.join(self.names())}")
        return self._entries[name]

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style pattern."""
        return sorted(name for name in self._entries if fnmatch.fnmatch(name, pattern))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


# ---- mixers ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixerEntry:
    """A registered token mixer: its class, the `ModelConfig.mixers` section it reads and that section's dataclass.

    The class is built as `cls(d_model, section_config)` and follows the mixer contract: `forward(x, state=None,
    cu_seqlens=None) -> (y, state)` on `[B, T, d_model]` and `step(x_t, state) -> (y_t, state)` on `[B, d_model]`.
    Optional class attributes: `positionwise = True` (the same map in both directions: bidirectional models use it
    as is), `bidirectional_config(config)` (a classmethod returning the settings of its non-causal form, e.g.
    attention without the causal mask; other mixers are run both ways by `BidirectionalMixer`) and, on instances,
    `causal` (False when the output at t depends on later tokens) and `block_d_intermediate` (the width of the MLP
    its block adds, overriding `ModelConfig.d_intermediate`).
    """

    name: str
    cls: type
    section: str
    config_cls: type


MIXERS: Registry[MixerEntry] = Registry("mixer")
_SECTIONS: dict[str, type] = {}  # section name -> its dataclass (shared by the mixers that read one section)


def register_mixer(name: str, *, config: type, section: str | None = None) -> Callable[[type], type]:
    """Class decorator: register a mixer class as layer `name`, configured by dataclass `config` read from
    `ModelConfig.mixers[section]` (default: `name`). Mixers of one family may share a section."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"mixer '{name}': config must be a dataclass, got {config!r}")
    section = section or name

    def decorator(cls: type) -> type:
        known = _SECTIONS.get(section)
        if known is not None and known is not config:
            raise ValueError(
                f"mixer '{name}': section '{section}' is already read through {known.__qualname__}, not "
                f"{config.__qualname__}"
            )
        MIXERS.add(name, MixerEntry(name, cls, section, config))
        _SECTIONS[section] = config
        return cls

    return decorator


def section_config_class(section: str) -> type:
    """The dataclass of a `ModelConfig.mixers` section; the error lists the sections the mixers read."""
    if section not in _SECTIONS:
        raise UnknownNameError(f"unknown mixer section '{section}'; choose one of: {', '.join(sorted(_SECTIONS))}")
    return _SECTIONS[section]


# ---- encoders and heads ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartEntry:
    """A registered encoder or head: its class, built as `cls(d_model, config, ...)`, and its config dataclass, whose
    first field is `kind` (the registered name)."""

    kind: str
    cls: type
    config_cls: type


ENCODERS: Registry[PartEntry] = Registry("encoder")
HEADS: Registry[PartEntry] = Registry("head")


def _register_part(registry: Registry[PartEntry], kind: str, config: type) -> Callable[[type], type]:
    fields = dataclasses.fields(config) if dataclasses.is_dataclass(config) else ()
    if not fields or fields[0].name != "kind" or fields[0].default != kind:
        raise TypeError(f"{registry.what} '{kind}': config must be a dataclass whose first field is kind = '{kind}'")

    def decorator(cls: type) -> type:
        registry.add(kind, PartEntry(kind, cls, config))
        return cls

    return decorator


def register_encoder(kind: str, *, config: type) -> Callable[[type], type]:
    """Class decorator: register an encoder (`[B, ...] -> [B, T, d_model]`) under `kind` with its config dataclass.
    The class declares `reads`, the task input kind it takes ("tokens", "channels" or "image")."""
    return _register_part(ENCODERS, kind, config)


def register_head(kind: str, *, config: type) -> Callable[[type], type]:
    """Class decorator: register a head (`[B, T, d_model]` -> outputs) under `kind` with its config dataclass.
    The class may declare `predicts`, the task output kind whose targets it serves (`zoo.tasks.TaskIO.outputs`;
    default: its own `kind`), so that a new head can serve, say, classification tasks."""
    return _register_part(HEADS, kind, config)


# ---- presets ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelEntry:
    """A registered preset: its name, family and config factory (its pretrained checkpoints: `zoo.pretrained`)."""

    name: str
    family: str
    make_config: Callable[[], Any]


PRESETS: Registry[ModelEntry] = Registry("model")


def register_model(name: str, *, family: str):
    """Decorator registering a function that returns a `ModelConfig` as preset `name` of `family`."""

    def decorator(fn: Callable[[], Any]) -> Callable[[], Any]:
        def make_config() -> Any:
            return dataclasses.replace(fn(), name=name, family=family)

        PRESETS.add(name, ModelEntry(name, family, make_config))
        return fn

    return decorator


def get_entry(name: str) -> ModelEntry:
    """The registry entry of preset `name`; the error lists the registered presets."""
    return PRESETS.get(name)


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of registered presets matching a shell-style pattern, e.g. `"mamba2-*"`."""
    return PRESETS.names(pattern)


# ---- upstream converters ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Converter:
    """An upstream checkpoint format: `model_config(upstream_config_dict, where) -> (ModelConfig, options)` and
    `state_dict(upstream_tensors, config, options) -> (our tensors, our name -> upstream name)`; both raise
    `zoo.models.upstream.ConversionError` naming the key or tensor they cannot map."""

    source: str
    model_config: Callable[..., tuple[Any, dict[str, Any]]]
    state_dict: Callable[..., tuple[dict[str, Any], dict[str, str]]]
    description: str


CONVERTERS: Registry[Converter] = Registry("upstream source")


def register_converter(source: str, *, model_config: Callable, state_dict: Callable, description: str) -> None:
    """Register the converter of upstream format `source` (e.g. "mamba_ssm")."""
    CONVERTERS.add(source, Converter(source, model_config, state_dict, description))


def import_all(package: str) -> None:
    """Import every module and subpackage directly under `package` (e.g. "zoo.models.families"), so that what they
    register is in the registries: adding a family, encoder or head is adding a file or folder there."""
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        importlib.import_module(f"{package}.{info.name}")
