"""Weights and configs from xlstm (NX-AI/xlstm 2.0.6, the xLSTM paper's code) to zoo models: the functions
that `zoo.convert` builds on for xLSTM checkpoints. Nothing here imports xlstm; state dicts are plain dicts
of tensors and configs are xlstm's config dataclasses or their dict form (e.g. a loaded config.yaml).

Mapping, xlstm -> ours (prefix `xlstm_block_stack.blocks.{i}.` -> `backbone.layers.{i}.`):

    token_embedding.weight                        encoder.embedding.weight
    lm_head.weight                                head.linear.weight (the same tensor when tied)
    xlstm_block_stack.post_blocks_norm.weight     backbone.norm_f.weight                  + 1
    xlstm_norm.weight                             norm.weight                             + 1
    mLSTM block, `xlstm.` -> `mixer.`:
        proj_up.{weight,bias}, proj_down.{weight,bias}, {q,k,v}_proj.{weight,bias}, learnable_skip   as is
        conv1d.conv.weight [D, 1, W], .bias       conv1d.weight [D, W], conv1d.bias
        mlstm_cell.igate.*, mlstm_cell.fgate.*    igate.*, fgate.*
        mlstm_cell.outnorm.weight                 outnorm.weight                          + 1
    sLSTM block, `xlstm.` -> `mixer.`:
        conv1d.conv.weight [D, 1, W], .bias       conv1d.weight [D, W], conv1d.bias
        fgate.weight                              igate.weight   (xlstm's sLSTMLayer feeds the INPUT gate
        igate.weight                              fgate.weight    from `fgate` and the forget gate from `igate`)
        zgate.weight, ogate.weight                as is            (headwise [H, Dh, Dh] in both)
        slstm_cell._recurrent_kernel_             recurrent_kernel [H, Dh, 4 Dh]: the transpose of the vanilla
                                                  backend's [H, 4 Dh, Dh]; the CUDA backend's as is
        slstm_cell._bias_ [4 H Dh]                gate_bias [H, 4 Dh]: vanilla stores it (gate, head, unit),
                                                  CUDA (head, gate, unit); told apart by the kernel's shape
        group_norm.weight                         group_norm.weight                       + 1 (ones if absent)
        ffn_norm.weight                           norm2.weight                            + 1
        ffn.proj_up.weight [2F, d] = [gate; up]   mlp.fc1.weight = [up; gate]  (ours: fc2(a * act(g)))
        ffn.proj_down.weight                      mlp.fc2.weight

"+ 1": xlstm's LayerNorm and MultiHeadLayerNorm store their scale minus one (`residual_weight`); ours store it.
The layer-level functions take the layer's own state dict (keys without the block prefix) and return the
mixer's; `convert_xlstm_lm` does a whole `xLSTMLMModel`. Every function refuses a key it has no mapping for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from zoo.models.config import ModelConfig
from zoo.models.families.xlstm.mlstm import MLSTMConfig
from zoo.models.families.xlstm.slstm import SLSTMConfig
from zoo.models.heads.lm import language_model_parts
from zoo.models.registry import register_converter
from zoo.models.upstream import EMBEDDING, LM_HEAD, ConversionError, Tensors

SOURCE = "xlstm"

_MISSING = object()


def _take(state: dict, key: str) -> torch.Tensor:
    if key not in state:
        raise KeyError(f"xlstm state dict has no '{key}'")
    return state.pop(key)


def _check_empty(state: dict, what: str) -> None:
    if state:
        raise ValueError(f"{what}: xlstm keys with no counterpart here: {sorted(state)}")


def _conv(state: dict, out: Tensors, src: str, dst: str) -> None:
    """xlstm's CausalConv1d (nn.Conv1d [D, 1, W]) -> our ShortConv ([D, W], the last tap on the current token
    in both)."""
    out[f"{dst}.weight"] = _take(state, f"{src}.conv.weight").squeeze(1)
    if f"{src}.conv.bias" in state:
        out[f"{dst}.bias"] = _take(state, f"{src}.conv.bias")


def convert_mlstm_layer(state_dict: Mapping[str, torch.Tensor]) -> Tensors:
    """xlstm `mLSTMLayer` state dict -> `zoo.models.families.xlstm.MLSTM` state dict."""
    state, out = dict(state_dict), {}
    for name in ("proj_up", "proj_down", "q_proj", "k_proj", "v_proj"):
        for part in ("weight", "bias"):
            if f"{name}.{part}" in state:
                out[f"{name}.{part}"] = _take(state, f"{name}.{part}")
    out["learnable_skip"] = _take(state, "learnable_skip")
    _conv(state, out, "conv1d", "conv1d")
    for gate in ("igate", "fgate"):
        for part in ("weight", "bias"):
            out[f"{gate}.{part}"] = _take(state, f"mlstm_cell.{gate}.{part}")
    out["outnorm.weight"] = _take(state, "mlstm_cell.outnorm.weight") + 1
    _check_empty(state, "mLSTM layer")
    return out


def slstm_cell_weights(recurrent_kernel: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """xlstm sLSTM cell's stored `_recurrent_kernel_` and `_bias_` (either backend's layout) -> our
    recurrent_kernel `[H, Dh, 4 Dh]` and gate_bias `[H, 4 Dh]` (kernels/slstm/cell.py gives the layouts)."""
    heads, a, b = recurrent_kernel.shape
    if a == 4 * b:  # vanilla: [H, 4 Dh, Dh], bias (gate, head, unit)
        head_dim = b
        R = recurrent_kernel.transpose(1, 2)
        gate_bias = bias.reshape(4, heads, head_dim).transpose(0, 1)
    elif b == 4 * a:  # cuda: [H, Dh, 4 Dh], bias (head, gate, unit)
        head_dim = a
        R = recurrent_kernel
        gate_bias = bias.reshape(heads, 4, head_dim)
    else:
        raise ValueError(f"sLSTM recurrent kernel of shape {list(recurrent_kernel.shape)} is neither xlstm's vanilla "
                         "[H, 4 Dh, Dh] nor its CUDA [H, Dh, 4 Dh] layout")
    return R.contiguous(), gate_bias.reshape(heads, 4 * head_dim).contiguous()


def convert_slstm_layer(state_dict: Mapping[str, torch.Tensor]) -> Tensors:
    """xlstm `sLSTMLayer` state dict (vanilla or CUDA backend) -> `zoo.models.families.xlstm.SLSTM` state dict."""
    state, out = dict(state_dict), {}
    if "conv1d.conv.weight" in state:
        _conv(state, out, "conv1d", "conv1d")
    # the slot trap: xlstm's `fgate` module feeds the input gate, its `igate` module the forget gate
    out["igate.weight"] = _take(state, "fgate.weight")
    out["fgate.weight"] = _take(state, "igate.weight")
    out["zgate.weight"] = _take(state, "zgate.weight")
    out["ogate.weight"] = _take(state, "ogate.weight")
    out["recurrent_kernel"], out["gate_bias"] = slstm_cell_weights(
        _take(state, "slstm_cell._recurrent_kernel_"), _take(state, "slstm_cell._bias_")
    )
    if "group_norm.weight" in state:
        out["group_norm.weight"] = _take(state, "group_norm.weight") + 1
    else:  # group_norm_weight=False: a unit scale
        out["group_norm.weight"] = out["zgate.weight"].new_ones(out["gate_bias"].numel() // 4)
    _check_empty(state, "sLSTM layer")
    return out


def convert_feedforward(state_dict: Mapping[str, torch.Tensor]) -> Tensors:
    """xlstm `GatedFeedForward` state dict -> our `GatedMLP`'s: proj_up's halves swap places (xlstm splits its
    output into (gate, up), ours into (up, gate))."""
    state = dict(state_dict)
    gate, up = _take(state, "proj_up.weight").chunk(2, dim=0)
    out = {"fc1.weight": torch.cat([up, gate], dim=0), "fc2.weight": _take(state, "proj_down.weight")}
    _check_empty(state, "feed-forward (biases are not supported)")
    return out


def _sub(state: Mapping[str, torch.Tensor], prefix: str) -> Tensors:
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}


def convert_xlstm_block(state_dict: Mapping[str, torch.Tensor]) -> Tensors:
    """xlstm `mLSTMBlock` / `sLSTMBlock` state dict -> our `Block`'s (norm, mixer, norm2, mlp); the kind is read
    from the keys (an sLSTM block has `xlstm.slstm_cell._recurrent_kernel_`)."""
    known = ("xlstm_norm.", "xlstm.", "ffn_norm.", "ffn.")
    unknown = [key for key in state_dict if not key.startswith(known)]
    if unknown:
        raise ValueError(f"xLSTM block: keys with no counterpart here: {sorted(unknown)}")
    layer = _sub(state_dict, "xlstm.")
    is_slstm = "slstm_cell._recurrent_kernel_" in layer
    mixer = convert_slstm_layer(layer) if is_slstm else convert_mlstm_layer(layer)
    out = {"norm.weight": state_dict["xlstm_norm.weight"] + 1}
    out.update({f"mixer.{key}": value for key, value in mixer.items()})
    if "ffn_norm.weight" in state_dict:
        out["norm2.weight"] = state_dict["ffn_norm.weight"] + 1
        out.update({f"mlp.{key}": value for key, value in convert_feedforward(_sub(state_dict, "ffn.")).items()})
    return out


def convert_xlstm_lm(state_dict: Mapping[str, torch.Tensor]) -> Tensors:
    """xlstm `xLSTMLMModel` state dict -> our language model's (for the config `config_from_xlstm` gives)."""
    state = dict(state_dict)
    out = {EMBEDDING: _take(state, "token_embedding.weight"), LM_HEAD: _take(state, "lm_head.weight")}
    out["backbone.norm_f.weight"] = _take(state, "xlstm_block_stack.post_blocks_norm.weight") + 1
    prefix = "xlstm_block_stack.blocks."
    indices = sorted({int(key[len(prefix):].split(".", 1)[0]) for key in state if key.startswith(prefix)})
    for i in indices:
        block_prefix = f"{prefix}{i}."
        block = {key: state.pop(key) for key in list(state) if key.startswith(block_prefix)}
        for key, value in convert_xlstm_block(_sub(block, block_prefix)).items():
            out[f"backbone.layers.{i}.{key}"] = value
    _check_empty(state, "xLSTMLMModel")
    return out


