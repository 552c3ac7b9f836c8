"""Registered model presets. `*-tiny` presets are for tests and the CPU quick start (< 1M parameters)."""

from __future__ import annotations

from zoo.models.attention import AttentionConfig
from zoo.models.based import BasedConfig
from zoo.models.config import ModelConfig
from zoo.models.deltanet import DeltaNetConfig, GatedDeltaNetConfig
from zoo.models.mamba import Mamba2Config, MambaConfig
from zoo.models.registry import register_model
from zoo.models.xlstm import MLSTMConfig, SLSTMConfig



def _tiny_attention() -> AttentionConfig:
    return AttentionConfig(num_heads=4)


def _tiny_mamba2() -> Mamba2Config:
    return Mamba2Config(d_state=16, headdim=16, expand=2, chunk_size=32)


@register_model("attention-tiny", family="attention")
def attention_tiny() -> ModelConfig:
    """Two full causal attention layers with gated MLPs, d_model 64."""
    return ModelConfig(d_model=64, layers=["attention"] * 2, d_intermediate=128, attention=_tiny_attention())


@register_model("mamba-tiny", family="mamba")
def mamba_tiny() -> ModelConfig:
    """Two Mamba-1 layers (no MLP, as Mamba-1 models are built), d_model 64, state size 16."""
    return ModelConfig(d_model=64, layers=["mamba"] * 2, mamba=MambaConfig(d_state=16, chunk_size=32))


@register_model("mamba2-tiny", family="mamba2")
def mamba2_tiny() -> ModelConfig:
    """Two Mamba-2 layers with gated MLPs, d_model 64."""
    return ModelConfig(d_model=64, layers=["mamba2"] * 2, d_intermediate=128, mamba2=_tiny_mamba2())


@register_model("hybrid-tiny", family="mamba2-hybrid", pretrained=("mqar",))
def hybrid_tiny() -> ModelConfig:
    """A Mamba-2 layer followed by a full attention layer, with gated MLPs, d_model 64."""
    return ModelConfig(
        d_model=64,
        layers=["mamba2", "attention"],
        d_intermediate=128,
        attention=_tiny_attention(),
        mamba2=_tiny_mamba2(),
    )


@register_model("swa-tiny", family="attention")
def swa_tiny() -> ModelConfig:
    """Two sliding-window attention layers (each token sees itself and the 8 tokens before it; the decoding cache
    rolls, so its memory is constant), with gated MLPs, d_model 64."""
    attention = AttentionConfig(num_heads=4, kind="sliding_window", window=8)
    return ModelConfig(d_model=64, layers=["attention"] * 2, d_intermediate=128, attention=attention)


@register_model("longformer-tiny", family="attention")
def longformer_tiny() -> ModelConfig:
    """Two causal Longformer layers: a sliding window of 4 earlier tokens plus a global token at position 0 (which
    every later token sees), with gated MLPs, d_model 64."""
    attention = AttentionConfig(num_heads=4, kind="longformer", window=4, global_tokens=[0])
    return ModelConfig(d_model=64, layers=["attention"] * 2, d_intermediate=128, attention=attention)


@register_model("bigbird-tiny", family="attention")
def bigbird_tiny() -> ModelConfig:
    """Two causal BigBird layers over blocks of 4 tokens: 3 window blocks, 1 global block, 1 random block (seed 0),
    with gated MLPs, d_model 64."""
    attention = AttentionConfig(
        num_heads=4, kind="bigbird", block_size=4, window_blocks=3, global_blocks=1, random_blocks=1, seed=0
    )
    return ModelConfig(d_model=64, layers=["attention"] * 2, d_intermediate=128, attention=attention)


@register_model("based-tiny", family="based")
def based_tiny() -> ModelConfig:
    """BASED's mix at d_model 64: gated short conv, Taylor linear attention (feature_dim 8), sliding-window attention
    (8 earlier tokens) and gated short conv again, each with a gated MLP."""
    return ModelConfig(
        d_model=64,
        layers=["based_conv", "based", "attention", "based_conv"],
        d_intermediate=128,
        attention=AttentionConfig(num_heads=4, kind="sliding_window", window=8),
        based=BasedConfig(feature_dim=8, num_heads=4, chunk_size=16),
    )


