"""Attention on the whole T x S mask through torch's `scaled_dot_product_attention`: the short-input path, and the
path for dense masks (full or causal attention), where SDPA's fused kernels are the fastest and, with no explicit
mask, O(T) in memory.

- A plain causal mask with T == S (no varlen) is SDPA's `is_causal`; a full mask needs no mask at all; every other
  mask goes in as an explicit [T, S] boolean mask (varlen: block-diagonal over the packed sequences), which is
  T x S: keep this form to short inputs for sparse masks.
- Rows that see no key must give zeros: SDPA gives zeros since torch 2.5 but NaN before, and its backward through
  such rows is not guaranteed NaN-free. Those rows are let see every key instead (a finite softmax) and their
  output is zeroed afterwards, which also zeroes their gradients.
- lse is not a by-product of SDPA. It is computed (as a separate, differentiable T x S logsumexp) only when
  asked for with `return_lse=True`; the dispatcher never asks, tests do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..precision import accumulation_dtype
from .mask import MaskSpec, dense_mask

_HAS_ENABLE_GQA = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)


def packed_dense_mask(spec: MaskSpec, cu_seqlens: Tensor, device=None) -> Tensor:
    """The [T, T] block-diagonal mask of a packed batch (True = seen): each sequence's own `dense_mask`."""
    bounds = [int(b) for b in cu_seqlens.tolist()]
    seen = torch.zeros(bounds[-1], bounds[-1], dtype=torch.bool, device=device)
    for start, end in zip(bounds, bounds[1:]):
        if end > start:
            seen[start:end, start:end] = dense_mask(spec, end - start, end - start, device)
    return seen


def attention_dense(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: MaskSpec,
    scale: float | None = None,
    cu_seqlens: Tensor | None = None,
    return_lse: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """o = softmax(scale q k^T + mask) v per head via `torch.nn.functional.scaled_dot_product_attention`.

    q: [B, T, H, D]; k: [B, S, H_kv, D]; v: [B, S, H_kv, Dv]; H % H_kv == 0; T <= S, queries aligned bottom-right;
    cu_seqlens: [N + 1] packs N sequences into one row (B == 1, T == S); scale None means D ** -0.5. q, k, v share
    a dtype. Inputs are not validated here (the dispatcher `attention` does it).

    Returns (o [B, T, H, Dv] in q's dtype, lse [B, H, T] in float32 (float64 for float64 inputs), -inf where a row
    sees no key, or None unless return_lse).
    """
    length, keys = q.shape[1], k.shape[1]
    groups = q.shape[2] // k.shape[2]
    seen: Tensor | None = None
    is_causal = False
    if cu_seqlens is not None:
        seen = packed_dense_mask(mask, cu_seqlens, q.device)
    elif mask.dense and mask.causal and length == keys:
        is_causal = True
    elif not (mask.dense and not mask.causal):
        seen = dense_mask(mask, length, keys, q.device)

    empty = None
    if seen is not None:
        sees_some = seen.any(-1)
        if not bool(sees_some.all()):
            empty = ~sees_some  # [T]
            seen = seen | empty[:, None]

    qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, T, D]
    if groups > 1 and not _HAS_ENABLE_GQA:
        kh, vh = kh.repeat_interleave(groups, 1), vh.repeat_interleave(groups, 1)
    extra = {"enable_gqa": True} if groups > 1 and _HAS_ENABLE_GQA else {}
    o = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=seen, is_causal=is_causal, scale=scale, **extra)
    o = o.transpose(1, 2)
    if empty is not None:
        o = o.masked_fill(empty[:, None, None], 0.0)
    if not return_lse:
        return o, None
    return o, _dense_lse(q, k, seen, empty, is_causal, scale)


def _dense_lse(
    q: Tensor, k: Tensor, seen: Tensor | None, empty: Tensor | None, is_causal: bool, scale: float | None
) -> Tensor:
    """logsumexp over the seen keys of scale q k^T: [B, H, T] in the compute dtype, -inf for `empty` rows."""
    dtype = accumulation_dtype(q, k)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    groups = q.shape[2] // k.shape[2]
    kr = k.to(dtype).repeat_interleave(groups, 2)
    scores = torch.einsum("bthd,bshd->bhts", q.to(dtype), kr) * scale
    if is_causal:
        seen = torch.ones(q.shape[1], k.shape[1], dtype=torch.bool, device=q.device).tril()
    if seen is not None:
        scores = scores.masked_fill(~seen, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    if empty is not None:
        lse = lse.masked_fill(empty, float("-inf"))
    return lse
