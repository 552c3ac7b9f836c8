"""Token mixers, blocks, backbones and the registered model presets (`zoo.models`)."""

from zoo.models import presets as _presets  # noqa: F401  (registers the presets)
from zoo.models.attention import Attention, AttentionConfig, AttentionState
from zoo.models.backbone import Backbone
from zoo.models.based import BasedConfig, BasedConv, BasedLinearAttention
from zoo.models.config import ModelConfig, config_from_dict
from zoo.models.deltanet import (
    DeltaNet,
    DeltaNetConfig,
    DeltaNetState,
    GatedDeltaNet,
    GatedDeltaNetConfig,
)
from zoo.models.lm import LMHeadModel
from zoo.models.mamba import Mamba, Mamba2, Mamba2Config, Mamba2State, MambaConfig, MambaState
from zoo.models.mixers import MIXERS
from zoo.models.mlp_layer import MLPLayer, MLPLayerConfig
from zoo.models.xlstm import MLSTM, SLSTM, MLSTMConfig, MLSTMLayerState, SLSTMConfig, SLSTMLayerState
from zoo.models.registry import (
    ModelEntry,
    UnknownModelError,
    build_model,
    get_entry,
    list_models,
    model_config,
    register_model,
)

__all__ = [
    "MIXERS",
    "Attention",
    "AttentionConfig",
    "AttentionState",
    "Backbone",
    "DeltaNet",
    "DeltaNetConfig",
    "DeltaNetState",
    "GatedDeltaNet",
    "GatedDeltaNetConfig",
    "BasedConfig",
    "BasedConv",
    "BasedLinearAttention",
    "LMHeadModel",
    "Mamba",
    "MambaConfig",
    "MambaState",
    "Mamba2",
    "Mamba2Config",
    "Mamba2State",
    "MLPLayer",
    "MLPLayerConfig",
    "MLSTM",
    "MLSTMConfig",
    "MLSTMLayerState",
    "SLSTM",
    "SLSTMConfig",
    "SLSTMLayerState",
    "ModelConfig",
    "config_from_dict",
    "ModelEntry",
    "UnknownModelError",
    "build_model",
    "get_entry",
    "list_models",
    "model_config",
    "register_model",
]
