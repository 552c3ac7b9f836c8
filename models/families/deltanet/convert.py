"""flash-linear-attention's `DeltaNetForCausalLM` and `GatedDeltaNetForCausalLM` checkpoints (fla-hub/*, models
saved by fla's flame trainer or `save_pretrained`) -> our `SequenceModel` (token encoder, LM head). Written against fla 0.6.0; fla's config
defaults apply to keys a config.json leaves out.

Config -> `ModelConfig`:

    model_type  delta_net | gated_deltanet   layers: "deltanet" | "gated_deltanet" (attention at `attn` layers)
    hidden_size, num_hidden_layers           d_model, len(layers)
    vocab_size, tie_word_embeddings          encoder.vocab_size, head.tie_embeddings (fla's default: untied)
    norm_eps                                 norm_eps (block and final norms) and the mixer's norm_eps
    hidden_ratio, intermediate_size          d_intermediate (intermediate_size, or fla's rule: 2/3 * hidden_size *
                                             hidden_ratio rounded up to a multiple of 256)
    hidden_act                               must be swish (SwiGLU): the MLP's silu
    DeltaNet: num_heads, expand_k, expand_v, use_beta, use_gate, use_short_conv, conv_size, allow_neg_eigval,
    qk_activation, qk_norm -> the `deltanet` section; use_output_norm must be true.
    Gated DeltaNet: num_heads, head_dim, expand_v, num_v_heads (None -> 0), use_gate, use_short_conv, conv_size,
    allow_neg_eigval, output_gate_activation -> the `gated_deltanet` section.
    attn (fla's standard-attention layers; one spec, or several with equal settings): layers -> "attention" there;
    num_heads, num_kv_heads, qkv_bias; rope_theta -> rope_base (rotary over whole heads, non-interleaved);
    window_size w -> kind sliding_window with window w - 1 (fla passes FlashAttention window_size=(w - 1, 0)).
    attn_mode, fuse_*, use_l2warp, initializer_range, max_position_embeddings, use_cache and transformers' generic
    keys (token ids, architectures, dtype, ...) do not change the network: ignored.

Weights (fla -> ours):

    model.embeddings.weight                      encoder.embedding.weight
    model.layers.{i}.attn_norm.weight            backbone.layers.{i}.norm.weight
    model.layers.{i}.attn.*                      backbone.layers.{i}.mixer.*, the same names (conv weights [D, 1, W]
                                                 -> [D, W], `convert_fla_state_dict` below)
    attention layers: attn.{q,k,v}_proj          mixer.in_proj = [q; k; v] (weights, and biases with qkv_bias)
                      attn.o_proj.weight         mixer.out_proj.weight
    model.layers.{i}.mlp_norm.weight             backbone.layers.{i}.norm2.weight
    model.layers.{i}.mlp.gate_proj, up_proj      backbone.layers.{i}.mlp.fc1.weight = [up; gate] (fla computes
                                                 down(swish(gate) * up), ours fc2(a * silu(g)) with [a, g] = fc1(x))
    model.layers.{i}.mlp.down_proj.weight        backbone.layers.{i}.mlp.fc2.weight
    model.norm.weight                            backbone.norm_f.weight
    lm_head.weight                               head.linear.weight (absent from tied checkpoints: the embedding)

Refused, naming the key: use_output_norm false, hidden_act other than swish, attnres_block_size (attention
residuals), attention specs with different settings, and keys this converter does not know.
"""

from __future__ import annotations

from typing import Any

import torch
from zoo.models.config import ModelConfig
from zoo.models.families.attention.mixer import AttentionConfig
from zoo.models.families.deltanet.mixer import DeltaNetConfig, GatedDeltaNetConfig
from zoo.models.heads.lm import language_model_parts
from zoo.models.registry import register_converter
from zoo.models.upstream import EMBEDDING, LM_HEAD, ConfigKeys, ConversionError, Tensors

