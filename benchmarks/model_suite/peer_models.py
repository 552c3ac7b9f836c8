"""Upstream language models as model benchmark cases, each built at the same configuration as ours.

- mamba_ssm `MambaLMHeadModel` (families mamba, mamba2). On CUDA its own kernels run. On the CPU only Mamba-1
  runs, on its unfused path (`use_fast_path=False`) with mamba_ssm's pure-torch pieces: `selective_scan_ref`
  (a Python loop over time) for the scan, nn.Conv1d for the conv, the torch decoding step; nn.LayerNorm
  replaces its RMSNorm there, which is Triton only. Mamba-2's scan is Triton only: it needs CUDA (where, without
  causal_conv1d, it takes nn.Conv1d and the unfused conv + scan path). Mamba-1 on CUDA needs mamba_ssm's CUDA build.
- fla `DeltaNetForCausalLM` / `GatedDeltaNetForCausalLM` (families deltanet, gated-deltanet): Triton, CUDA only.
- xlstm `xLSTMLMModel` (family xlstm): its sLSTM cell's "vanilla" backend (a Python loop over time) on the CPU,
  its "cuda" backend on CUDA; its mLSTM runs the quadratic parallel form in training and the recurrent step
  in decoding. It has no prefill that returns a state, so its prompt is fed one step at a time (untimed).

A peer that cannot be imported or built reports why; the benchmark records the reason.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
from typing import Any

import torch

from benchmarks.kernel_suite.case import REFERENCE_MAX_LEN
from benchmarks.model_suite.case import LM, ModelCase
from benchmarks.model_suite.sections import section, tied_embeddings, vocab_size
from benchmarks.upstream import stand_in, try_load

ModelConfig = Any  # our model's config as the built model holds it (`model.config`)


def _requires(loader: Callable[[], tuple[object, str | None]], cuda: str | None = None):
    """unavailable(device): `cuda` (a reason) off CUDA, else the loader's import failure, else None."""

    def unavailable(device: torch.device) -> str | None:
        if cuda is not None and device.type != "cuda":
            return cuda
        return loader()[1]

    return unavailable


# --- mamba_ssm ------------------------------------------------------------------------------------------


def _mamba_ssm_model():
    return try_load("mamba_ssm.models.mixer_seq_simple")


