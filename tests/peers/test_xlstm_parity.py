"""zoo.models.families.xlstm against xlstm 2.0.6 (NX-AI's xLSTM paper code) on converted weights
(zoo.models.families.xlstm.convert), on CPU:

- an mLSTM block (`mLSTMBlock`: LayerNorm, mLSTMLayer, residual; its cell runs xlstm's parallel stabilised
  form `parallel_stabilized_simple`) and an sLSTM block (`sLSTMBlock` with the cell's "vanilla" backend, the
  plain-PyTorch loop; then LayerNorm + GELU feed-forward) against our `Block` with the `mlstm` / `slstm` mixer,
  in float32: outputs, input gradients and every parameter gradient;
- our mLSTM layer's decoding steps against xlstm's `mLSTMLayer.step` (its recurrent stabilised step);
- a small whole `xLSTMLMModel` (mLSTM and sLSTM blocks, tied and untied embeddings) against our SequenceModel
  built by `config_from_xlstm` and loaded by `convert_xlstm_lm`: logits;
- the parameter counts of the xlstm-7-1-125m and xlstm-1-0-125m presets against `xLSTMLMModel` built (on the
  meta device) from the published config those presets encode.

Every xlstm parameter is first moved off its initial value (zero gate and recurrent weights, zero-stored norm
scales), so a mis-mapped tensor cannot hide behind a constant.

Where the two sides differ by construction: xlstm's parallel mLSTM stabilises each row by the largest log
gate weight alone, our kernel (mlstm_kernels' convention) also by the zero starting state's m = 0; the
stabiliser cancels except in the denominator's eps = 1e-6, a relative difference of about eps * exp(m), well
inside the float32 tolerance here (and absent from the step comparison: xlstm's step starts from m = 0 too).
"""

from __future__ import annotations

import pytest
import torch

from zoo.models import SequenceModel, build_model, model_config
from zoo.models.block import Block
from zoo.models.families.xlstm import MLSTM, SLSTM, MLSTMConfig, SLSTMConfig
from zoo.models.families.xlstm.convert import config_from_xlstm, convert_mlstm_layer, convert_xlstm_block, convert_xlstm_lm

from .oracles import require

pytestmark = pytest.mark.peers

D_MODEL, T, BATCH = 32, 37, 2
# Float32: both sides compute the same functions in another order (the mLSTM's chunked scan against xlstm's
# quadratic parallel form, the sLSTM's hand-written backward against autograd through xlstm's loop); errors
# are near 1e-6, while a swapped gate, a missing "+ 1" on a norm scale or reversed conv taps show at 1e-1.
# Parameter gradients sum over all B*T positions.
FWD_TOL = dict(rtol=1e-4, atol=1e-4)
GRAD_TOL = dict(rtol=5e-4, atol=5e-4)
LM_TOL = dict(rtol=2e-4, atol=2e-4)


def xlstm_module():
    return require("xlstm")


def perturb(module: torch.nn.Module, scale: float = 0.2) -> None:
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(scale * torch.randn_like(parameter))


def mlstm_layer_config(xl, embedding_dim: int, context_length: int, **overrides):
    fields = dict(conv1d_kernel_size=4, qkv_proj_blocksize=4, num_heads=4, embedding_dim=embedding_dim,
                  context_length=context_length)
    return xl.mLSTMLayerConfig(**{**fields, **overrides})


def slstm_layer_config(xl, embedding_dim: int, **overrides):
    fields = dict(num_heads=4, conv1d_kernel_size=4, backend="vanilla", dtype="float32", embedding_dim=embedding_dim)
    return xl.sLSTMLayerConfig(**{**fields, **overrides})


