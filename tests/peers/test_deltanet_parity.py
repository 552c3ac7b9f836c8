"""zoo.models.DeltaNet and GatedDeltaNet against flash-linear-attention's layers (`fla.layers.DeltaNet`,
`fla.layers.GatedDeltaNet`) on the same weights and inputs, in float32 on the CPU: outputs, the gradients of the
input and of every parameter, packed sequences, the decoding states and single-token steps; and the parameter
counts of the 340M presets against fla's `DeltaNetForCausalLM` / `GatedDeltaNetForCausalLM` built from the same
configurations.

How fla's layers run here: their kernels are Triton (the delta rule, the short convolution, the gated RMSNorm),
so without a GPU they run under the Triton interpreter (tests/conftest.py sets TRITON_INTERPRET=1 before any
kernel is defined; `oracles.require` narrows fla's autotuned kernels to one config, see benchmarks/upstream.py).
fla's own mode selection is kept, not patched:
- DeltaNet takes `fused_recurrent_delta_rule` for sequences of at most 64 tokens (its `chunk_delta_rule`
  refuses float32), so the sequences here are shorter than that and the layer is built with
  mode="fused_recurrent" (which it would also pick at any length);
- GatedDeltaNet takes `chunk_gated_delta_rule` whenever autograd records (it accepts float32) and
  `fused_recurrent_gated_delta_rule` for short sequences in eval mode without autograd (the decoding checks).
Ours runs the chunked PyTorch form (chunks of 16, so T=37 spans three chunks).

Weights: fla's state dict maps to ours by `convert_fla_state_dict` (same names; conv weights [D, 1, W] -> [D, W]).
States: fla's conv caches hold W inputs ([B, D, W], ours the last W - 1), GatedDeltaNet's recurrent state is
value-first ([B, H, V, K], ours [B, H, K, V]).
"""

from __future__ import annotations

import pytest
import torch

from zoo.models.families.deltanet import DeltaNet, DeltaNetConfig, GatedDeltaNet, GatedDeltaNetConfig, convert_fla_state_dict

from .oracles import require, triton_device

pytestmark = pytest.mark.peers

# Float32 on both sides, differing in the order of summation (fla's recurrent or 64-token chunks, ours 16-token
# chunks with a triangular solve; fla's fused norms): output errors near 1e-6, gradients near 1e-5 (parameter
# gradients sum over all B*T positions), while a mis-mapped weight, a transposed state, a missing activation or
# a wrong gate shows at 1e-1.
FWD_TOL = dict(rtol=1e-4, atol=1e-4)
GRAD_TOL = dict(rtol=5e-4, atol=5e-4)
D_MODEL, LENGTH, CHUNK = 32, 37, 16
PACKED = [0, 9, 10, 37]  # cu_seqlens of a packed row: 9 tokens, 1 token, 27 tokens

# name: (our class, our config class, fla module, fla class, keyword arguments shared by fla and our config)
CASES = {
    "deltanet": (DeltaNet, DeltaNetConfig, "fla.layers.delta_net", "DeltaNet", dict(num_heads=2)),
    "deltanet-gate-relu-sum": (DeltaNet, DeltaNetConfig, "fla.layers.delta_net", "DeltaNet",
                               dict(num_heads=2, expand_v=2.0, use_gate=True, qk_activation="relu", qk_norm="sum",
                                    allow_neg_eigval=True)),
    "gated": (GatedDeltaNet, GatedDeltaNetConfig, "fla.layers.gated_deltanet", "GatedDeltaNet",
              dict(num_heads=2, head_dim=16, expand_v=2.0)),
    "gated-gva-sigmoid": (GatedDeltaNet, GatedDeltaNetConfig, "fla.layers.gated_deltanet", "GatedDeltaNet",
                                 dict(num_heads=2, head_dim=8, num_v_heads=4, expand_v=1.5,
                                      output_gate_activation="sigmoid", allow_neg_eigval=True)),
    "gated-nogate": (GatedDeltaNet, GatedDeltaNetConfig, "fla.layers.gated_deltanet", "GatedDeltaNet",
                     dict(num_heads=2, head_dim=16, use_gate=False)),
}


def build_pair(case: str, device: str):
    """fla's layer (random weights, the ones-initialised norm weights moved off 1) and ours with its weights."""
    ours_cls, config_cls, module_name, fla_name, kwargs = CASES[case]
    fla_cls = getattr(require(module_name), fla_name)
    mode = "fused_recurrent" if fla_name == "DeltaNet" else "chunk"
    reference = fla_cls(hidden_size=D_MODEL, mode=mode, layer_idx=0, **kwargs).to(device)
    with torch.no_grad():
        reference.o_norm.weight.add_(0.3 * torch.randn_like(reference.o_norm.weight))
    ours = ours_cls(D_MODEL, config_cls(**kwargs, chunk_size=CHUNK))
    ours.load_state_dict(convert_fla_state_dict(reference.state_dict()), strict=True)
    return reference, ours.to(device)


# (case, packed): one case per layer packed, the others dense (the interpreter's time is the limit)
RUNS = [(case, case in ("deltanet", "gated-nogate")) for case in CASES] + [("deltanet", False)]