SOURCE = "fla"
MODEL_TYPES = {"delta_net": "deltanet", "gated_deltanet": "gated_deltanet"}
ARCHITECTURES = {"DeltaNetForCausalLM": "delta_net", "GatedDeltaNetForCausalLM": "gated_deltanet"}

# transformers' generic config keys (PretrainedConfig and generation settings saved with it): not the network
GENERIC_KEYS = (
    "_name_or_path", "architectures", "auto_map", "model_type", "transformers_version", "dtype", "torch_dtype",
    "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id", "use_cache",
    "output_attentions", "output_hidden_states", "return_dict", "is_encoder_decoder", "is_decoder",
    "add_cross_attention", "chunk_size_feed_forward", "id2label", "label2id", "problem_type", "torchscript",
    "pruned_heads", "tie_encoder_decoder", "cross_attention_hidden_size", "finetuning_task", "prefix",
    "task_specific_params", "tokenizer_class", "max_length", "min_length", "do_sample", "num_beams",
    "temperature", "top_k", "top_p", "repetition_penalty", "use_return_dict",
)
# fla keys that choose kernels, losses or initialisation
FLA_IGNORED = ("attn_mode", "fuse_norm", "fuse_swiglu", "fuse_cross_entropy", "fuse_linear_cross_entropy",
               "use_l2warp", "initializer_range", "max_position_embeddings")


def convert_fla_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An fla `DeltaNet` / `GatedDeltaNet` layer's state dict -> ours: the same names; the conv weights go
    from nn.Conv1d's `[D, 1, W]` to `[D, W]` (the last tap multiplies the current token in both)."""
    return {
        name: tensor.squeeze(1) if name.endswith("conv1d.weight") else tensor for name, tensor in state_dict.items()
    }


