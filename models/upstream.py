"""What a family's upstream converter is written with: the error it raises and a reader of upstream config keys.

A converter maps an upstream checkpoint's config dict and tensors to ours (`zoo.models.registry.register_converter`,
beside the family it converts to); reading the files and writing our layout is `zoo.convert`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

Tensors = dict[str, torch.Tensor]


class ConversionError(ValueError):
    """An upstream checkpoint (mamba_ssm, fla, ...) cannot be converted: a file is missing, a config key has no
    counterpart in our models, or a tensor does not fit."""


_MISSING = object()


class ConfigKeys:
    """Reads the keys of an upstream config section, remembering which were read, so that `finish()` can refuse
    the keys that nothing read (each error names the key with its section, e.g. `ssm_cfg.d_ssm`)."""

    def __init__(self, section: Mapping[str, Any], where: str, prefix: str = ""):
        if not isinstance(section, Mapping):
            raise ConversionError(f"{where}: config key '{prefix.rstrip('.') or '<root>'}' must be a JSON object, "
                                  f"got {section!r}")
        self.section, self.where, self.prefix = dict(section), where, prefix
        self.read: set[str] = set()

    def get(self, key: str, default: Any = _MISSING) -> Any:
        self.read.add(key)
        if key in self.section:
            return self.section[key]
        if default is _MISSING:
            raise ConversionError(f"{self.where}: config key '{self.prefix}{key}' is missing")
        return default

    def ignore(self, keys: Iterable[str]) -> None:
        """Keys that do not change the network (initialisation, kernel or training options)."""
        self.read.update(keys)

    def expect(self, key: str, allowed: Any, default: Any, why: str) -> None:
        """Refuse the key unless its value (or `default` when absent) is `allowed` (a value or a predicate)."""
        value = self.get(key, default)
        ok = allowed(value) if callable(allowed) else value == allowed
        if not ok:
            raise self.unsupported(key, value, why)

    def unsupported(self, key: str, value: Any, why: str) -> ConversionError:
        return ConversionError(
            f"{self.where}: config key '{self.prefix}{key}' = {value!r} cannot be represented: {why}"
        )

    def finish(self, what: str) -> None:
        unknown = sorted(set(self.section) - self.read)
        if unknown:
            names = ", ".join(f"'{self.prefix}{key}'" for key in unknown)
            raise ConversionError(
                f"{self.where}: config key(s) {names} unknown to the {what} converter; it cannot tell whether they "
                f"change the network, so it refuses them (remove them from config.json if they do not)"
            )


# Our names of the tensors converters write outside the backbone (`zoo.models.SequenceModel` with the token
# encoder and the language-model head).
EMBEDDING = "encoder.embedding.weight"
LM_HEAD = "head.linear.weight"
