"""xLSTM mixers (zoo.models.families.xlstm): shapes, decoding steps equal to the parallel forward, state hand-over
between calls, packed sequences, how the blocks map onto our Block, initialisation, configuration errors,
and the config/weight converters' local behaviour.

Layer checks run in float64, where the chunked / sequential kernels and the step loop differ only in the order
of summation (tolerance 1e-10). Parity with xlstm's blocks and its whole LM is in tests/peers/test_xlstm_parity.py.
"""

from __future__ import annotations

import pytest
import torch
from zoo.models import MIXERS, ModelConfig, build_model, config_from_dict, model_config
from zoo.models.families.xlstm import (
    MLSTM,
    SLSTM,
    MLSTMConfig,
    MLSTMLayerState,
    SLSTMConfig,
    SLSTMLayerState,
)
from zoo.models.families.xlstm.convert import (
    config_from_xlstm,
    convert_feedforward,
    slstm_cell_weights,
)
from zoo.models.families.xlstm.layers import round_up_dim
from zoo.models.families.xlstm.slstm import powerlaw_forget_bias

import zoo

# Random weights and inputs: every test reseeds from the `seed` fixture (tests/conftest.py), so that a failure
# names its seed and `make sweep` measures these tolerances.
pytestmark = pytest.mark.usefixtures("seed")

D_MODEL = 32
TOL = dict(rtol=1e-10, atol=1e-10)

# chunk_size 8 so that T = 21 spans three mLSTM chunks (the last partial)
VARIANTS = {
    "mlstm": (MLSTM, MLSTMConfig(num_heads=2, chunk_size=8)),
    "mlstm-bias-conv2-blocks8": (MLSTM, MLSTMConfig(num_heads=4, proj_factor=1.5, round_to=16, conv1d_kernel_size=2,
                                                    qkv_proj_blocksize=8, bias=True, chunk_size=8)),
    "slstm": (SLSTM, SLSTMConfig(num_heads=4)),
    "slstm-noconv": (SLSTM, SLSTMConfig(num_heads=2, conv1d_kernel_size=0)),
}


def make(variant: str, dtype=torch.float64):
    """A layer with every parameter moved off its initial constants (zero gate weights, unit norms, zero
    recurrent kernel), so that a mis-wired path shows."""
    cls, config = VARIANTS[variant]
    torch.manual_seed(0)
    layer = cls(D_MODEL, config).to(dtype)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    return layer


