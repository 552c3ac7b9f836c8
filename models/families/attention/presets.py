"""Presets of the attention family: full causal attention and the sparse transformers. `*-tiny` presets are for tests
and the CPU quick start (< 1M parameters), `*-small` ones the CPU-trainable size class (10-30M)."""

from __future__ import annotations

from zoo.models.config import ModelConfig
from zoo.models.families.attention.mixer import AttentionConfig
from zoo.models.registry import register_model


def tiny_attention() -> AttentionConfig:
    """Four full causal heads: the attention settings of the tiny presets (also in other families' hybrids)."""
    return AttentionConfig(num_heads=4)


def _tiny(attention: AttentionConfig) -> ModelConfig:
    return ModelConfig(d_model=64, layers=["attention"] * 2, d_intermediate=128, mixers={"attention": attention})


@register_model("attention-tiny", family="attention")
def attention_tiny() -> ModelConfig:
    """Two full causal attention layers with gated MLPs, d_model 64."""
    return _tiny(tiny_attention())


@register_model("swa-tiny", family="attention")
def swa_tiny() -> ModelConfig:
    """Two sliding-window attention layers (each token sees itself and the 8 tokens before it; the decoding cache
    rolls, so its memory is constant), with gated MLPs, d_model 64."""
    return _tiny(AttentionConfig(num_heads=4, kind="sliding_window", window=8))


@register_model("longformer-tiny", family="attention")
def longformer_tiny() -> ModelConfig:
    """Two causal Longformer layers: a sliding window of 4 earlier tokens plus a global token at position 0 (which
    every later token sees), with gated MLPs, d_model 64."""
    return _tiny(AttentionConfig(num_heads=4, kind="longformer", window=4, global_tokens=[0]))


@register_model("bigbird-tiny", family="attention")
def bigbird_tiny() -> ModelConfig:
    """Two causal BigBird layers over blocks of 4 tokens: 3 window blocks, 1 global block, 1 random block (seed 0),
    with gated MLPs, d_model 64."""
    return _tiny(AttentionConfig(
        num_heads=4, kind="bigbird", block_size=4, window_blocks=3, global_blocks=1, random_blocks=1, seed=0
    ))


def small(layers: list[str], attention: AttentionConfig, **mixers) -> ModelConfig:
    """The CPU-trainable size class shared by the attention and BASED families, as the other families' small
    presets: d_model 512, SwiGLU MLPs of 1408 (about 8/3 d), byte vocabulary, tied embeddings: 25-30M parameters."""
    return ModelConfig(d_model=512, layers=layers, d_intermediate=1408, mixers={"attention": attention, **mixers})


@register_model("attention-small", family="attention")
def attention_small() -> ModelConfig:
    """Eight full causal attention layers (8 heads of 64), d_model 512: the baseline of the small size class."""
    return small(["attention"] * 8, AttentionConfig(num_heads=8))


@register_model("swa-small", family="attention")
def swa_small() -> ModelConfig:
    """Eight sliding-window attention layers (each token sees the 256 before it), d_model 512."""
    return small(["attention"] * 8, AttentionConfig(num_heads=8, kind="sliding_window", window=256))


@register_model("longformer-small", family="attention")
def longformer_small() -> ModelConfig:
    """Eight causal Longformer layers: a 256-token window plus global token 0, d_model 512."""
    return small(["attention"] * 8, AttentionConfig(num_heads=8, kind="longformer", window=256, global_tokens=[0]))


@register_model("bigbird-small", family="attention")
def bigbird_small() -> ModelConfig:
    """Eight causal BigBird layers (64-token blocks: 3 window blocks, 1 global block, 3 random blocks), d_model 512."""
    attention = AttentionConfig(num_heads=8, kind="bigbird", block_size=64, window_blocks=3, global_blocks=1,
                                random_blocks=3)
    return small(["attention"] * 8, attention)