# ----------------------------------------------------------------------------------------------------------
# configs


def _get(obj: Any, key: str, default: Any = _MISSING) -> Any:
    """obj.key or obj[key] (xlstm's config dataclasses or their dict form), else `default` (xlstm's default)."""
    if obj is None:
        value = _MISSING
    elif isinstance(obj, Mapping):
        value = obj.get(key, _MISSING)
    else:
        value = getattr(obj, key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            raise ValueError(f"xlstm config: '{key}' is required")
        return default
    return value


def _unsupported(key: str, value: Any, why: str) -> ValueError:
    return ValueError(f"xlstm config key '{key}' = {value!r} has no counterpart here: {why}")


_FFN_ACTIVATIONS = {"gelu": "gelu", "swish": "silu"}


def config_from_xlstm(config: Any) -> ModelConfig:
    """Our `ModelConfig` for an xlstm `xLSTMLMModelConfig` (or its dict form; absent keys take xlstm's defaults).

    Covered: block map (`num_blocks`, `slstm_at`, including "all"), widths, heads, conv sizes, q/k/v block size,
    projection factors and rounding, stack `bias`, the sLSTM feed-forward (`ffn_gated`, gelu or swish, no bias),
    `vocab_size`, `tie_weights`. Ignored: dropout, context_length, the sLSTM cell's backend/dtype options and its
    `bias_init` (initialisation only). Raises ValueError naming the key for the rest (e.g.
    `add_post_blocks_norm: false`, `round_proj_up_dim_up: false`).
    """
    d_model = _get(config, "embedding_dim", 128)
    num_blocks = _get(config, "num_blocks", 1)
    mlstm_block, slstm_block = _get(config, "mlstm_block", None), _get(config, "slstm_block", None)
    slstm_at = _get(config, "slstm_at", [])
    if mlstm_block is None or slstm_at == "all":
        slstm_at = list(range(num_blocks))
    layers = ["slstm" if i in slstm_at else "mlstm" for i in range(num_blocks)]
    if not _get(config, "add_post_blocks_norm", True):
        raise _unsupported("add_post_blocks_norm", False, "our backbone always ends with a norm")
    bias = bool(_get(config, "bias", False))

    mlstm = MLSTMConfig(bias=bias)
    if mlstm_block is not None:
        layer = _get(mlstm_block, "mlstm", None)
        if not _get(layer, "round_proj_up_dim_up", True):
            raise _unsupported("mlstm.round_proj_up_dim_up", False, "inner widths are rounded up here")
        mlstm = MLSTMConfig(
            num_heads=_get(layer, "num_heads", 4),
            proj_factor=float(_get(layer, "proj_factor", 2.0)),
            round_to=_get(layer, "round_proj_up_to_multiple_of", 64),
            conv1d_kernel_size=_get(layer, "conv1d_kernel_size", 4),
            qkv_proj_blocksize=_get(layer, "qkv_proj_blocksize", 4),
            bias=bias,
        )

    slstm, activation = SLSTMConfig(), "gelu"
    if "slstm" in layers:
        layer = _get(slstm_block, "slstm", None)
        if _get(layer, "function", "slstm") != "slstm":
            raise _unsupported("slstm.function", _get(layer, "function"), "only the sLSTM cell is implemented")
        ffn = _get(slstm_block, "feedforward", {}) if slstm_block is not None else {}
        ffn_factor = 0.0
        if ffn is not None:
            if _get(ffn, "ff_type", "ffn_gated") != "ffn_gated":
                raise _unsupported("feedforward.ff_type", _get(ffn, "ff_type"), "only ffn_gated is implemented")
            if _get(ffn, "bias", False):
                raise _unsupported("feedforward.bias", True, "our gated MLP in xLSTM blocks has no bias")
            if not _get(ffn, "round_proj_up_dim_up", True):
                raise _unsupported("feedforward.round_proj_up_dim_up", False, "widths are rounded up here")
            act = _get(ffn, "act_fn", "gelu")
            if act not in _FFN_ACTIVATIONS:
                raise _unsupported("feedforward.act_fn", act, f"choose one of {sorted(_FFN_ACTIVATIONS)}")
            activation = _FFN_ACTIVATIONS[act]
            ffn_factor = float(_get(ffn, "proj_factor", 1.3))
        slstm = SLSTMConfig(
            num_heads=_get(layer, "num_heads", 4),
            conv1d_kernel_size=_get(layer, "conv1d_kernel_size", 4),
            ffn_proj_factor=ffn_factor,
            ffn_round_to=_get(ffn, "round_proj_up_to_multiple_of", 64) if ffn is not None else 64,
        )

    return ModelConfig(
        family="xlstm",
        d_model=d_model,
        layers=layers,
        d_intermediate=0,
        norm="layernorm",
        mlp_activation=activation,
        mixers={"mlstm": mlstm, "slstm": slstm},
        **language_model_parts(_get(config, "vocab_size"), bool(_get(config, "tie_weights", False))),
    )


def _model_config(upstream: dict[str, Any], where: str = SOURCE) -> tuple[ModelConfig, dict[str, Any]]:
    """The `zoo.convert` form of `config_from_xlstm`: its ValueErrors become ConversionErrors naming `where`."""
    try:
        return config_from_xlstm(upstream), {}
    except ValueError as error:
        raise ConversionError(f"{where}: {error}") from None


def _state_dict(upstream: Tensors, config: ModelConfig, options: dict[str, Any]) -> tuple[Tensors, dict[str, str]]:
    """The `zoo.convert` form of `convert_xlstm_lm`, with our name -> upstream name for the renamed top-level
    tensors (block tensors keep their index, so messages name them in our layout)."""
    try:
        converted = convert_xlstm_lm(upstream)
    except (KeyError, ValueError) as error:
        raise ConversionError(f"{SOURCE} checkpoint: {error.args[0] if error.args else error}") from None
    sources = {
        EMBEDDING: "token_embedding.weight",
        LM_HEAD: "lm_head.weight",
        "backbone.norm_f.weight": "xlstm_block_stack.post_blocks_norm.weight",
    }
    return converted, sources


register_converter(
    SOURCE,
    model_config=_model_config,
    state_dict=_state_dict,
    description="xlstm's xLSTMLMModel (its config dataclass as config.json, its state dict)",
)
