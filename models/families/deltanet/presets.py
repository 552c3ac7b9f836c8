"""Presets of the DeltaNet family: DeltaNet and Gated DeltaNet at tiny, CPU-trainable and published (fla flame)
sizes, and the DeltaNet paper's hybrids with sliding-window or global attention."""

from __future__ import annotations

from zoo.models.config import ModelConfig
from zoo.models.families.attention.mixer import AttentionConfig
from zoo.models.families.attention.presets import tiny_attention
from zoo.models.families.deltanet.convert import fla_intermediate_size
from zoo.models.families.deltanet.mixer import DeltaNetConfig, GatedDeltaNetConfig
from zoo.models.heads.lm import language_model_parts
from zoo.models.registry import register_model

FLA_VOCAB = 32000  # fla's default (Llama) tokenizer


def tiny_deltanet() -> DeltaNetConfig:
    """Four heads, chunks of 16: the DeltaNet settings of the tiny presets."""
    return DeltaNetConfig(num_heads=4, chunk_size=16)


@register_model("deltanet-tiny", family="deltanet")
def deltanet_tiny() -> ModelConfig:
    """Two DeltaNet layers (4 heads of 16, short convs, L2-normalised q/k, sigmoid beta, per-head RMSNorm) with
    gated MLPs, d_model 64."""
    return ModelConfig(d_model=64, layers=["deltanet"] * 2, d_intermediate=128, mixers={"deltanet": tiny_deltanet()})


@register_model("gated-deltanet-tiny", family="gated_deltanet")
def gated_deltanet_tiny() -> ModelConfig:
    """Two Gated DeltaNet layers (3 query/key heads of 16, values of 32, Mamba-2 decay, output gate) with gated
    MLPs, d_model 64."""
    config = GatedDeltaNetConfig(num_heads=3, head_dim=16, expand_v=2, chunk_size=16)
    return ModelConfig(d_model=64, layers=["gated_deltanet"] * 2, d_intermediate=128,
                       mixers={"gated_deltanet": config})


@register_model("deltanet-small", family="deltanet")
def deltanet_small() -> ModelConfig:
    """Eight DeltaNet layers at d_model 512 (8 heads of 64) with fla-sized gated MLPs (1536), byte vocabulary:
    27,485,184 parameters, a CPU-trainable baseline."""
    return ModelConfig(
        d_model=512,
        layers=["deltanet"] * 8,
        d_intermediate=fla_intermediate_size(512, 4),
        mixers={"deltanet": DeltaNetConfig(num_heads=8)},
    )


@register_model("gated-deltanet-small", family="gated_deltanet")
def gated_deltanet_small() -> ModelConfig:
    """Eight Gated DeltaNet layers at d_model 512 (4 query/key heads of 128, values of 128, Mamba-2 decay, output
    gate) with fla-sized gated MLPs, byte vocabulary: the gated counterpart of deltanet-small."""
    return ModelConfig(
        d_model=512,
        layers=["gated_deltanet"] * 8,
        d_intermediate=fla_intermediate_size(512, 4),
        mixers={"gated_deltanet": GatedDeltaNetConfig(num_heads=4, head_dim=128, expand_v=1)},
    )


@register_model("deltanet-swa-hybrid-small", family="deltanet-hybrid")
def deltanet_swa_hybrid_small() -> ModelConfig:
    """deltanet-small with sliding-window attention (256 earlier tokens, 8 heads) in every other layer."""
    config = deltanet_small()
    config.layers = ["deltanet", "attention"] * 4
    config.mixers["attention"] = AttentionConfig(num_heads=8, kind="sliding_window", window=256)
    return config


@register_model("deltanet-340m", family="deltanet")
def deltanet_340m() -> ModelConfig:
    """The 340M DeltaNet of the DeltaNet paper's 15B-token comparison (Yang et al., 2024), as fla configures it:
    fla-org/flame `configs/delta_net_340M.json` (commit def9ced1): hidden_size 1024, 24 layers, 8 heads,
    expand_k = expand_v = 1, short convs of 4, SiLU + L2 q/k, sigmoid beta, no output gate, norm_eps 1e-6,
    hidden_ratio 4 (MLP width 2816), untied embeddings over fla's 32000-token (Llama) vocabulary.
    Parameter count 374,362,112, equal to fla's `DeltaNetForCausalLM` built from that config
    (tests/peers/test_deltanet_parity.py checks it); "340M" is the size class."""
    return ModelConfig(
        d_model=1024,
        layers=["deltanet"] * 24,
        d_intermediate=fla_intermediate_size(1024, 4),
        norm_eps=1e-6,
        mixers={"deltanet": DeltaNetConfig(num_heads=8, expand_k=1.0, expand_v=1.0, norm_eps=1e-6)},
        **language_model_parts(FLA_VOCAB, tie_embeddings=False),
    )


@register_model("gated-deltanet-340m", family="gated_deltanet")
def gated_deltanet_340m() -> ModelConfig:
    """The 340M-class Gated DeltaNet of fla's training framework: flame `configs/gated_deltanet_340M.json` (read
    at zaydzuhri/flame commit b654e4f1, a fork of fla-org/flame): hidden_size 1024, 21 layers, 6 heads of
    head_dim 256, expand_v 2, output gate, short convs of 4, norm_eps 1e-6, hidden_ratio 4 (MLP width 2816),
    untied embeddings over 32000 tokens. Parameter count 512,272,124, equal to fla's `GatedDeltaNetForCausalLM`
    built from that config (tests/peers/test_deltanet_parity.py checks it): the file keeps the 1.3B model's
    heads (6 x 256, sized for hidden 2048), so it is larger than its name. The Gated DeltaNet paper's own
    0.4B runs use NVlabs/GatedDeltaNet's lit_gpt models, a different layout."""
    return ModelConfig(
        d_model=1024,
        layers=["gated_deltanet"] * 21,
        d_intermediate=fla_intermediate_size(1024, 4),
        norm_eps=1e-6,
        mixers={"gated_deltanet": GatedDeltaNetConfig(num_heads=6, head_dim=256, expand_v=2.0, norm_eps=1e-6)},
        **language_model_parts(FLA_VOCAB, tie_embeddings=False),
    )


@register_model("deltanet-swa-hybrid-tiny", family="deltanet-hybrid")
def deltanet_swa_hybrid_tiny() -> ModelConfig:
    """The DeltaNet paper's first hybrid at d_model 64: sliding-window attention every other layer (DeltaNet,
    SWA, DeltaNet, SWA; each SWA token sees itself and the 8 tokens before it), with gated MLPs."""
    return ModelConfig(
        d_model=64,
        layers=["deltanet", "attention"] * 2,
        d_intermediate=128,
        mixers={
            "attention": AttentionConfig(num_heads=4, kind="sliding_window", window=8),
            "deltanet": tiny_deltanet(),
        },
    )


@register_model("deltanet-global-hybrid-tiny", family="deltanet-hybrid")
def deltanet_global_hybrid_tiny() -> ModelConfig:
    """The DeltaNet paper's second hybrid at d_model 64: two global (full causal) attention layers among six, at
    the 2nd and the (N/2 + 1)-th layer (as in H3, Fu et al., 2023), the others DeltaNet, with gated MLPs."""
    return ModelConfig(
        d_model=64,
        layers=["deltanet", "attention", "deltanet", "attention", "deltanet", "deltanet"],
        d_intermediate=128,
        mixers={"attention": tiny_attention(), "deltanet": tiny_deltanet()},
    )
