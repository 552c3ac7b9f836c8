"""DeltaNet and Gated DeltaNet mixers (zoo.models.families.deltanet): shapes, state round trips, decoding steps equal to the
parallel forward, packed sequences, configuration errors, and the presets too large for tests/models/test_models.py.

Layer checks run in float64, where the chunked kernel and the step loop differ only in the order of summation
(tolerance 1e-10). Parity with fla's layers is in tests/peers/test_deltanet_parity.py.
"""

from __future__ import annotations

import pytest
import torch
from zoo.models import MIXERS, config_from_dict
from zoo.models.families.deltanet import (
    DeltaNet,
    DeltaNetConfig,
    DeltaNetState,
    GatedDeltaNet,
    GatedDeltaNetConfig,
    convert_fla_state_dict,
)

import zoo

D_MODEL = 32
TOL = dict(rtol=1e-10, atol=1e-10)

# name: (class, config); chunk_size 8 so that T = 21 spans three chunks (the last partial)
VARIANTS = {
    "deltanet": (DeltaNet, DeltaNetConfig(num_heads=2, chunk_size=8)),
    "deltanet-gate-expand": (DeltaNet, DeltaNetConfig(num_heads=4, expand_k=0.5, expand_v=2.0, use_gate=True,
                                                      conv_bias=True, chunk_size=8)),
    "deltanet-noconv-relu-sum": (DeltaNet, DeltaNetConfig(num_heads=2, use_short_conv=False, qk_activation="relu",
                                                          qk_norm="sum", chunk_size=8)),
    "deltanet-elu-nobeta-negeig": (DeltaNet, DeltaNetConfig(num_heads=2, qk_activation="elu", use_beta=False,
                                                            allow_neg_eigval=True, conv_size=3, chunk_size=8)),
    "gated": (GatedDeltaNet, GatedDeltaNetConfig(num_heads=2, head_dim=8, chunk_size=8)),
    "gated-gva-sigmoid": (GatedDeltaNet, GatedDeltaNetConfig(num_heads=2, head_dim=8, num_v_heads=4, expand_v=1.5,
                                                            output_gate_activation="sigmoid", chunk_size=8)),
    "gated-nogate-noconv-negeig": (GatedDeltaNet, GatedDeltaNetConfig(num_heads=2, head_dim=8, use_gate=False,
                                                                     use_short_conv=False, allow_neg_eigval=True,
                                                                     chunk_size=8)),
}


def make(variant: str, dtype=torch.float64):
    cls, config = VARIANTS[variant]
    layer = cls(D_MODEL, config).to(dtype)
    with torch.no_grad():  # move the parameters initialised to constants (norm weights, conv biases) off them
        for name, parameter in layer.named_parameters():
            if name.endswith("norm.weight") or name.endswith("conv1d.bias"):
                parameter.add_(0.3 * torch.randn_like(parameter))
    return layer


def assert_states_close(actual: DeltaNetState, expected: DeltaNetState) -> None:
    for field in ("conv_q", "conv_k", "conv_v", "recurrent"):
        a, e = getattr(actual, field), getattr(expected, field)
        if e is None:
            assert a is None, field
        else:
            torch.testing.assert_close(a, e, **TOL, msg=lambda m: f"{field}: {m}")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_shapes_and_state_layout(variant, seed):
    layer = make(variant, torch.float32)
    y, state = layer(torch.randn(3, 21, D_MODEL))
    assert y.shape == (3, 21, D_MODEL) and y.dtype == torch.float32
    heads = getattr(layer, "num_v_heads", layer.num_heads)
    assert state.recurrent.shape == (3, heads, layer.head_k_dim, layer.head_v_dim)
    assert state.recurrent.dtype == torch.float32
    if layer.use_short_conv:
        width = layer.config.conv_size - 1
        assert state.conv_q.shape == state.conv_k.shape == (3, layer.key_dim, width)
        assert state.conv_v.shape == (3, layer.value_dim, width)
    else:
        assert state.conv_q is state.conv_k is state.conv_v is None


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_state_round_trip_equals_one_pass(variant, seed):
    """Running T tokens in two calls, the second starting from the first one's state, equals one call."""
    layer = make(variant)
    x = torch.randn(2, 21, D_MODEL, dtype=torch.float64)
    y, state = layer(x)
    y1, state1 = layer(x[:, :9])
    y2, state2 = layer(x[:, 9:], state1)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), y, **TOL)
    assert_states_close(state2, state)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_step_decoding_equals_forward(variant, seed):
    """Prefill 7 tokens, then step the rest one at a time (and from an empty state): the outputs and the final
    state equal the parallel forward's."""
    layer = make(variant)
    x = torch.randn(2, 21, D_MODEL, dtype=torch.float64)
    y, state = layer(x)
    for prompt in (0, 7):
        outputs, current = [], None
        if prompt:
            y_prompt, current = layer(x[:, :prompt])
            outputs.append(y_prompt)
        for t in range(prompt, x.shape[1]):
            y_t, current = layer.step(x[:, t], current)
            outputs.append(y_t[:, None])
        torch.testing.assert_close(torch.cat(outputs, dim=1), y, **TOL)
        assert_states_close(current, state)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_packed_sequences_equal_separate_runs(variant, seed):
    """cu_seqlens packing (B == 1), with initial states per sequence: each sequence gets its own outputs and
    final state."""
    layer = make(variant)
    lengths = [5, 12, 1, 9]
    xs = [torch.randn(1, n, D_MODEL, dtype=torch.float64) for n in lengths]
    _, starts = layer(torch.randn(len(lengths), 4, D_MODEL, dtype=torch.float64))  # one state per sequence
    cu_seqlens = torch.tensor([0, 5, 17, 18, 27])
    y, state = layer(torch.cat(xs, dim=1), starts, cu_seqlens)
    separate = [
        layer(x, DeltaNetState(*[None if s is None else s[i : i + 1] for s in vars(starts).values()]))
        for i, x in enumerate(xs)
    ]
    torch.testing.assert_close(y, torch.cat([out for out, _ in separate], dim=1), **TOL)
    for field in ("conv_q", "conv_k", "conv_v", "recurrent"):
        if getattr(state, field) is not None:
            expected = torch.cat([getattr(s, field) for _, s in separate])
            torch.testing.assert_close(getattr(state, field), expected, **TOL)


