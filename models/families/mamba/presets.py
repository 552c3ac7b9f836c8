"""Presets of the Mamba family: Mamba-1 and Mamba-2 at tiny and CPU-trainable sizes, and at the published sizes of
mamba_ssm's `MambaLMHeadModel` checkpoints (state-spaces/mamba-*, mamba2-*)."""

from __future__ import annotations

from zoo.models.config import ModelConfig
from zoo.models.families.mamba.mamba1 import MambaConfig
from zoo.models.families.mamba.mamba2 import Mamba2Config
from zoo.models.heads.lm import language_model_parts
from zoo.models.registry import register_model

GPT_NEOX_VOCAB = 50277  # the state-spaces checkpoints' tokenizer (EleutherAI/gpt-neox-20b)


def tiny_mamba2() -> Mamba2Config:
    """The Mamba-2 settings of the tiny presets (also in the hybrids): d_state 16, heads of 16, chunks of 32."""
    return Mamba2Config(d_state=16, headdim=16, expand=2, chunk_size=32)


@register_model("mamba-tiny", family="mamba")
def mamba_tiny() -> ModelConfig:
    """Two Mamba-1 layers (no MLP, as Mamba-1 models are built), d_model 64, state size 16."""
    return ModelConfig(d_model=64, layers=["mamba"] * 2, mixers={"mamba": MambaConfig(d_state=16, chunk_size=32)})


@register_model("mamba2-tiny", family="mamba2")
def mamba2_tiny() -> ModelConfig:
    """Two Mamba-2 layers with gated MLPs, d_model 64."""
    return ModelConfig(d_model=64, layers=["mamba2"] * 2, d_intermediate=128, mixers={"mamba2": tiny_mamba2()})


@register_model("mamba-small", family="mamba")
def mamba_small() -> ModelConfig:
    """Twelve Mamba-1 layers at d_model 512 (d_state 16, expand 2), no MLP, byte vocabulary, tied embeddings:
    20,474,368 parameters, a CPU-trainable Mamba."""
    return ModelConfig(d_model=512, layers=["mamba"] * 12, mixers={"mamba": MambaConfig()})


@register_model("mamba2-small", family="mamba2")
def mamba2_small() -> ModelConfig:
    """Twelve Mamba-2 layers at d_model 512 (d_state 64, headdim 64: 16 heads, chunks of 64), no MLP, byte
    vocabulary, tied embeddings: 19,978,816 parameters, a CPU-trainable Mamba-2."""
    return ModelConfig(
        d_model=512, layers=["mamba2"] * 12, mixers={"mamba2": Mamba2Config(d_state=64, headdim=64, chunk_size=64)}
    )


def padded_vocab(vocab_size: int, multiple: int) -> int:
    """`vocab_size` rounded up to a multiple of `multiple`, as mamba_ssm's `pad_vocab_size_multiple` does."""
    return -(-vocab_size // multiple) * multiple


def _mamba_ssm_lm(d_model: int, n_layer: int, layer: str, pad_multiple: int, settings: object) -> ModelConfig:
    """mamba_ssm's `MambaLMHeadModel` layout: no MLP (d_intermediate 0), RMSNorm with eps 1e-5 (MixerModel's
    norm_epsilon), tied embeddings, the GPT-NeoX vocabulary padded to `pad_multiple`."""
    return ModelConfig(
        d_model=d_model,
        layers=[layer] * n_layer,
        d_intermediate=0,
        norm_eps=1e-5,
        mixers={layer: settings},
        **language_model_parts(padded_vocab(GPT_NEOX_VOCAB, pad_multiple), tie_embeddings=True),
    )


@register_model("mamba-130m", family="mamba")
def mamba_130m() -> ModelConfig:
    """state-spaces/mamba-130m (Gu & Dao, 2023), its config.json: d_model 768, 24 Mamba-1 layers with mamba_ssm's
    defaults (d_state 16, d_conv 4, expand 2, dt_rank ceil(768 / 16) = 48), no MLP, RMSNorm, tied embeddings over
    50277 tokens padded to a multiple of 8: 50280. Parameter count 129,135,360, equal to mamba_ssm's
    `MambaLMHeadModel` built from that config (tests/peers/test_mamba_presets.py checks it); `zoo.convert`
    loads the published weights."""
    return _mamba_ssm_lm(768, 24, "mamba", 8, MambaConfig())


@register_model("mamba-370m", family="mamba")
def mamba_370m() -> ModelConfig:
    """state-spaces/mamba-370m: as mamba-130m with d_model 1024 and 48 layers (dt_rank 64). Parameter count
    371,516,416, equal to mamba_ssm's `MambaLMHeadModel` built from that config."""
    return _mamba_ssm_lm(1024, 48, "mamba", 8, MambaConfig())


def _published_mamba2() -> Mamba2Config:
    """mamba_ssm's `Mamba2` defaults, which the state-spaces/mamba2-* configs keep (`ssm_cfg: {layer: Mamba2}`):
    d_state 128, d_conv 4, expand 2, headdim 64, ngroups 1, chunks of 256."""
    return Mamba2Config(d_state=128, d_conv=4, expand=2, headdim=64, ngroups=1, chunk_size=256)


@register_model("mamba2-130m", family="mamba2")
def mamba2_130m() -> ModelConfig:
    """state-spaces/mamba2-130m (Dao & Gu, 2024): d_model 768, 24 Mamba-2 layers (d_state 128, headdim 64: 24 heads,
    expand 2, ngroups 1), no MLP, RMSNorm, tied embeddings over 50277 tokens padded to a multiple of 16: 50288.
    Parameter count 128,989,632, equal to mamba_ssm's `MambaLMHeadModel` built from that config."""
    return _mamba_ssm_lm(768, 24, "mamba2", 16, _published_mamba2())


@register_model("mamba2-370m", family="mamba2")
def mamba2_370m() -> ModelConfig:
    """state-spaces/mamba2-370m: as mamba2-130m with d_model 1024 and 48 layers (32 heads). Parameter count
    368,346,624, equal to mamba_ssm's `MambaLMHeadModel` built from that config."""
    return _mamba_ssm_lm(1024, 48, "mamba2", 16, _published_mamba2())
