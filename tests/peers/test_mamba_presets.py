"""The published-size Mamba presets against mamba_ssm: `MambaLMHeadModel` built on the meta device (no memory,
no compute) from the published config.json of each state-spaces checkpoint has the preset's parameter count and
tensor shapes, and `zoo.convert` turns that config.json into the preset's config.

The config files, as published on the Hugging Face hub (state-spaces/mamba-130m, -370m: the first mamba_ssm
format, without d_intermediate, attn_* or tie_embeddings, which default to 0, none and true; state-spaces/mamba2-*:
the later format, with the vocabulary padded to a multiple of 16).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import zoo
from zoo.models.families.mamba import convert as convert_mamba_ssm
from zoo.models.families.mamba.convert import state_dict as convert_state_dict

from .oracles import require

pytestmark = pytest.mark.peers

_MAMBA1 = {"ssm_cfg": {}, "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
           "pad_vocab_size_multiple": 8, "vocab_size": 50277}
_MAMBA2 = {"d_intermediate": 0, "vocab_size": 50277, "ssm_cfg": {"layer": "Mamba2"}, "attn_layer_idx": [],
           "attn_cfg": {}, "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
           "pad_vocab_size_multiple": 16, "tie_embeddings": True}
PUBLISHED = {
    "mamba-130m": {"d_model": 768, "n_layer": 24, **_MAMBA1},
    "mamba-370m": {"d_model": 1024, "n_layer": 48, **_MAMBA1},
    "mamba2-130m": {"d_model": 768, "n_layer": 24, **_MAMBA2},
    "mamba2-370m": {"d_model": 1024, "n_layer": 48, **_MAMBA2},
}


@pytest.mark.parametrize("preset", list(PUBLISHED))
def test_published_mamba_presets_match_mamba_ssm(preset):
    models = require("mamba_ssm.models.mixer_seq_simple")
    configs = require("mamba_ssm.models.config_mamba")
    with torch.device("meta"):
        upstream = models.MambaLMHeadModel(configs.MambaConfig(**PUBLISHED[preset]), device="meta")
        ours = zoo.create_model(preset)
    upstream_count = sum(p.numel() for p in upstream.parameters())  # tied: the embedding once
    print(f"{preset}: ours {ours.num_parameters():,}, mamba_ssm {upstream_count:,}")
    assert ours.num_parameters() == upstream_count

    converted, options = convert_mamba_ssm.model_config(PUBLISHED[preset])
    assert dataclasses.replace(converted, name=preset) == ours.config

    mapped, _ = convert_state_dict(upstream.state_dict(), ours.config, options)
    assert {n: tuple(t.shape) for n, t in mapped.items()} == {n: tuple(t.shape) for n, t in ours.state_dict().items()}
