"""The one place the model benchmark touches per-mixer config sections (attention, mamba2, mlstm, ...).

`zoo.create_model` takes a section as a dict of the fields to change and reads it back from `model.config`.
Where sections live in the config is the models package's business: when they move (under `mixers`), these
two functions change and nothing else in the benchmarks does.
"""

from __future__ import annotations

from typing import Any


def section_overrides(sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`create_model` keyword arguments that set the given fields of each named section."""
    return dict(sections)


def section(config: Any, name: str) -> Any:
    """The section `name` of a built model's config (`model.config`)."""
    return getattr(config, name)