@contextlib.contextmanager
def _mamba_ssm_torch_paths(cpu: bool) -> Iterator[None]:
    """On the CPU, point mamba_ssm's Mamba-1 at its pure-torch pieces while a call runs: the scan at
    `selective_scan_ref`, the conv and the decoding step at their torch branches (they are taken when the
    CUDA functions are None). Restored afterwards, so nothing else in the process sees the change."""
    if not cpu:
        yield
        return
    simple, _ = try_load("mamba_ssm.modules.mamba_simple")
    interface, _ = try_load("mamba_ssm.ops.selective_scan_interface")
    patches = {"selective_scan_fn": interface.selective_scan_ref, "causal_conv1d_fn": None,
               "causal_conv1d_update": None, "selective_state_update": None}
    saved = {name: getattr(simple, name) for name in patches}
    for name, value in patches.items():
        setattr(simple, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(simple, name, value)


def mamba_ssm_config(config: ModelConfig, cuda: bool) -> dict:
    """mamba_ssm `MambaConfig` fields for our config (its layers all mamba or all mamba2)."""
    layer = config.layers[0]
    if layer == "mamba":
        m = section(config, "mamba")
        ssm = dict(layer="Mamba1", d_state=m.d_state, d_conv=m.d_conv, expand=m.expand, dt_rank=m.dt_rank or "auto",
                   dt_min=m.dt_min, dt_max=m.dt_max, dt_init_floor=m.dt_init_floor, dt_scale=m.dt_scale,
                   conv_bias=m.conv_bias, bias=m.bias, use_fast_path=cuda)
    else:
        m = section(config, "mamba2")
        ssm = dict(layer="Mamba2", d_state=m.d_state, d_conv=m.d_conv, expand=m.expand, headdim=m.headdim,
                   ngroups=m.ngroups, chunk_size=m.chunk_size, dt_min=m.dt_min, dt_max=m.dt_max,
                   dt_init_floor=m.dt_init_floor, dt_limit=tuple(m.dt_limit), A_init_range=tuple(m.A_init_range),
                   conv_bias=m.conv_bias, bias=m.bias, norm_before_gate=m.norm_before_gate)
    return dict(d_model=config.d_model, d_intermediate=config.d_intermediate, n_layer=len(config.layers),
                vocab_size=vocab_size(config), ssm_cfg=ssm, rms_norm=cuda, norm_epsilon=config.norm_eps,
                residual_in_fp32=True, fused_add_norm=cuda, pad_vocab_size_multiple=1,
                tie_embeddings=tied_embeddings(config))


def _mamba_ssm_build(config: ModelConfig):
    def build(device: torch.device, dtype: torch.dtype, max_len: int) -> LM:
        module, _ = _mamba_ssm_model()
        generation, _ = try_load("mamba_ssm.utils.generation")
        config_module, _ = try_load("mamba_ssm.models.config_mamba")
        cpu = device.type != "cuda"
        fields = mamba_ssm_config(config, cuda=not cpu)
        notes = ["CPU: unfused path, selective_scan_ref, torch conv and step, nn.LayerNorm for the Triton-only RMSNorm"
                 if cpu else "CUDA kernels (fused path); eager decoding (no CUDA graph)"]
        if not cpu and try_load("causal_conv1d")[0] is None and fields["ssm_cfg"]["layer"] == "Mamba2":
            fields["ssm_cfg"]["use_mem_eff_path"] = False  # the fused conv + scan path calls causal_conv1d's kernels
            notes = ["CUDA, Triton SSD kernels; without causal_conv1d: nn.Conv1d and the unfused conv + scan path"]
        norm_eps = fields.pop("norm_epsilon")
        mamba_config = config_module.MambaConfig(**fields)
        model = module.MambaLMHeadModel(mamba_config, device=device, dtype=dtype)
        norms = [n for layer in model.backbone.layers for n in (layer.norm, getattr(layer, "norm2", None)) if n]
        for norm in [*norms, model.backbone.norm_f]:  # MambaConfig has no norm epsilon: set it as ours
            norm.eps = norm_eps
        paths = lambda: _mamba_ssm_torch_paths(cpu)  # noqa: E731

        def logits(ids):
            with paths():
                return model(ids).logits

        def prefill(ids, room):
            params = generation.InferenceParams(max_seqlen=ids.shape[1] + room, max_batch_size=ids.shape[0])
            with paths():
                model(ids, inference_params=params, num_last_tokens=1)
            params.seqlen_offset += ids.shape[1]
            return params

        def step(token, params):
            with paths():
                out = model(token[:, None], inference_params=params, num_last_tokens=1).logits[:, -1]
            params.seqlen_offset += 1
            return out, params

        return LM(model, logits, prefill, step, notes)

    return build


# On the CPU, mamba_ssm's Mamba-1 scan is selective_scan_ref, a Python loop over time whose backward is quadratic
# in T (each step's `deltaA[:, :, i]` writes a gradient the size of the whole sequence): at d_model 256 with 8
# layers a training call takes about 20 s at T = 512 and 4 minutes at T = 1024. Capped shorter than the kernel
# benchmark's single reference op (REFERENCE_MAX_LEN).
MAMBA_SSM_CPU_MAX_LEN = 512


def _mamba_ssm_mamba1():
    """mamba_ssm's model, and on CUDA its compiled scan (the fused Mamba-1 path needs it)."""

    def unavailable(device: torch.device) -> str | None:
        reason = _mamba_ssm_model()[1]
        if reason is None and device.type == "cuda" and stand_in("selective_scan_cuda"):
            return "mamba_ssm is installed without its CUDA extension selective_scan_cuda"
        return reason

    return unavailable


def mamba_ssm_cases(family: str, config: ModelConfig) -> list[ModelCase]:
    if config.layers[0] == "mamba":
        return [ModelCase(family, "mamba_ssm:MambaLMHeadModel", _mamba_ssm_build(config), _mamba_ssm_mamba1(),
                          cpu_max_len=MAMBA_SSM_CPU_MAX_LEN, profile_memory=False, upstream=True)]
    return [ModelCase(family, "mamba_ssm:MambaLMHeadModel", _mamba_ssm_build(config),
                      _requires(_mamba_ssm_model, cuda="needs CUDA (mamba_ssm's Mamba-2 scan is Triton only)"),
                      upstream=True)]


# --- fla ------------------------------------------------------------------------------------------------


def fla_config(config: ModelConfig) -> tuple[str, str, dict]:
    """(fla config class, fla model class, fields) for our DeltaNet or Gated DeltaNet config."""
    shared = dict(hidden_size=config.d_model, num_hidden_layers=len(config.layers),
                  intermediate_size=config.d_intermediate, hidden_act="swish", norm_eps=config.norm_eps,
                  vocab_size=vocab_size(config), tie_word_embeddings=tied_embeddings(config), attn_mode="chunk",
                  fuse_cross_entropy=False)
    if config.layers[0] == "deltanet":
        d = section(config, "deltanet")
        fields = dict(num_heads=d.num_heads, expand_k=d.expand_k, expand_v=d.expand_v, use_gate=d.use_gate,
                      use_short_conv=d.use_short_conv, conv_size=d.conv_size, use_beta=d.use_beta,
                      allow_neg_eigval=d.allow_neg_eigval, qk_activation=d.qk_activation, qk_norm=d.qk_norm)
        return "DeltaNetConfig", "DeltaNetForCausalLM", {**shared, **fields}
    g = section(config, "gated_deltanet")
    fields = dict(num_heads=g.num_heads, head_dim=g.head_dim, expand_v=g.expand_v, num_v_heads=g.num_v_heads or None,
                  use_gate=g.use_gate, use_short_conv=g.use_short_conv, conv_size=g.conv_size,
                  allow_neg_eigval=g.allow_neg_eigval, output_gate_activation=g.output_gate_activation)
    return "GatedDeltaNetConfig", "GatedDeltaNetForCausalLM", {**shared, **fields}


def _fla_build(config: ModelConfig):
    def build(device: torch.device, dtype: torch.dtype, max_len: int) -> LM:
        models, _ = try_load("fla.models")
        config_name, model_name, fields = fla_config(config)
        model = getattr(models, model_name)(getattr(models, config_name)(**fields)).to(device=device, dtype=dtype)

        def prefill(ids, room):
            return model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values

        def step(token, cache):
            out = model(input_ids=token[:, None], past_key_values=cache, use_cache=True, logits_to_keep=1)
            return out.logits[:, -1], out.past_key_values

        return LM(model, lambda ids: model(input_ids=ids).logits, prefill, step, ["fla's Triton kernels, fused norms"])

    return build


def fla_cases(family: str, config: ModelConfig) -> list[ModelCase]:
    _, model_name, _ = fla_config(config)
    return [ModelCase(family, f"fla:{model_name}", _fla_build(config),
                      _requires(lambda: try_load("fla.models"), cuda="needs CUDA (fla's kernels are Triton)"),
                      upstream=True)]


# --- xlstm ----------------------------------------------------------------------------------------------


def xlstm_config(xl: types.ModuleType, config: ModelConfig, context_length: int, backend: str, dtype: str):
    """xlstm `xLSTMLMModelConfig` for our xLSTM config (the inverse of `config_from_xlstm`)."""
    m, s = section(config, "mlstm"), section(config, "slstm")
    slstm_at = [i for i, name in enumerate(config.layers) if name == "slstm"]
    slstm_block = None
    if slstm_at:
        feedforward = xl.FeedForwardConfig(proj_factor=s.ffn_proj_factor, act_fn="gelu",
                                           round_proj_up_to_multiple_of=s.ffn_round_to) if s.ffn_proj_factor else None
        slstm_block = xl.sLSTMBlockConfig(
            slstm=xl.sLSTMLayerConfig(backend=backend, num_heads=s.num_heads, conv1d_kernel_size=s.conv1d_kernel_size,
                                      dtype=dtype),
            feedforward=feedforward,
        )
    mlstm_block = xl.mLSTMBlockConfig(mlstm=xl.mLSTMLayerConfig(
        conv1d_kernel_size=m.conv1d_kernel_size, qkv_proj_blocksize=m.qkv_proj_blocksize, num_heads=m.num_heads,
        proj_factor=m.proj_factor, round_proj_up_to_multiple_of=m.round_to))
    return xl.xLSTMLMModelConfig(
        mlstm_block=mlstm_block, slstm_block=slstm_block, context_length=context_length, num_blocks=len(config.layers),
        embedding_dim=config.d_model, slstm_at=slstm_at, vocab_size=vocab_size(config), bias=m.bias,
        tie_weights=tied_embeddings(config),
    )


def _xlstm_build(config: ModelConfig):
    def build(device: torch.device, dtype: torch.dtype, max_len: int) -> LM:
        xl, _ = try_load("xlstm")
        backend = "cuda" if device.type == "cuda" else "vanilla"
        model = xl.xLSTMLMModel(xlstm_config(xl, config, max_len, backend, str(dtype).removeprefix("torch.")))
        model.reset_parameters()
        model = model.to(device=device, dtype=dtype)

        def step(token, state):
            logits, state = model.step(token[:, None], state)
            return logits[:, -1], state

        def prefill(ids, room):
            state = None
            for t in range(ids.shape[1]):
                _, state = model.step(ids[:, t : t + 1], state)
            return state

        notes = [f"sLSTM backend {backend}; mLSTM parallel_stabilized_simple (quadratic in T) in training; "
                 "prompt fed by steps"]
        return LM(model, model, prefill, step, notes)

    return build


def xlstm_cases(family: str, config: ModelConfig) -> list[ModelCase]:
    loops = "slstm" in config.layers  # the vanilla sLSTM cell is a Python loop over time on the CPU
    return [ModelCase(family, "xlstm:xLSTMLMModel", _xlstm_build(config), _requires(lambda: try_load("xlstm")),
                      cpu_max_len=REFERENCE_MAX_LEN if loops else None, profile_memory=not loops, upstream=True)]


# family -> the upstream cases at our config
PEERS: dict[str, Callable[[str, ModelConfig], list[ModelCase]]] = {
    "mamba": mamba_ssm_cases,
    "mamba2": mamba_ssm_cases,
    "deltanet": fla_cases,
    "gated-deltanet": fla_cases,
    "xlstm": xlstm_cases,
}
