"""HazyResearch/based's `GPTLMHeadModel` checkpoints (hazyresearch/based-360m, based-1b, ...: a config.json with the
`GPT2MixerConfig` fields and pytorch_model.bin) -> our `SequenceModel` (token encoder, LM head). Written against HazyResearch/based's
`based/models/gpt.py`, `mixers/convolution.py` (BaseConv), `mixers/linear_attention.py` (LinearAttention, TaylorExp)
and `mixers/slide_attention.py` (SlidingAttention); upstream defaults apply to keys a config.json leaves out.
fla has no BASED model class, so this is the only format the released BASED models come in.

Config -> `ModelConfig`:

    n_embd, n_layer, n_head              d_model, len(layers), the attention layers' num_heads (upstream overrides
                                         the sliding-window spec's own num_heads with n_head)
    vocab_size, pad_vocab_size_multiple  encoder.vocab_size, padded up to the multiple (50257, 8 -> 50264)
    tie_word_embeddings (default True)   head.tie_embeddings
    mixer / alt_mixer / alt_mixer_2      the mixer of each layer: alt_mixer_2 at alt_mixer_2_layers, else alt_mixer
                                         at alt_mixer_layers, else mixer; an absent spec (or one of those layers
                                         with no spec) is flash_attn's MHA (full causal attention). By `_target_`:
      ...BaseConv                        "based_conv": expand_proj (default 2) -> conv_expand, kernel_size (default 3)
                                         -> conv_kernel, use_bias (default True) -> proj_bias, use_cuda -> conv_bias
                                         (upstream's CUDA path forces a conv bias when causal_conv1d is installed;
                                         the checkpoint's `conv.conv.bias` must agree). `kernel_sizes` (the yaml's
                                         spelling) is not a BaseConv argument upstream (it lands in **kwargs, so the
                                         kernel stays 3): read only to refuse a value other than the kernel used.
      ...LinearAttention                 "based": feature_dim, num_heads, head_dim, eps; feature_map must be TaylorExp
                                         with input_dim = feature_dim; num_key_value_heads, if present, must equal
                                         num_heads (the version read has no grouped heads)
      ...SlidingAttention                "attention", kind sliding_window: window_size w -> window w // 2 (upstream
                                         hands FlashAttention window_size=(w // 2, 0))
      (no spec: MHA)                     "attention", kind full
    n_head_kv                            must be absent/None or n_head
    rotary_emb_fraction (default 0)      rotary_dim = int(fraction * head_dim): 0 -> position_embedding "none";
    rotary_emb_base                      rope_base. rotary_emb_interleaved true and rotary_emb_scale_base are refused
    qkv_proj_bias, out_proj_bias         qkv_bias, out_bias (upstream default True)
    n_inner, activation_function         d_intermediate, which must be a multiple of 128 (flash_attn's GatedMlp
                                         rounds other widths up to one; whether BASED's own GatedMlp does is not
                                         known here, so they are refused); mlp_activation: swiglu -> silu, geglu ->
                                         gelu; other activations are refused
    mlp_fc1_bias, mlp_fc2_bias           must be false (our gated MLP has no biases; upstream default True)
    rms_norm, layer_norm_epsilon         must be true (nn.LayerNorm has a bias we do not have); norm_eps
    scale_attn_weights                   must be true (softmax scale head_dim ** -0.5);
    scale_attn_by_inverse_layer_idx      must be false
    max_position_embeddings              must be 0 (no learned position embeddings); n_positions is then unused
    dropouts, initialisation (initializer_range, special_initializer, use_weight_init), kernel choices (use_flash_attn,
    fused_bias_fc, fused_mlp, fused_dropout_add_ln, residual_in_fp32), l_max, causal, the GPT-2 summary head keys
    and transformers' generic keys do not change the network (eval mode): ignored. prenorm must be true,
    parallel_block, fixed_decay, attn_dwconv false, word_embed_proj_dim None, lm_head_bias false, mlp_type "base".

Weights (upstream -> ours; a leading `model.` is stripped and `*metrics*` entries dropped, as upstream's
`from_pretrained_hf` does; `rotary_emb.inv_freq` buffers are dropped):

    transformer.embeddings.word_embeddings.weight     encoder.embedding.weight
    transformer.layers.{i}.norm1.weight               backbone.layers.{i}.norm.weight
    transformer.layers.{i}.norm2.weight               backbone.layers.{i}.norm2.weight
    transformer.layers.{i}.mlp.fc1 / fc2.weight       backbone.layers.{i}.mlp.fc1 / fc2.weight (both compute
                                                      fc2(a * act(g)) with [a, g] = fc1(x))
    BaseConv:  mixer.in_proj.*, mixer.out_proj.*      mixer.in_proj.*, mixer.out_proj.* (conv half first, gate second)
               mixer.conv.conv.weight [D, 1, W]       mixer.conv.weight [D, W]; mixer.conv.conv.bias -> mixer.conv.bias
    LinearAttention: mixer.proj_{q,k,v}.weight        mixer.{q,k,v}_proj.weight; mixer.out_proj.weight as is
    Sliding / MHA:   mixer.Wqkv.*                     mixer.in_proj.* ([q; k; v] rows, heads of head_dim)
                     mixer.out_proj.*                 mixer.out_proj.*
    transformer.ln_f.weight                           backbone.norm_f.weight
    lm_head.weight                                    head.linear.weight (equal to the embedding when tied)

Uncertain (no upstream runs here; flash_attn's CUDA extensions are needed): the released config.json files were not
read, only the training yaml and the model code, so keys they may hold beyond those listed are refused as unknown
(remove them if they do not change the network); BASED's own `GatedMlp` (based/models/mlp.py) is assumed to split
fc1 as flash_attn's does (value half first, gate second); the sliding
window's `w // 2` follows the SlidingAttention version read.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from zoo.models.config import ModelConfig
from zoo.models.families.attention.mixer import AttentionConfig
from zoo.models.families.based.mixer import BasedConfig
from zoo.models.heads.lm import language_model_parts
from zoo.models.registry import register_converter
from zoo.models.upstream import EMBEDDING, LM_HEAD, ConfigKeys, ConversionError, Tensors

SOURCE = "based"
MLP_MULTIPLE = 128  # flash_attn's GatedMlp rounds hidden_features up to a multiple of this

GENERIC_KEYS = (
    "_name_or_path", "architectures", "auto_map", "model_type", "transformers_version", "dtype", "torch_dtype",
    "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "use_cache", "output_attentions",
    "output_hidden_states", "return_dict", "is_encoder_decoder", "is_decoder", "add_cross_attention",
    "tokenizer_class", "id2label", "label2id", "problem_type", "torchscript", "pruned_heads", "task_specific_params",
    "chunk_size_feed_forward", "tie_encoder_decoder", "finetuning_task", "prefix", "max_length", "min_length",
)
# dropouts (eval), initialisation, kernels, parallelism, GPT-2's unused summary head, the unused n_positions
BASED_IGNORED = (
    "attn_pdrop", "embd_pdrop", "resid_pdrop", "summary_activation", "summary_first_dropout", "summary_proj_to_labels",
    "summary_type", "summary_use_proj", "initializer_range", "special_initializer", "use_weight_init",
    "use_flash_attn", "fused_bias_fc", "fused_mlp", "fused_dropout_add_ln", "residual_in_fp32",
    "reorder_and_upcast_attn", "sequence_parallel", "mlp_checkpoint_lvl", "n_positions", "ff_mult",
)
ACTIVATIONS = {"swiglu": "silu", "geglu": "gelu"}
_SPEC_IGNORED = ("_target_", "l_max", "layer_idx", "device", "dtype", "causal", "parallel_implementation",
                 "train_view", "use_act")


def _kind(spec: Any, keys: ConfigKeys, key: str) -> str:
    """Our layer name for an upstream mixer spec (None: flash_attn's MHA)."""
    if spec is None:
        return "mha"
    if not isinstance(spec, dict):
        raise keys.unsupported(key, spec, "a mixer spec must be a JSON object with a '_target_'")
    target = str(spec.get("_target_", ""))
    name = target.rsplit(".", 1)[-1]
    if name == "BaseConv":
        return "based_conv"
    if name == "LinearAttention" and "linear_attention" in target:
        return "based"
    if name == "SlidingAttention":
        return "sliding"
    raise keys.unsupported(f"{key}._target_", target,
                           "only BaseConv, LinearAttention (Taylor feature map) and SlidingAttention convert")


def _layer_list(keys: ConfigKeys, key: str, n_layers: int) -> list[int]:
    value = keys.get(key, None)
    if value is None:
        return []
    if not isinstance(value, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in value):
        raise keys.unsupported(key, value, "must be a list of layer indices")
    bad = [i for i in value if not 0 <= i < n_layers]
    if bad:
        raise keys.unsupported(key, value, f"layer indices {bad} are outside [0, {n_layers})")
    return value


def _conv_fields(spec: ConfigKeys) -> dict[str, Any]:
    kernel = spec.get("kernel_size", 3)
    sizes = spec.get("kernel_sizes", None)
    if sizes is not None and sizes != kernel and sizes != [kernel]:
        raise spec.unsupported("kernel_sizes", sizes, f"upstream's BaseConv ignores it and builds kernel_size "
                               f"{kernel}; set kernel_size if the checkpoint's conv is {sizes} wide")
    return dict(conv_expand=spec.get("expand_proj", 2), conv_kernel=kernel, proj_bias=bool(spec.get("use_bias", True)),
                conv_bias=bool(spec.get("use_cuda", False)))


def _linear_fields(spec: ConfigKeys, d_model: int) -> dict[str, Any]:
    feature_dim = spec.get("feature_dim", 16)
    num_heads = spec.get("num_heads", 16)
    feature_map = spec.get("feature_map", None)
    if isinstance(feature_map, dict):
        target = str(feature_map.get("_target_", ""))
        extra = sorted(set(feature_map) - {"_target_", "input_dim"})
        if not target.endswith("TaylorExp") or extra:
            raise spec.unsupported("feature_map", feature_map, "only the TaylorExp feature map (no options) converts")
        if feature_map.get("input_dim", feature_dim) != feature_dim:
            raise spec.unsupported("feature_map", feature_map, f"input_dim must equal feature_dim ({feature_dim})")
    elif feature_map not in (None, "taylor_exp"):
        raise spec.unsupported("feature_map", feature_map, "only the TaylorExp feature map converts")
    spec.expect("feature_name", lambda v: v in (None, "taylor_exp"), None, "only the TaylorExp feature map converts")
    spec.expect("num_key_value_heads", lambda v: v in (None, num_heads), None,
                "grouped key/value heads in BASED's linear attention are not mapped (must equal num_heads)")
    head_dim = spec.get("head_dim", None)
    return dict(feature_dim=feature_dim, num_heads=num_heads,
                head_dim=0 if head_dim in (None, d_model // num_heads) else head_dim,
                eps=float(spec.get("eps", 1e-12)))


def model_config(upstream: dict[str, Any], where: str = SOURCE) -> tuple[ModelConfig, dict[str, Any]]:
    """Our `ModelConfig` for a BASED `GPT2MixerConfig` dict, and what the weight mapping needs (`{"kinds": upstream
    mixer kind per layer}`). Unrepresentable or unknown keys raise ConversionError naming the key."""
    keys = ConfigKeys(upstream, where)
    keys.ignore(GENERIC_KEYS + BASED_IGNORED)
    d_model = keys.get("n_embd")
    n_layers = keys.get("n_layer")
    n_head = keys.get("n_head")
    vocab = keys.get("vocab_size")
    multiple = keys.get("pad_vocab_size_multiple", 1)
    vocab_size = math.ceil(vocab / multiple) * multiple
    keys.expect("rms_norm", True, False, "our layernorm has no bias (upstream builds nn.LayerNorm with one)")
    norm_eps = float(keys.get("layer_norm_epsilon", 1e-5))
    activation = keys.get("activation_function", "gelu_new")
    if activation not in ACTIVATIONS:
        raise keys.unsupported("activation_function", activation, "our MLP is gated: swiglu or geglu")
    inner = keys.get("n_inner", None)
    if not isinstance(inner, int) or isinstance(inner, bool) or inner < 1 or inner % MLP_MULTIPLE:
        raise keys.unsupported("n_inner", inner, f"the gated MLP's width must be a positive multiple of "
                               f"{MLP_MULTIPLE} (flash_attn's GatedMlp rounds other widths up, and whether BASED's "
                               f"own GatedMlp does is not known here)")
    for key in ("mlp_fc1_bias", "mlp_fc2_bias"):
        keys.expect(key, False, True, "our gated MLP has no biases")
    keys.expect("mlp_type", "base", "base", "only the plain gated MLP converts")
    keys.expect("max_position_embeddings", 0, 0, "we have no learned position embeddings")
    keys.expect("prenorm", True, True, "our blocks are pre-norm")
    for key in ("parallel_block", "fixed_decay", "attn_dwconv", "lm_head_bias"):
        keys.expect(key, False, False, "no counterpart in our models")
    keys.expect("word_embed_proj_dim", None, None, "no embedding projection in our models")
    keys.expect("scale_attn_weights", True, True, "our attention scales by head_dim ** -0.5")
    keys.expect("scale_attn_by_inverse_layer_idx", False, False, "our attention scales by head_dim ** -0.5")
    keys.expect("n_head_kv", lambda v: v in (None, n_head), None, "grouped heads in BASED's attention are not mapped")
    keys.expect("rotary_emb_interleaved", False, False, "only non-interleaved rotary embeddings are mapped")
    keys.expect("rotary_emb_scale_base", None, None, "XPos-scaled rotary embeddings have no counterpart")
    fraction = float(keys.get("rotary_emb_fraction", 0.0) or 0.0)
    rope_base = float(keys.get("rotary_emb_base", 10000.0))
    tie = bool(keys.get("tie_word_embeddings", True))
    qkv_bias, out_bias = bool(keys.get("qkv_proj_bias", True)), bool(keys.get("out_proj_bias", True))

    specs = {tag: keys.get(tag, None) for tag in ("mixer", "alt_mixer", "alt_mixer_2")}
    alt_layers = _layer_list(keys, "alt_mixer_layers", n_layers)
    alt2_layers = _layer_list(keys, "alt_mixer_2_layers", n_layers)
    tags = ["alt_mixer_2" if i in alt2_layers else "alt_mixer" if i in alt_layers else "mixer" for i in range(n_layers)]
    used = sorted(set(tags), key=list(specs).index)
    kinds_of = {tag: _kind(specs[tag], keys, tag) for tag in used}
    for tag in specs:  # a spec no layer uses is still read, so that finish() does not refuse it
        if tag not in used and specs[tag] is not None:
            _kind(specs[tag], keys, tag)

    based: dict[str, Any] = {}
    fields_from: dict[str, str] = {}
    attention_kinds: dict[str, str] = {}
    for tag in used:
        kind, spec = kinds_of[tag], specs[tag]
        if kind in ("mha", "sliding"):
            attention_kinds[tag] = kind
        if spec is None:
            continue
        section = ConfigKeys(spec, where, f"{tag}.")
        section.ignore(_SPEC_IGNORED)
        if kind == "based_conv":
            fields = _conv_fields(section)
        elif kind == "based":
            fields = _linear_fields(section, d_model)
        else:
            fields = {}
            window_size = section.get("window_size", 128)
            if isinstance(window_size, bool) or not isinstance(window_size, int) or window_size // 2 < 1:
                raise section.unsupported("window_size", window_size, "must be an int of at least 2")
            attention_kinds[tag] = f"sliding:{window_size // 2}"
            section.ignore(("num_heads",))  # upstream replaces it with n_head
        section.finish(f"{SOURCE} {tag}")
        for field, value in fields.items():
            if field in based and based[field] != value:
                raise keys.unsupported(tag, spec, f"'{field}' differs from {fields_from[field]}'s, and a ModelConfig "
                                       f"has one based section")
            based[field] = value
            fields_from.setdefault(field, tag)
    if len(set(attention_kinds.values())) > 1:
        tag = list(attention_kinds)[-1]
        raise keys.unsupported(tag, specs[tag], "its attention differs from another layer's, and a ModelConfig has "
                               "one attention section")
    keys.finish(SOURCE)

    head_dim = d_model // n_head
    rotary_dim = int(fraction * head_dim)
    attention = AttentionConfig(
        num_heads=n_head,
        qkv_bias=qkv_bias,
        out_bias=out_bias,
        position_embedding="rope" if rotary_dim else "none",
        rotary_dim=0 if rotary_dim in (0, head_dim) else rotary_dim,
        rope_base=rope_base,
    )
    attention_kind = next(iter(attention_kinds.values()), None)
    if attention_kind and attention_kind.startswith("sliding:"):
        attention.kind, attention.window = "sliding_window", int(attention_kind.split(":")[1])
    layer_names = {"based_conv": "based_conv", "based": "based", "mha": "attention", "sliding": "attention"}
    sections: dict[str, Any] = {"based": BasedConfig(**based)}
    if attention_kinds:
        sections["attention"] = attention
    config = ModelConfig(
        name="custom",
        family="based",
        d_model=d_model,
        layers=[layer_names[kinds_of[tag]] for tag in tags],
        d_intermediate=inner,
        norm_eps=norm_eps,
        norm="rmsnorm",
        mlp_activation=ACTIVATIONS[activation],
        mixers=sections,
        **language_model_parts(vocab_size, tie),
    )
    return config, {"kinds": [kinds_of[tag] for tag in tags]}


_TOP_LEVEL = {"transformer.embeddings.word_embeddings.weight": EMBEDDING,
              "transformer.ln_f.weight": "backbone.norm_f.weight", "lm_head.weight": LM_HEAD}
_BLOCK = {"norm1.weight": "norm.weight", "norm2.weight": "norm2.weight", "mlp.fc1.weight": "mlp.fc1.weight",
          "mlp.fc2.weight": "mlp.fc2.weight"}
_MIXER = {
    "based_conv": {"in_proj.weight": "in_proj.weight", "in_proj.bias": "in_proj.bias",
                   "out_proj.weight": "out_proj.weight", "out_proj.bias": "out_proj.bias",
                   "conv.conv.weight": "conv.weight", "conv.conv.bias": "conv.bias"},
    "based": {"proj_q.weight": "q_proj.weight", "proj_k.weight": "k_proj.weight", "proj_v.weight": "v_proj.weight",
              "out_proj.weight": "out_proj.weight"},
    "attention": {"Wqkv.weight": "in_proj.weight", "Wqkv.bias": "in_proj.bias", "out_proj.weight": "out_proj.weight",
                  "out_proj.bias": "out_proj.bias"},
}


def state_dict(upstream: Tensors, config: ModelConfig, options: dict[str, Any]) -> tuple[Tensors, dict[str, str]]:
    """BASED state dict -> ours (names and layouts above), and our name -> upstream name for messages. Tensors with
    no counterpart keep their upstream name, so that `load_converted` refuses them by name."""
    converted: Tensors = {}
    sources: dict[str, str] = {}

    def put(ours: str, tensor: torch.Tensor, theirs: str) -> None:
        converted[ours] = tensor
        sources[ours] = theirs

    for original, tensor in upstream.items():
        name = original.removeprefix("model.")
        if "metrics" in name or name.endswith("rotary_emb.inv_freq"):
            continue
        if name in _TOP_LEVEL:
            put(_TOP_LEVEL[name], tensor, original)
            continue
        parts = name.split(".", 3)
        if len(parts) == 4 and parts[:2] == ["transformer", "layers"] and parts[2].isdigit():
            index, rest = int(parts[2]), parts[3]
            ours = f"backbone.layers.{index}."
            if rest in _BLOCK:
                put(ours + _BLOCK[rest], tensor, original)
                continue
            if rest.startswith("mixer.") and index < len(config.layers):
                mapping = _MIXER[config.layers[index]]
                inner = rest.removeprefix("mixer.")
                if inner in mapping:
                    if inner == "conv.conv.weight":
                        if tensor.dim() != 3 or tensor.shape[1] != 1:
                            raise ConversionError(f"{SOURCE}: tensor '{original}' has shape {tuple(tensor.shape)}; "
                                                  f"a depthwise conv weight [D, 1, W] was expected")
                        tensor = tensor[:, 0]
                    put(ours + "mixer." + mapping[inner], tensor, original)
                    continue
        put(original, tensor, original)  # no counterpart: `load_converted` names it
    return converted, sources


register_converter(
    SOURCE,
    model_config=model_config,
    state_dict=state_dict,
    description="HazyResearch/based's GPTLMHeadModel (hazyresearch/based-*)",
)
