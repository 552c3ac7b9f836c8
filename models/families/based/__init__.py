"""BASED: Taylor linear attention and gated short convolutions (with sliding-window attention) in BASED's mix, its
presets, and the converter of the BASED repository's checkpoints."""

from zoo.models.families.based import convert, papers, presets  # noqa: F401  (registers them)
from zoo.models.families.based.mixer import (
    BasedConfig,
    BasedConv,
    BasedLinearAttention,
    TaylorFeatureMap,
)

__all__ = ["BasedConfig", "BasedConv", "BasedLinearAttention", "TaylorFeatureMap"]
