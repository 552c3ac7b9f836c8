"""Registered model presets. `*-tiny` presets are for tests and the CPU quick start (< 1M parameters)."""

from __future__ import annotations

from zoo.models.attention import AttentionConfig
from zoo.models.based import BasedConfig
from zoo.models.config import ModelConfig
from zoo.models.deltanet import DeltaNetConfig, GatedDeltaNetConfig
from zoo.models.mamba import Mamba2Config, MambaConfig
from zoo.models.mlp_layer import MLPLayerConfig
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


def _small(layers: list[str], attention: AttentionConfig, **fields) -> ModelConfig:
    """The CPU-trainable size class shared by the attention and BASED families, as the other families' small
    presets: d_model 512, SwiGLU MLPs of 1408 (about 8/3 d), byte vocabulary, tied embeddings: 25-30M parameters."""
    return ModelConfig(d_model=512, layers=layers, d_intermediate=1408, attention=attention, **fields)


@register_model("attention-small", family="attention")
def attention_small() -> ModelConfig:
    """Eight full causal attention layers (8 heads of 64), d_model 512: the baseline of the small size class."""
    return _small(["attention"] * 8, AttentionConfig(num_heads=8))


@register_model("swa-small", family="attention")
def swa_small() -> ModelConfig:
    """Eight sliding-window attention layers (each token sees the 256 before it), d_model 512."""
    return _small(["attention"] * 8, AttentionConfig(num_heads=8, kind="sliding_window", window=256))


@register_model("longformer-small", family="attention")
def longformer_small() -> ModelConfig:
    """Eight causal Longformer layers: a 256-token window plus global token 0, d_model 512."""
    return _small(["attention"] * 8, AttentionConfig(num_heads=8, kind="longformer", window=256, global_tokens=[0]))


@register_model("bigbird-small", family="attention")
def bigbird_small() -> ModelConfig:
    """Eight causal BigBird layers (64-token blocks: 3 window blocks, 1 global block, 3 random blocks), d_model 512."""
    attention = AttentionConfig(num_heads=8, kind="bigbird", block_size=64, window_blocks=3, global_blocks=1,
                                random_blocks=3)
    return _small(["attention"] * 8, attention)


@register_model("based-small", family="based")
def based_small() -> ModelConfig:
    """BASED's mix in 8 layers at d_model 512, as the 360M recipe's groups of five cut short: linear attention
    (feature_dim 16, 8 heads) at layers 1 and 5, 128-token sliding-window attention at 2 and 6, gated short convs
    elsewhere."""
    layers = ["based_conv"] * 8
    for i in (1, 5):
        layers[i] = "based"
    for i in (2, 6):
        layers[i] = "attention"
    return _small(layers, AttentionConfig(num_heads=8, kind="sliding_window", window=128),
                  based=BasedConfig(feature_dim=16, num_heads=8))


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


@register_model("gated-deltanet-small", family="gated_deltanet")
def gated_deltanet_small() -> ModelConfig:
    """Eight Gated DeltaNet layers at d_model 512 (4 query/key heads of 128, values of 128, Mamba-2 decay, output
    gate) with fla-sized gated MLPs, byte vocabulary: the gated counterpart of deltanet-small."""
    return ModelConfig(
        d_model=512,
        layers=["gated_deltanet"] * 8,
        d_intermediate=_fla_intermediate_size(512),
        gated_deltanet=GatedDeltaNetConfig(num_heads=4, head_dim=128, expand_v=1),
    )


@register_model("deltanet-swa-hybrid-small", family="deltanet-hybrid")
def deltanet_swa_hybrid_small() -> ModelConfig:
    """deltanet-small with sliding-window attention (256 earlier tokens, 8 heads) in every other layer."""
    config = deltanet_small()
    config.layers = ["deltanet", "attention"] * 4
    config.attention = AttentionConfig(num_heads=8, kind="sliding_window", window=256)
    return config


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


# ---- Mamba at published sizes (mamba_ssm's `MambaLMHeadModel` checkpoints) and the Mamba-2-Hybrid recipe ----

GPT_NEOX_VOCAB = 50277  # the state-spaces checkpoints' tokenizer (EleutherAI/gpt-neox-20b)