def mapped_grads(convert, reference: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The reference's parameter gradients in our names and layouts. Every conversion is affine (reshapes,
    permutations, a swap of halves, "+ 1" on norm scales), so its linear part maps gradients:
    convert(p + g) - convert(p)."""
    params = {name: p.detach() for name, p in reference.named_parameters()}
    shifted = {name: p.detach() + p.grad for name, p in reference.named_parameters()}
    base, moved = convert(params), convert(shifted)
    return {name: moved[name] - base[name] for name in base}


def run_both(reference, ours, compare, what: str):
    x = torch.randn(BATCH, T, D_MODEL)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref = reference(x_ref)
    y, _ = ours(x_ours)
    compare(y, y_ref, f"{what} y", **FWD_TOL)
    grad = torch.randn_like(y_ref)
    y_ref.backward(grad)
    y.backward(grad)
    compare(x_ours.grad, x_ref.grad, f"{what} dx", **GRAD_TOL)
    expected = mapped_grads(convert_xlstm_block, reference)
    assert set(expected) == {name for name, _ in ours.named_parameters()}
    for name, parameter in ours.named_parameters():
        compare(parameter.grad, expected[name], f"{what} d{name}", **GRAD_TOL)


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
def test_mlstm_block_matches_xlstm(compare, bias):
    xl = xlstm_module()
    layer_config = mlstm_layer_config(xl, D_MODEL, T, bias=bias)
    reference = xl.mLSTMBlock(xl.mLSTMBlockConfig(mlstm=layer_config, _num_blocks=1, _block_idx=0))
    perturb(reference)
    config = MLSTMConfig(num_heads=4, conv1d_kernel_size=4, qkv_proj_blocksize=4, bias=bias, chunk_size=16)
    ours = Block(D_MODEL, MLSTM(D_MODEL, config), 0, 1e-5, norm="layernorm")
    ours.load_state_dict(convert_xlstm_block(reference.state_dict()), strict=True)
    run_both(reference, ours, compare, "mLSTM block")


@pytest.mark.parametrize("conv", [4, 0], ids=["conv4", "noconv"])
def test_slstm_block_matches_xlstm(compare, conv):
    xl = xlstm_module()
    block_config = xl.sLSTMBlockConfig(
        slstm=slstm_layer_config(xl, D_MODEL, conv1d_kernel_size=conv),
        feedforward=xl.FeedForwardConfig(proj_factor=1.3, act_fn="gelu"),
        _num_blocks=1,
        _block_idx=0,
    )
    reference = xl.sLSTMBlock(block_config)
    assert type(reference.xlstm.slstm_cell).__name__ == "sLSTMCell_vanilla"
    perturb(reference)
    mixer = SLSTM(D_MODEL, SLSTMConfig(num_heads=4, conv1d_kernel_size=conv, ffn_proj_factor=1.3))
    ours = Block(D_MODEL, mixer, mixer.block_d_intermediate, 1e-5, norm="layernorm", mlp_activation="gelu")
    ours.load_state_dict(convert_xlstm_block(reference.state_dict()), strict=True)
    run_both(reference, ours, compare, "sLSTM block")


def test_mlstm_steps_match_xlstm_steps(compare):
    """Token by token from empty states: our MLSTM.step against xlstm's mLSTMLayer.step (conv and cell states)."""
    xl = xlstm_module()
    reference = xl.mLSTMLayer(mlstm_layer_config(xl, D_MODEL, T))
    perturb(reference)
    ours = MLSTM(D_MODEL, MLSTMConfig(num_heads=4, chunk_size=16))
    ours.load_state_dict(convert_mlstm_layer(reference.state_dict()), strict=True)
    x = torch.randn(BATCH, 12, D_MODEL)
    with torch.no_grad():
        state_ref, state, y_ref, y = {}, None, [], []
        for t in range(x.shape[1]):
            out_ref, state_ref = reference.step(x[:, t : t + 1], **state_ref)
            out, state = ours.step(x[:, t], state)
            y_ref.append(out_ref[:, 0])
            y.append(out)
    compare(torch.stack(y, 1), torch.stack(y_ref, 1), "mLSTM steps y", **FWD_TOL)