BASED_360M_LINEAR_LAYERS = (1, 6, 11, 16, 21)
BASED_360M_WINDOW_LAYERS = (2, 7, 12, 17, 22)


@register_model("based-360m", family="based")
def based_360m() -> ModelConfig:
    """The published BASED 360M model (the hazyresearch/based-360m checkpoint), as configured in HazyResearch/based
    `train/configs/experiment/reference/based-360m.yaml` (the model card's config): 27 layers at d_model 1024;
    Taylor linear attention (feature_dim 16, 16 heads) at layers 1, 6, 11, 16, 21; sliding-window attention (16
    heads, rotary, upstream `window_size: 256`, which its SlidingAttention passes to FlashAttention as
    `window_size=(256 // 2, 0)`: 128 earlier keys) at layers 2, 7, 12, 17, 22; BaseConv (`expand_proj: 4`, kernel 3,
    `use_bias: True`, conv without bias) elsewhere; a SwiGLU MLP of `n_inner = 2 * n_embd` after every mixer; RMSNorm
    (eps 1e-5); no bias in attention, linear attention or MLP projections; tied embeddings over the GPT-2 vocabulary
    (50257) padded to a multiple of 8 (`pad_vocab_size_multiple: 8`): 50264. fla ships no BASED model, only its
    linear-attention layer. Parameter count: 362,620,928 (tests/models/test_based.py checks it against the upstream
    model's tensor inventory)."""
    layers = [
        "based" if i in BASED_360M_LINEAR_LAYERS else "attention" if i in BASED_360M_WINDOW_LAYERS else "based_conv"
        for i in range(27)
    ]
    return ModelConfig(
        d_model=1024,
        layers=layers,
        d_intermediate=2048,
        vocab_size=50264,
        norm_eps=1e-5,
        attention=AttentionConfig(num_heads=16, kind="sliding_window", window=128),
        based=BasedConfig(
            feature_dim=16, num_heads=16, eps=1e-12, conv_expand=4, conv_kernel=3, conv_bias=False, proj_bias=True
        ),
    )


