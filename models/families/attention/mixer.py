"""Softmax attention mixers on the shared `zoo.kernels.attention` op: one layer class for full causal attention
(the baseline), sliding-window attention, Longformer (window + global tokens) and BigBird (window, global and
seeded random blocks), chosen by `AttentionConfig.kind`. Rotary embeddings, grouped-query heads, packed
sequences (varlen) and a KV cache for decoding; under a pure sliding window the cache rolls, so decoding memory
is constant in the generated length."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn
from zoo.kernels.attention import (
    BigBirdLayout,
    KVCache,
    MaskSpec,
    attention,
    attention_step,
)
from zoo.models.config import ModelConfigError
from zoo.models.layers.rotary import RotaryEmbedding
from zoo.models.registry import register_mixer

KINDS = ("full", "sliding_window", "longformer", "bigbird")
BACKENDS = ("auto", "torch", "dense", "triton", "reference")
POSITION_EMBEDDINGS = ("rope", "none")

# The decoding state of an attention layer: the kernel's KV cache (rotated keys and values `[B, S, H_kv, D]` and the
# absolute position of its first key). Kept under this name for the models' public API.
AttentionState = KVCache


@dataclass
class AttentionConfig:
    """Hyperparameters of an attention layer.

    kind: `full` (every earlier key; every key when not causal), `sliding_window` (the `window` keys before each
    query and the query itself; as many after it too when not causal: FlashAttention's `window_size=(window,
    window)`), `longformer` (the sliding window plus `global_tokens`: positions within each sequence that see every
    key and that every query sees) or `bigbird` (blocks of `block_size` tokens; each query block sees the
    `window_blocks` blocks centred on it, the first `global_blocks` blocks, which also see every block, and
    `random_blocks` more blocks drawn from a generator seeded by `seed` and the block row).
    causal: hide keys after the query (language models); False makes a bidirectional (encoder) layer, which cannot
    decode step by step.
    """

    num_heads: int = 4
    num_kv_heads: int = 0  # 0: as many as num_heads (no grouped-query attention)
    head_dim: int = 0  # 0: d_model // num_heads
    rope_base: float = 10000.0
    position_embedding: str = "rope"  # rope | none (no position embedding: mamba_ssm's MHA default, Megatron's NoPE)
    rotary_dim: int = 0  # rope: leading channels of each head that rotate; 0 = all of head_dim
    qkv_bias: bool = False
    out_bias: bool = False
    kind: str = "full"  # full | sliding_window | longformer | bigbird
    causal: bool = True
    window: int = 0  # sliding_window, longformer: keys seen on each side of the query (before it only, if causal)
    global_tokens: list[int] = field(default_factory=list)  # longformer: positions (within each sequence)
    block_size: int = 64  # bigbird
    window_blocks: int = 3  # bigbird: odd, the query's block and as many on each side
    global_blocks: int = 1  # bigbird
    random_blocks: int = 2  # bigbird
    seed: int = 0  # bigbird: seeds the random blocks of each block row
    backend: str = "auto"  # the attention kernel's form: auto | torch | dense | triton | reference


def _bad(key: str, message: str) -> ModelConfigError:
    return ModelConfigError(f"mixers.attention.{key}", message)


def mask_spec(config: AttentionConfig) -> MaskSpec:
    """The kernel's MaskSpec for `config`; a ValueError names the config key at fault."""
    if config.kind not in KINDS:
        raise _bad("kind", f"'{config.kind}' is not an attention kind; choose one of: {', '.join(KINDS)}")
    if config.backend not in BACKENDS:
        raise _bad("backend", f"'{config.backend}' is not a backend; choose one of: {', '.join(BACKENDS)}")
    if not isinstance(config.causal, bool):
        raise _bad("causal", f"must be a bool, got {config.causal!r}")
    windowed = config.kind in ("sliding_window", "longformer")
    if windowed and (isinstance(config.window, bool) or not isinstance(config.window, int) or config.window < 1):
        raise _bad("window", f"kind '{config.kind}' needs a window of at least 1 key, got {config.window!r}")
    if not windowed and config.window:
        raise _bad("window", f"is used by kinds sliding_window and longformer only, not '{config.kind}' (set it to 0)")
    tokens = list(config.global_tokens)
    if config.kind != "longformer" and tokens:
        raise _bad("global_tokens", f"are used by kind longformer only, not '{config.kind}' (leave the list empty)")
    if config.kind == "longformer":
        if not tokens:
            raise _bad("global_tokens", "kind longformer needs at least one global token position, e.g. [0]")
        if any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in tokens):
            raise _bad("global_tokens", f"must be non-negative positions, got {tokens!r}")
    right = 0 if config.causal else config.window
    if config.kind == "full":
        return MaskSpec(causal=config.causal)
    if config.kind == "sliding_window":
        return MaskSpec(causal=config.causal, window=(config.window, right))
    if config.kind == "longformer":
        return MaskSpec(causal=config.causal, window=(config.window, right), global_tokens=tuple(tokens))
    try:
        layout = BigBirdLayout(
            block_size=config.block_size,
            window_blocks=config.window_blocks,
            global_blocks=config.global_blocks,
            random_blocks=config.random_blocks,
            seed=config.seed,
        )
    except ValueError as error:  # "BigBirdLayout: <field> must ..." -> the config key
        detail = str(error).removeprefix("BigBirdLayout: ")
        raise _bad(detail.split(" ", 1)[0], detail) from None
    return MaskSpec(causal=config.causal, layout=layout)


def _varlen_positions(cu_seqlens: torch.Tensor, total: int) -> torch.Tensor:
    """Positions `[T]` restarting at 0 at each packed sequence."""
    index = torch.arange(total, device=cu_seqlens.device)
    sequence = torch.searchsorted(cu_seqlens[1:], index, right=True)
    return index - cu_seqlens[sequence]


@register_mixer("attention", config=AttentionConfig)
class Attention(nn.Module):
    """Multi-head softmax attention under the mask `config.kind` describes: `[B, T, d_model] -> [B, T, d_model]`.

    Weights: `in_proj` (queries, keys, values: `d_model -> (H + 2 H_kv) * head_dim`) and `out_proj`. Keys are cached
    after the rotary embedding, which is applied at absolute positions (also once a sliding-window cache rolls).
    In a bidirectional model the layer drops its causal mask (`bidirectional_config`).
    """

    @staticmethod
    def papers_for(config: AttentionConfig) -> tuple[str, ...]:
        """The papers of this attention's mask (zoo.models.citations)."""
        sparse = {"sliding_window": "beltagy2020longformer", "longformer": "beltagy2020longformer",
                  "bigbird": "zaheer2020bigbird"}
        return ("vaswani2017attention", *([sparse[config.kind]] if config.kind in sparse else []))

    @classmethod
    def bidirectional_config(cls, config: AttentionConfig) -> AttentionConfig:
        """The settings of this layer in a bidirectional model: every key visible, within the mask's window."""
        return dataclasses.replace(config, causal=False)

    def __init__(self, d_model: int, config: AttentionConfig):
        super().__init__()
        for key, least in (("num_heads", 1), ("num_kv_heads", 0), ("head_dim", 0)):
            value = getattr(config, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                zero = " (0: the default)" if least == 0 else ""
                raise _bad(key, f"must be an int >= {least}{zero}, got {value!r}")
        self.num_heads = config.num_heads
        self.num_kv_heads = config.num_kv_heads or config.num_heads
        if not config.head_dim and d_model % config.num_heads:
            raise _bad("num_heads", f"{config.num_heads} heads do not divide d_model {d_model}: choose a divisor of "
                                    f"{d_model} as num_heads, or set mixers.attention.head_dim")
        self.head_dim = config.head_dim or d_model // config.num_heads
        if config.rope_base <= 0:
            raise _bad("rope_base", f"must be positive, got {config.rope_base}")
        if self.num_heads % self.num_kv_heads:
            raise _bad("num_heads", f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.num_kv_heads})")
        self.mask = mask_spec(config)
        self.causal = self.mask.causal
        self.backend = config.backend
        q_dim, kv_dim = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        self.in_proj = nn.Linear(d_model, q_dim + 2 * kv_dim, bias=config.qkv_bias)
        self.out_proj = nn.Linear(q_dim, d_model, bias=config.out_bias)
        if config.position_embedding not in POSITION_EMBEDDINGS:
            raise _bad(
                "position_embedding",
                f"'{config.position_embedding}' is not a position embedding; choose one of: "
                f"{', '.join(POSITION_EMBEDDINGS)}",
            )
        if config.position_embedding == "rope":
            try:
                self.rotary = RotaryEmbedding(self.head_dim, config.rope_base, config.rotary_dim)
            except ValueError as error:
                raise _bad("rotary_dim", str(error)) from None
        else:
            self.rotary = None

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x `[..., d_model]` -> q `[..., H, D]`, k and v `[..., H_kv, D]`."""
        q_dim, kv_dim = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        q, k, v = self.in_proj(x).split([q_dim, kv_dim, kv_dim], dim=-1)
        lead = x.shape[:-1]
        return (
            q.view(*lead, self.num_heads, self.head_dim),
            k.view(*lead, self.num_kv_heads, self.head_dim),
            v.view(*lead, self.num_kv_heads, self.head_dim),
        )

    def forward(
        self,
        x: torch.Tensor,
        state: KVCache | None = None,
        cu_seqlens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, KVCache | None]:
        """x: `[B, T, d_model]`; state: the KV cache of earlier tokens (queries then sit after them; causal layers
        only); cu_seqlens: `[N + 1]` boundaries of packed sequences (B == 1, no cache; positions, global tokens and
        BigBird blocks restart in each sequence).
        Returns y `[B, T, d_model]` and the cache extended by these T tokens (rolled to the last window + 1 keys
        under a causal sliding window; None for packed input and for bidirectional layers)."""
        batch, length, _ = x.shape
        q, k, v = self._qkv(x)
        if state is not None and not self.mask.causal:
            raise ValueError("attention: a bidirectional layer (attention.causal = False) takes no KV cache")
        if cu_seqlens is not None:
            if state is not None:
                raise ValueError("attention: a KV cache cannot be combined with packed sequences (cu_seqlens)")
            positions = _varlen_positions(cu_seqlens, length)
        else:
            offset = state.end if state is not None else 0
            positions = torch.arange(offset, offset + length, device=x.device)
        if self.rotary is not None:
            q, k = self.rotary(q, positions), self.rotary(k, positions)
        keep_cache = cu_seqlens is None and self.mask.causal
        y, cache = attention(
            q, k, v, mask=self.mask, initial_state=state, output_final_state=keep_cache, cu_seqlens=cu_seqlens,
            backend=self.backend,
        )
        return self.out_proj(y.reshape(batch, length, -1)), cache

    def step(self, x: torch.Tensor, state: KVCache | None) -> tuple[torch.Tensor, KVCache]:
        """One decoding step: x `[B, d_model]` -> y `[B, d_model]` and the cache with this token appended (constant
        size under a sliding window). The token sits at absolute position `state.end` (0 without a state)."""
        if not self.mask.causal:
            raise ValueError("attention: a bidirectional layer (attention.causal = False) cannot decode step by step")
        q, k, v = self._qkv(x)  # [B, H, D], [B, H_kv, D]
        if self.rotary is not None:
            position = torch.tensor([state.end if state is not None else 0], device=x.device)
            q = self.rotary(q[:, None], position)[:, 0]
            k = self.rotary(k[:, None], position)[:, 0]
        y, state = attention_step(q, k, v, state, mask=self.mask)
        return self.out_proj(y.reshape(x.shape[0], -1)), state
