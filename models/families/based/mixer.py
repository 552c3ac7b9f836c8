"""BASED (Arora et al. 2024, "Simple linear attention language models balance the recall-throughput tradeoff"):
the Taylor linear attention layer and the gated short-convolution layer. BASED's third layer type, sliding-window
softmax attention, is `zoo.models.families.attention.Attention` with `kind: sliding_window` and a small window.

Taylor linear attention (`BasedLinearAttention`, layer name `based`), as flash-linear-attention's
`fla.layers.based.BasedLinearAttention` and HazyResearch/based's `LinearAttention`:

    q, k = x W_q, x W_k  (feature_dim per head),  v = x W_v  (head_dim per head)
    phi(x) = [1, x / d^(1/4), x_i x_j / sqrt(d) (i < j), x_i^2 / sqrt(2 d)],  d = feature_dim,
    so that phi(q) . phi(k) = 1 + s + s^2 / 2 with s = q . k / sqrt(d) (second-order Taylor expansion of exp(s));
    y_t = sum_{s <= t} (phi(q_t) . phi(k_s)) v_s / (sum_{s <= t} phi(q_t) . phi(k_s) + eps),   out = y W_o.

phi keeps the 1 + d + d(d + 1) / 2 distinct monomials (153 for d = 16), as fla does; the BASED repository's
feature map lists all d^2 ordered products (273 for d = 16), which gives the same dot products.

It runs on the shared `zoo.kernels.scan` op with no decay (log-decay g = 0) and scale 1 (phi carries the
1 / sqrt(d)). The normaliser rides along as an extra value column: the scan gets v' = [v, 1], so its output's
last column is phi(q_t) . sum_{s <= t} phi(k_s), the denominator, and one scan (one state [H, F, head_dim + 1])
serves both; decoding is `scan_step` on the same state, O(1) in the sequence length.

Gated short convolution (`BasedConv`, layer name `based_conv`): BASED's `BaseConv` (HazyResearch/based,
`based/models/mixers/convolution.py`, the mixer of most layers of the released BASED models):

    [u, g] = x W_in + b_in  (each expand * d_model / 2 wide),   y = (silu(conv(u)) * g) W_out + b_out,

with `conv` a causal depthwise convolution of width `conv_kernel` without bias (upstream's `ShortConvolution`
default; its CUDA path would add one), on the shared `short_conv` op with a rolling state for decoding.
fla has no counterpart of this layer (its `ShortConvolution` is the conv alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from zoo.kernels import scan, scan_step
from zoo.models.config import ModelConfigError
from zoo.models.layers.conv import ShortConv
from zoo.models.registry import register_mixer


@dataclass
class BasedConfig:
    """Hyperparameters of the BASED layers: Taylor linear attention (`based`) and the gated conv (`based_conv`)."""

    feature_dim: int = 16  # query/key size per head before the Taylor feature map
    num_heads: int = 4
    num_kv_heads: int = 0  # 0: as many as num_heads (fla requires equal counts; here H % H_kv == 0 suffices)
    head_dim: int = 0  # value size per head; 0: d_model // num_heads
    eps: float = 1e-12  # added to the normaliser (BASED and fla's reference form; fla's parallel kernel uses 1e-6)
    chunk_size: int = 64  # the scan's chunk length
    conv_expand: int = 4  # based_conv: in_proj widens d_model to conv_expand * d_model, halved into conv and gate
    conv_kernel: int = 3  # based_conv: width of the causal depthwise convolution
    conv_bias: bool = False  # based_conv: bias of the depthwise convolution
    proj_bias: bool = True  # based_conv: biases of in_proj and out_proj


def _bad(key: str, message: str) -> ModelConfigError:
    return ModelConfigError(f"mixers.based.{key}", message)


def _positive(config: BasedConfig, *keys: str) -> None:
    for key in keys:
        value = getattr(config, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _bad(key, f"must be a positive int, got {value!r}")


class TaylorFeatureMap(nn.Module):
    """phi: `[..., d] -> [..., 1 + d + d (d + 1) / 2]` with phi(q) . phi(k) = 1 + s + s^2 / 2, s = q . k / sqrt(d).

    Features in fla's order: 1, x / d^(1/4), x_i^2 / sqrt(2 d), x_i x_j / sqrt(d) for i < j (row-major)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        # the squares x_i^2, then the products x_i x_j (i < j, row-major): fla's order, so that states compare
        # entry by entry. x_i x_j appears twice in (q . k)^2 for i < j and once for i == j: scales 1/sqrt(d)
        # and 1/sqrt(2 d).
        rows, cols = torch.triu_indices(dim, dim, offset=1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def init_buffers(self) -> None:
        """Compute the index buffers again (not saved: see `RotaryEmbedding.init_buffers`)."""
        device = "cpu" if self.rows.is_meta else self.rows.device
        self.rows, self.cols = torch.triu_indices(self.dim, self.dim, offset=1, device=device)

    @property
    def out_dim(self) -> int:
        return 1 + self.dim + self.dim * (self.dim + 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squares = x * x / math.sqrt(2 * self.dim)
        products = x[..., self.rows] * x[..., self.cols] / math.sqrt(self.dim)
        return torch.cat((torch.ones_like(x[..., :1]), x * self.dim**-0.25, squares, products), dim=-1)


@register_mixer("based", config=BasedConfig)
class BasedLinearAttention(nn.Module):
    """BASED's Taylor linear attention: `[B, T, d_model] -> [B, T, d_model]` (see the module docstring).

    Weights `q_proj`, `k_proj` (`d_model -> heads * feature_dim`), `v_proj` (`d_model -> heads * head_dim`) and
    `out_proj`, none with a bias (fla's `q_proj, k_proj, v_proj, o_proj`). The state is the scan state
    `[N, H, F, head_dim + 1]` (F the feature size; the last column accumulates phi(k) for the normaliser).
    """

    papers = ("arora2024simple",)  # zoo.models.citations

    def __init__(self, d_model: int, config: BasedConfig):
        super().__init__()
        _positive(config, "feature_dim", "num_heads", "chunk_size")
        self.num_heads = config.num_heads
        self.num_kv_heads = config.num_kv_heads or config.num_heads
        self.feature_dim = config.feature_dim
        self.head_dim = config.head_dim or d_model // config.num_heads
        if self.num_kv_heads < 1 or self.num_heads % self.num_kv_heads:
            raise _bad(
                "num_kv_heads", f"num_heads ({self.num_heads}) must be a multiple of it, got {self.num_kv_heads}"
            )
        if self.head_dim < 1:
            raise _bad("head_dim", f"d_model {d_model} // num_heads {self.num_heads} is 0; set head_dim")
        self.eps = config.eps
        self.chunk_size = config.chunk_size
        self.feature_map = TaylorFeatureMap(self.feature_dim)
        self.q_proj = nn.Linear(d_model, self.num_heads * self.feature_dim, bias=False)
        self.k_proj = nn.Linear(d_model, self.num_kv_heads * self.feature_dim, bias=False)
        self.v_proj = nn.Linear(d_model, self.num_kv_heads * self.head_dim, bias=False)
        self.out_proj = nn.Linear(self.num_heads * self.head_dim, d_model, bias=False)

    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """x `[..., d_model]` -> phi(q), phi(k) `[..., H, F]`, v' = [v, 1] `[..., H, head_dim + 1]` and the
        log-decay g = 0 `[..., H]`."""
        lead = x.shape[:-1]
        q = self.q_proj(x).view(*lead, self.num_heads, self.feature_dim)
        k = self.k_proj(x).view(*lead, self.num_kv_heads, self.feature_dim)
        v = self.v_proj(x).view(*lead, self.num_kv_heads, self.head_dim)
        groups = self.num_heads // self.num_kv_heads
        if groups > 1:  # query head h reads key/value head h // groups
            k, v = k.repeat_interleave(groups, -2), v.repeat_interleave(groups, -2)
        v = torch.cat((v, torch.ones_like(v[..., :1])), dim=-1)
        # The normaliser column sums phi(q).phi(k) >= 1/2 per token: in float16 it overflows at long T, so the
        # features and the scan are in float32 at least (the state is float32 anyway).
        dtype = torch.promote_types(x.dtype, torch.float32)
        q, k, v = self.feature_map(q.to(dtype)), self.feature_map(k.to(dtype)), v.to(dtype)
        return q, k, v, q.new_zeros(q.shape[:-1])

    def _normalise(self, o: torch.Tensor) -> torch.Tensor:
        """o `[..., H, head_dim + 1]` (float32 or float64) -> numerator / (denominator + eps) flattened to
        `[..., H * head_dim]`, in the layer's dtype."""
        y = o[..., :-1] / (o[..., -1:] + self.eps)
        return y.flatten(-2).to(self.out_proj.weight.dtype)

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None, cu_seqlens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x `[B, T, d_model]`, state `[N, H, F, head_dim + 1]` (N = B, or the number of packed sequences) ->
        (y `[B, T, d_model]`, final state)."""
        q, k, v, g = self._features(x)
        o, state = scan(
            q, k, v, g, scale=1.0, initial_state=state, output_final_state=True, cu_seqlens=cu_seqlens,
            chunk_size=self.chunk_size,
        )
        return self.out_proj(self._normalise(o)), state

    def step(self, x: torch.Tensor, state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """x `[B, d_model]`, state `[B, H, F, head_dim + 1]` -> (y `[B, d_model]`, new state)."""
        q, k, v, g = self._features(x)
        o, state = scan_step(q, k, v, g, state, scale=1.0)
        return self.out_proj(self._normalise(o)), state


@register_mixer("based_conv", config=BasedConfig, section="based")
class BasedConv(nn.Module):
    """BASED's gated short convolution (`BaseConv`): `[B, T, d_model] -> [B, T, d_model]`.

    Weights `in_proj` (`d_model -> conv_expand * d_model`), `conv` (depthwise, `[D, conv_kernel]` with
    D = conv_expand * d_model / 2) and `out_proj` (`D -> d_model`). The state is the conv's last inputs
    `[N, D, conv_kernel - 1]`.
    """

    papers = ("arora2024simple",)  # zoo.models.citations

    def __init__(self, d_model: int, config: BasedConfig):
        super().__init__()
        _positive(config, "conv_expand", "conv_kernel")
        if (config.conv_expand * d_model) % 2:
            raise _bad("conv_expand", f"conv_expand * d_model must be even (halved into conv and gate), got "
                       f"{config.conv_expand} * {d_model}")
        self.inner = config.conv_expand * d_model // 2
        self.in_proj = nn.Linear(d_model, 2 * self.inner, bias=config.proj_bias)
        self.conv = ShortConv(self.inner, config.conv_kernel, bias=config.conv_bias, activation="silu")
        self.out_proj = nn.Linear(self.inner, d_model, bias=config.proj_bias)

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None, cu_seqlens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x `[B, T, d_model]`, state `[N, D, conv_kernel - 1]` -> (y `[B, T, d_model]`, final state)."""
        u, gate = self.in_proj(x).split(self.inner, dim=-1)
        u, state = self.conv(u, state, cu_seqlens)
        return self.out_proj(u * gate), state

    def step(self, x: torch.Tensor, state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """x `[B, d_model]`, state `[B, D, conv_kernel - 1]` -> (y `[B, d_model]`, new state)."""
        u, gate = self.in_proj(x).split(self.inner, dim=-1)
        u, state = self.conv.step(u, state)
        return self.out_proj(u * gate), state