def assert_states_close(actual, expected) -> None:
    if expected.conv is None:
        assert actual.conv is None
    else:
        torch.testing.assert_close(actual.conv, expected.conv, **TOL)
    for a, e in zip(actual.cell, expected.cell, strict=True):
        torch.testing.assert_close(a, e, **TOL)


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_and_state(variant):
    layer = make(variant)
    x = torch.randn(2, 21, D_MODEL, dtype=torch.float64)
    y, state = layer(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    if isinstance(layer, MLSTM):
        assert isinstance(state, MLSTMLayerState)
        heads, head_dim = layer.num_heads, layer.d_inner // layer.num_heads
        assert state.conv.shape == (2, layer.d_inner, layer.config.conv1d_kernel_size - 1)
        assert [s.shape for s in state.cell] == [(2, heads, head_dim, head_dim), (2, heads, head_dim), (2, heads)]
    else:
        assert isinstance(state, SLSTMLayerState)
        assert [s.shape for s in state.cell] == [(2, layer.num_heads, layer.head_dim)] * 4
        width = layer.config.conv1d_kernel_size
        assert (state.conv is None) == (width == 0)
        if width:
            assert state.conv.shape == (2, D_MODEL, width - 1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_steps_match_forward(variant):
    """Prefill 9 tokens, then step: outputs and the final state equal the parallel forward's."""
    layer = make(variant)
    x = torch.randn(3, 21, D_MODEL, dtype=torch.float64)
    with torch.no_grad():
        expected, expected_state = layer(x)
        y, state = layer(x[:, :9])
        outputs = [y]
        for t in range(9, x.shape[1]):
            y_t, state = layer.step(x[:, t], state)
            outputs.append(y_t[:, None])
    torch.testing.assert_close(torch.cat(outputs, dim=1), expected, **TOL)
    assert_states_close(state, expected_state)


@pytest.mark.parametrize("variant", VARIANTS)
def test_steps_from_empty_state(variant):
    layer = make(variant)
    x = torch.randn(2, 6, D_MODEL, dtype=torch.float64)
    with torch.no_grad():
        expected, _ = layer(x)
        state, outputs = None, []
        for t in range(x.shape[1]):
            y_t, state = layer.step(x[:, t], state)
            outputs.append(y_t)
    torch.testing.assert_close(torch.stack(outputs, dim=1), expected, **TOL)


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_hands_over_between_calls(variant):
    layer = make(variant)
    x = torch.randn(2, 21, D_MODEL, dtype=torch.float64)
    with torch.no_grad():
        expected, expected_state = layer(x)
        first, state = layer(x[:, :11])
        second, state = layer(x[:, 11:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), expected, **TOL)
    assert_states_close(state, expected_state)


@pytest.mark.parametrize("variant", VARIANTS)
def test_packed_sequences_match_separate_runs(variant):
    """cu_seqlens packing: each sequence's outputs and final state as when run alone, also from initial states."""
    layer = make(variant)
    lengths = [5, 17, 9]
    xs = [torch.randn(1, n, D_MODEL, dtype=torch.float64) for n in lengths]
    cu_seqlens = torch.tensor([0, 5, 22, 31])
    with torch.no_grad():
        _, init = layer(torch.randn(3, 4, D_MODEL, dtype=torch.float64))  # one initial state per sequence
        packed, packed_state = layer(torch.cat(xs, dim=1), init, cu_seqlens=cu_seqlens)
        runs = [layer(x, _select(init, i)) for i, x in enumerate(xs)]
    torch.testing.assert_close(packed, torch.cat([y for y, _ in runs], dim=1), **TOL)
    for i, (_, state) in enumerate(runs):
        assert_states_close(_select(packed_state, i), state)


def _select(state, i: int):
    conv = None if state.conv is None else state.conv[i : i + 1]
    return type(state)(conv, tuple(s[i : i + 1] for s in state.cell))


@pytest.mark.parametrize("variant", VARIANTS)
def test_backward_reaches_every_parameter(variant):
    layer = make(variant, torch.float32)
    x = torch.randn(2, 13, D_MODEL, requires_grad=True)
    y, _ = layer(x)
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all()
    for name, parameter in layer.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


# ---- how xLSTM blocks map onto our Block -------------------------------------------------------------------


def _config(**fields) -> ModelConfig:
    """The xLSTM block layout with mLSTM / sLSTM sections replaced by `mlstm=` / `slstm=` and other fields as given."""
    mixers = {"mlstm": fields.pop("mlstm", MLSTMConfig(num_heads=4, chunk_size=16)),
              "slstm": fields.pop("slstm", SLSTMConfig(num_heads=4))}
    base = dict(d_model=64, layers=["mlstm", "slstm"], d_intermediate=0, norm="layernorm", mlp_activation="gelu")
    return ModelConfig(**{**base, **fields}, mixers=mixers)


def test_mlstm_block_has_no_mlp_and_slstm_block_has_its_feedforward():
    model = build_model(_config())
    mlstm_block, slstm_block = model.backbone.layers
    assert mlstm_block.mlp is None and mlstm_block.norm2 is None
    assert type(slstm_block.norm).__name__ == "LayerNorm" and type(model.backbone.norm_f).__name__ == "LayerNorm"
    assert slstm_block.mixer.block_d_intermediate == 128  # 1.3 * 64 = 83.2, rounded up to a multiple of 64
    assert slstm_block.mlp.fc1.weight.shape == (2 * 128, 64) and slstm_block.mlp.fc2.weight.shape == (64, 128)
    assert slstm_block.mlp.activation is torch.nn.functional.gelu


def test_d_intermediate_adds_an_mlp_to_mlstm_blocks_only():
    """ModelConfig.d_intermediate sizes the MLP of blocks whose mixer does not size it (mLSTM); the sLSTM block's
    MLP follows slstm.ffn_proj_factor, and 0 removes it."""
    model = build_model(_config(d_intermediate=96, slstm=SLSTMConfig(num_heads=4, ffn_proj_factor=0)))
    mlstm_block, slstm_block = model.backbone.layers
    assert mlstm_block.mlp.fc2.weight.shape == (64, 96)
    assert slstm_block.mlp is None


def test_rounding_of_inner_widths_follows_xlstm():
    assert round_up_dim(2.0, 768, 64) == 1536 and round_up_dim(1.3, 768, 64) == 1024
    assert round_up_dim(4 / 3, 768, 64) == 1024 and round_up_dim(1.3, 512, 64) == 704
    assert MLSTM(100, MLSTMConfig(num_heads=4)).d_inner == 256


def test_initialisation_survives_the_lm_reinit():
    """The mLSTM gates keep xlstm's init (zero weights, forget biases over [3, 6], small input biases), the sLSTM
    its zero recurrent kernel and power-law forget bias; proj_down is scaled as a residual output."""
    torch.manual_seed(0)
    model = build_model(_config(mlstm=MLSTMConfig(num_heads=4)))
    mlstm, slstm = (block.mixer for block in model.backbone.layers)
    assert (mlstm.igate.weight == 0).all() and (mlstm.fgate.weight == 0).all()
    torch.testing.assert_close(mlstm.fgate.bias.detach(), torch.linspace(3.0, 6.0, 4))
    assert 0 < mlstm.igate.bias.abs().max() < 1
    assert (slstm.recurrent_kernel == 0).all()
    bias = slstm.gate_bias.detach().view(4, 4, -1)  # [H, gate, Dh]
    torch.testing.assert_close(bias[:, 1], powerlaw_forget_bias(16).expand(4, -1))
    assert (bias[:, [0, 2, 3]] == 0).all()
    assert (mlstm.learnable_skip == 1).all() and (mlstm.outnorm.weight == 1).all()
    assert mlstm.proj_down.weight.std() < 0.02 * 0.8  # 0.02 / sqrt(2 * 2 layers) = 0.01
    assert slstm.recurrent_kernel._no_weight_decay and slstm.gate_bias._no_weight_decay


def test_presets_register_and_count():
    assert {"xlstm-tiny", "xlstm-small", "xlstm-7-1-125m", "xlstm-1-0-125m"} <= set(zoo.list_models("xlstm*"))
    assert {"mlstm", "slstm"} <= set(MIXERS)
    config = model_config("xlstm-7-1-125m")
    assert [i for i, name in enumerate(config.layers) if name == "slstm"] == [3, 11, 19] and len(config.layers) == 24
    assert set(model_config("xlstm-1-0-125m").layers) == {"mlstm"}
    with torch.device("meta"):
        assert zoo.create_model("xlstm-tiny").num_parameters() < 1_000_000
        assert 10_000_000 < zoo.create_model("xlstm-small").num_parameters() < 30_000_000
        # the upstream counts these equal are checked in tests/peers/test_xlstm_parity.py
        assert zoo.create_model("xlstm-7-1-125m").num_parameters() == 163_561_128
        assert zoo.create_model("xlstm-1-0-125m").num_parameters() == 163_733_952


def test_config_round_trips_through_its_dict_form():
    from omegaconf import OmegaConf

    config = model_config("xlstm-tiny")
    again = config_from_dict(OmegaConf.to_container(OmegaConf.structured(config)))
    assert again == config
    with pytest.raises(ValueError, match="mlstm"):
        config_from_dict({"mixers": {"mlstm": {"num_head": 4}}})


# ---- configuration errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls, config, match",
    [
        (MLSTM, MLSTMConfig(num_heads=3), "'model.mixers.mlstm.num_heads': must divide the inner width 64"),
        (MLSTM, MLSTMConfig(qkv_proj_blocksize=5), "'model.mixers.mlstm.qkv_proj_blocksize'"),
        (MLSTM, MLSTMConfig(conv1d_kernel_size=0), "'model.mixers.mlstm.conv1d_kernel_size': must be at least 1"),
        (MLSTM, MLSTMConfig(proj_factor=0), "'model.mixers.mlstm.proj_factor'"),
        (MLSTM, MLSTMConfig(backend="cuda"), "'model.mixers.mlstm.backend'.*choose one of: auto, torch"),
        (SLSTM, SLSTMConfig(num_heads=5), "'model.mixers.slstm.num_heads': must divide d_model 32"),
        (SLSTM, SLSTMConfig(conv1d_kernel_size=-1), "'model.mixers.slstm.conv1d_kernel_size'"),
        (SLSTM, SLSTMConfig(ffn_proj_factor=-1.0), "'model.mixers.slstm.ffn_proj_factor'"),
        (SLSTM, SLSTMConfig(backend="vanilla"), "'model.mixers.slstm.backend'.*choose one of: auto, torch"),
    ],
)
def test_bad_layer_config_names_the_key(cls, config, match):
    with pytest.raises(ValueError, match=match):
        cls(D_MODEL, config)


def test_bad_norm_or_activation_names_the_key():
    with pytest.raises(ValueError, match="'model.norm': 'batchnorm' is not a norm; choose one of: rmsnorm, layernorm"):
        build_model(_config(norm="batchnorm"))
    with pytest.raises(ValueError, match="'model.mlp_activation': 'relu' is not an activation; choose one of: silu, gelu"):
        build_model(_config(mlp_activation="relu"))


# ---- converter pieces that need no upstream package ---------------------------------------------------------


def test_slstm_cell_weights_read_both_backend_layouts():
    heads, head_dim = 2, 3
    R = torch.randn(heads, head_dim, 4 * head_dim)
    b = torch.randn(heads, 4 * head_dim)
    vanilla = (R.transpose(1, 2), b.view(heads, 4, head_dim).transpose(0, 1).reshape(-1))
    cuda = (R, b.reshape(-1))
    for stored in (vanilla, cuda):
        R_got, b_got = slstm_cell_weights(*stored)
        torch.testing.assert_close(R_got, R, rtol=0, atol=0)
        torch.testing.assert_close(b_got, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="neither xlstm's vanilla"):
        slstm_cell_weights(torch.randn(2, 3, 5), torch.randn(24))


def test_feedforward_halves_swap():
    gate, up, down = torch.randn(8, 4), torch.randn(8, 4), torch.randn(4, 8)
    out = convert_feedforward({"proj_up.weight": torch.cat([gate, up]), "proj_down.weight": down})
    torch.testing.assert_close(out["fc1.weight"], torch.cat([up, gate]), rtol=0, atol=0)
    with pytest.raises(ValueError, match="no counterpart"):
        convert_feedforward({"proj_up.weight": torch.cat([gate, up]), "proj_down.weight": down,
                             "proj_up.bias": torch.zeros(16)})


def test_config_from_xlstm_dict_form_and_refusals():
    """The dict form of an xlstm config (e.g. a config.yaml) with xlstm's defaults for absent keys."""
    config = config_from_xlstm({
        "vocab_size": 100, "num_blocks": 4, "embedding_dim": 64, "slstm_at": [1],
        "mlstm_block": {"mlstm": {"num_heads": 2}}, "slstm_block": {"slstm": {"num_heads": 2}},
    })
    assert config.layers == ["mlstm", "slstm", "mlstm", "mlstm"]
    mlstm, slstm = config.mixers["mlstm"], config.mixers["slstm"]
    assert mlstm.num_heads == 2 and mlstm.qkv_proj_blocksize == 4 and mlstm.proj_factor == 2.0
    assert slstm.ffn_proj_factor == 1.3 and config.mlp_activation == "gelu" and not config.head.tie_embeddings
    assert config.norm == "layernorm" and config.d_intermediate == 0
    all_slstm = config_from_xlstm({"vocab_size": 10, "num_blocks": 2, "slstm_block": {"feedforward": None}})
    assert all_slstm.layers == ["slstm", "slstm"] and all_slstm.mixers["slstm"].ffn_proj_factor == 0
    with pytest.raises(ValueError, match="'add_post_blocks_norm'"):
        config_from_xlstm({"vocab_size": 10, "add_post_blocks_norm": False, "mlstm_block": {}})
    with pytest.raises(ValueError, match="'feedforward.act_fn' = 'relu'"):
        config_from_xlstm({"vocab_size": 10, "slstm_at": "all", "mlstm_block": {},
                           "slstm_block": {"feedforward": {"act_fn": "relu"}}})
    with pytest.raises(ValueError, match="'vocab_size' is required"):
        config_from_xlstm({"mlstm_block": {}})