@pytest.mark.parametrize("case, packed", RUNS, ids=[f"{c}-{'packed' if p else 'dense'}" for c, p in RUNS])
def test_layer_matches_fla(case, packed, compare):
    device = triton_device()
    reference, ours = build_pair(case, device)
    batch, cu_seqlens = (1, torch.tensor(PACKED, device=device)) if packed else (2, None)
    x = torch.randn(batch, LENGTH, D_MODEL, device=device)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref, _, _ = reference(x_ref, cu_seqlens=cu_seqlens)
    y, _ = ours(x_ours, cu_seqlens=cu_seqlens)
    compare(y, y_ref, "y", **FWD_TOL)

    grad = torch.randn_like(y_ref)
    y_ref.backward(grad)
    y.backward(grad)
    compare(x_ours.grad, x_ref.grad, "dx", **GRAD_TOL)
    grads_ref = convert_fla_state_dict({name: p.grad for name, p in reference.named_parameters()})
    for name, parameter in ours.named_parameters():
        compare(parameter.grad, grads_ref[name], f"d{name}", **GRAD_TOL)


def fla_state(cache, value_first: bool):
    """(conv_q, conv_k, conv_v, recurrent) from fla's cache in our layouts."""
    layer = cache[0]
    recurrent = layer["recurrent_state"]
    convs = [c[..., 1:] for c in layer["conv_state"]]
    return (*convs, recurrent.transpose(-1, -2) if value_first else recurrent)


@pytest.mark.parametrize("case", ["deltanet", "gated-gva-sigmoid"])
def test_decoding_states_and_steps_match_fla(case, compare):
    """Prefill 13 tokens into fla's cache and into our state, then decode 3 tokens one at a time: the same outputs,
    and the same conv and recurrent states after the prefill and after the last step."""
    cache_module = require("fla.models.utils")
    device = triton_device()
    reference, ours = build_pair(case, device)
    reference.eval()
    value_first = isinstance(ours, GatedDeltaNet)
    x = torch.randn(2, 16, D_MODEL, device=device)
    cache = cache_module.Cache()
    with torch.no_grad():
        y_ref, _, cache = reference(x[:, :13], past_key_values=cache, use_cache=True)
        y, state = ours(x[:, :13])
        compare(y, y_ref, "prefill y", **FWD_TOL)
        names = ("conv_q", "conv_k", "conv_v", "recurrent")
        for name, theirs in zip(names, fla_state(cache, value_first)):
            compare(getattr(state, name), theirs, f"prefill {name}", **FWD_TOL)
        for t in range(13, 16):
            y_ref, _, cache = reference(x[:, t : t + 1], past_key_values=cache, use_cache=True)
            y, state = ours.step(x[:, t], state)
            compare(y, y_ref[:, 0], f"step {t} y", **FWD_TOL)
        for name, theirs in zip(names, fla_state(cache, value_first)):
            compare(getattr(state, name), theirs, f"final {name}", **FWD_TOL)


# The 340M configurations as fla's flame framework ships them (see the presets' docstrings): the JSON files'
# fields, passed to fla's config classes.
FLA_340M = {
    "deltanet-340m": ("DeltaNetConfig", "DeltaNetForCausalLM", dict(
        attn_mode="chunk", conv_size=4, expand_k=1, expand_v=1, hidden_act="swish", hidden_ratio=4,
        hidden_size=1024, initializer_range=0.02, intermediate_size=None, norm_eps=1e-6, num_heads=8,
        num_hidden_layers=24, qk_activation="silu", qk_norm="l2", tie_word_embeddings=False, use_beta=True,
        use_gate=False, use_output_norm=True, use_short_conv=True,
    )),
    "gated-deltanet-340m": ("GatedDeltaNetConfig", "GatedDeltaNetForCausalLM", dict(
        attn_mode="chunk", conv_size=4, expand_v=2, head_dim=256, hidden_act="swish", hidden_ratio=4,
        hidden_size=1024, initializer_range=0.02, intermediate_size=None, norm_eps=1e-6, num_heads=6,
        num_hidden_layers=21, tie_word_embeddings=False, use_gate=True, use_short_conv=True,
    )),
}


@pytest.mark.parametrize("preset", list(FLA_340M))
def test_340m_presets_have_the_upstream_parameter_count(preset):
    """Both models built on the meta device (no memory): the same number of parameters, and the same per-layer
    mixer tensors. The block is laid out alike (pre-norm mixer, pre-norm SwiGLU MLP, final norm, untied LM head);
    fla's MLP holds gate_proj and up_proj where ours holds one fc1 of both, the same count."""
    import zoo

    models = require("fla.models")
    config_name, model_name, fields = FLA_340M[preset]
    config = getattr(models, config_name)(**fields)
    with torch.device("meta"):
        upstream = getattr(models, model_name)(config)
        ours = zoo.create_model(preset)
    assert config.vocab_size == ours.vocab_size and not ours.config.head.tie_embeddings
    upstream_count = sum(p.numel() for p in upstream.parameters())
    assert ours.num_parameters() == upstream_count
    upstream_mixer = convert_fla_state_dict({n: p for n, p in upstream.model.layers[0].attn.named_parameters()})
    ours_mixer = dict(ours.backbone.layers[0].mixer.named_parameters())
    assert {n: p.shape for n, p in ours_mixer.items()} == {n: p.shape for n, p in upstream_mixer.items()}
    assert ours.backbone.layers[0].mlp.fc1.out_features == 2 * upstream.model.layers[0].mlp.intermediate_size
