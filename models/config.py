"""`ModelConfig`: everything needed to build a network, as an OmegaConf-friendly dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

from zoo.models.attention import AttentionConfig
from zoo.models.based import BasedConfig
from zoo.models.deltanet import DeltaNetConfig, GatedDeltaNetConfig
from zoo.models.mamba import Mamba2Config, MambaConfig
from zoo.models.mlp_layer import MLPLayerConfig
from zoo.models.xlstm import MLSTMConfig, SLSTMConfig


@dataclass
class ModelConfig:
    """A token-in, token-out sequence model: embedding, a stack of blocks, final norm, LM head.

    `layers` names the mixer of each block in order (`zoo.models.MIXERS` lists the names), so a hybrid
    is configuration: `[mamba2, mamba2, mamba2, attention]`. Each mixer family reads its own section.
    """

    name: str = "custom"  # the preset this config came from
    family: str = "custom"
    d_model: int = 64
    layers: list[str] = field(default_factory=lambda: ["attention", "attention"])
    d_intermediate: int = 0  # hidden size of the gated MLP after each mixer; 0 = no MLP
    vocab_size: int = 256
    tie_embeddings: bool = True
    norm_eps: float = 1e-5
    norm: str = "rmsnorm"  # the block and final norms: rmsnorm | layernorm (bias-free, xLSTM's)
    mlp_activation: str = "silu"  # the gated MLP's activation: silu (SwiGLU) | gelu (xLSTM's GeGLU)
    initializer_range: float = 0.02
    bidirectional: bool = False  # encoders: attention without the causal mask, recurrent mixers run both ways
    bidirectional_tied: bool = False  # the backward direction reuses the forward weights (Caduceus' BiMamba)
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    mamba: MambaConfig = field(default_factory=MambaConfig)
    mamba2: Mamba2Config = field(default_factory=Mamba2Config)
    based: BasedConfig = field(default_factory=BasedConfig)  # based, based_conv
    deltanet: DeltaNetConfig = field(default_factory=DeltaNetConfig)
    gated_deltanet: GatedDeltaNetConfig = field(default_factory=GatedDeltaNetConfig)
    mlstm: MLSTMConfig = field(default_factory=MLSTMConfig)
    slstm: SLSTMConfig = field(default_factory=SLSTMConfig)  # also sizes the sLSTM block's MLP
    mlp: MLPLayerConfig = field(default_factory=MLPLayerConfig)  # the standalone `mlp` layers (Megatron-style hybrids)


def config_from_dict(fields: dict) -> ModelConfig:
    """A `ModelConfig` from its plain-dict form (nested sections as dicts); unknown keys raise ValueError."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ModelConfig), fields))
    except OmegaConfBaseException as error:
        raise ValueError(f"not a valid ModelConfig: {str(error).splitlines()[0]} (key '{error.full_key}')") from None
