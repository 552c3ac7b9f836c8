"""mamba_ssm's `MambaLMHeadModel` checkpoints (state-spaces/mamba-*, state-spaces/mamba2-*, and hybrids with
`attn_layer_idx`) -> our `SequenceModel` (token encoder, LM head).

Config (`MambaConfig` as config.json holds it) -> `ModelConfig`:

    d_model, n_layer                     d_model, len(layers)
    ssm_cfg.layer  Mamba1 | Mamba2       layers: "mamba" | "mamba2" (Mamba1 when absent), "attention" at attn_layer_idx
    ssm_cfg.*                            the `mamba` / `mamba2` section, same names (dt_rank "auto" -> 0)
    attn_cfg.*  (mamba_ssm's MHA)        the `attention` section: num_heads, num_heads_kv -> num_kv_heads, head_dim,
                                         qkv_proj_bias / out_proj_bias (default True) -> qkv_bias / out_bias, causal
                                         (default False), rotary_emb_dim -> position_embedding "rope" with rotary_dim
                                         (0: "none"), rotary_emb_base -> rope_base, rotary_emb_interleaved (q/k rows
                                         permuted, below)
    d_intermediate                       d_intermediate rounded up to a multiple of 128 (mamba_ssm's GatedMLP does)
    vocab_size, pad_vocab_size_multiple  encoder.vocab_size, padded
    tie_embeddings (default True)        head.tie_embeddings
    rms_norm                             must be true: false builds nn.LayerNorm with a bias, which we do not have
    residual_in_fp32, fused_add_norm     ignored: where the residual is kept and which kernel adds and normalises;
                                         the same network (our residual stays in the model's dtype)
    (norm eps)                           1e-5, MixerModel's norm_epsilon (not in the config)

Weights (mamba_ssm -> ours):

    backbone.embedding.weight            encoder.embedding.weight
    backbone.layers.{i}.norm / norm2     backbone.layers.{i}.norm / norm2 (weight; RMSNorm has no bias)
    backbone.layers.{i}.mixer.*          same names; conv1d.weight [D, 1, W] -> [D, W] (Mamba-1 and Mamba-2)
    backbone.layers.{i}.mlp.fc1 / fc2    same: both GatedMLPs compute fc2(a * silu(g)) with [a, g] = fc1(x)
    backbone.norm_f.weight               backbone.norm_f.weight
    lm_head.weight                       head.linear.weight (the embedding itself when tied)
    MHA layers: mixer.in_proj ([q; k; v] rows, heads of head_dim) and mixer.out_proj as they are. With
    rotary_emb_interleaved, flash_attn rotates channel pairs (2m, 2m+1) of each head, ours (m, m + R/2): the first
    R = rotary_dim rows of every q and k head are reordered (2m -> m, 2m+1 -> m + R/2), which leaves q.k unchanged.

Refused, naming the key: rms_norm false, ssm_cfg.d_ssm != expand * d_model (a partial SSM with a gated MLP beside
it), ssm_cfg.D_has_hdim, ssm_cfg.rmsnorm false, a non-integer Mamba-1 expand, attn_cfg.d_conv > 0 (a conv on q/k/v),
attn_cfg.mlp_dim > 0 (an MLP fused into the attention projections), a softmax_scale other than head_dim ** -0.5,
and keys this converter does not know.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from zoo.models.config import ModelConfig
from zoo.models.families.attention.mixer import AttentionConfig
from zoo.models.families.mamba.mamba1 import MambaConfig
from zoo.models.families.mamba.mamba2 import Mamba2Config
from zoo.models.heads.lm import language_model_parts
from zoo.models.registry import register_converter
from zoo.models.upstream import EMBEDDING, LM_HEAD, ConfigKeys, ConversionError, Tensors

SOURCE = "mamba_ssm"
MIXER_LAYERS = {"Mamba1": "mamba", "Mamba2": "mamba2"}
NORM_EPS = 1e-5  # mamba_ssm's MixerModel norm_epsilon; not part of its config
MLP_MULTIPLE = 128  # mamba_ssm's GatedMLP rounds its hidden width up to this
MAMBA2_CHUNK_SIZE = 256  # mamba_ssm's Mamba2 default chunk_size (a kernel setting)

# keys that select kernels, parallelism or initialisation only
_MAMBA1_IGNORED = ("dt_init", "use_fast_path", "layer_idx", "device", "dtype")
_MAMBA2_IGNORED = ("conv_init", "use_mem_eff_path", "process_group", "sequence_parallel", "layer_idx", "device",
                   "dtype")
_MHA_IGNORED = ("layer_idx", "device", "dtype")


def _mamba1(ssm: ConfigKeys, d_model: int) -> MambaConfig:
    expand = ssm.get("expand", 2)
    if float(expand) != int(expand) or int(expand) < 1:
        raise ssm.unsupported("expand", expand, "our Mamba-1 takes a whole expansion factor")
    dt_rank = ssm.get("dt_rank", "auto")
    if dt_rank != "auto" and (isinstance(dt_rank, bool) or not isinstance(dt_rank, int) or dt_rank < 1):
        raise ssm.unsupported("dt_rank", dt_rank, "must be 'auto' or a positive int")
    ssm.ignore(_MAMBA1_IGNORED)
    return MambaConfig(
        d_state=ssm.get("d_state", 16),
        d_conv=ssm.get("d_conv", 4),
        expand=int(expand),
        dt_rank=0 if dt_rank == "auto" else dt_rank,
        dt_min=ssm.get("dt_min", 0.001),
        dt_max=ssm.get("dt_max", 0.1),
        dt_scale=ssm.get("dt_scale", 1.0),
        dt_init_floor=ssm.get("dt_init_floor", 1e-4),
        conv_bias=ssm.get("conv_bias", True),
        bias=ssm.get("bias", False),
    )


def _mamba2(ssm: ConfigKeys, d_model: int) -> Mamba2Config:
    expand = ssm.get("expand", 2)
    if float(expand) != int(expand) or int(expand) < 1:
        raise ssm.unsupported("expand", expand, "our Mamba-2 takes a whole expansion factor")
    d_inner = int(expand) * d_model
    ssm.expect("d_ssm", lambda v: v is None or v == d_inner, None,
               f"only an SSM over all expand * d_model = {d_inner} channels (mamba_ssm runs a gated MLP on the rest)")
    ssm.expect("D_has_hdim", False, False, "our D is one value per head, not per head channel")
    ssm.expect("rmsnorm", True, True, "our Mamba-2 always has its gated RMSNorm")
    ssm.ignore(_MAMBA2_IGNORED)
    return Mamba2Config(
        d_state=ssm.get("d_state", 128),
        d_conv=ssm.get("d_conv", 4),
        expand=int(expand),
        headdim=ssm.get("headdim", 64),
        ngroups=ssm.get("ngroups", 1),
        chunk_size=ssm.get("chunk_size", MAMBA2_CHUNK_SIZE),
        dt_min=ssm.get("dt_min", 0.001),
        dt_max=ssm.get("dt_max", 0.1),
        dt_init_floor=ssm.get("dt_init_floor", 1e-4),
        dt_limit=[float(v) for v in ssm.get("dt_limit", (0.0, float("inf")))],
        A_init_range=[float(v) for v in ssm.get("A_init_range", (1, 16))],
        conv_bias=ssm.get("conv_bias", True),
        bias=ssm.get("bias", False),
        norm_before_gate=ssm.get("norm_before_gate", False),
    )


def _attention(attn: ConfigKeys, d_model: int) -> tuple[AttentionConfig, bool]:
    """The attention section for mamba_ssm's MHA, and whether its rotary embedding is interleaved."""
    num_heads = attn.get("num_heads")
    head_dim = attn.get("head_dim", None) or d_model // num_heads
    attn.expect("d_conv", 0, 0, "our attention has no convolution over q/k/v")
    attn.expect("mlp_dim", 0, 0, "our attention has no MLP fused into its projections (use d_intermediate)")
    attn.expect("softmax_scale", lambda v: v is None or math.isclose(v, head_dim**-0.5), None,
                f"our attention scales scores by head_dim ** -0.5 = {head_dim**-0.5:.6g}")
    rotary_dim = attn.get("rotary_emb_dim", 0)
    if rotary_dim and (rotary_dim % 2 or rotary_dim > head_dim):
        raise attn.unsupported("rotary_emb_dim", rotary_dim, f"must be even and at most head_dim ({head_dim})")
    interleaved = bool(attn.get("rotary_emb_interleaved", False))
    attn.ignore(_MHA_IGNORED)
    config = AttentionConfig(
        num_heads=num_heads,
        num_kv_heads=attn.get("num_heads_kv", None) or 0,
        head_dim=head_dim if head_dim != d_model // num_heads else 0,
        qkv_bias=attn.get("qkv_proj_bias", True),
        out_bias=attn.get("out_proj_bias", True),
        causal=attn.get("causal", False),
        position_embedding="rope" if rotary_dim else "none",
        rotary_dim=0 if rotary_dim in (0, head_dim) else rotary_dim,
        rope_base=float(attn.get("rotary_emb_base", 10000.0)),
    )
    return config, interleaved and rotary_dim > 0


