"""DeltaNet and Gated DeltaNet mixers on the delta rule kernel, laid out as flash-linear-attention's
`fla.layers.DeltaNet` and `fla.layers.GatedDeltaNet` so that their weights map by name.

Both layers project the input to queries, keys and values (`q_proj`, `k_proj`, `v_proj`), run a causal
depthwise short convolution with SiLU over each (`q_conv1d`, `k_conv1d`, `v_conv1d`), L2-normalise queries
and keys per head, and feed the delta rule

    S_t = a_t (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T,    o_t = S_t^T (q_t / sqrt(K))

with the writing strength `b_t = sigmoid(b_proj(x_t))` per head. DeltaNet has no decay (`a_t = 1`); Gated
DeltaNet decays as Mamba-2 does, `a_t = exp(g_t)` with `g_t = -exp(A_log) * softplus(a_proj(x_t) + dt_bias)`.
Each head's output is RMS-normalised (`o_norm`, one `[V]` weight shared by the heads), gated by
`act(g_proj(x_t))` when the layer has an output gate, and projected back by `o_proj`.

Weights from fla: the same names and shapes, except the convolutions, whose `nn.Conv1d` weights `[D, 1, W]`
are `[D, W]` here (`zoo.models.families.deltanet.convert.convert_fla_state_dict`). Decoding states differ in layout only: fla's conv caches hold
the last W inputs `[B, D, W]`, ours the last W - 1 (`[B, D, W - 1]`, fla's `[..., 1:]`); fla's GatedDeltaNet
stores its recurrent state value-first `[B, H, V, K]`, ours is `[B, H, K, V]` for both layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from zoo.kernels import delta_rule, delta_rule_step
from zoo.models.config import ModelConfigError
from zoo.models.layers.conv import ShortConv
from zoo.models.layers.dt_init import inverse_softplus_dt
from zoo.models.layers.norm import GatedRMSNorm, RMSNorm
from zoo.models.registry import register_mixer

QK_ACTIVATIONS = ("silu", "relu", "elu", "identity")
QK_NORMS = ("l2", "sum")
GATE_ACTIVATIONS = ("swish", "silu", "sigmoid")


@dataclass
class DeltaNetConfig:
    """Hyperparameters of a DeltaNet layer, named as the arguments of fla's `DeltaNet` layer.

    key_dim = d_model * expand_k and value_dim = d_model * expand_v are split over `num_heads` heads.
    qk_activation: applied to queries and keys (SiLU inside the short conv, as fla); qk_norm: "l2" (unit
    vectors per head) or "sum" (L1); use_beta False writes with b_t = 1; allow_neg_eigval doubles beta
    (b_t in (0, 2)); use_gate adds the output gate `g_proj` (norm(o) * silu(g)). chunk_size: the kernel's.
    """

    num_heads: int = 4
    expand_k: float = 1.0
    expand_v: float = 1.0
    use_beta: bool = True
    use_gate: bool = False
    use_short_conv: bool = True
    conv_size: int = 4
    conv_bias: bool = False
    allow_neg_eigval: bool = False
    qk_activation: str = "silu"
    qk_norm: str = "l2"
    norm_eps: float = 1e-5
    chunk_size: int = 64


@dataclass
class GatedDeltaNetConfig:
    """Hyperparameters of a Gated DeltaNet layer, named as the arguments of fla's `GatedDeltaNet` layer.

    Queries and keys have `num_heads` heads of `head_dim`; values `num_v_heads` heads (0: num_heads; more
    gives grouped value attention, value head h reading query/key head h // (num_v_heads / num_heads)) of
    head_dim * expand_v. use_gate: output gate `g_proj` (norm(o) * act(g), act by output_gate_activation,
    "swish" = "silu" or "sigmoid"). A_init_range, dt_*: the initialisation of A_log and dt_bias (fla's:
    A uniform in [0, 16], softplus(dt_bias) log-uniform in [dt_min, dt_max]).
    """

    num_heads: int = 6
    head_dim: int = 256
    expand_v: float = 2.0
    num_v_heads: int = 0
    use_gate: bool = True
    use_short_conv: bool = True
    conv_size: int = 4
    conv_bias: bool = False
    allow_neg_eigval: bool = False
    output_gate_activation: str = "swish"
    norm_eps: float = 1e-5
    A_init_range: list[float] = field(default_factory=lambda: [0.0, 16.0])
    dt_min: float = 0.001
    dt_max: float = 0.1
    dt_init_floor: float = 1e-4
    chunk_size: int = 64


@dataclass
class DeltaNetState:
    """Decoding state of a DeltaNet or Gated DeltaNet layer: the short convs' last W - 1 inputs, `conv_q`,
    `conv_k` `[B, key_dim, W - 1]` and `conv_v` `[B, value_dim, W - 1]` (None without short convs), and
    the delta rule's matrix state `recurrent` `[B, H, K, V]` (float32, or float64 for float64 inputs)."""

    conv_q: torch.Tensor | None
    conv_k: torch.Tensor | None
    conv_v: torch.Tensor | None
    recurrent: torch.Tensor


def _sum_normalize(x: torch.Tensor) -> torch.Tensor:
    """x / max(sum |x|, 1e-6) over the last axis (fla's `sum_norm`, `F.normalize(p=1)`)."""
    return x / x.abs().sum(-1, keepdim=True).clamp_min(1e-6)


def _activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "silu":
        return F.silu(x)
    if activation == "relu":
        return F.relu(x)
    if activation == "elu":
        return F.elu(x) + 1.0  # fla's elu_p1
    return x


def _bad(section: str, key: str, message: str) -> ModelConfigError:
    return ModelConfigError(f"mixers.{section}.{key}", message)


def _whole(section: str, key: str, what: str, value: float) -> int:
    """`value` as an int, or an error naming the config key when it is not a whole number."""
    if not math.isclose(value, round(value)):
        raise _bad(section, key, f"{what} must be a whole number, got {value}")
    return round(value)


class _DeltaRuleMixer(nn.Module):
    """What DeltaNet and Gated DeltaNet share: projections, short convs, output norm and gate, o_proj."""

    name = "deltanet"

    def _build(
        self,
        d_model: int,
        key_dim: int,
        value_dim: int,
        head_v_dim: int,
        *,
        use_short_conv: bool,
        conv_size: int,
        conv_bias: bool,
        qk_conv_activation: str | None,
        use_gate: bool,
        gate_activation: str,
        norm_eps: float,
        chunk_size: int,
    ) -> None:
        if use_short_conv and conv_size < 1:
            raise _bad(self.name, "conv_size", f"must be at least 1, got {conv_size}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise _bad(self.name, "chunk_size", f"must be a positive int, got {chunk_size!r}")
        self.key_dim, self.value_dim, self.head_v_dim = key_dim, value_dim, head_v_dim
        self.use_short_conv, self.use_gate, self.chunk_size = use_short_conv, use_gate, chunk_size
        self.q_proj = nn.Linear(d_model, key_dim, bias=False)
        self.k_proj = nn.Linear(d_model, key_dim, bias=False)
        self.v_proj = nn.Linear(d_model, value_dim, bias=False)
        if use_short_conv:
            self.q_conv1d = ShortConv(key_dim, conv_size, bias=conv_bias, activation=qk_conv_activation)
            self.k_conv1d = ShortConv(key_dim, conv_size, bias=conv_bias, activation=qk_conv_activation)
            self.v_conv1d = ShortConv(value_dim, conv_size, bias=conv_bias, activation="silu")
        if use_gate:
            self.g_proj = nn.Linear(d_model, value_dim, bias=False)
            activation = "sigmoid" if gate_activation == "sigmoid" else "silu"
            self.o_norm = GatedRMSNorm(
                head_v_dim, group_size=head_v_dim, eps=norm_eps, norm_before_gate=True, activation=activation
            )
        else:
            self.o_norm = RMSNorm(head_v_dim, eps=norm_eps)
        self.o_proj = nn.Linear(value_dim, d_model, bias=False)

    def _qkv(self, x: torch.Tensor, state: DeltaNetState | None, cu_seqlens: torch.Tensor | None):
        """x `[B, T, d]` -> q, k `[B, T, key_dim]`, v `[B, T, value_dim]` after the convs, and the conv states."""
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if not self.use_short_conv:
            return (*self._no_conv_activation(q, k, v), (None, None, None))
        q, conv_q = self.q_conv1d(q, None if state is None else state.conv_q, cu_seqlens)
        k, conv_k = self.k_conv1d(k, None if state is None else state.conv_k, cu_seqlens)
        v, conv_v = self.v_conv1d(v, None if state is None else state.conv_v, cu_seqlens)
        return q, k, v, (conv_q, conv_k, conv_v)

    def _qkv_step(self, x: torch.Tensor, state: DeltaNetState | None):
        """x `[B, d]` -> q, k `[B, key_dim]`, v `[B, value_dim]` after the convs, and the new conv states."""
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if not self.use_short_conv:
            return (*self._no_conv_activation(q, k, v), (None, None, None))
        q, conv_q = self.q_conv1d.step(q, None if state is None else state.conv_q)
        k, conv_k = self.k_conv1d.step(k, None if state is None else state.conv_k)
        v, conv_v = self.v_conv1d.step(v, None if state is None else state.conv_v)
        return q, k, v, (conv_q, conv_k, conv_v)

    def _no_conv_activation(self, q, k, v):
        return F.silu(q), F.silu(k), F.silu(v)

    def _output(self, o: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """o `[..., H, V]` from the kernel, x `[..., d]` the layer input -> `[..., d]`."""
        if self.use_gate:
            o = self.o_norm(o, self.g_proj(x).unflatten(-1, (-1, self.head_v_dim)))
        else:
            o = self.o_norm(o)
        return self.o_proj(o.flatten(-2))


@register_mixer("deltanet", config=DeltaNetConfig)
class DeltaNet(_DeltaRuleMixer):
    """DeltaNet (Yang et al., 2024, "Parallelizing Linear Transformers with the Delta Rule over Sequence
    Length"), as fla's `DeltaNet` layer: `[B, T, d_model] -> [B, T, d_model]`."""

    papers = ("yang2024parallelizing",)  # zoo.models.citations

    name = "deltanet"

    def __init__(self, d_model: int, config: DeltaNetConfig):
        super().__init__()
        self.config = config
        if config.num_heads < 1:
            raise _bad("deltanet", "num_heads", f"must be positive, got {config.num_heads}")
        if config.qk_activation not in QK_ACTIVATIONS:
            raise _bad("deltanet", "qk_activation", f"must be one of {QK_ACTIVATIONS}, got {config.qk_activation!r}")
        if config.qk_norm not in QK_NORMS:
            raise _bad("deltanet", "qk_norm", f"must be one of {QK_NORMS}, got {config.qk_norm!r}")
        key_dim = _whole("deltanet", "expand_k", "d_model * expand_k", d_model * config.expand_k)
        value_dim = _whole("deltanet", "expand_v", "d_model * expand_v", d_model * config.expand_v)
        for key, dim in (("expand_k", key_dim), ("expand_v", value_dim)):
            if dim < 1 or dim % config.num_heads:
                raise _bad("deltanet", key, f"d_model * {key} ({dim}) must be a positive multiple of num_heads "
                           f"({config.num_heads})")
        self.num_heads = config.num_heads
        self.head_k_dim = key_dim // config.num_heads
        self._build(
            d_model, key_dim, value_dim, value_dim // config.num_heads,
            use_short_conv=config.use_short_conv, conv_size=config.conv_size, conv_bias=config.conv_bias,
            qk_conv_activation="silu" if config.qk_activation == "silu" else None,
            use_gate=config.use_gate, gate_activation="silu", norm_eps=config.norm_eps, chunk_size=config.chunk_size,
        )
        if config.use_beta:
            self.b_proj = nn.Linear(d_model, config.num_heads, bias=False)

    def _no_conv_activation(self, q, k, v):
        if self.config.qk_activation == "silu":
            q, k = F.silu(q), F.silu(k)
        return q, k, F.silu(v)

    def _heads(self, q, k, v, x):
        """Per-head q, k `[..., H, K]`, v `[..., H, V]` and beta `[..., H]` for the kernel."""
        cfg = self.config
        q, k = q.unflatten(-1, (self.num_heads, self.head_k_dim)), k.unflatten(-1, (self.num_heads, self.head_k_dim))
        v = v.unflatten(-1, (self.num_heads, self.head_v_dim))
        if cfg.qk_activation != "silu":  # SiLU was applied with the conv
            q, k = _activate(q, cfg.qk_activation), _activate(k, cfg.qk_activation)
        if cfg.qk_norm == "sum":
            q, k = _sum_normalize(q), _sum_normalize(k)
        beta = self.b_proj(x).sigmoid() if cfg.use_beta else x.new_ones(*x.shape[:-1], self.num_heads)
        if cfg.allow_neg_eigval:
            beta = 2 * beta
        return q, k, v, beta

    def forward(
        self,
        x: torch.Tensor,
        state: DeltaNetState | None = None,
        cu_seqlens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, DeltaNetState]:
        """x `[B, T, d_model]`, state of the tokens before (or per packed sequence with cu_seqlens `[N + 1]`)
        -> (y `[B, T, d_model]`, state after the last token of each sequence)."""
        q, k, v, conv = self._qkv(x, state, cu_seqlens)
        q, k, v, beta = self._heads(q, k, v, x)
        o, recurrent = delta_rule(
            q, k, v, beta=beta,
            initial_state=None if state is None else state.recurrent,
            output_final_state=True,
            cu_seqlens=cu_seqlens,
            use_qk_l2norm_in_kernel=self.config.qk_norm == "l2",
            chunk_size=self.chunk_size,
        )
        return self._output(o, x), DeltaNetState(*conv, recurrent)

    def step(self, x: torch.Tensor, state: DeltaNetState | None) -> tuple[torch.Tensor, DeltaNetState]:
        """One decoding step: x `[B, d_model]` -> (y `[B, d_model]`, new state)."""
        q, k, v, conv = self._qkv_step(x, state)
        q, k, v, beta = self._heads(q, k, v, x)
        o, recurrent = delta_rule_step(
            q, k, v, beta_t=beta, state=None if state is None else state.recurrent,
            use_qk_l2norm_in_kernel=self.config.qk_norm == "l2",
        )
        return self._output(o, x), DeltaNetState(*conv, recurrent)


@register_mixer("gated_deltanet", config=GatedDeltaNetConfig)
class GatedDeltaNet(_DeltaRuleMixer):
    """Gated DeltaNet (Yang, Kautz and Hatamizadeh, 2025, "Gated Delta Networks: Improving Mamba2 with Delta
    Rule"), as fla's `GatedDeltaNet` layer: `[B, T, d_model] -> [B, T, d_model]`."""

    papers = ("yang2025gated", "yang2024parallelizing")  # zoo.models.citations

    name = "gated_deltanet"

    def __init__(self, d_model: int, config: GatedDeltaNetConfig):
        super().__init__()
        self.config = config
        if config.num_heads < 1 or config.head_dim < 1:
            raise _bad("gated_deltanet", "num_heads" if config.num_heads < 1 else "head_dim",
                       f"num_heads and head_dim must be positive, got {config.num_heads} and {config.head_dim}")
        if config.output_gate_activation not in GATE_ACTIVATIONS:
            raise _bad("gated_deltanet", "output_gate_activation",
                       f"must be one of {GATE_ACTIVATIONS}, got {config.output_gate_activation!r}")
        self.num_heads = config.num_heads
        self.num_v_heads = config.num_v_heads or config.num_heads
        if self.num_v_heads < config.num_heads or self.num_v_heads % config.num_heads:
            raise _bad("gated_deltanet", "num_v_heads",
                       f"{self.num_v_heads} must be a multiple of num_heads ({config.num_heads})")
        self.head_k_dim = config.head_dim
        head_v_dim = _whole("gated_deltanet", "expand_v", "head_dim * expand_v", config.head_dim * config.expand_v)
        if head_v_dim < 1:
            raise _bad("gated_deltanet", "expand_v", f"head_dim * expand_v must be positive, got {head_v_dim}")
        self._build(
            d_model, config.num_heads * config.head_dim, self.num_v_heads * head_v_dim, head_v_dim,
            use_short_conv=config.use_short_conv, conv_size=config.conv_size, conv_bias=config.conv_bias,
            qk_conv_activation="silu", use_gate=config.use_gate, gate_activation=config.output_gate_activation,
            norm_eps=config.norm_eps, chunk_size=config.chunk_size,
        )
        self.a_proj = nn.Linear(d_model, self.num_v_heads, bias=False)
        self.b_proj = nn.Linear(d_model, self.num_v_heads, bias=False)
        if len(config.A_init_range) != 2 or not 0 <= config.A_init_range[0] <= config.A_init_range[1]:
            raise _bad("gated_deltanet", "A_init_range",
                       f"must be [low, high] with 0 <= low <= high, got {list(config.A_init_range)}")
        if not 0 < config.dt_min <= config.dt_max:
            raise _bad("gated_deltanet", "dt_min", f"need 0 < dt_min <= dt_max, got {config.dt_min} / {config.dt_max}")
        low, high = config.A_init_range
        self.A_log = nn.Parameter(torch.log(torch.empty(self.num_v_heads).uniform_(low, high)))
        self.dt_bias = nn.Parameter(
            inverse_softplus_dt(self.num_v_heads, config.dt_min, config.dt_max, config.dt_init_floor)
        )
        for parameter in (self.A_log, self.dt_bias):
            parameter._no_weight_decay = True

    def _heads(self, q, k, v, x):
        """Per-head q, k `[..., HV, K]` (each value head's query/key head), v `[..., HV, V]`, beta and the
        log-decay g `[..., HV]` (float32 for float32 or lower inputs) for the kernel."""
        q, k = q.unflatten(-1, (self.num_heads, self.head_k_dim)), k.unflatten(-1, (self.num_heads, self.head_k_dim))
        if self.num_v_heads != self.num_heads:
            group = self.num_v_heads // self.num_heads
            q, k = q.repeat_interleave(group, dim=-2), k.repeat_interleave(group, dim=-2)
        v = v.unflatten(-1, (self.num_v_heads, self.head_v_dim))
        beta = self.b_proj(x).sigmoid()
        if self.config.allow_neg_eigval:
            beta = 2 * beta
        dtype = torch.promote_types(x.dtype, torch.float32)
        g = -self.A_log.to(dtype).exp() * F.softplus(self.a_proj(x).to(dtype) + self.dt_bias.to(dtype))
        return q, k, v, beta, g

    def forward(
        self,
        x: torch.Tensor,
        state: DeltaNetState | None = None,
        cu_seqlens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, DeltaNetState]:
        """x `[B, T, d_model]`, state of the tokens before (or per packed sequence with cu_seqlens `[N + 1]`)
        -> (y `[B, T, d_model]`, state after the last token of each sequence)."""
        q, k, v, conv = self._qkv(x, state, cu_seqlens)
        q, k, v, beta, g = self._heads(q, k, v, x)
        o, recurrent = delta_rule(
            q, k, v, beta=beta, g=g,
            initial_state=None if state is None else state.recurrent,
            output_final_state=True,
            cu_seqlens=cu_seqlens,
            use_qk_l2norm_in_kernel=True,
            chunk_size=self.chunk_size,
        )
        return self._output(o, x), DeltaNetState(*conv, recurrent)

    def step(self, x: torch.Tensor, state: DeltaNetState | None) -> tuple[torch.Tensor, DeltaNetState]:
        """One decoding step: x `[B, d_model]` -> (y `[B, d_model]`, new state)."""
        q, k, v, conv = self._qkv_step(x, state)
        q, k, v, beta, g = self._heads(q, k, v, x)
        o, recurrent = delta_rule_step(
            q, k, v, beta_t=beta, g_t=g, state=None if state is None else state.recurrent, use_qk_l2norm_in_kernel=True
        )
        return self._output(o, x), DeltaNetState(*conv, recurrent)
