"""Presets of the Mamba hybrids: a Mamba-2 layer beside attention (the quick-start model), and NVIDIA's
Mamba-2-Hybrid recipe (Mamba-2, attention and standalone MLP layers in Megatron-LM's pattern)."""

from __future__ import annotations

from zoo.models.config import ModelConfig
from zoo.models.families.attention.mixer import AttentionConfig
from zoo.models.families.attention.presets import tiny_attention
from zoo.models.families.mamba.mamba2 import Mamba2Config
from zoo.models.families.mamba.presets import tiny_mamba2
from zoo.models.families.mlp.layer import MLPLayerConfig
from zoo.models.heads.lm import LMHeadConfig
from zoo.models.registry import register_model


@register_model("hybrid-tiny", family="mamba2-hybrid")
def hybrid_tiny() -> ModelConfig:
    """A Mamba-2 layer followed by a full attention layer, with gated MLPs, d_model 64."""
    return ModelConfig(
        d_model=64,
        layers=["mamba2", "attention"],
        d_intermediate=128,
        mixers={"attention": tiny_attention(), "mamba2": tiny_mamba2()},
    )


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def hybrid_layers(
    num_layers: int, attention_ratio: float = 0.08, mlp_ratio: float = 0.5, mixer: str = "mamba2"
) -> list[str]:
    """The layer pattern of a Megatron-LM-style hybrid (NVIDIA's Mamba-2-Hybrid): `round(num_layers *
    attention_ratio)` attention layers, `round(num_layers * mlp_ratio)` standalone `mlp` layers, `mixer` layers
    for the rest, spread evenly:
    - the attention layers cut the others into equal runs, the k-th coming after `round_half_up(k * s)` of them,
      s = others / (attention layers + 1), so that the stack starts and ends with a run of Mamba/MLP layers;
    - within the others, the i-th MLP layer comes after `round_half_up(i * r)` mixer layers, r = mixers / MLPs,
      so that an MLP follows a mixer and the stack ends with an MLP.
    With the recipe's ratios (0.08, 0.5) and 48 layers this is Megatron-LM's pattern for its 800M-scale hybrid,
    `M-M-M--M-*M-M-M-M--*M-M-M-M-*M--M-M-M-*M-M--M-M-` (M the mixer, * attention, - MLP; Megatron-LM's
    examples/mamba/train.sh ratios, `--hybrid-override-pattern` in forks that spell it out)."""
    if num_layers < 1:
        raise ValueError(f"hybrid_layers: num_layers must be positive, got {num_layers}")
    if not (0 <= attention_ratio <= 1 and 0 <= mlp_ratio <= 1 and attention_ratio + mlp_ratio <= 1):
        raise ValueError(
            f"hybrid_layers: ratios must lie in [0, 1] and sum to at most 1, got {attention_ratio}, {mlp_ratio}"
        )
    attention = round(num_layers * attention_ratio)
    mlps = round(num_layers * mlp_ratio)
    others = num_layers - attention
    mixers = others - mlps
    if mixers < 0:
        raise ValueError(f"hybrid_layers: {num_layers} layers cannot hold {attention} attention and {mlps} MLP layers")
    # how many other layers precede each attention layer (non-decreasing), and the positions of the MLP layers among
    # the others (increasing)
    attention_after = [_round_half_up(k * others, attention + 1) for k in range(1, attention + 1)]
    mlp_positions = {_round_half_up(i * mixers, mlps) + i - 1 for i in range(1, mlps + 1)}
    pattern: list[str] = []
    placed = 0
    for position in range(others + 1):
        while placed < attention and attention_after[placed] == position:
            pattern.append("attention")
            placed += 1
        if position < others:
            pattern.append("mlp" if position in mlp_positions else mixer)
    return pattern


def _hybrid(d_model: int, layers: list[str], attention: AttentionConfig, mamba2: Mamba2Config) -> ModelConfig:
    """The Mamba-2-Hybrid recipe's layer settings: every layer `x + f(norm(x))` with RMSNorm (eps 1e-5), so no MLP
    inside blocks (d_intermediate 0) but standalone `mlp` layers (GELU, 4 * d_model, no bias: Megatron-LM's default
    MLP); attention with grouped-query heads and no position embedding (`--position-embedding-type none`) and no
    biases (`--disable-bias-linear`); untied embeddings (`--untie-embeddings-and-output-weights`)."""
    return ModelConfig(
        d_model=d_model,
        layers=layers,
        d_intermediate=0,
        norm_eps=1e-5,
        head=LMHeadConfig(tie_embeddings=False),
        mixers={
            "attention": attention,
            "mamba2": mamba2,
            "mlp": MLPLayerConfig(d_intermediate=4 * d_model, gated=False, activation="gelu"),
        },
    )


@register_model("mamba2-hybrid-small", family="mamba2-hybrid")
def mamba2_hybrid_small() -> ModelConfig:
    """NVIDIA's Mamba-2-Hybrid recipe (Waleffe et al., 2024, "An Empirical Study of Mamba-based Language Models":
    about 8% attention layers, 50% MLP layers, the rest Mamba-2, attention spread evenly) at the depth of its
    800M-scale model: 48 layers, `hybrid_layers(48)` = 20 Mamba-2, 4 attention (8.3%), 24 MLP layers, at
    d_model 256 (a quarter of that model's width): attention 4 heads of 64 sharing 2 key/value heads (the 800M
    model's 16 heads over 8 groups, scaled), no position embedding; Mamba-2 with d_state 128, headdim 64 (8 heads),
    ngroups 1; MLP layers GELU 1024; byte vocabulary, untied embeddings. 22,816,480 parameters, CPU-trainable."""
    return _hybrid(
        256,
        hybrid_layers(48),
        AttentionConfig(num_heads=4, num_kv_heads=2, position_embedding="none"),
        Mamba2Config(d_state=128, headdim=64, chunk_size=64),
    )


@register_model("mamba2-hybrid-tiny", family="mamba2-hybrid")
def mamba2_hybrid_tiny() -> ModelConfig:
    """The Mamba-2-Hybrid recipe at 12 layers and d_model 64: `hybrid_layers(12)` = 5 Mamba-2, 1 attention (8.3%,
    the 7th layer), 6 MLP layers (GELU, 256); attention 4 heads of 16 over 2 key/value heads, no position
    embedding; byte vocabulary, untied embeddings: 382,936 parameters."""
    return _hybrid(
        64,
        hybrid_layers(12),
        AttentionConfig(num_heads=4, num_kv_heads=2, position_embedding="none"),
        tiny_mamba2(),
    )
