"""FlashAttention-style attention in plain PyTorch, the CPU path for sparse masks: tiles the mask empties are
skipped, memory is linear in T for sliding windows and BigBird layouts.

Forward: the query tiles of the attention plan (`plan.py`), a batch of tiles at a time, gather the key tiles
their visit lists name (one `index_select`), take scores against those keys only, apply the token mask on the
tiles that are not seen entirely, and a direct softmax over the gathered keys (all of a query tile's keys are
in hand, so no online rescaling is needed). Saved for backward: q, k, v, o and lse only.

Backward (FlashAttention's): with D_i = rowsum(dO_i * O_i) - dlse_i, every tile recomputes P = exp(S - lse) and
gets dV += P^T dO, dP = dO V^T, dS = P * (dP - D), dQ = scale dS K, dK += scale dS^T Q; dK and dV are summed
over the query tiles with `index_add_`. Transient memory is O(chunk * visited keys per tile), saved memory O(T).

Grouped-query heads are not repeated: the queries of the G = H / H_kv heads that share a key/value head are
stacked along the query axis ([B, tiles, H_kv, G * block_q, D]), so one matmul serves the group.
Rows that see no key give zeros and lse -inf, with zero gradients. Float16/bfloat16 inputs compute in float32,
float64 in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..precision import accumulation_dtype
from .mask import MaskSpec
from .plan import AttentionPlan, TileChunk, attention_plan

# Score entries (B * tiles * H * block_q * keys per tile) computed at once: 8 MiB in float32. Bounds the
# transient memory of a batch of tiles; larger chunks gain little once matmuls are this size.
_SCORE_ELEMENTS = 1 << 21


def _gather_queries(x: Tensor, index: Tensor, tiles: int, groups: int, dtype: torch.dtype) -> Tensor:
    """x [B, T, H, D], index [tiles * bq] -> [B, tiles, H_kv, G * bq, D] (heads h = kv * G + g)."""
    batch, _, heads, dim = x.shape
    x = x.index_select(1, index).to(dtype).view(batch, tiles, -1, heads // groups, groups, dim)
    return x.permute(0, 1, 3, 4, 2, 5).reshape(batch, tiles, heads // groups, -1, dim)


def _scatter_queries(y: Tensor, groups: int) -> Tensor:
    """[B, tiles, H_kv, G * bq, D] -> [B, tiles * bq, H, D]: the inverse layout of _gather_queries."""
    batch, tiles, kv_heads, _, dim = y.shape
    y = y.view(batch, tiles, kv_heads, groups, -1, dim).permute(0, 1, 4, 2, 3, 5)
    return y.reshape(batch, -1, kv_heads * groups, dim)


def _gather_rows(x: Tensor, index: Tensor, tiles: int, groups: int) -> Tensor:
    """Per-row values x [B, T, H], index [tiles * bq] -> [B, tiles, H_kv, G * bq] (the query layout)."""
    batch, _, heads = x.shape
    x = x.index_select(1, index).view(batch, tiles, -1, heads // groups, groups)
    return x.permute(0, 1, 3, 4, 2).reshape(batch, tiles, heads // groups, -1)


def _gather_keys(x: Tensor, index: Tensor, dtype: torch.dtype) -> Tensor:
    """x [B, S, H_kv, D], index [tiles, L] -> [B, tiles, H_kv, L, D]."""
    batch, _, kv_heads, dim = x.shape
    tiles, width = index.shape
    return x.index_select(1, index.flatten()).to(dtype).view(batch, tiles, width, kv_heads, dim).transpose(2, 3)


def _add_keys(out: Tensor, index: Tensor, grad: Tensor) -> None:
    """out [B, S, H_kv, D] += grad [B, tiles, H_kv, L, D] at the rows index [tiles, L] (repeats add up)."""
    batch, _, kv_heads, _, dim = grad.shape
    out.index_add_(1, index.flatten(), grad.transpose(2, 3).reshape(batch, -1, kv_heads, dim))


def _write_rows(out: Tensor, chunk: TileChunk, rows: Tensor, dim: int) -> None:
    """out[:, q_index] = rows along `dim` (1 for [B, T, ...], 2 for [B, H, T]), real rows only."""
    index = chunk.q_index
    if chunk.keep is not None:
        index, rows = index[chunk.keep], rows.index_select(dim, chunk.keep.nonzero().flatten())
    out.index_copy_(dim, index, rows)


def _masked_scores(q: Tensor, k: Tensor, hidden: Tensor | None, groups: int) -> Tensor:
    """Scores of q [B, n, H_kv, G * bq, D] (already scaled) against k [B, n, H_kv, L, D], -inf where `hidden`
    [n, bq, L] hides the pair -> [B, n, H_kv, G * bq, L]."""
    scores = q @ k.transpose(-1, -2)
    if hidden is not None:
        batch, tiles, kv_heads, _, width = scores.shape
        view = scores.view(batch, tiles, kv_heads, groups, -1, width)
        view.masked_fill_(hidden[:, None, None], float("-inf"))
    return scores


def _softmax_parts(scores: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """scores [..., L] -> (exp(scores - max) [..., L], row sums [...] (1 where a row sees nothing, its exps being
    0), lse [...] (-inf where a row sees nothing)). One exp per score, none wasted on a separate logsumexp."""
    top = scores.amax(dim=-1).nan_to_num(neginf=0.0)
    exps = torch.exp(scores - top[..., None])
    sums = exps.sum(dim=-1)
    lse = top + torch.log(sums)
    return exps, torch.where(sums > 0, sums, torch.ones_like(sums)), lse


def _lse_rows(lse: Tensor, tiles: int, groups: int) -> Tensor:
    """[B, tiles, H_kv, G * bq] -> [B, H, tiles * bq]."""
    batch, _, kv_heads, _ = lse.shape
    lse = lse.view(batch, tiles, kv_heads, groups, -1).permute(0, 2, 3, 1, 4)
    return lse.reshape(batch, kv_heads * groups, -1)


def _chunk_tiles(plan_batch, batch: int, heads: int) -> int:
    """Query tiles per chunk: as many as fit _SCORE_ELEMENTS score entries, at least one."""
    per_tile = batch * heads * plan_batch.block_q * plan_batch.count * plan_batch.block_k
    return max(1, _SCORE_ELEMENTS // max(per_tile, 1))


class _BlockwiseAttention(torch.autograd.Function):
    """(q, k, v) -> (o, lse) over an AttentionPlan; the backward recomputes every tile (see the module doc)."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, plan: AttentionPlan, scale: float):
        dtype = accumulation_dtype(q, k, v)
        batch, length, heads, _ = q.shape
        groups = heads // k.shape[2]
        o = q.new_zeros(batch, length, heads, v.shape[-1], dtype=dtype)
        lse = q.new_full((batch, heads, length), float("-inf"), dtype=dtype)
        for tile_batch in plan.batches:
            for chunk in tile_batch.chunks(_chunk_tiles(tile_batch, batch, heads)):
                qg = _gather_queries(q, chunk.q_index, chunk.tiles, groups, dtype) * scale
                scores = _masked_scores(qg, _gather_keys(k, chunk.k_index, dtype), chunk.hidden, groups)
                exps, sums, lse_g = _softmax_parts(scores)
                og = (exps @ _gather_keys(v, chunk.k_index, dtype)) / sums[..., None]
                _write_rows(o, chunk, _scatter_queries(og, groups), 1)
                _write_rows(lse, chunk, _lse_rows(lse_g, chunk.tiles, groups), 2)
        o = o.to(q.dtype)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.plan, ctx.scale = plan, scale
        ctx.set_materialize_grads(False)
        return o, lse

    @staticmethod
    @once_differentiable
    def backward(ctx, do: Tensor | None, dlse: Tensor | None):
        q, k, v, o, lse = ctx.saved_tensors
        plan, scale = ctx.plan, ctx.scale
        dtype = lse.dtype
        batch, _, heads, _ = q.shape
        groups = heads // k.shape[2]
        if do is None:
            do = torch.zeros_like(o)
        delta = (do.to(dtype) * o.to(dtype)).sum(-1)  # [B, T, H]
        if dlse is not None:
            delta = delta - dlse.to(dtype).transpose(1, 2)
        dq = torch.zeros_like(q, dtype=dtype)
        dk = torch.zeros_like(k, dtype=dtype)
        dv = torch.zeros_like(v, dtype=dtype)
        for tile_batch in plan.batches:
            for chunk in tile_batch.chunks(_chunk_tiles(tile_batch, batch, heads)):
                qg = _gather_queries(q, chunk.q_index, chunk.tiles, groups, dtype) * scale
                kg = _gather_keys(k, chunk.k_index, dtype)
                vg = _gather_keys(v, chunk.k_index, dtype)
                dog = _gather_queries(do, chunk.q_index, chunk.tiles, groups, dtype)
                lse_g = _gather_rows(lse.transpose(1, 2), chunk.q_index, chunk.tiles, groups)
                scores = _masked_scores(qg, kg, chunk.hidden, groups)
                p = torch.exp(scores - lse_g.nan_to_num(neginf=0.0)[..., None])
                _add_keys(dv, chunk.k_index, p.transpose(-1, -2) @ dog)
                dp = dog @ vg.transpose(-1, -2)
                delta_g = _gather_rows(delta, chunk.q_index, chunk.tiles, groups)
                ds = p * (dp - delta_g[..., None])
                _write_rows(dq, chunk, _scatter_queries(ds @ kg, groups), 1)
                _add_keys(dk, chunk.k_index, ds.transpose(-1, -2) @ qg)
        return (dq * scale).to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None


