"""Presets of the BASED family: Taylor linear attention, gated short convolutions and sliding-window attention in
BASED's mix, at tiny and CPU-trainable sizes and at the published 360M size."""

from __future__ import annotations

from zoo.models.config import ModelConfig
from zoo.models.families.attention.mixer import AttentionConfig
from zoo.models.families.attention.presets import small
from zoo.models.families.based.mixer import BasedConfig
from zoo.models.heads.lm import language_model_parts
from zoo.models.registry import register_model


@register_model("based-tiny", family="based")
def based_tiny() -> ModelConfig:
    """BASED's mix at d_model 64: gated short conv, Taylor linear attention (feature_dim 8), sliding-window attention
    (8 earlier tokens) and gated short conv again, each with a gated MLP."""
    return ModelConfig(
        d_model=64,
        layers=["based_conv", "based", "attention", "based_conv"],
        d_intermediate=128,
        mixers={
            "attention": AttentionConfig(num_heads=4, kind="sliding_window", window=8),
            "based": BasedConfig(feature_dim=8, num_heads=4, chunk_size=16),
        },
    )


@register_model("based-small", family="based")
def based_small() -> ModelConfig:
    """BASED's mix in 8 layers at d_model 512, as the 360M recipe's groups of five cut short: linear attention
    (feature_dim 16, 8 heads) at layers 1 and 5, 128-token sliding-window attention at 2 and 6, gated short convs
    elsewhere."""
    layers = ["based_conv"] * 8
    for i in (1, 5):
        layers[i] = "based"
    for i in (2, 6):
        layers[i] = "attention"
    return small(layers, AttentionConfig(num_heads=8, kind="sliding_window", window=128),
                 based=BasedConfig(feature_dim=16, num_heads=8))


BASED_360M_LINEAR_LAYERS = (1, 6, 11, 16, 21)
BASED_360M_WINDOW_LAYERS = (2, 7, 12, 17, 22)


@register_model("based-360m", family="based")
def based_360m() -> ModelConfig:
    """The published BASED 360M model (the hazyresearch/based-360m checkpoint), as configured in HazyResearch/based
    `train/configs/experiment/reference/based-360m.yaml` (the model card's config): 27 layers at d_model 1024;
    Taylor linear attention (feature_dim 16, 16 heads) at layers 1, 6, 11, 16, 21; sliding-window attention (16
    heads, rotary, upstream `window_size: 256`, which its SlidingAttention passes to FlashAttention as
    `window_size=(256 // 2, 0)`: 128 earlier keys) at layers 2, 7, 12, 17, 22; BaseConv (`expand_proj: 4`, kernel 3,
    `use_bias: True`, conv without bias) elsewhere; a SwiGLU MLP of `n_inner = 2 * n_embd` after every mixer; RMSNorm
    (eps 1e-5); no bias in attention, linear attention or MLP projections; tied embeddings over the GPT-2 vocabulary
    (50257) padded to a multiple of 8 (`pad_vocab_size_multiple: 8`): 50264. fla ships no BASED model, only its
    linear-attention layer. Parameter count: 362,620,928 (tests/models/test_based.py checks it against the upstream
    model's tensor inventory)."""
    layers = [
        "based" if i in BASED_360M_LINEAR_LAYERS else "attention" if i in BASED_360M_WINDOW_LAYERS else "based_conv"
        for i in range(27)
    ]
    return ModelConfig(
        d_model=1024,
        layers=layers,
        d_intermediate=2048,
        norm_eps=1e-5,
        mixers={
            "attention": AttentionConfig(num_heads=16, kind="sliding_window", window=128),
            "based": BasedConfig(
                feature_dim=16, num_heads=16, eps=1e-12, conv_expand=4, conv_kernel=3, conv_bias=False, proj_bias=True
            ),
        },
        **language_model_parts(50264),
    )
