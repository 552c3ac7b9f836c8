"""xlstm's `xLSTMLMModel` (NX-AI/xlstm, the xLSTM paper's mLSTM/sLSTM stacks) -> our `LMHeadModel`.

xlstm has no checkpoint format of its own: a folder for this source holds `config.json` with the model's
`xLSTMLMModelConfig` as a dict (`dataclasses.asdict(config)`: embedding_dim, num_blocks, slstm_at, mlstm_block,
slstm_block, vocab_size, tie_weights, ...) and the model's `state_dict()` as model.safetensors or
pytorch_model.bin. The mappings of config keys and tensors are `zoo.models.xlstm_convert`'s (its docstring is the
table); this module adapts them to the `zoo.convert` source interface.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.errors import ConversionError
from zoo.models.config import ModelConfig
from zoo.models.xlstm_convert import config_from_xlstm, convert_xlstm_lm

SOURCE = "xlstm"


def model_config(upstream: dict[str, Any], where: str = SOURCE) -> tuple[ModelConfig, dict[str, Any]]:
    """Our `ModelConfig` for an xlstm `xLSTMLMModelConfig` dict; keys we cannot represent raise ConversionError."""
    try:
        return config_from_xlstm(upstream), {}
    except ValueError as error:
        raise ConversionError(f"{where}: {error}") from None


def state_dict(
    upstream: dict[str, torch.Tensor], config: ModelConfig, options: dict[str, Any]
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """xlstm state dict -> ours, and our name -> upstream name (only the renamed top-level tensors are listed; block
    tensors keep their index, so messages name them in our layout)."""
    try:
        converted = convert_xlstm_lm(upstream)
    except (KeyError, ValueError) as error:
        raise ConversionError(f"xlstm checkpoint: {error.args[0] if error.args else error}") from None
    sources = {
        "embedding.weight": "token_embedding.weight",
        "lm_head.weight": "lm_head.weight",
        "backbone.norm_f.weight": "xlstm_block_stack.post_blocks_norm.weight",
    }
    return converted, sources