def model_config(upstream: dict[str, Any], where: str = SOURCE) -> tuple[ModelConfig, dict[str, Any]]:
    """Our `ModelConfig` for a mamba_ssm config dict, and what the weight mapping needs to know
    (`{"interleaved_rotary": bool}`). Unrepresentable or unknown keys raise ConversionError naming the key."""
    top = ConfigKeys(upstream, where)
    d_model, n_layer = top.get("d_model"), top.get("n_layer")
    top.expect("rms_norm", True, True, "mamba_ssm then builds nn.LayerNorm with a bias; our norms are RMSNorm")
    top.ignore(("residual_in_fp32", "fused_add_norm"))
    ssm = ConfigKeys(top.get("ssm_cfg", {}) or {}, where, "ssm_cfg.")
    layer = ssm.get("layer", "Mamba1")
    if layer not in MIXER_LAYERS:
        raise ssm.unsupported("layer", layer, f"choose one of {', '.join(MIXER_LAYERS)}")
    mixer = MIXER_LAYERS[layer]
    sections: dict[str, Any] = {mixer: (_mamba1 if mixer == "mamba" else _mamba2)(ssm, d_model)}
    ssm.finish(SOURCE)

    attn_layers = list(top.get("attn_layer_idx", []) or [])
    bad = [i for i in attn_layers if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_layer]
    if bad:
        raise top.unsupported("attn_layer_idx", attn_layers, f"entries must be layer indices in [0, {n_layer})")
    attn = ConfigKeys(top.get("attn_cfg", {}) or {}, where, "attn_cfg.")
    interleaved = False
    if attn_layers:
        sections["attention"], interleaved = _attention(attn, d_model)
        attn.finish(SOURCE)

    d_intermediate = top.get("d_intermediate", 0)
    vocab_size = top.get("vocab_size")
    multiple = top.get("pad_vocab_size_multiple", 8)
    tie = top.get("tie_embeddings", True)
    top.finish(SOURCE)
    config = ModelConfig(
        name="custom",
        family=(f"{mixer}-hybrid" if attn_layers else mixer),
        d_model=d_model,
        layers=["attention" if i in attn_layers else mixer for i in range(n_layer)],
        d_intermediate=-(-d_intermediate // MLP_MULTIPLE) * MLP_MULTIPLE if d_intermediate else 0,
        norm_eps=NORM_EPS,
        norm="rmsnorm",
        mlp_activation="silu",
        mixers=sections,
        **language_model_parts(vocab_size + (-vocab_size) % multiple, bool(tie)),
    )
    return config, {"interleaved_rotary": interleaved}


def _deinterleave_rows(weight: torch.Tensor, heads: int, head_dim: int, rotary_dim: int) -> torch.Tensor:
    """Reorder the first `rotary_dim` rows of each of `heads` heads from pairs (2m, 2m + 1) to halves (m, m + R/2)."""
    order = torch.arange(head_dim)
    half = rotary_dim // 2
    order[:half] = torch.arange(0, rotary_dim, 2)
    order[half:rotary_dim] = torch.arange(1, rotary_dim, 2)
    grouped = weight.unflatten(0, (heads, head_dim))
    return grouped[:, order].flatten(0, 1)


def _attention_in_proj(tensor: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    attention = config.section("attention")
    head_dim = attention.head_dim or config.d_model // attention.num_heads
    kv_heads = attention.num_kv_heads or attention.num_heads
    rotary_dim = attention.rotary_dim or head_dim
    sizes = [attention.num_heads * head_dim, kv_heads * head_dim, kv_heads * head_dim]
    if tensor.shape[0] != sum(sizes):
        return tensor  # does not fit the config: `load_converted` names the tensor and both shapes
    q, k, v = tensor.split(sizes)
    q = _deinterleave_rows(q, attention.num_heads, head_dim, rotary_dim)
    k = _deinterleave_rows(k, kv_heads, head_dim, rotary_dim)
    return torch.cat([q, k, v])


_TOP_LEVEL = {"backbone.embedding.weight": EMBEDDING, "lm_head.weight": LM_HEAD}


def state_dict(upstream: Tensors, config: ModelConfig, options: dict[str, Any]) -> tuple[Tensors, dict[str, str]]:
    """mamba_ssm state dict -> ours (names and layouts above), and our name -> upstream name for messages."""
    converted: Tensors = {}
    sources: dict[str, str] = {}
    for name, tensor in upstream.items():
        if name.endswith("rotary_emb.inv_freq"):  # flash_attn's rotary table, recomputed from the config
            continue
        ours = _TOP_LEVEL.get(name, name)
        parts = ours.split(".")
        if len(parts) > 4 and parts[:2] == ["backbone", "layers"] and parts[3] == "mixer":
            layer = config.layers[int(parts[2])] if parts[2].isdigit() and int(parts[2]) < len(config.layers) else None
            rest = ".".join(parts[4:])
            if rest == "conv1d.weight" and layer in ("mamba", "mamba2"):
                if tensor.dim() != 3 or tensor.shape[1] != 1:
                    raise ConversionError(
                        f"{SOURCE}: tensor '{name}' has shape {tuple(tensor.shape)}, expected a depthwise conv "
                        f"[D, 1, W]"
                    )
                tensor = tensor.squeeze(1)
            elif rest in ("in_proj.weight", "in_proj.bias") and layer == "attention" and options["interleaved_rotary"]:
                tensor = _attention_in_proj(tensor, config)
        converted[ours] = tensor
        sources[ours] = name
    return converted, sources


register_converter(
    SOURCE,
    model_config=model_config,
    state_dict=state_dict,
    description="mamba_ssm's MambaLMHeadModel (state-spaces/mamba-*, mamba2-*, hybrids with attn_layer_idx)",
)
