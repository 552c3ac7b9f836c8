"""Input validation for the attention op: every failure is a ValueError naming the argument, what it has and what
it should have."""

from __future__ import annotations

from torch import Tensor

from ..checks import check_floating, check_shape
from ..varlen import check_cu_seqlens
from .cache import KVCache
from .mask import MaskSpec

BACKENDS = ("auto", "torch", "dense", "triton", "reference")


def check_mask(op: str, mask: MaskSpec, *, decoding: bool = False) -> None:
    """Raise ValueError unless mask is a MaskSpec (a causal one when decoding)."""
    if not isinstance(mask, MaskSpec):
        raise ValueError(f"{op}: mask must be a MaskSpec, got {type(mask).__name__}")
    if decoding and not mask.causal:
        raise ValueError(
            f"{op}: decoding needs a causal mask (a token cannot see keys that do not exist yet), got {mask}"
        )


def check_scale(op: str, scale: float | None) -> None:
    """Raise ValueError unless scale is None or a real number."""
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))):
        raise ValueError(f"{op}: scale must be a number or None, got {scale!r}")


def _check_heads(op: str, heads: int, kv_heads: int, kv_name: str) -> None:
    if kv_heads < 1 or heads % kv_heads:
        raise ValueError(
            f"{op}: the number of query heads H = {heads} (from q) must be a multiple of the number of key/value "
            f"heads H_kv = {kv_heads} (from {kv_name})"
        )


def _check_dtypes(op: str, **tensors: Tensor | None) -> None:
    check_floating(op, **tensors)
    given = {name: t.dtype for name, t in tensors.items() if t is not None}
    if len(set(given.values())) > 1:
        shown = ", ".join(f"{name} {dtype}" for name, dtype in given.items())
        raise ValueError(f"{op}: the inputs must share one dtype, got {shown}")


def check_cache(
    op: str, name: str, cache: KVCache | None, batch: int, kv_heads: int, key_dim: int, value_dim: int,
    mask: MaskSpec, source: str,
) -> None:
    """Raise ValueError unless cache is None or a KVCache of keys [batch, S, kv_heads, key_dim] and values
    [batch, S, kv_heads, value_dim] that can serve `mask`: a cache that starts after position 0 (one that rolled)
    serves only a pure sliding window (mask.max_left >= 0), and must then hold the window's keys."""
    if cache is None:
        return
    if not isinstance(cache, KVCache):
        raise ValueError(f"{op}: {name} must be a KVCache or None, got {type(cache).__name__}")
    check_shape(op, f"{name}.keys", cache.keys, "B, S, H_kv, D", [batch, None, kv_heads, key_dim], source)
    length = cache.keys.shape[1]
    check_shape(op, f"{name}.values", cache.values, "B, S, H_kv, Dv", [batch, length, kv_heads, value_dim], source)
    if isinstance(cache.start, bool) or not isinstance(cache.start, int) or cache.start < 0:
        raise ValueError(f"{op}: {name}.start must be a non-negative int, got {cache.start!r}")
    if cache.start > 0:
        if mask.max_left < 0:
            raise ValueError(
                f"{op}: {name} starts at position {cache.start} (a rolling cache), but the mask {mask} may need "
                f"every key from position 0 (only a pure sliding window can use a rolling cache)"
            )
        if length < min(mask.max_left, cache.end):
            raise ValueError(
                f"{op}: {name} holds {length} keys from position {cache.start}, fewer than the window's "
                f"{mask.max_left} earlier keys that the next token needs"
            )


def check_attention_inputs(
    op: str, q: Tensor, k: Tensor, v: Tensor, mask: MaskSpec, initial_state: KVCache | None,
    output_final_state: bool, cu_seqlens: Tensor | None,
) -> None:
    """Validate the sequence form's inputs: q [B, T, H, D], k [B, S, H_kv, D], v [B, S, H_kv, Dv], H % H_kv == 0,
    T <= S + (initial_state's length); cu_seqlens (B == 1, T == S, no initial_state, no final state)."""
    check_mask(op, mask)
    check_shape(op, "q", q, "B, T, H, D", [None] * 4)
    batch, length, heads, key_dim = q.shape
    check_shape(op, "k", k, "B, S, H_kv, D", [batch, None, None, key_dim], "q")
    keys, kv_heads = k.shape[1], k.shape[2]
    check_shape(op, "v", v, "B, S, H_kv, Dv", [batch, keys, kv_heads, None], "q and k")
    _check_heads(op, heads, kv_heads, "k")
    _check_dtypes(op, q=q, k=k, v=v)
    cached = 0
    if initial_state is not None:
        check_cache(op, "initial_state", initial_state, batch, kv_heads, key_dim, v.shape[-1], mask, "q, k and v")
        cached_tensors = {"initial_state.keys": initial_state.keys, "initial_state.values": initial_state.values}
        _check_dtypes(op, q=q, **cached_tensors)
        cached = initial_state.length
    if length > keys + cached:
        where = f"S = {keys} keys" + (f" + {cached} cached ones" if initial_state is not None else "")
        raise ValueError(
            f"{op}: more queries than keys: T = {length} (from q) but {where} (from k); queries align bottom-right, "
            f"so T <= S is needed"
        )
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
        if keys != length:
            raise ValueError(
                f"{op}: cu_seqlens packs queries and keys alike, so T == S is needed, got T = {length}, S = {keys}"
            )
        if initial_state is not None:
            raise ValueError(f"{op}: initial_state cannot be combined with cu_seqlens (packed sequences start empty)")
        if output_final_state:
            raise ValueError(
                f"{op}: output_final_state cannot be combined with cu_seqlens: a KVCache holds equal-length rows; "
                f"run the sequences as a batch (or one by one) to get their caches"
            )


def check_step_inputs(
    op: str, q_t: Tensor, k_t: Tensor, v_t: Tensor, cache: KVCache | None, mask: MaskSpec
) -> None:
    """Validate one decoding step: q_t [B, H, D], k_t [B, H_kv, D], v_t [B, H_kv, Dv], H % H_kv == 0, cache a
    KVCache of keys [B, S, H_kv, D] and values [B, S, H_kv, Dv] (or None), a causal mask."""
    check_mask(op, mask, decoding=True)
    check_shape(op, "q_t", q_t, "B, H, D", [None] * 3)
    batch, heads, key_dim = q_t.shape
    check_shape(op, "k_t", k_t, "B, H_kv, D", [batch, None, key_dim], "q_t")
    check_shape(op, "v_t", v_t, "B, H_kv, Dv", [batch, k_t.shape[1], None], "q_t and k_t")
    _check_heads(op, heads, k_t.shape[1], "k_t")
    _check_dtypes(op, q_t=q_t, k_t=k_t, v_t=v_t)
    check_cache(op, "cache", cache, batch, k_t.shape[1], key_dim, v_t.shape[-1], mask, "q_t, k_t and v_t")
    if cache is not None:
        _check_dtypes(op, q_t=q_t, **{"cache.keys": cache.keys, "cache.values": cache.values})