def lm_config(xl, tie_weights: bool):
    """A small xLSTMLMModel: 4 blocks at width 32, an sLSTM block at index 1, vocabulary 50."""
    return xl.xLSTMLMModelConfig(
        mlstm_block=xl.mLSTMBlockConfig(mlstm=xl.mLSTMLayerConfig(conv1d_kernel_size=4, qkv_proj_blocksize=4,
                                                                  num_heads=4)),
        slstm_block=xl.sLSTMBlockConfig(
            slstm=xl.sLSTMLayerConfig(backend="vanilla", num_heads=4, conv1d_kernel_size=4, dtype="float32"),
            feedforward=xl.FeedForwardConfig(proj_factor=1.3, act_fn="gelu"),
        ),
        context_length=T,
        num_blocks=4,
        embedding_dim=D_MODEL,
        slstm_at=[1],
        vocab_size=50,
        tie_weights=tie_weights,
    )


@pytest.mark.parametrize("tie_weights", [False, True], ids=["untied", "tied"])
def test_xlstm_lm_logits_match(compare, tie_weights):
    xl = xlstm_module()
    config = lm_config(xl, tie_weights)
    reference = xl.xLSTMLMModel(config)
    reference.reset_parameters()
    perturb(reference)
    ours_config = config_from_xlstm(config)
    assert ours_config.layers == ["mlstm", "slstm", "mlstm", "mlstm"]
    ours = SequenceModel(ours_config)
    ours.load_state_dict(convert_xlstm_lm(reference.state_dict()), strict=True)
    assert ours.num_parameters() == sum(p.numel() for p in reference.parameters())
    ids = torch.randint(0, 50, (BATCH, T))
    with torch.no_grad():
        compare(ours(ids), reference(ids), "xLSTMLMModel logits", **LM_TOL)


def test_zoo_convert_reads_an_xlstm_folder(compare, tmp_path):
    """`zoo.convert.from_upstream(..., source="xlstm")` on the folder layout zoo/models/families/xlstm/convert.py describes:
    config.json (the xLSTMLMModelConfig as a dict) and model.safetensors (the state dict)."""
    import dataclasses
    import json

    from safetensors.torch import save_file

    from zoo.convert import from_upstream

    xl = xlstm_module()
    config = lm_config(xl, tie_weights=False)
    reference = xl.xLSTMLMModel(config)
    reference.reset_parameters()
    perturb(reference)
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(tmp_path / "model.safetensors"))
    ours = from_upstream(tmp_path, source="xlstm")
    ids = torch.randint(0, 50, (BATCH, T))
    with torch.no_grad():
        compare(ours(ids), reference(ids), "converted xLSTMLMModel logits", **LM_TOL)


def published_125m_config(xl, slstm_at: list[int]):
    """The xLSTM paper's 125M size class with xlstm's README block settings (what the presets encode)."""
    return xl.xLSTMLMModelConfig(
        mlstm_block=xl.mLSTMBlockConfig(mlstm=xl.mLSTMLayerConfig(conv1d_kernel_size=4, qkv_proj_blocksize=4,
                                                                  num_heads=4, proj_factor=2.0)),
        slstm_block=xl.sLSTMBlockConfig(
            slstm=xl.sLSTMLayerConfig(backend="vanilla", num_heads=4, conv1d_kernel_size=4,
                                      bias_init="powerlaw_blockdependent"),
            feedforward=xl.FeedForwardConfig(proj_factor=1.3, act_fn="gelu"),
        ),
        context_length=2048,
        num_blocks=24,
        embedding_dim=768,
        slstm_at=slstm_at,
        vocab_size=50257,
    )


@pytest.mark.parametrize("preset, slstm_at", [("xlstm-7-1-125m", [3, 11, 19]), ("xlstm-1-0-125m", [])])
def test_125m_parameter_counts_equal_xlstm(preset, slstm_at):
    """The count comes from xlstm's own model; both untied (xLSTMLMModel's default tie_weights=False)."""
    xl = xlstm_module()
    config = published_125m_config(xl, slstm_at)
    with torch.device("meta"):
        upstream = sum(p.numel() for p in xl.xLSTMLMModel(config).parameters())
        ours = build_model(model_config(preset)).num_parameters()
    assert ours == upstream
    converted = config_from_xlstm(config)
    preset_config = model_config(preset)
    for field in ("d_model", "layers", "d_intermediate", "encoder", "head", "norm", "mlp_activation", "mixers"):
        assert getattr(converted, field) == getattr(preset_config, field), field
