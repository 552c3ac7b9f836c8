"""Softmax attention: the full-attention baseline and the sparse transformers (sliding window, Longformer, BigBird),
one mixer (`attention`) whose `kind` picks the mask."""

from zoo.models.families.attention import papers, presets  # noqa: F401  (registers them)
from zoo.models.families.attention.mixer import (
    Attention,
    AttentionConfig,
    AttentionState,
    mask_spec,
)

__all__ = ["Attention", "AttentionConfig", "AttentionState", "mask_spec"]
