"""Tile tables: which key tiles each query tile must visit under a mask, so that the blockwise forms skip the
tiles a mask empties (cost follows the number of non-empty tiles), and which tiles need no token mask at all.

The classification is computed per tile from the mask rule's parts (causal, window, global tokens, BigBird
layout) without forming the T x S mask: a tile is visited when it may hold a seen pair (conservative: a
visited tile can still turn out empty, which the token mask then handles) and marked full only when every
pair in it is certainly seen. Tables are [N, tiles, ...] for N sequences (N = 1 without varlen: every batch row
shares the lengths).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from .mask import MaskSpec, layout_for


@dataclass(frozen=True)
class TileTable:
    """Visit lists of a mask over tiles of block_q queries x block_k keys, for N sequences.

    kv_count [N, QT] int32: key tiles that query tile i of sequence n visits; kv_index [N, QT, max_kv] int32:
    those tiles, ascending (padding 0); kv_full [N, QT, max_kv] bool: the tile is seen entirely (no token mask).
    q_count [N, KT], q_index [N, KT, max_q], q_full: the transpose, the query tiles that see key tile j
    (for the backward pass over keys). QT and KT are the tile counts of the longest sequence.
    """

    block_q: int
    block_k: int
    kv_count: Tensor
    kv_index: Tensor
    kv_full: Tensor
    q_count: Tensor
    q_index: Tensor
    q_full: Tensor

    @property
    def visited(self) -> int:
        """Number of (query tile, key tile) pairs visited over all sequences."""
        return int(self.kv_count.sum())

    def to(self, device) -> TileTable:
        """The same table with its tensors on `device`."""
        moved = {name: getattr(self, name).to(device) for name in _TENSORS}
        return TileTable(block_q=self.block_q, block_k=self.block_k, **moved)


_TENSORS = ("kv_count", "kv_index", "kv_full", "q_count", "q_index", "q_full")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _count_in(prefix: Tensor, first: Tensor, last: Tensor) -> Tensor:
    """Entries counted in positions first..last (inclusive) from prefix sums [L + 1] (prefix[i] = count < i)."""
    limit = prefix.numel() - 1
    return prefix[(last + 1).clamp(0, limit)] - prefix[first.clamp(0, limit)]


def classify_tiles(
    spec: MaskSpec, q_len: int, k_len: int, block_q: int, block_k: int
) -> tuple[Tensor, Tensor]:
    """For one sequence of T = q_len queries (aligned bottom-right) and S = k_len keys: (visit, full), both
    [ceil(T / block_q), ceil(S / block_k)] bool."""
    q_tiles, k_tiles = _ceil_div(q_len, block_q), _ceil_div(k_len, block_k)
    offset = k_len - q_len
    qt = torch.arange(q_tiles)[:, None]
    kt = torch.arange(k_tiles)[None, :]
    a0 = qt * block_q + offset  # first and last absolute query position of the tile
    a1 = torch.clamp((qt + 1) * block_q, max=q_len) - 1 + offset
    j0 = kt * block_k
    j1 = torch.clamp((kt + 1) * block_k, max=k_len) - 1

    yes = torch.ones(q_tiles, k_tiles, dtype=torch.bool)
    causal_any, causal_all = (j0 <= a1, j1 <= a0) if spec.causal else (yes, yes)
    if spec.dense:
        return causal_any & yes, causal_all & yes

    visit, full = torch.zeros_like(yes), torch.zeros_like(yes)
    if spec.has_window:
        left, right = spec.effective_window
        lower_any = yes if left < 0 else j1 >= a0 - left
        upper_any = yes if right < 0 else j0 <= a1 + right
        lower_all = yes if left < 0 else j0 >= a1 - left
        upper_all = yes if right < 0 else j1 <= a0 + right
        visit |= lower_any & upper_any
        full |= lower_all & upper_all
    if spec.global_tokens:
        marks = torch.zeros(max(k_len, 1) + 1, dtype=torch.long)
        tokens = torch.tensor([t for t in spec.global_tokens if t < k_len], dtype=torch.long)
        marks[tokens + 1] = 1
        prefix = marks.cumsum(0)
        q_globals = _count_in(prefix, a0, a1)
        k_globals = _count_in(prefix, j0, j1)
        visit |= (q_globals > 0) | (k_globals > 0)
        full |= (q_globals == a1 - a0 + 1) | (k_globals == j1 - j0 + 1)
    if spec.layout is not None:
        blocks = layout_for(spec, q_len, k_len).long()
        prefix = torch.zeros(blocks.shape[0] + 1, blocks.shape[1] + 1, dtype=torch.long)
        prefix[1:, 1:] = blocks.cumsum(0).cumsum(1)
        size = spec.layout.block_size
        r0, r1 = a0 // size, a1 // size + 1
        c0, c1 = j0 // size, j1 // size + 1
        inside = prefix[r1, c1] - prefix[r0, c1] - prefix[r1, c0] + prefix[r0, c0]
        visit |= inside > 0
        full |= inside == (r1 - r0) * (c1 - c0)
    return visit & causal_any, full & causal_all


def _visit_lists(visit: Tensor, full: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """[N, R, C] visit/full -> (count [N, R] int32, index [N, R, max] int32 ascending, full [N, R, max] bool)."""
    count = visit.sum(-1)
    width = max(int(count.max()) if count.numel() else 0, 1)
    order = torch.sort((~visit).to(torch.int8), dim=-1, stable=True).indices[..., :width]
    picked = torch.arange(width) < count[..., None]
    index = torch.where(picked, order, torch.zeros_like(order))
    return count.int(), index.int(), full.gather(-1, order) & picked


@lru_cache(maxsize=128)
def _cached_table(
    spec: MaskSpec, q_lens: tuple[int, ...], k_lens: tuple[int, ...], block_q: int, block_k: int
) -> TileTable:
    q_tiles = max((_ceil_div(t, block_q) for t in q_lens), default=0)
    k_tiles = max((_ceil_div(s, block_k) for s in k_lens), default=0)
    visit = torch.zeros(len(q_lens), q_tiles, k_tiles, dtype=torch.bool)
    full = torch.zeros_like(visit)
    for n, (q_len, k_len) in enumerate(zip(q_lens, k_lens)):
        v, f = classify_tiles(spec, q_len, k_len, block_q, block_k)
        visit[n, : v.shape[0], : v.shape[1]] = v
        full[n, : f.shape[0], : f.shape[1]] = f
    kv = _visit_lists(visit, full)
    q = _visit_lists(visit.transpose(1, 2), full.transpose(1, 2))
    return TileTable(block_q, block_k, *kv, *q)


def tile_table(
    spec: MaskSpec,
    q_lens: list[int] | tuple[int, ...],
    k_lens: list[int] | tuple[int, ...],
    block_q: int,
    block_k: int,
    device=None,
) -> TileTable:
    """The tile table of `spec` for sequences of q_lens[n] queries (aligned bottom-right, q_lens[n] <= k_lens[n])
    and k_lens[n] keys, on `device`. Cached on the arguments (tables are built on the CPU)."""
    if len(q_lens) != len(k_lens):
        raise ValueError(f"tile_table: {len(q_lens)} query lengths but {len(k_lens)} key lengths")
    if any(t > s for t, s in zip(q_lens, k_lens)):
        raise ValueError(f"tile_table: more queries than keys in a sequence: q_lens={q_lens}, k_lens={k_lens}")
    table = _cached_table(spec, tuple(int(t) for t in q_lens), tuple(int(s) for s in k_lens), block_q, block_k)
    return table if device is None or torch.device(device).type == "cpu" else table.to(device)
