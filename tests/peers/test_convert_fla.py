"""`zoo.convert.from_upstream(..., source="fla")` against flash-linear-attention's own `DeltaNetForCausalLM` and
`GatedDeltaNetForCausalLM`: tiny models with random weights, saved with transformers' `save_pretrained`
(config.json + model.safetensors; a tied LM head is left out of the file), converted from that folder, and both
models' logits compared in float32.

How fla runs here (no GPU): its kernels under the Triton interpreter, as in tests/peers/test_deltanet_parity.py;
sequences of 19 tokens, where fla's DeltaNet takes its fused recurrent kernel (its chunked one refuses float32).
fla's standard-attention layers (the `attn` config of hybrids) call FlashAttention, and fla refuses to build them
without flash_attn, which has no CPU build: the hybrid case gives fla's layer `flash_attn_func` as a few lines of
`F.scaled_dot_product_attention` under FlashAttention's mask convention (causal; `window_size=(left, right)` keeps
keys j with i - left <= j <= i + right); the projections, GQA and fla's rotary embedding (Triton) are fla's own.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.convert import from_upstream

from .oracles import require

pytestmark = pytest.mark.peers

# Float32 on both sides: logit errors near 1e-7 for logits of order 1; a mis-mapped tensor (gate and up swapped in
# fc1, a conv taken the wrong way, a missing norm) shows at 1e-1.
TOL = dict(rtol=1e-4, atol=1e-4)
VOCAB, LENGTH = 101, 19

COMMON = dict(hidden_size=32, num_hidden_layers=2, vocab_size=VOCAB, fuse_cross_entropy=False)
CASES = {
    "deltanet": ("DeltaNetConfig", "DeltaNetForCausalLM",
                 dict(num_heads=2, use_gate=True, intermediate_size=48)),
    "deltanet-tied-relu-sum": ("DeltaNetConfig", "DeltaNetForCausalLM",
                               dict(num_heads=2, qk_activation="relu", qk_norm="sum", expand_v=2.0,
                                    tie_word_embeddings=True, hidden_ratio=2, norm_eps=1e-5)),
    "gated-deltanet": ("GatedDeltaNetConfig", "GatedDeltaNetForCausalLM",
                       dict(num_heads=2, head_dim=16, expand_v=2.0, hidden_ratio=3)),
    "gated-deltanet-gva-tied": ("GatedDeltaNetConfig", "GatedDeltaNetForCausalLM",
                                dict(num_heads=2, head_dim=8, num_v_heads=4, expand_v=1.5, tie_word_embeddings=True,
                                     output_gate_activation="sigmoid", allow_neg_eigval=True)),
    "gated-deltanet-swa-hybrid": ("GatedDeltaNetConfig", "GatedDeltaNetForCausalLM",
                                  dict(num_heads=2, head_dim=16, num_hidden_layers=3,
                                       attn={"layers": [1], "num_heads": 4, "num_kv_heads": 2, "window_size": 8,
                                             "rope_theta": 500.0, "qkv_bias": True})),
}


def flash_attn_func_sdpa(q, k, v, causal=False, window_size=(-1, -1), **unused):
    """FlashAttention's `flash_attn_func` for `[B, T, H, D]` q and `[B, S, H_kv, D]` k, v (T == S), by SDPA."""
    length, heads = q.shape[1], q.shape[2]
    k, v = (t.repeat_interleave(heads // t.shape[2], dim=2) for t in (k, v))
    i, j = torch.arange(length)[:, None], torch.arange(k.shape[1])[None]
    keep = torch.ones(length, k.shape[1], dtype=torch.bool)
    if causal:
        keep &= j <= i
    left, right = window_size
    if left >= 0:
        keep &= j >= i - left
    if right >= 0:
        keep &= j <= i + right
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=keep)
    return out.transpose(1, 2)


@pytest.mark.parametrize("case", list(CASES))
def test_converted_fla_model_gives_the_same_logits(case, monkeypatch, tmp_path, compare, seed):
    models = require("fla.models")
    config_name, model_name, fields = CASES[case]
    if "attn" in fields:
        monkeypatch.setattr(require("fla.layers.attn"), "flash_attn_func", flash_attn_func_sdpa)
    upstream = getattr(models, model_name)(getattr(models, config_name)(**{**COMMON, **fields}))
    with torch.no_grad():  # move the ones-initialised norm weights off 1
        for name, parameter in upstream.named_parameters():
            if "norm" in name:
                parameter.add_(0.3 * torch.randn_like(parameter))
    upstream.eval().save_pretrained(tmp_path / "upstream")

    ours = from_upstream(tmp_path / "upstream", source="fla")
    assert ours.config.head.tie_embeddings == bool(fields.get("tie_word_embeddings", False))
    assert ours.num_parameters() == sum(p.numel() for p in upstream.parameters())
    assert ours.config.layers.count("attention") == len(fields.get("attn", {}).get("layers", []))

    ids = torch.randint(0, VOCAB, (2, LENGTH))
    with torch.no_grad():
        expected = upstream(ids).logits
        logits = ours(ids)
    compare(logits, expected, "logits", **TOL)
