"""The standalone MLP layer (`mlp`), the third kind of layer in Megatron-LM's hybrid stacks."""

from zoo.models.families.mlp.layer import MLPLayer, MLPLayerConfig

__all__ = ["MLPLayer", "MLPLayerConfig"]