def attention_blockwise(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: MaskSpec,
    scale: float | None = None,
    cu_seqlens: Tensor | None = None,
    block_q: int = 64,
    block_k: int = 64,
) -> tuple[Tensor, Tensor]:
    """Tiled softmax attention, o = softmax(scale q k^T + mask) v per head, skipping the tiles the mask empties.

    q: [B, T, H, D]; k: [B, S, H_kv, D]; v: [B, S, H_kv, Dv]; H % H_kv == 0 (query head h reads key/value head
    h // (H / H_kv)); T <= S, queries aligned bottom-right; cu_seqlens: [N + 1] packs N sequences into one row
    (B == 1, T == S, the mask applied within each); scale None means D ** -0.5; block_q, block_k: tile sizes
    (64 x 64: BigBird's default block size, so its layout tiles need no token mask, and on one CPU thread as fast as
    any other choice measured within noise: 128 x 64 and 64 x 32 gain or lose ~20% depending on the mask).
    Inputs are not validated here (the dispatcher `attention` does it).

    Returns (o [B, T, H, Dv] in q's dtype, lse [B, H, T] in the compute dtype: float64 for float64 inputs,
    float32 otherwise; -inf where a row sees no key). Both are differentiable.
    """
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    if cu_seqlens is None:
        q_lens, k_lens, q_starts, k_starts = (q.shape[1],), (k.shape[1],), (0,), (0,)
    else:
        bounds = [int(b) for b in cu_seqlens.tolist()]
        q_lens = k_lens = tuple(e - s for s, e in zip(bounds, bounds[1:]))
        q_starts = k_starts = tuple(bounds[:-1])
    plan = attention_plan(mask, q_lens, k_lens, q_starts, k_starts, block_q, block_k, q.device)
    return _BlockwiseAttention.apply(q, k, v, plan, scale)
