"""`zoo.convert.from_upstream(..., source="mamba_ssm")` against mamba_ssm's own `MambaLMHeadModel`: a tiny model
with random weights is saved the way mamba_ssm saves one (its `save_pretrained`: config.json + pytorch_model.bin),
converted from that folder, and both models' logits are compared in float32.

How mamba_ssm runs here (no GPU): Mamba-1 with `use_fast_path=False`, `selective_scan_fn` replaced by mamba_ssm's
own `selective_scan_ref` and `causal_conv1d_fn=None` (nn.Conv1d); Mamba-2 with `use_mem_eff_path=False`, its
Triton scan and gated norm under the interpreter; `fused_add_norm=False` (the block adds and normalises in
PyTorch; RMSNorm is mamba_ssm's Triton kernel under the interpreter).

mamba_ssm's attention layers (`MHA`, at `attn_layer_idx`) run on the CPU as they are when they have no rotary
embedding (`rotary_emb_dim=0`, its default: `F.scaled_dot_product_attention`). With a rotary embedding, MHA needs
flash_attn's `RotaryEmbedding` (`assert RotaryEmbedding is not None, "rotary requires flash_attn to be
installed"`), and flash_attn has no CPU build: those cases give MHA fla's `RotaryEmbedding` instead, fla's port of
flash_attn's (same tables, partial and interleaved rotations; a Triton kernel, here under the interpreter), behind
flash_attn's call signature.
"""

from __future__ import annotations

import pytest
import torch

from zoo.convert import from_upstream

from .oracles import require

pytestmark = pytest.mark.peers

# Float32 on both sides, the same operations up to the order of summation (scan blocking, fused norms): logit
# errors near 1e-6 for logits of order 1, while a mis-mapped tensor (a transposed conv, q/k rows in the wrong
# rotary order, gate and up swapped, a missing norm) shows at 1e-1 or more.
TOL = dict(rtol=1e-4, atol=1e-4)
VOCAB, LENGTH = 101, 19  # 101 pads to 104 (multiple of 8) or 112 (16); 19 tokens span two Mamba-2 chunks of 16

MAMBA2 = {"layer": "Mamba2", "d_state": 16, "headdim": 16, "ngroups": 2, "chunk_size": 16}

CASES = {
    # Mamba-1, tied embeddings, no MLP (as the state-spaces checkpoints)
    "mamba1": dict(d_model=32, n_layer=2, ssm_cfg={"d_state": 8, "dt_rank": "auto"}, d_intermediate=0,
                   pad_vocab_size_multiple=8, tie_embeddings=True),
    # Mamba-2 with gated MLPs (d_intermediate 40, which mamba_ssm rounds up to 128), untied
    "mamba2-mlp": dict(d_model=32, n_layer=2, ssm_cfg=MAMBA2, d_intermediate=40, pad_vocab_size_multiple=16,
                       tie_embeddings=False),
    # a hybrid with MHA as mamba_ssm runs it on a CPU: grouped-query heads, biases, no rotary embedding
    "mamba2-hybrid-nope": dict(d_model=32, n_layer=3, ssm_cfg=MAMBA2, d_intermediate=0, attn_layer_idx=[1],
                               attn_cfg={"num_heads": 4, "num_heads_kv": 2, "causal": True}),
    # with rotary embeddings (fla's RotaryEmbedding standing in for flash_attn's): interleaved over part of each
    # head, and non-interleaved over whole heads
    "mamba2-hybrid-rotary-interleaved": dict(
        d_model=32, n_layer=3, ssm_cfg=MAMBA2, d_intermediate=48, attn_layer_idx=[1],
        attn_cfg={"num_heads": 2, "num_heads_kv": 1, "head_dim": 16, "causal": True, "rotary_emb_dim": 8,
                  "rotary_emb_interleaved": True, "rotary_emb_base": 500.0, "qkv_proj_bias": True,
                  "out_proj_bias": False}),
    "mamba-hybrid-rotary": dict(
        d_model=32, n_layer=2, ssm_cfg={"d_state": 8}, d_intermediate=0, attn_layer_idx=[0],
        attn_cfg={"num_heads": 4, "causal": True, "rotary_emb_dim": 8, "qkv_proj_bias": False,
                  "out_proj_bias": False}),
}