def padded_vocab(vocab_size: int, multiple: int) -> int:
    """`vocab_size` rounded up to a multiple of `multiple`, as mamba_ssm's `pad_vocab_size_multiple` does."""
    return -(-vocab_size // multiple) * multiple


def _mamba_ssm_lm(d_model: int, n_layer: int, layer: str, pad_multiple: int, **sections) -> ModelConfig:
    """mamba_ssm's `MambaLMHeadModel` layout: no MLP (d_intermediate 0), RMSNorm with eps 1e-5 (MixerModel's
    norm_epsilon), tied embeddings, the GPT-NeoX vocabulary padded to `pad_multiple`."""
    return ModelConfig(
        d_model=d_model,
        layers=[layer] * n_layer,
        d_intermediate=0,
        vocab_size=padded_vocab(GPT_NEOX_VOCAB, pad_multiple),
        tie_embeddings=True,
        norm_eps=1e-5,
        **sections,
    )


@register_model("mamba-130m", family="mamba")
def mamba_130m() -> ModelConfig:
    """state-spaces/mamba-130m (Gu & Dao, 2023), its config.json: d_model 768, 24 Mamba-1 layers with mamba_ssm's
    defaults (d_state 16, d_conv 4, expand 2, dt_rank ceil(768 / 16) = 48), no MLP, RMSNorm, tied embeddings over
    50277 tokens padded to a multiple of 8: 50280. Parameter count 129,135,360, equal to mamba_ssm's
    `MambaLMHeadModel` built from that config (tests/peers/test_mamba_presets.py checks it); `zoo.convert`
    loads the published weights."""
    return _mamba_ssm_lm(768, 24, "mamba", 8, mamba=MambaConfig())


@register_model("mamba-370m", family="mamba")
def mamba_370m() -> ModelConfig:
    """state-spaces/mamba-370m: as mamba-130m with d_model 1024 and 48 layers (dt_rank 64). Parameter count
    371,516,416, equal to mamba_ssm's `MambaLMHeadModel` built from that config."""
    return _mamba_ssm_lm(1024, 48, "mamba", 8, mamba=MambaConfig())


def _published_mamba2() -> Mamba2Config:
    """mamba_ssm's `Mamba2` defaults, which the state-spaces/mamba2-* configs keep (`ssm_cfg: {layer: Mamba2}`):
    d_state 128, d_conv 4, expand 2, headdim 64, ngroups 1, chunks of 256."""
    return Mamba2Config(d_state=128, d_conv=4, expand=2, headdim=64, ngroups=1, chunk_size=256)


@register_model("mamba2-130m", family="mamba2")
def mamba2_130m() -> ModelConfig:
    """state-spaces/mamba2-130m (Dao & Gu, 2024): d_model 768, 24 Mamba-2 layers (d_state 128, headdim 64: 24 heads,
    expand 2, ngroups 1), no MLP, RMSNorm, tied embeddings over 50277 tokens padded to a multiple of 16: 50288.
    Parameter count 128,989,632, equal to mamba_ssm's `MambaLMHeadModel` built from that config."""
    return _mamba_ssm_lm(768, 24, "mamba2", 16, mamba2=_published_mamba2())


@register_model("mamba2-370m", family="mamba2")
def mamba2_370m() -> ModelConfig:
    """state-spaces/mamba2-370m: as mamba2-130m with d_model 1024 and 48 layers (32 heads). Parameter count
    368,346,624, equal to mamba_ssm's `MambaLMHeadModel` built from that config."""
    return _mamba_ssm_lm(1024, 48, "mamba2", 16, mamba2=_published_mamba2())


@register_model("mamba-small", family="mamba")
def mamba_small() -> ModelConfig:
    """Twelve Mamba-1 layers at d_model 512 (d_state 16, expand 2), no MLP, byte vocabulary, tied embeddings:
    20,474,368 parameters, a CPU-trainable Mamba."""
    return ModelConfig(d_model=512, layers=["mamba"] * 12, mamba=MambaConfig())


@register_model("mamba2-small", family="mamba2")
def mamba2_small() -> ModelConfig:
    """Twelve Mamba-2 layers at d_model 512 (d_state 64, headdim 64: 16 heads, chunks of 64), no MLP, byte
    vocabulary, tied embeddings: 19,978,816 parameters, a CPU-trainable Mamba-2."""
    return ModelConfig(
        d_model=512, layers=["mamba2"] * 12, mamba2=Mamba2Config(d_state=64, headdim=64, chunk_size=64)
    )


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def hybrid_layers(
    num_layers: int, attention_ratio: float = 0.08, mlp_ratio: float = 0.5, mixer: str = "mamba2"
) -> list[str]:
    """The layer pattern of a Megatron-LM-style hybrid (NVIDIA's Mamba-2-Hybrid): `round(num_layers *
    attention_ratio)` attention layers, `round(num_layers * mlp_ratio)` standalone `mlp` layers, `mixer` layers
    for the rest, spread evenly:
    - the attention layers cut the others into equal runs, the k-th coming after `round_half_up(k * s)` of them,
      s = others / (attention layers + 1), so that the stack starts and ends with a run of Mamba/MLP layers;
    - within the others, the i-th MLP layer comes after `round_half_up(i * r)` mixer layers, r = mixers / MLPs,
      so that an MLP follows a mixer and the stack ends with an MLP.
    With the recipe's ratios (0.08, 0.5) and 48 layers this is Megatron-LM's pattern for its 800M-scale hybrid,
    `M-M-M--M-*M-M-M-M--*M-M-M-M-*M--M-M-M-*M-M--M-M-` (M the mixer, * attention, - MLP; Megatron-LM's
    examples/mamba/train.sh ratios, `--hybrid-override-pattern` in forks that spell it out)."""
    if num_layers < 1:
        raise ValueError(f"hybrid_layers: num_layers must be positive, got {num_layers}")
    if not (0 <= attention_ratio <= 1 and 0 <= mlp_ratio <= 1 and attention_ratio + mlp_ratio <= 1):
        raise ValueError(
            f"hybrid_layers: ratios must lie in [0, 1] and sum to at most 1, got {attention_ratio}, {mlp_ratio}"
        )
    attention = round(num_layers * attention_ratio)
    mlps = round(num_layers * mlp_ratio)
    others = num_layers - attention
    mixers = others - mlps
    if mixers < 0:
        raise ValueError(f"hybrid_layers: {num_layers} layers cannot hold {attention} attention and {mlps} MLP layers")
    # how many other layers precede each attention layer (non-decreasing), and the positions of the MLP layers among
    # the others (increasing)
    attention_after = [_round_half_up(k * others, attention + 1) for k in range(1, attention + 1)]
    mlp_positions = {_round_half_up(i * mixers, mlps) + i - 1 for i in range(1, mlps + 1)}
    pattern: list[str] = []
    placed = 0
    for position in range(others + 1):
        while placed < attention and attention_after[placed] == position:
            pattern.append("attention")
            placed += 1
        if position < others:
            pattern.append("mlp" if position in mlp_positions else mixer)
    return pattern


def _hybrid(d_model: int, layers: list[str], attention: AttentionConfig, mamba2: Mamba2Config) -> ModelConfig:
    """The Mamba-2-Hybrid recipe's layer settings: every layer `x + f(norm(x))` with RMSNorm (eps 1e-5), so no MLP
    inside blocks (d_intermediate 0) but standalone `mlp` layers (GELU, 4 * d_model, no bias: Megatron-LM's default
    MLP); attention with grouped-query heads and no position embedding (`--position-embedding-type none`) and no
    biases (`--disable-bias-linear`); untied embeddings (`--untie-embeddings-and-output-weights`)."""
    return ModelConfig(
        d_model=d_model,
        layers=layers,
        d_intermediate=0,
        tie_embeddings=False,
        norm_eps=1e-5,
        attention=attention,
        mamba2=mamba2,
        mlp=MLPLayerConfig(d_intermediate=4 * d_model, gated=False, activation="gelu"),
    )


@register_model("mamba2-hybrid-small", family="mamba2-hybrid")
def mamba2_hybrid_small() -> ModelConfig:
    """NVIDIA's Mamba-2-Hybrid recipe (Waleffe et al., 2024, "An Empirical Study of Mamba-based Language Models":
    about 8% attention layers, 50% MLP layers, the rest Mamba-2, attention spread evenly) at the depth of its
    800M-scale model: 48 layers, `hybrid_layers(48)` = 20 Mamba-2, 4 attention (8.3%), 24 MLP layers, at
    d_model 256 (a quarter of that model's width): attention 4 heads of 64 sharing 2 key/value heads (the 800M
    model's 16 heads over 8 groups, scaled), no position embedding; Mamba-2 with d_state 128, headdim 64 (8 heads),
    ngroups 1; MLP layers GELU 1024; byte vocabulary, untied embeddings. 22,816,480 parameters, CPU-trainable."""
    return _hybrid(
        256,
        hybrid_layers(48),
        AttentionConfig(num_heads=4, num_kv_heads=2, position_embedding="none"),
        Mamba2Config(d_state=128, headdim=64, chunk_size=64),
    )


@register_model("mamba2-hybrid-tiny", family="mamba2-hybrid")
def mamba2_hybrid_tiny() -> ModelConfig:
    """The Mamba-2-Hybrid recipe at 12 layers and d_model 64: `hybrid_layers(12)` = 5 Mamba-2, 1 attention (8.3%,
    the 7th layer), 6 MLP layers (GELU, 256); attention 4 heads of 16 over 2 key/value heads, no position
    embedding; byte vocabulary, untied embeddings: 382,936 parameters."""
    return _hybrid(
        64,
        hybrid_layers(12),
        AttentionConfig(num_heads=4, num_kv_heads=2, position_embedding="none"),
        _tiny_mamba2(),
    )
