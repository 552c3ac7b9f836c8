"""`ModelConfig`: everything needed to build a network, as an OmegaConf-friendly dataclass, and the one way to
apply overrides to it (`merge_config`), shared by `zoo.create_model` and the experiment configs.

A network is `encoder -> backbone -> head`. The backbone is the shared part of this dataclass (`d_model`, `layers`,
norms, MLP width) plus one section per mixer family in `mixers`; the encoder and head are polymorphic sections
chosen by their `kind` (`zoo.models.registry.ENCODERS`, `HEADS`).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from zoo.models.layers.mlp import ACTIVATIONS
from zoo.models.layers.norm import NORMS
from zoo.models.registry import (
    ENCODERS,
    HEADS,
    MIXERS,
    Registry,
    UnknownNameError,
    section_config_class,
)

DEFAULT_ENCODER = "tokens"
DEFAULT_HEAD = "lm"


class ModelConfigError(ValueError):
    """A model config key or value is wrong. `key`: its dotted path inside the model config (`mixers.attention.kind`);
    for an unknown key, `valid` lists the keys that exist there and `suggestion` the closest one."""

    def __init__(self, key: str, reason: str, valid: list[str] | None = None, suggestion: str | None = None,
                 note: str | None = None):
        self.key, self.reason, self.valid, self.suggestion, self.note = key, reason, valid, suggestion, note
        super().__init__(self.describe())

    def describe(self, prefix: str = "model.") -> str:
        """The message with every key spelled from `prefix` (the model config's place in an experiment config)."""
        if self.valid is None:
            return f"config key '{prefix}{self.key}': {self.reason}"
        hint = f" (did you mean '{prefix}{self.suggestion}'?)" if self.suggestion else ""
        note = f"; {self.note.replace('set ', f'set {prefix}', 1)}" if self.note else ""
        return f"unknown config key '{prefix}{self.key}'{hint}; valid keys: {', '.join(self.valid)}{note}"


@dataclass
class ModelConfig:
    """A sequence network: `encoder -> backbone -> head`.

    `layers` names the mixer of each block in order (`zoo.models.MIXERS` lists the names), so a hybrid is
    configuration: `[mamba2, mamba2, mamba2, attention]`. Each mixer reads its family's section of `mixers`
    (`{"attention": AttentionConfig(...)}`; a missing section means its defaults).

    `encoder` and `head` hold the config dataclass of a registered encoder / head (`kind` names it). None means:
    chosen by the task when training (`zoo.anatomy.fit_to_task`); a token embedding over 256 ids and a language-model
    head when the model is built on its own. A built model's config has both filled in.
    """

    name: str = "custom"  # the preset this config came from
    family: str = "custom"
    d_model: int = 64
    layers: list[str] = field(default_factory=lambda: ["attention", "attention"])
    d_intermediate: int = 0  # hidden size of the gated MLP after each mixer; 0 = no MLP
    norm_eps: float = 1e-5
    norm: str = "rmsnorm"  # the block and final norms: rmsnorm | layernorm (bias-free, xLSTM's)
    mlp_activation: str = "silu"  # the gated MLP's activation: silu (SwiGLU) | gelu (xLSTM's GeGLU)
    initializer_range: float = 0.02
    bidirectional: bool = False  # encoders: attention without the causal mask, recurrent mixers run both ways
    bidirectional_tied: bool = False  # the backward direction reuses the forward weights (Caduceus' BiMamba)
    instance_norm: bool = False  # forecasting: RevIN around the network (channels in, the same channels forecast)
    encoder: Optional[Any] = None
    head: Optional[Any] = None
    mixers: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ModelConfigError("norm", f"'{self.norm}' is not a norm; choose one of: {', '.join(NORMS)}")
        if self.mlp_activation not in ACTIVATIONS:
            raise ModelConfigError(
                "mlp_activation", f"'{self.mlp_activation}' is not an activation; choose one of: {', '.join(ACTIVATIONS)}"
            )
        for key in ("d_model", "d_intermediate", "norm_eps"):
            if getattr(self, key) < (1 if key == "d_model" else 0):
                raise ModelConfigError(key, f"must be {'>= 1' if key == 'd_model' else '>= 0'}, got {getattr(self, key)}")
        if self.bidirectional_tied and not self.bidirectional:
            raise ModelConfigError("bidirectional_tied", "is true but 'bidirectional' is false: set both")
        self.encoder = _part(ENCODERS, "encoder", self.encoder)
        self.head = _part(HEADS, "head", self.head)
        if not isinstance(self.mixers, Mapping):
            raise ModelConfigError("mixers", f"must map section names to settings, got {self.mixers!r}")
        self.mixers = {name: _section(name, settings) for name, settings in self.mixers.items()}

    def section(self, name: str) -> Any:
        """The settings of mixer section `name` (its defaults when the config has none)."""
        if name in self.mixers:
            return self.mixers[name]
        return section_config_class(name)()

    def sections_read(self) -> set[str]:
        """The `mixers` sections that the layers read; unknown layer names raise."""
        check_layers(self.layers)
        return {MIXERS.get(layer).section for layer in self.layers}

    def resolved(self) -> ModelConfig:
        """A copy with nothing left implicit: the default encoder and head filled in, every section that `layers`
        reads present (with its defaults) and no section that nothing reads. Unknown layer names raise."""
        used = self.sections_read()
        return dataclasses.replace(
            self,
            layers=list(self.layers),
            encoder=self.encoder or ENCODERS.get(DEFAULT_ENCODER).config_cls(),
            head=self.head or HEADS.get(DEFAULT_HEAD).config_cls(),
            mixers={name: dataclasses.replace(self.section(name)) for name in sorted(used)},
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts and lists (JSON/YAML-ready; floats such as inf stay floats)."""
        return OmegaConf.to_container(OmegaConf.structured(self))


def check_layers(layers: list[str]) -> None:
    """Refuse an empty pattern and layer names that no mixer registers, naming the entry and the choices."""
    if not layers:
        raise ModelConfigError("layers", "is empty: a model needs at least one layer")
    for index, layer in enumerate(layers):
        if layer not in MIXERS:
            raise ModelConfigError(
                f"layers[{index}]", f"'{layer}' is not a registered mixer; choose from: {', '.join(MIXERS.names())}"
            )


def _validated(config_cls: type, settings: Any, key: str) -> Any:
    """`settings` (a mapping, or an instance) as a validated `config_cls` instance; errors name `key.<field>`."""
    if isinstance(settings, config_cls):
        return settings
    if not isinstance(settings, Mapping) and not OmegaConf.is_dict(settings):
        raise ModelConfigError(key, f"must be a mapping of {config_cls.__name__} fields, got {settings!r}")
    schema = OmegaConf.structured(config_cls)
    mismatch = container_mismatch(schema, settings, key)
    if mismatch:
        raise ModelConfigError(key, mismatch)
    try:
        return OmegaConf.to_object(OmegaConf.merge(schema, settings))
    except OmegaConfBaseException as error:
        raise ModelConfigError(f"{key}.{error.full_key}", _first_line(error)) from None


def _part(registry: Registry, key: str, settings: Any) -> Any:
    """An encoder or head section as its registered config dataclass (None stays None)."""
    if settings is None or dataclasses.is_dataclass(settings):
        return settings
    kind = settings.get("kind") if isinstance(settings, Mapping) or OmegaConf.is_dict(settings) else None
    try:
        entry = registry.get(kind)
    except UnknownNameError as error:
        raise ModelConfigError(f"{key}.kind", str(error)) from None
    return _validated(entry.config_cls, settings, key)


def _section(name: str, settings: Any) -> Any:
    try:
        config_cls = section_config_class(name)
    except UnknownNameError as error:
        raise ModelConfigError(f"mixers.{name}", str(error)) from None
    return _validated(config_cls, settings, f"mixers.{name}")


def container_mismatch(schema: Any, value: Any, path: str = "") -> str | None:
    """The first key (dotted, under `path`) where `value` holds a mapping and `schema` (an OmegaConf node) a list or
    a scalar, or the reverse, with what each is: OmegaConf's merge fails there without naming the key. None when
    none."""
    def kind(node: Any) -> str:
        if OmegaConf.is_dict(node) or isinstance(node, Mapping) or dataclasses.is_dataclass(node):
            return "a mapping"
        return "a list" if OmegaConf.is_list(node) or isinstance(node, (list, tuple)) else "a value"

    if schema is None or value is None:
        return None
    if kind(schema) != kind(value):
        return f"'{path}' must be {kind(schema)}, got {kind(value)} ({value!r})"
    for key in value.keys() if kind(value) == "a mapping" and hasattr(value, "keys") else []:
        if key in schema:
            found = container_mismatch(schema[key], value[key], f"{path}.{key}" if path else str(key))
            if found:
                return found
    return None


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _unknown_key(key: str, valid: list[str], where: str, note: str | None = None) -> ModelConfigError:
    close = difflib.get_close_matches(key, valid, n=1)
    return ModelConfigError(f"{where}{key}", "unknown key", valid, f"{where}{close[0]}" if close else None, note)


def _base_part(registry: Registry, key: str, base: Any, override: Any, unset_kind: str) -> Any:
    """The section an encoder/head override merges onto: the base's, or the defaults of the kind the override
    switches to (a new kind starts from its own defaults, never from another kind's fields); an override without a
    `kind` on an unset part starts from `unset_kind`."""
    kind = override.get("kind") if isinstance(override, Mapping) else None
    if kind is None:
        if base is None:
            kind = unset_kind
        else:
            return base
    elif base is not None and base.kind == kind:
        return base
    try:
        return registry.get(kind).config_cls()
    except UnknownNameError as error:
        raise ModelConfigError(f"{key}.kind", str(error)) from None


def merge_config(base: ModelConfig, overrides: Mapping[str, Any], kinds: Mapping[str, str] | None = None) -> ModelConfig:
    """`base` with `overrides` applied: top-level fields replaced, sections (`encoder`, `head`, `mixers.<name>`)
    merged key by key (`{"mixers": {"attention": {"num_heads": 2}}}` keeps the section's other keys), an encoder or
    head of another `kind` started from that kind's defaults, `encoder: None` / `head: None` restoring the task's
    choice. An encoder or head override without a `kind` on a part that `base` leaves unset starts from
    `kinds["encoder"]` / `kinds["head"]` (the task's, when a task is known; else tokens / lm). Unknown keys and wrong types raise `ModelConfigError` naming
    the key."""
    kinds = {"encoder": DEFAULT_ENCODER, "head": DEFAULT_HEAD, **(kinds or {})}
    overrides = OmegaConf.to_container(overrides) if OmegaConf.is_config(overrides) else dict(overrides)
    valid = [f.name for f in dataclasses.fields(ModelConfig)]
    for key in overrides:
        if key not in valid:
            raise _unknown_key(str(key), valid, "")
    base = dataclasses.replace(base, mixers=dict(base.mixers))
    for key, registry in (("encoder", ENCODERS), ("head", HEADS)):
        value = overrides.get(key, ...)
        if value is None or dataclasses.is_dataclass(value):
            setattr(base, key, value)
            overrides.pop(key)
        elif isinstance(value, Mapping):
            setattr(base, key, _base_part(registry, key, getattr(base, key), value, kinds[key]))
    mixer_overrides = overrides.get("mixers", {})
    if not isinstance(mixer_overrides, Mapping):
        raise ModelConfigError("mixers", f"must map section names to settings, got {mixer_overrides!r}")
    for name in mixer_overrides:
        if name not in base.mixers:
            base.mixers[name] = _section(name, {})
    structured = OmegaConf.structured(base)
    for key, value in overrides.items():
        mismatch = container_mismatch(structured[key], value, key)
        if mismatch:
            raise ModelConfigError(key, mismatch)
    try:
        merged = OmegaConf.to_object(OmegaConf.merge(structured, overrides))
    except OmegaConfBaseException as error:
        key = str(error.full_key)
        if "not in" in _first_line(error) and "." in key:  # an unknown key inside a section: list the section's
            section, _, leaf = key.rpartition(".")
            node = OmegaConf.select(OmegaConf.structured(base), section)
            if node is not None and OmegaConf.is_dict(node):
                raise _unknown_key(leaf, [str(k) for k in node.keys()], f"{section}.", _kind_note(section, node)) from None
        raise ModelConfigError(key, _first_line(error)) from None
    return merged


def _kind_note(section: str, node: Any) -> str | None:
    """For an unknown key in the encoder or head: which kind's keys these are, and how to choose another."""
    if section not in ("encoder", "head"):
        return None
    return f"the {section} here is '{node.kind}': set {section}.kind to choose another (valid kinds: " \
        f"{', '.join((ENCODERS if section == 'encoder' else HEADS).names())})"



def config_from_dict(fields: Mapping[str, Any]) -> ModelConfig:
    """A `ModelConfig` from its plain-dict form (`to_dict`, config.json); unknown keys raise `ModelConfigError`."""
    return merge_config(ModelConfig(), fields)
