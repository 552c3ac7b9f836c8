"""Softmax attention in Triton: FlashAttention-style forward and backward kernels over the tiles a mask leaves,
in a `torch.autograd.Function`.

    o = softmax(scale q k^T + mask) v,    lse = logsumexp(scale q k^T + mask)    (per head, per query row)

Kernels (triton_attention_fwd.py, triton_attention_bwd.py):
  forward   grid (query tiles, N * H): online softmax over the key tiles of the tile table's visit list for
            (sequence, query tile), the token mask evaluated in-kernel (`mask.allowed`'s rule from causal, the
            window, per-position global flags and the BigBird block layout) only on tiles not marked full; saves lse.
  backward  delta = rowsum(dO o O) (- dlse); dK/dV per (key tile, sequence x key/value head) over the query tiles
            that see the key tile, summing the GQA group inside the program (deterministic, no atomics); dQ per
            (query tile, sequence x head) over its key visit list.

Tiles: BLOCK_M x BLOCK_N = 64 x 64 on GPUs (64 x 32 for head dims above 128), 16 x 16 under the interpreter; the
tile tables are built for these sizes (cached per mask, lengths and tiles). Head dims are padded to powers of two
(>= 16) with masks, so D need not be one and Dv may differ from D. Varlen runs in the kernels: a dense batch is B
sequences packed back to back with one shared table, cu_seqlens gives one table per sequence (its lengths are read
on the host once, as the tables depend on them).

Runs on CUDA, and on CPU under TRITON_INTERPRET=1 set before this module is imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import triton
from torch import Tensor

from ..triton_common.configs import dot_precision
from ..triton_support import interpreting, unsupported_device, unsupported_dtype
from ..varlen import check_cu_seqlens
from .mask import MaskSpec, layout_for
from .tiles import tile_table
from .triton_attention_bwd import _delta_kernel, _dkdv_kernel, _dq_kernel
from .triton_attention_fwd import _fwd_kernel

INTERPRET = interpreting()
_MAX_GRID_Y = 65535  # CUDA's limit on a grid's second axis, which holds (sequence, head)


def triton_unsupported(q: Tensor, k: Tensor, v: Tensor) -> str | None:
    """Why `attention_triton` cannot run this (otherwise valid) call, or None if it can."""
    return unsupported_device(INTERPRET, __name__, q=q, k=k, v=v) or unsupported_dtype(q=q, k=k, v=v)


def block_sizes(head_dim: int, value_dim: int) -> tuple[int, int]:
    """(BLOCK_M, BLOCK_N) for these head dims: the tile tables are built for them."""
    if INTERPRET:
        return 16, 16
    return (64, 64) if max(head_dim, value_dim) <= 128 else (64, 32)


def _launch_options(head_dim: int, value_dim: int) -> dict:
    if INTERPRET:
        return {"num_warps": 4, "num_stages": 1}
    return {"num_warps": 4 if max(head_dim, value_dim) <= 64 else 8, "num_stages": 2}


def _pow2(n: int) -> int:
    return max(triton.next_power_of_2(n), 16)


@dataclass(frozen=True)
class _Plan:
    """Everything the kernels read besides q, k, v: sequence bounds, tile lists, mask data and constexprs."""

    cu_q: Tensor  # int32 [N + 1]
    cu_k: Tensor
    num_seqs: int
    q_tiles: int  # QT, KT: tiles of the longest sequence (the grid's first axis)
    k_tiles: int
    per_seq: int  # 1: one table per sequence (varlen); 0: one shared table (dense batch)
    kv_count: Tensor
    kv_index: Tensor
    kv_full: Tensor  # int8
    q_count: Tensor
    q_index: Tensor
    q_full: Tensor
    glob: Tensor | None  # int8 [max S_n]: position j is a global token
    layout: Tensor | None  # int8 [NT, NB, NB]
    layout_blocks: int
    layout_size: int
    window: tuple[int, int]  # effective (left, right), -1 unbounded
    block_m: int
    block_n: int


@lru_cache(maxsize=64)
def _plan(
    spec: MaskSpec, q_lens: tuple[int, ...], k_lens: tuple[int, ...], num_seqs: int, varlen: bool,
    block_m: int, block_n: int, device: torch.device,
) -> _Plan:
    """The plan of a call: `q_lens`/`k_lens` per table (one shared by the `num_seqs` rows of a dense batch, or one
    per sequence under varlen). Cached: equal calls reuse the device tensors."""
    table = tile_table(spec, q_lens, k_lens, block_m, block_n)
    if varlen:
        cu_q = torch.tensor([0, *q_lens], dtype=torch.int64).cumsum(0)
        cu_k = cu_q
    else:
        cu_q = torch.arange(num_seqs + 1, dtype=torch.int64) * q_lens[0]
        cu_k = torch.arange(num_seqs + 1, dtype=torch.int64) * k_lens[0]
    max_k = max(k_lens, default=0)
    glob = None
    if spec.global_tokens:
        glob = torch.zeros(max(max_k, 1), dtype=torch.int8)
        inside = [t for t in spec.global_tokens if t < max_k]
        glob[inside] = 1
    layout, blocks, size = None, 1, 1
    if spec.layout is not None:
        size = spec.layout.block_size
        parts = [layout_for(spec, t, s) for t, s in zip(q_lens, k_lens)]
        blocks = max(part.shape[0] for part in parts)
        layout = torch.zeros(len(parts), blocks, blocks, dtype=torch.int8)
        for n, part in enumerate(parts):
            layout[n, : part.shape[0], : part.shape[1]] = part.to(torch.int8)

    def dev(x: Tensor | None, dtype: torch.dtype | None = None) -> Tensor | None:
        return None if x is None else x.to(device=device, dtype=dtype or x.dtype).contiguous()

    return _Plan(
        cu_q=dev(cu_q, torch.int32), cu_k=dev(cu_k, torch.int32), num_seqs=num_seqs,
        q_tiles=table.kv_count.shape[1], k_tiles=table.q_count.shape[1], per_seq=int(varlen),
        kv_count=dev(table.kv_count, torch.int32), kv_index=dev(table.kv_index, torch.int32),
        kv_full=dev(table.kv_full, torch.int8),
        q_count=dev(table.q_count, torch.int32), q_index=dev(table.q_index, torch.int32),
        q_full=dev(table.q_full, torch.int8),
        glob=dev(glob), layout=dev(layout), layout_blocks=blocks, layout_size=size,
        window=spec.effective_window, block_m=block_m, block_n=block_n,
    )


def _constexprs(spec: MaskSpec, plan: _Plan, head_dim: int, value_dim: int, dtype: torch.dtype, trace: bool) -> dict:
    return dict(
        D=head_dim, DV=value_dim, BD=_pow2(head_dim), BDV=_pow2(value_dim), BM=plan.block_m, BN=plan.block_n,
        CAUSAL=spec.causal, DENSE=spec.dense, HAS_WINDOW=spec.has_window, HAS_GLOBAL=bool(spec.global_tokens),
        HAS_LAYOUT=spec.layout is not None, TRACE=trace,
        DOT=dot_precision(dtype),
        **_launch_options(head_dim, value_dim),
    )


def _mask_args(plan: _Plan) -> tuple:
    return (plan.per_seq, plan.window[0], plan.window[1], plan.layout_blocks, plan.layout_size)


def _forward(q: Tensor, k: Tensor, v: Tensor, spec: MaskSpec, scale: float, plan: _Plan, trace: Tensor | None = None):
    """q [TQ, H, D], k [TK, H_kv, D], v [TK, H_kv, Dv] packed and contiguous -> (o [TQ, H, Dv], lse [H, TQ] float32).
    trace: an int32 [N * H, QT, KT] zero tensor in which the kernel marks every (query tile, key tile) it visits
    (tests only; without it the marking is compiled out)."""
    total_q, heads, head_dim = q.shape
    value_dim = v.shape[-1]
    o = torch.empty(total_q, heads, value_dim, device=q.device, dtype=q.dtype)
    lse = torch.empty(heads, total_q, device=q.device, dtype=torch.float32)
    if total_q and plan.q_tiles:
        grid = (plan.q_tiles, plan.num_seqs * heads)
        _fwd_kernel[grid](
            q, k, v, o, lse, plan.cu_q, plan.cu_k, plan.glob, plan.layout,
            plan.kv_count, plan.kv_index, plan.kv_full, trace,
            scale * math.log2(math.e), heads, heads // k.shape[1], total_q, plan.q_tiles, plan.k_tiles,
            plan.kv_index.shape[-1], *_mask_args(plan),
            **_constexprs(spec, plan, head_dim, value_dim, q.dtype, trace is not None),
        )
    return o, lse


def _backward(q, k, v, o, lse, do, dlse, spec: MaskSpec, scale: float, plan: _Plan, traces=None):
    """Gradients of the packed forward: (dq, dk, dv) in the input dtypes. traces: (dK/dV trace [N * H, KT, QT],
    dQ trace [N * H, QT, KT]) int32 zero tensors to mark the visited tiles in (tests only), or None."""
    total_q, heads, head_dim = q.shape
    kv_heads, value_dim = k.shape[1], v.shape[-1]
    groups = heads // kv_heads
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    if k.shape[0] == 0:
        return dq, dk, dv
    if total_q == 0 or plan.q_tiles == 0:
        return dq.zero_(), dk.zero_(), dv.zero_()
    delta = torch.empty_like(lse)
    block_t = 16 if INTERPRET else 64
    _delta_kernel[(triton.cdiv(total_q, block_t), heads)](
        o, do, dlse, delta, total_q, heads, DV=value_dim, BDV=_pow2(value_dim), BT=block_t, HAS_DLSE=dlse is not None,
    )
    trace_kv, trace_q = (None, None) if traces is None else traces
    options = _constexprs(spec, plan, head_dim, value_dim, q.dtype, traces is not None)
    common = (scale * math.log2(math.e), scale, heads, groups, total_q, plan.q_tiles, plan.k_tiles)
    _dkdv_kernel[(plan.k_tiles, plan.num_seqs * kv_heads)](
        q, k, v, do, lse, delta, dk, dv, plan.cu_q, plan.cu_k, plan.glob, plan.layout,
        plan.q_count, plan.q_index, plan.q_full, trace_kv,
        *common, plan.q_index.shape[-1], *_mask_args(plan), **options,
    )
    _dq_kernel[(plan.q_tiles, plan.num_seqs * heads)](
        q, k, v, do, lse, delta, dq, plan.cu_q, plan.cu_k, plan.glob, plan.layout,
        plan.kv_count, plan.kv_index, plan.kv_full, trace_q,
        *common, plan.kv_index.shape[-1], *_mask_args(plan), **options,
    )
    return dq, dk, dv


class _AttentionTriton(torch.autograd.Function):
    """On packed, contiguous q [TQ, H, D], k [TK, H_kv, D], v [TK, H_kv, Dv] of one dtype: (o [TQ, H, Dv],
    lse [H, TQ] float32). lse is differentiable too."""

    @staticmethod
    def forward(ctx, q, k, v, spec, scale, plan):
        o, lse = _forward(q, k, v, spec, scale, plan)
        ctx.set_materialize_grads(False)  # an unused output's gradient comes as None, not zeros
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.spec, ctx.scale, ctx.plan = spec, scale, plan
        return o, lse

    @staticmethod
    def backward(ctx, do, dlse):
        q, k, v, o, lse = ctx.saved_tensors
        do = torch.zeros_like(o) if do is None else do.to(o.dtype).contiguous()
        dlse = None if dlse is None else dlse.float().contiguous()
        dq, dk, dv = _backward(q, k, v, o, lse, do, dlse, ctx.spec, ctx.scale, ctx.plan)
        return dq, dk, dv, None, None, None


def _prepare(q: Tensor, k: Tensor, v: Tensor, mask: MaskSpec, scale: float | None, cu_seqlens: Tensor | None):
    """Validate a call and pack it: (q, k, v packed [tokens, heads, dim] in one dtype, scale, plan, shape info)."""
    name = "attention_triton"
    if not isinstance(mask, MaskSpec):
        raise ValueError(f"{name}: mask must be a MaskSpec, got {type(mask).__name__}")
    for arg, t in dict(q=q, k=k, v=v).items():
        if t.ndim != 4:
            raise ValueError(f"{name}: {arg} must be 4-D [B, T, H, D], got shape {tuple(t.shape)}")
    reason = triton_unsupported(q, k, v)
    if reason is not None:
        raise ValueError(f"{name} cannot run this call: {reason}")
    batch, length, heads, head_dim = q.shape
    kb, keys, kv_heads, kd = k.shape
    if kb != batch or kd != head_dim or k.shape[:3] != v.shape[:3]:
        raise ValueError(
            f"{name}: expected q [B, T, H, D], k [B, S, H_kv, D], v [B, S, H_kv, Dv]; got q {tuple(q.shape)}, "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if kv_heads == 0 or heads % kv_heads:
        raise ValueError(f"{name}: H = {heads} query heads must be a multiple of H_kv = {kv_heads} key/value heads")
    if length > keys:
        raise ValueError(f"{name}: more queries than keys (T = {length} > S = {keys}); queries align bottom-right")
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
        if keys != length:
            raise ValueError(f"{name}: with cu_seqlens, q and k must hold the same packed tokens (T == S)")
    sequences = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    if sequences * heads > _MAX_GRID_Y:
        raise ValueError(
            f"{name}: {sequences} sequences x {heads} heads exceed the limit of {_MAX_GRID_Y} programs on "
            "a CUDA grid's second axis, which holds (sequence, head): split the batch"
        )
    scale = head_dim**-0.5 if scale is None else float(scale)
    dtype = torch.promote_types(torch.promote_types(q.dtype, k.dtype), v.dtype)
    value_dim = v.shape[-1]
    block_m, block_n = block_sizes(head_dim, value_dim)
    if cu_seqlens is None:
        plan = _plan(mask, (length,), (keys,), batch, False, block_m, block_n, q.device)
    else:
        bounds = cu_seqlens.tolist()
        lens = tuple(b - a for a, b in zip(bounds, bounds[1:]))
        plan = _plan(mask, lens, lens, len(lens), True, block_m, block_n, q.device)

    def packed(x: Tensor) -> Tensor:
        return x.to(dtype).reshape(x.shape[0] * x.shape[1], *x.shape[2:]).contiguous()

    return packed(q), packed(k), packed(v), scale, plan


def attention_triton(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: MaskSpec,
    scale: float | None = None,
    cu_seqlens: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Triton form of `attention_reference` (same arguments and results), forward and backward in Triton.

    q: [B, T, H, D]; k: [B, S, H_kv, D]; v: [B, S, H_kv, Dv] (H a multiple of H_kv: query head h reads key/value
    head h // (H / H_kv)); T <= S with queries aligned bottom-right; cu_seqlens [N + 1] packs N sequences in one
    row (B == 1, T == S, the mask applied within each); scale None means D ** -0.5. float16, bfloat16 or float32
    (cast to one common dtype; float32 matmuls in full float32, not TF32), accumulated in float32. Tiles the mask
    empties are skipped. Gradients flow to q, k, v (in their dtypes), from o and from lse.

    Returns (o [B, T, H, Dv] in q's dtype, lse [B, H, T] float32; rows that see no key: o = 0, lse = -inf).
    """
    batch, length, heads, _ = q.shape
    out_dtype = q.dtype
    qp, kp, vp, scale, plan = _prepare(q, k, v, mask, scale, cu_seqlens)
    o, lse = _AttentionTriton.apply(qp, kp, vp, mask, scale, plan)
    o = o.view(batch, length, heads, v.shape[-1]).to(out_dtype)
    lse = lse.view(heads, batch, length).transpose(0, 1).contiguous()
    return o, lse