def fla_intermediate_size(hidden_size: int, hidden_ratio: int | None) -> int:
    """fla's GatedMLP width when intermediate_size is None: 2/3 of hidden_size * hidden_ratio (4 when None),
    rounded up to a multiple of 256."""
    width = int(hidden_size * (4 if hidden_ratio is None else hidden_ratio) * 2 / 3)
    return 256 * -(-width // 256)


def _model_type(config: dict[str, Any], where: str) -> str:
    model_type = config.get("model_type")
    if model_type is None:
        found = [ARCHITECTURES[a] for a in config.get("architectures") or [] if a in ARCHITECTURES]
        model_type = found[0] if found else None
    if model_type not in MODEL_TYPES:
        raise ConversionError(
            f"{where}: config key 'model_type' = {model_type!r} is not a model this converter knows; fla models it "
            f"converts: {', '.join(MODEL_TYPES)} ({', '.join(ARCHITECTURES)})"
        )
    return model_type


def _deltanet(keys: ConfigKeys, norm_eps: float) -> DeltaNetConfig:
    keys.expect("use_output_norm", True, True, "our DeltaNet always normalises its output heads")
    return DeltaNetConfig(
        num_heads=keys.get("num_heads", 16),
        expand_k=float(keys.get("expand_k", 1.0)),
        expand_v=float(keys.get("expand_v", 1.0)),
        use_beta=keys.get("use_beta", True),
        use_gate=keys.get("use_gate", False),
        use_short_conv=keys.get("use_short_conv", True),
        conv_size=keys.get("conv_size", 4),
        allow_neg_eigval=keys.get("allow_neg_eigval", False),
        qk_activation=keys.get("qk_activation", "silu"),
        qk_norm=keys.get("qk_norm", "l2"),
        norm_eps=norm_eps,
    )


def _gated_deltanet(keys: ConfigKeys, norm_eps: float) -> GatedDeltaNetConfig:
    return GatedDeltaNetConfig(
        num_heads=keys.get("num_heads", 6),
        head_dim=keys.get("head_dim", 256),
        expand_v=float(keys.get("expand_v", 2.0)),
        num_v_heads=keys.get("num_v_heads", None) or 0,
        use_gate=keys.get("use_gate", True),
        use_short_conv=keys.get("use_short_conv", True),
        conv_size=keys.get("conv_size", 4),
        allow_neg_eigval=keys.get("allow_neg_eigval", False),
        output_gate_activation=keys.get("output_gate_activation", "swish"),
        norm_eps=norm_eps,
    )


_ATTENTION_FIELDS = ("num_heads", "num_kv_heads", "qkv_bias", "window_size", "rope_theta")


def _attention(keys: ConfigKeys, n_layers: int) -> tuple[list[int], AttentionConfig | None]:
    """The layers fla's `attn` spec(s) turn into standard attention, and our attention section for them."""
    spec = keys.get("attn", None)
    if spec is None:
        return [], None
    specs = [spec] if isinstance(spec, dict) else spec
    if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
        raise keys.unsupported("attn", spec, "must be an attention spec (a JSON object) or a list of them")
    settings = []
    layers: list[int] = []
    for s in specs:
        unknown = sorted(set(s) - {"layers", *_ATTENTION_FIELDS})
        if unknown:
            raise keys.unsupported("attn", spec, f"spec key(s) {unknown} unknown to the {SOURCE} converter")
        num_heads = s.get("num_heads")
        settings.append((num_heads, s.get("num_kv_heads") or num_heads, bool(s.get("qkv_bias", False)),
                         s.get("window_size"), float(s.get("rope_theta") or 10000.0)))
        layers.extend(s.get("layers") or [])
    if len(set(settings)) > 1:
        raise keys.unsupported("attn", spec, "its specs differ, and a ModelConfig has one attention section")
    bad = [i for i in layers if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_layers]
    if bad:
        raise keys.unsupported("attn", spec, f"'layers' must hold layer indices in [0, {n_layers})")
    num_heads, num_kv_heads, qkv_bias, window_size, rope_theta = settings[0]
    if window_size is not None and window_size < 2:
        raise keys.unsupported("attn", spec, "window_size must be at least 2 (a query and one earlier key)")
    config = AttentionConfig(
        num_heads=num_heads,
        num_kv_heads=num_kv_heads if num_kv_heads != num_heads else 0,
        qkv_bias=qkv_bias,
        out_bias=False,
        rope_base=rope_theta,
        kind="full" if window_size is None else "sliding_window",
        window=0 if window_size is None else window_size - 1,
    )
    return sorted(layers), config


def model_config(upstream: dict[str, Any], where: str = SOURCE) -> tuple[ModelConfig, dict[str, Any]]:
    """Our `ModelConfig` for an fla DeltaNet / Gated DeltaNet config dict, and what the weight mapping needs
    (`{"mixer": layer name}`). Unrepresentable or unknown keys raise ConversionError naming the key."""
    model_type = _model_type(upstream, where)
    keys = ConfigKeys(upstream, where)
    keys.ignore(GENERIC_KEYS + FLA_IGNORED)
    mixer = MODEL_TYPES[model_type]
    d_model = keys.get("hidden_size", 2048)
    n_layers = keys.get("num_hidden_layers", 24 if model_type == "delta_net" else 21)
    norm_eps = float(keys.get("norm_eps", 1e-6))
    keys.expect("hidden_act", "swish", "swish", "our MLP is SwiGLU (fla's 'swish')")
    keys.expect("attnres_block_size", None, None, "our blocks have plain residual connections (no attention residuals)")
    section = (_deltanet if mixer == "deltanet" else _gated_deltanet)(keys, norm_eps)
    attention_layers, attention = _attention(keys, n_layers)
    intermediate = keys.get("intermediate_size", None) or fla_intermediate_size(d_model, keys.get("hidden_ratio", 4))
    keys.ignore(("hidden_ratio",))
    vocab_size = keys.get("vocab_size", 32000)
    tie = bool(keys.get("tie_word_embeddings", False))
    keys.finish(f"{SOURCE} {model_type}")
    sections: dict[str, Any] = {mixer: section}
    if attention is not None:
        sections["attention"] = attention
    config = ModelConfig(
        name="custom",
        family=f"{mixer}-hybrid" if attention_layers else mixer,
        d_model=d_model,
        layers=["attention" if i in attention_layers else mixer for i in range(n_layers)],
        d_intermediate=intermediate,
        norm_eps=norm_eps,
        norm="rmsnorm",
        mlp_activation="silu",
        mixers=sections,
        **language_model_parts(vocab_size, tie),
    )
    return config, {"mixer": mixer}


_TOP_LEVEL = {"model.embeddings.weight": EMBEDDING, "model.norm.weight": "backbone.norm_f.weight",
              "lm_head.weight": LM_HEAD}
_BLOCK = {"attn_norm.weight": "norm.weight", "mlp_norm.weight": "norm2.weight",
          "mlp.down_proj.weight": "mlp.fc2.weight"}


def _take(group: dict[str, torch.Tensor], name: str, layer_prefix: str) -> torch.Tensor:
    if name not in group:
        raise ConversionError(f"{SOURCE}: the checkpoint lacks '{layer_prefix}{name}'")
    return group.pop(name)


def state_dict(upstream: Tensors, config: ModelConfig, options: dict[str, Any]) -> tuple[Tensors, dict[str, str]]:
    """fla state dict -> ours (names and layouts above), and our name -> upstream name for messages."""
    converted: Tensors = {}
    sources: dict[str, str] = {}
    layers: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in upstream.items():
        if name in _TOP_LEVEL:
            converted[_TOP_LEVEL[name]] = tensor
            sources[_TOP_LEVEL[name]] = name
            continue
        parts = name.split(".", 3)
        if len(parts) == 4 and parts[:2] == ["model", "layers"] and parts[2].isdigit():
            layers.setdefault(int(parts[2]), {})[parts[3]] = tensor
            continue
        if name.endswith("rotary.inv_freq"):
            continue
        converted[name] = tensor  # no counterpart: `load_converted` names it
        sources[name] = name
    for index, group in sorted(layers.items()):
        prefix, ours = f"model.layers.{index}.", f"backbone.layers.{index}."
        kind = config.layers[index] if index < len(config.layers) else None

        def put(name: str, tensor: torch.Tensor, source: str) -> None:
            converted[ours + name] = tensor
            sources[ours + name] = prefix + source

        for name, target in _BLOCK.items():
            if name in group:
                put(target, group.pop(name), name)
        if "mlp.gate_proj.weight" in group or "mlp.up_proj.weight" in group:
            gate = _take(group, "mlp.gate_proj.weight", prefix)
            up = _take(group, "mlp.up_proj.weight", prefix)
            if gate.shape != up.shape:
                raise ConversionError(
                    f"{SOURCE}: '{prefix}mlp.gate_proj.weight' {tuple(gate.shape)} and '{prefix}mlp.up_proj.weight' "
                    f"{tuple(up.shape)} differ in shape"
                )
            put("mlp.fc1.weight", torch.cat([up, gate]), "mlp.{up_proj,gate_proj}.weight")
        mixer = {n.removeprefix("attn."): t for n, t in group.items() if n.startswith("attn.")}
        if kind == "attention":
            mixer.pop("rotary.inv_freq", None)
            for part in ("weight", "bias"):
                names = [f"{p}_proj.{part}" for p in "qkv"]
                if any(n in mixer for n in names):
                    tensors = [_take(mixer, n, prefix + "attn.") for n in names]
                    put(f"mixer.in_proj.{part}", torch.cat(tensors), f"attn.{{q,k,v}}_proj.{part}")
            if "o_proj.weight" in mixer:
                put("mixer.out_proj.weight", mixer.pop("o_proj.weight"), "attn.o_proj.weight")
        for name, tensor in convert_fla_state_dict(mixer).items():
            put(f"mixer.{name}", tensor, f"attn.{name}")
        for name, tensor in group.items():
            if not name.startswith("attn."):
                put(name, tensor, name)  # no counterpart: `load_converted` names it
    return converted, sources


register_converter(
    SOURCE,
    model_config=model_config,
    state_dict=state_dict,
    description="flash-linear-attention's DeltaNetForCausalLM and GatedDeltaNetForCausalLM (fla-hub/*)",
)