@pytest.mark.parametrize("variant", ["deltanet-gate-expand", "gated-gva-sigmoid"])
def test_gradients_reach_every_parameter(variant, seed):
    layer = make(variant, torch.float32)
    y, state = layer(torch.randn(2, 21, D_MODEL))
    (y.square().mean() + state.recurrent.square().mean()).backward()
    for name, parameter in layer.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_parameter_names_and_shapes_follow_fla():
    """The names of fla's layers (fla.layers.DeltaNet / GatedDeltaNet); conv weights [D, W] for fla's [D, 1, W]."""
    deltanet = DeltaNet(64, DeltaNetConfig(num_heads=4, use_gate=True))
    assert {n: tuple(p.shape) for n, p in deltanet.named_parameters()} == {
        "q_proj.weight": (64, 64), "k_proj.weight": (64, 64), "v_proj.weight": (64, 64),
        "q_conv1d.weight": (64, 4), "k_conv1d.weight": (64, 4), "v_conv1d.weight": (64, 4),
        "g_proj.weight": (64, 64), "o_norm.weight": (16,), "o_proj.weight": (64, 64), "b_proj.weight": (4, 64),
    }
    gated = GatedDeltaNet(64, GatedDeltaNetConfig(num_heads=3, head_dim=16, expand_v=2))
    assert {n: tuple(p.shape) for n, p in gated.named_parameters()} == {
        "q_proj.weight": (48, 64), "k_proj.weight": (48, 64), "v_proj.weight": (96, 64),
        "q_conv1d.weight": (48, 4), "k_conv1d.weight": (48, 4), "v_conv1d.weight": (96, 4),
        "g_proj.weight": (96, 64), "o_norm.weight": (32,), "o_proj.weight": (64, 96),
        "a_proj.weight": (3, 64), "b_proj.weight": (3, 64), "A_log": (3,), "dt_bias": (3,),
    }
    assert gated.A_log._no_weight_decay and gated.dt_bias._no_weight_decay
    fla_like = {"q_conv1d.weight": torch.zeros(48, 1, 4), "A_log": torch.zeros(3)}
    assert {n: tuple(t.shape) for n, t in convert_fla_state_dict(fla_like).items()} == {
        "q_conv1d.weight": (48, 4), "A_log": (3,)
    }


def test_gated_decay_is_mamba2_style(seed):
    """g = -exp(A_log) * softplus(a_proj(x) + dt_bias) <= 0, so every decay exp(g) lies in (0, 1]."""
    layer = GatedDeltaNet(D_MODEL, GatedDeltaNetConfig(num_heads=2, head_dim=8)).double()
    x = torch.randn(2, 5, D_MODEL, dtype=torch.float64)
    q, k, v, _ = layer._qkv(x, None, None)
    *_, g = layer._heads(q, k, v, x)
    expected = -layer.A_log.exp() * torch.nn.functional.softplus(layer.a_proj(x) + layer.dt_bias)
    torch.testing.assert_close(g, expected, rtol=0, atol=0)
    assert (g <= 0).all()


