"""One decoding step of attention: append the token to the KV cache and attend over the cache with the mask's
row for the token's absolute position. Causal masks only. Under a pure sliding window the cache rolls (the last
max_left + 1 keys), so memory and time per step are constant in the decoded length; otherwise they grow with it."""

from __future__ import annotations

import torch
from torch import Tensor

from ..precision import accumulation_dtype
from .cache import KVCache
from .checks import check_scale, check_step_inputs
from .mask import MaskSpec, allowed


def mask_row(mask: MaskSpec, position: int, start: int, device=None) -> Tensor:
    """Which keys at positions start..position the query at `position` sees: [position - start + 1] bool.
    Causal rows depend only on the position (BigBird's random blocks are seeded by the row), so this is the row
    the parallel form uses at that position."""
    q_pos = torch.tensor([position], device=device)
    k_pos = torch.arange(start, position + 1, device=device)
    layout = None
    if mask.layout is not None:
        blocks = position // mask.layout.block_size + 1
        layout = mask.layout.blocks(blocks, blocks, causal=True)
    return allowed(mask, q_pos, k_pos, layout)[0]


def attention_step(
    q_t: Tensor,
    k_t: Tensor,
    v_t: Tensor,
    cache: KVCache | None,
    *,
    mask: MaskSpec,
    scale: float | None = None,
) -> tuple[Tensor, KVCache]:
    """Attend from one new token: o_t = softmax(scale q_t K^T + mask row) V over the cached keys and this one.

    q_t: [B, H, D]; k_t: [B, H_kv, D]; v_t: [B, H_kv, Dv]; H % H_kv == 0 (head h reads key/value head
    h // (H / H_kv)); cache: the KVCache of the earlier tokens (None: none), from `attention(...,
    output_final_state=True)` or an earlier step; mask: a causal MaskSpec (the one the sequence form used);
    scale None means D ** -0.5. Computes in float32 (float64 for float64 inputs).

    Returns (o_t [B, H, Dv] in q_t's dtype (zeros if the mask row sees no key), the cache with this token
    appended: rolled to the last mask.max_left + 1 keys under a pure sliding window).
    """
    op = "attention_step"
    check_step_inputs(op, q_t, k_t, v_t, cache, mask)
    check_scale(op, scale)
    if cache is None:
        cache = KVCache.empty(k_t[:, None], v_t[:, None])
    position = cache.end
    cache = cache.extend(k_t[:, None], v_t[:, None], mask)
    seen = mask_row(mask, position, cache.start, q_t.device)  # [S]
    batch, heads, key_dim = q_t.shape
    kv_heads = k_t.shape[1]
    if not bool(seen.any()):
        return q_t.new_zeros(batch, heads, v_t.shape[-1]), cache

    dtype = accumulation_dtype(q_t, k_t, v_t)
    scale = key_dim**-0.5 if scale is None else float(scale)
    q = q_t.to(dtype).view(batch, kv_heads, heads // kv_heads, key_dim) * scale
    scores = torch.einsum("bkgd,bskd->bkgs", q, cache.keys.to(dtype))
    weights = torch.softmax(scores.masked_fill(~seen, float("-inf")), dim=-1)
    o = torch.einsum("bkgs,bskd->bkgd", weights, cache.values.to(dtype))
    return o.reshape(batch, heads, -1).to(q_t.dtype), cache