@pytest.fixture
def mamba_ssm(monkeypatch):
    """mamba_ssm's model module, with the CPU substitutions above in place."""
    simple = require("mamba_ssm.modules.mamba_simple")
    interface = require("mamba_ssm.ops.selective_scan_interface")
    monkeypatch.setattr(simple, "causal_conv1d_fn", None)
    monkeypatch.setattr(simple, "selective_scan_fn", interface.selective_scan_ref)
    require("mamba_ssm.modules.mamba2")
    return require("mamba_ssm.models.mixer_seq_simple"), require("mamba_ssm.models.config_mamba")


def flash_attn_rotary_from_fla():
    """A class with flash_attn's `RotaryEmbedding` interface (forward(q, kv, seqlen_offset, max_seqlen) with kv
    `[B, T, 2, H_kv, D]` -> (q, kv)) that rotates with fla's `RotaryEmbedding`."""
    fla_rotary = require("fla.modules").RotaryEmbedding

    class RotaryEmbedding(fla_rotary):
        def __init__(self, dim, base=10000.0, interleaved=False, scale_base=None, device=None):
            super().__init__(dim, base=base, scale_base=scale_base, interleaved=interleaved, device=device)

        def forward(self, q, kv, seqlen_offset=0, max_seqlen=None):
            k, v = kv.unbind(dim=2)
            q, k = super().forward(q, k, seqlen_offset=seqlen_offset, max_seqlen=max_seqlen)
            return q, torch.stack([k, v], dim=2)

    return RotaryEmbedding


def build_upstream(mamba_ssm, fields: dict, monkeypatch):
    """mamba_ssm's MambaLMHeadModel from `fields` (CPU paths, random weights everywhere: the constants mamba_ssm
    initialises, norm weights, D, biases, are moved off them)."""
    models, configs = mamba_ssm
    if fields.get("attn_cfg", {}).get("rotary_emb_dim"):
        monkeypatch.setattr(require("mamba_ssm.modules.mha"), "RotaryEmbedding", flash_attn_rotary_from_fla())
    config = configs.MambaConfig(vocab_size=VOCAB, rms_norm=True, fused_add_norm=False, residual_in_fp32=True,
                                 **fields)
    model = models.MambaLMHeadModel(config)
    for layer in model.backbone.layers:
        for fast_path in ("use_fast_path", "use_mem_eff_path"):
            if hasattr(layer.mixer, fast_path):
                setattr(layer.mixer, fast_path, False)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name or name.endswith((".D", "bias")):
                parameter.add_(0.3 * torch.randn_like(parameter))
    return model.eval()


@pytest.mark.parametrize("case", list(CASES))
def test_converted_mamba_ssm_model_gives_the_same_logits(case, mamba_ssm, monkeypatch, tmp_path, compare, seed):
    upstream = build_upstream(mamba_ssm, CASES[case], monkeypatch)
    upstream.save_pretrained(str(tmp_path / "upstream"))  # mamba_ssm's own: config.json + pytorch_model.bin
    assert sorted(p.name for p in (tmp_path / "upstream").iterdir()) == ["config.json", "pytorch_model.bin"]

    ours = from_upstream(tmp_path / "upstream", source="mamba_ssm")
    assert ours.config.name == "upstream"
    assert ours.vocab_size == upstream.lm_head.weight.shape[0]
    assert ours.num_parameters() == sum(p.numel() for p in upstream.parameters())
    attention = [i for i, kind in enumerate(ours.config.layers) if kind == "attention"]
    assert attention == CASES[case].get("attn_layer_idx", [])

    ids = torch.randint(0, VOCAB, (2, LENGTH))
    with torch.no_grad():
        expected = upstream(ids).logits
        logits = ours(ids)
    compare(logits, expected, "logits", **TOL)


def test_mha_rotary_needs_flash_attn():
    """What the rotary cases above work around: without flash_attn, mamba_ssm's MHA refuses a rotary embedding."""
    mha = require("mamba_ssm.modules.mha")
    if mha.RotaryEmbedding is not None:
        pytest.skip("flash_attn is installed here: MHA's rotary embedding runs as it is")
    with pytest.raises(AssertionError, match="flash_attn"):
        mha.MHA(32, num_heads=4, rotary_emb_dim=8)
