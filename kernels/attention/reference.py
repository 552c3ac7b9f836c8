"""Softmax attention as defined, on the dense T x S mask: exact (float64-capable), the oracle of the tests.

Rows that see no key (possible under sparse masks or bottom-right alignment) give zeros and a logsumexp of -inf.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..precision import accumulation_dtype
from .mask import MaskSpec, dense_mask


def _attend(q: Tensor, k: Tensor, v: Tensor, seen: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    """q: [B, T, H, D], k: [B, S, H, D], v: [B, S, H, Dv], seen: [T, S] bool -> (o [B, T, H, Dv], lse [B, H, T])."""
    scores = torch.einsum("bthd,bshd->bhts", q, k) * scale
    scores = scores.masked_fill(~seen, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    weights = torch.exp(scores - lse.nan_to_num(neginf=0.0)[..., None])
    return torch.einsum("bhts,bshd->bthd", weights, v), lse


def attention_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: MaskSpec,
    scale: float | None = None,
    cu_seqlens: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """o = softmax(scale q k^T + mask) v per head, with grouped-query heads (query head h reads key/value head
    h // (H / H_kv)).

    q: [B, T, H, D]; k: [B, S, H_kv, D]; v: [B, S, H_kv, Dv]; T <= S, queries aligned bottom-right;
    cu_seqlens: [N + 1] packs N sequences into one row (B == 1, T == S, the mask applied within each);
    scale None means D ** -0.5. Returns (o [B, T, H, Dv] in q's dtype, lse [B, H, T] in the compute dtype).
    """
    dtype, out_dtype = accumulation_dtype(q, k, v), q.dtype
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    groups = q.shape[2] // k.shape[2]
    q, k, v = q.to(dtype), k.to(dtype).repeat_interleave(groups, 2), v.to(dtype).repeat_interleave(groups, 2)
    if cu_seqlens is None:
        o, lse = _attend(q, k, v, dense_mask(mask, q.shape[1], k.shape[1], q.device), scale)
        return o.to(out_dtype), lse
    outputs, lses = [], []
    bounds = cu_seqlens.tolist()
    for start, end in zip(bounds, bounds[1:]):
        seen = dense_mask(mask, end - start, end - start, q.device)
        o, lse = _attend(q[:, start:end], k[:, start:end], v[:, start:end], seen, scale)
        outputs.append(o)
        lses.append(lse)
    return torch.cat(outputs, 1).to(out_dtype), torch.cat(lses, -1)