def _fla_intermediate_size(d_model: int, hidden_ratio: int = 4) -> int:
    """fla's GatedMLP width when `intermediate_size` is None: 2/3 of d_model * hidden_ratio, rounded up to 256."""
    return 256 * -(-int(d_model * hidden_ratio * 2 / 3) // 256)


def _tiny_deltanet() -> DeltaNetConfig:
    return DeltaNetConfig(num_heads=4, chunk_size=16)


@register_model("deltanet-tiny", family="deltanet")
def deltanet_tiny() -> ModelConfig:
    """Two DeltaNet layers (4 heads of 16, short convs, L2-normalised q/k, sigmoid beta, per-head RMSNorm) with
    gated MLPs, d_model 64."""
    return ModelConfig(d_model=64, layers=["deltanet"] * 2, d_intermediate=128, deltanet=_tiny_deltanet())


@register_model("gated-deltanet-tiny", family="gated_deltanet")
def gated_deltanet_tiny() -> ModelConfig:
    """Two Gated DeltaNet layers (3 query/key heads of 16, values of 32, Mamba-2 decay, output gate) with gated
    MLPs, d_model 64."""
    config = GatedDeltaNetConfig(num_heads=3, head_dim=16, expand_v=2, chunk_size=16)
    return ModelConfig(d_model=64, layers=["gated_deltanet"] * 2, d_intermediate=128, gated_deltanet=config)


@register_model("deltanet-small", family="deltanet")
def deltanet_small() -> ModelConfig:
    """Eight DeltaNet layers at d_model 512 (8 heads of 64) with fla-sized gated MLPs (1536), byte vocabulary:
    27,485,184 parameters, a CPU-trainable baseline."""
    return ModelConfig(
        d_model=512,
        layers=["deltanet"] * 8,
        d_intermediate=_fla_intermediate_size(512),
        deltanet=DeltaNetConfig(num_heads=8),
    )


@register_model("deltanet-340m", family="deltanet")
def deltanet_340m() -> ModelConfig:
    """The 340M DeltaNet of the DeltaNet paper's 15B-token comparison (Yang et al., 2024), as fla configures it:
    fla-org/flame `configs/delta_net_340M.json` (commit def9ced1): hidden_size 1024, 24 layers, 8 heads,
    expand_k = expand_v = 1, short convs of 4, SiLU + L2 q/k, sigmoid beta, no output gate, norm_eps 1e-6,
    hidden_ratio 4 (MLP width 2816), untied embeddings over fla's 32000-token (Llama) vocabulary.
    Parameter count 374,362,112, equal to fla's `DeltaNetForCausalLM` built from that config
    (tests/peers/test_deltanet_parity.py checks it); "340M" is the size class."""
    return ModelConfig(
        d_model=1024,
        layers=["deltanet"] * 24,
        d_intermediate=_fla_intermediate_size(1024),
        vocab_size=32000,
        tie_embeddings=False,
        norm_eps=1e-6,
        deltanet=DeltaNetConfig(num_heads=8, expand_k=1.0, expand_v=1.0, norm_eps=1e-6),
    )


@register_model("gated-deltanet-340m", family="gated_deltanet")
def gated_deltanet_340m() -> ModelConfig:
    """The 340M-class Gated DeltaNet of fla's training framework: flame `configs/gated_deltanet_340M.json` (read
    at zaydzuhri/flame commit b654e4f1, a fork of fla-org/flame): hidden_size 1024, 21 layers, 6 heads of
    head_dim 256, expand_v 2, output gate, short convs of 4, norm_eps 1e-6, hidden_ratio 4 (MLP width 2816),
    untied embeddings over 32000 tokens. Parameter count 512,272,124, equal to fla's `GatedDeltaNetForCausalLM`
    built from that config (tests/peers/test_deltanet_parity.py checks it): the file keeps the 1.3B model's
    heads (6 x 256, sized for hidden 2048), so it is larger than its name. The Gated DeltaNet paper's own
    0.4B runs use NVlabs/GatedDeltaNet's lit_gpt models, a different layout."""
    return ModelConfig(
        d_model=1024,
        layers=["gated_deltanet"] * 21,
        d_intermediate=_fla_intermediate_size(1024),
        vocab_size=32000,
        tie_embeddings=False,
        norm_eps=1e-6,
        gated_deltanet=GatedDeltaNetConfig(num_heads=6, head_dim=256, expand_v=2.0, norm_eps=1e-6),
    )


@register_model("deltanet-swa-hybrid-tiny", family="deltanet-hybrid")
def deltanet_swa_hybrid_tiny() -> ModelConfig:
    """The DeltaNet paper's first hybrid at d_model 64: sliding-window attention every other layer (DeltaNet,
    SWA, DeltaNet, SWA; each SWA token sees itself and the 8 tokens before it), with gated MLPs."""
    return ModelConfig(
        d_model=64,
        layers=["deltanet", "attention"] * 2,
        d_intermediate=128,
        attention=AttentionConfig(num_heads=4, kind="sliding_window", window=8),
        deltanet=_tiny_deltanet(),
    )


@register_model("deltanet-global-hybrid-tiny", family="deltanet-hybrid")
def deltanet_global_hybrid_tiny() -> ModelConfig:
    """The DeltaNet paper's second hybrid at d_model 64: two global (full causal) attention layers among six, at
    the 2nd and the (N/2 + 1)-th layer (as in H3, Fu et al., 2023), the others DeltaNet, with gated MLPs."""
    return ModelConfig(
        d_model=64,
        layers=["deltanet", "attention", "deltanet", "attention", "deltanet", "deltanet"],
        d_intermediate=128,
        attention=_tiny_attention(),
        deltanet=_tiny_deltanet(),
    )


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
        mlstm=MLSTMConfig(num_heads=4, chunk_size=16),
        slstm=SLSTMConfig(num_heads=4),
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
        vocab_size=50257,
        tie_embeddings=False,
        mlstm=MLSTMConfig(num_heads=4, proj_factor=2.0, conv1d_kernel_size=4, qkv_proj_blocksize=4),
        slstm=SLSTMConfig(num_heads=4, conv1d_kernel_size=4, ffn_proj_factor=1.3),
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
