"""Presets of the xLSTM family: mLSTM and sLSTM blocks in xLSTM[a:b] stacks, at tiny and CPU-trainable sizes and
in the xLSTM paper's 125M size class."""

from __future__ import annotations

from zoo.models.config import ModelConfig
from zoo.models.families.xlstm.mlstm import MLSTMConfig
from zoo.models.families.xlstm.slstm import SLSTMConfig
from zoo.models.heads.lm import language_model_parts
from zoo.models.registry import register_model


def xlstm_layers(num_blocks: int, slstm_at: tuple[int, ...] | list[int]) -> list[str]:
    """An xLSTM stack's layer pattern as xlstm's `slstm_at` describes it: sLSTM blocks at those indices, mLSTM
    blocks elsewhere."""
    return ["slstm" if i in slstm_at else "mlstm" for i in range(num_blocks)]


def _xlstm(d_model: int, layers: list[str], **fields) -> ModelConfig:
    """xlstm's block layout: bias-free LayerNorms, no MLP after mLSTM blocks (d_intermediate 0), the sLSTM blocks'
    GELU-gated feed-forward sized by `slstm.ffn_proj_factor`."""
    return ModelConfig(d_model=d_model, layers=layers, d_intermediate=0, norm="layernorm", mlp_activation="gelu",
                       **fields)


@register_model("xlstm-tiny", family="xlstm")
def xlstm_tiny() -> ModelConfig:
    """An mLSTM block and an sLSTM block at d_model 64 (byte vocabulary, tied embeddings): mLSTM with 4 heads over
    an inner width of 128 (chunks of 16), sLSTM with 4 heads of 16 and a GELU feed-forward of 128."""
    return _xlstm(
        64,
        ["mlstm", "slstm"],
        mixers={"mlstm": MLSTMConfig(num_heads=4, chunk_size=16), "slstm": SLSTMConfig(num_heads=4)},
    )


XLSTM_SMALL_SLSTM_AT = (3, 11)


@register_model("xlstm-small", family="xlstm")
def xlstm_small() -> ModelConfig:
    """xLSTM[7:1] at d_model 512 with 16 blocks, sLSTM at blocks 3 and 11 (byte vocabulary, tied embeddings):
    4 heads in both cells, mLSTM inner width 1024, sLSTM feed-forward 704; 25,998,960 parameters, a
    CPU-trainable xLSTM."""
    return _xlstm(512, xlstm_layers(16, XLSTM_SMALL_SLSTM_AT))


def _xlstm_125m(slstm_at: tuple[int, ...]) -> ModelConfig:
    return _xlstm(
        768,
        xlstm_layers(24, slstm_at),
        mixers={
            "mlstm": MLSTMConfig(num_heads=4, proj_factor=2.0, conv1d_kernel_size=4, qkv_proj_blocksize=4),
            "slstm": SLSTMConfig(num_heads=4, conv1d_kernel_size=4, ffn_proj_factor=1.3),
        },
        **language_model_parts(50257, tie_embeddings=False),
    )


XLSTM_125M_SLSTM_AT = (3, 11, 19)


@register_model("xlstm-7-1-125m", family="xlstm")
def xlstm_7_1_125m() -> ModelConfig:
    """xLSTM[7:1] in the xLSTM paper's 125M size class (Beck et al., 2024, arXiv:2405.04517, language-modelling
    sizes: embedding 768, 24 blocks, 4 heads, GPT-2 tokenizer), with the block settings of the xlstm README
    config (NX-AI/xlstm 2.0.6: mLSTM conv 4, q/k/v blocks of 4, proj_factor 2; sLSTM conv 4, power-law forget
    bias, GELU feed-forward with proj_factor 1.3, which rounds to 1024 as the paper's 4/3 does). 7:1 over 24
    blocks is 3 sLSTM blocks; their positions for this size are not in a source checked here, so they are ours:
    blocks 3, 11 and 19 (the 4th of each group of 8). Untied embeddings over GPT-2's 50257 tokens, as xlstm's
    `xLSTMLMModel` (`tie_weights=False`). Parameter count 163,561,128, equal to xlstm's `xLSTMLMModel` built
    from the same config (tests/peers/test_xlstm_parity.py checks it)."""
    return _xlstm_125m(XLSTM_125M_SLSTM_AT)


@register_model("xlstm-1-0-125m", family="xlstm")
def xlstm_1_0_125m() -> ModelConfig:
    """xLSTM[1:0] (mLSTM blocks only) in the xLSTM paper's 125M size class: as xlstm-7-1-125m with every block an
    mLSTM block. Parameter count 163,733,952, equal to xlstm's `xLSTMLMModel` built from the same config
    (tests/peers/test_xlstm_parity.py checks it)."""
    return _xlstm_125m(())