CONFIG_ERRORS = [
    (DeltaNet, DeltaNetConfig(num_heads=3), "d_model \\* expand_k \\(32\\) must be a positive multiple of num_heads"),
    (DeltaNet, DeltaNetConfig(num_heads=2, expand_v=0.3), "d_model \\* expand_v must be a whole number"),
    (DeltaNet, DeltaNetConfig(num_heads=0), "num_heads': must be positive"),
    (DeltaNet, DeltaNetConfig(qk_activation="gelu"), "qk_activation': must be one of"),
    (DeltaNet, DeltaNetConfig(qk_norm="l1"), "qk_norm': must be one of"),
    (DeltaNet, DeltaNetConfig(conv_size=0), "conv_size': must be at least 1"),
    (DeltaNet, DeltaNetConfig(chunk_size=0), "chunk_size': must be a positive int"),
    (GatedDeltaNet, GatedDeltaNetConfig(num_heads=2, head_dim=8, num_v_heads=3),
     "num_v_heads': 3 must be a multiple of num_heads \\(2\\)"),
    (GatedDeltaNet, GatedDeltaNetConfig(num_heads=2, head_dim=8, expand_v=1.3),
     "head_dim \\* expand_v must be a whole"),
    (GatedDeltaNet, GatedDeltaNetConfig(num_heads=2, head_dim=0), "num_heads and head_dim must be positive"),
    (GatedDeltaNet, GatedDeltaNetConfig(num_heads=2, head_dim=8, output_gate_activation="relu"),
     "output_gate_activation': must be one of"),
]


@pytest.mark.parametrize("cls, config, message", CONFIG_ERRORS)
def test_invalid_configs_are_refused_with_the_reason(cls, config, message):
    with pytest.raises(ValueError, match=f"'model.mixers.{cls.name}.[a-z_]*.*{message}"):
        cls(D_MODEL, config)


def test_config_sections_and_mixer_names():
    assert (MIXERS.get("deltanet").cls, MIXERS.get("deltanet").section) == (DeltaNet, "deltanet")
    assert (MIXERS.get("gated_deltanet").cls, MIXERS.get("gated_deltanet").section) == (GatedDeltaNet, "gated_deltanet")
    config = config_from_dict({"layers": ["deltanet", "gated_deltanet"], "mixers": {
        "deltanet": {"num_heads": 2, "expand_k": 1, "use_gate": True},
        "gated_deltanet": {"num_heads": 2, "head_dim": 16, "num_v_heads": 4}}})
    assert config.mixers["deltanet"].expand_k == 1.0 and config.mixers["gated_deltanet"].num_v_heads == 4
    model = zoo.models.build_model(config)
    assert [type(block.mixer).__name__ for block in model.backbone.layers] == ["DeltaNet", "GatedDeltaNet"]
    with pytest.raises(ValueError, match="deltanet.use_gates"):
        config_from_dict({"mixers": {"deltanet": {"use_gates": True}}})


def test_o_proj_is_scaled_as_a_residual_output(seed):
    """SequenceModel scales the output projections writing into the residual stream by 1/sqrt(2 * n_layers)
    (the std of 262,144 normal draws is within 1e-3 of 0.02 far beyond any seed: its own spread is 3e-5)."""
    model = zoo.create_model("deltanet-small")
    o_proj = model.backbone.layers[0].mixer.o_proj.weight
    q_proj = model.backbone.layers[0].mixer.q_proj.weight
    assert abs(q_proj.std().item() - 0.02) < 1e-3
    assert abs(o_proj.std().item() - 0.02 / 4) < 1e-3  # 8 layers: 1 / sqrt(16)


def test_hybrid_presets_place_the_attention_layers():
    swa = zoo.models.model_config("deltanet-swa-hybrid-tiny")
    assert swa.layers == ["deltanet", "attention", "deltanet", "attention"]
    assert swa.mixers["attention"].kind == "sliding_window" and swa.mixers["attention"].window > 0
    full = zoo.models.model_config("deltanet-global-hybrid-tiny")
    n = len(full.layers)
    assert [i for i, name in enumerate(full.layers) if name == "attention"] == [1, n // 2]  # 2nd, (N/2 + 1)-th
    assert full.mixers["attention"].kind == "full"


def test_deltanet_small_decodes_as_it_runs_in_parallel(seed):
    """deltanet-small (27M parameters) is above tests/models/test_models.py's size limit: the same checks here, on
    shorter sequences."""
    model = zoo.create_model("deltanet-small").double().eval()
    ids = torch.randint(0, model.vocab_size, (2, 11))
    with torch.no_grad():
        expected = model(ids)
        logits, states = model.prefill(ids[:, :4])
        outputs = [logits]
        for t in range(4, ids.shape[1]):
            step_logits, states = model.step(ids[:, t], states)
            outputs.append(step_logits[:, None])
        packed = model(ids.reshape(1, -1), cu_seqlens=torch.tensor([0, 11, 22]))
    torch.testing.assert_close(torch.cat(outputs, dim=1), expected, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(packed, expected.reshape(1, 22, -1), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name, expected", [("deltanet-340m", 374_362_112), ("gated-deltanet-340m", 512_272_124)])
def test_full_size_presets_build_on_the_meta_device(name, expected):
    """The counts that tests/peers/test_deltanet_parity.py checks against fla's models built from the same configs."""
    with torch.device("meta"):
        assert zoo.create_model(name).num_parameters() == expected
