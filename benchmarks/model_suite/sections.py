"""The one place the model benchmark touches the layout of a model config: the per-mixer sections (attention,
mamba2, mlstm, ...) and the vocabulary, which lives in the token encoder and the language-model head.

`zoo.create_model` takes a section as a dict of the fields to change (merged into the preset's) and a built model
reads its settings back from `model.config`. Where they live is the models package's business: when it moves
them, these functions change and nothing else in the benchmarks does.
"""

from __future__ import annotations

from typing import Any


def section_overrides(sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`create_model` keyword arguments that set the given fields of each named mixer section."""
    return {"mixers": dict(sections)}


def vocabulary_overrides(vocab_size: int) -> dict[str, Any]:
    """`create_model` keyword arguments for a language model over `vocab_size` token ids."""
    return {"encoder": {"kind": "tokens", "vocab_size": vocab_size}, "head": {"kind": "lm"}}


def section(config: Any, name: str) -> Any:
    """The mixer section `name` of a built model's config (`model.config`)."""
    return config.section(name)


def vocab_size(config: Any) -> int:
    """The number of token ids of a built language model's config."""
    return config.encoder.vocab_size


def tied_embeddings(config: Any) -> bool:
    """Whether a built language model's output projection is its token embedding."""
    return config.head.tie_embeddings
