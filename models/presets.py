"""Registered model presets. `*-tiny` presets are for tests and the CPU quick start (< 1M parameters)."""

from __future__ import annotations

from zoo.models.attention import AttentionConfig
from zoo.models.config import ModelConfig
from zoo.models.mamba import Mamba2Config, MambaConfig
from zoo.models.registry import register_model



def _tiny_attention() -> AttentionConfig:
    return AttentionConfig(num_heads=4)


def _tiny_mamba2() -> Mamba2Config:
    return Mamba2Config(d_state=16, headdim=16, expand=2, chunk_size=32)


@register_model("attention-tiny", family="attention")
def attention_tiny() -> ModelConfig:
    """Two full causal attention layers with gated MLPs, d_model 64."""
    return ModelConfig(d_model=64, layers=["attention"] * 2, d_intermediate=128, attention=_tiny_attention())


@register_model("mamba-tiny", family="mamba")
def mamba_tiny() -> ModelConfig:
    """Two Mamba-1 layers (no MLP, as Mamba-1 models are built), d_model 64, state size 16."""
    return ModelConfig(d_model=64, layers=["mamba"] * 2, mamba=MambaConfig(d_state=16, chunk_size=32))


@register_model("mamba2-tiny", family="mamba2")
def mamba2_tiny() -> ModelConfig:
    """Two Mamba-2 layers with gated MLPs, d_model 64."""
    return ModelConfig(d_model=64, layers=["mamba2"] * 2, d_intermediate=128, mamba2=_tiny_mamba2())


@register_model("hybrid-tiny", family="mamba2-hybrid", pretrained=("mqar",))
def hybrid_tiny() -> ModelConfig:
    """A Mamba-2 layer followed by a full attention layer, with gated MLPs, d_model 64."""
    return ModelConfig(
        d_model=64,
        layers=["mamba2", "attention"],
        d_intermediate=128,
        attention=_tiny_attention(),
        mamba2=_tiny_mamba2(),
    )
