"""Work plans for the blockwise attention: the visited tiles of a tile table, gathered into batches that run as a
few batched matmuls instead of one small matmul per tile.

A query tile of `block_q` queries visits `count` key tiles (the tile table's visit list). Query tiles with the same
count form a `TileBatch`: their queries are one index vector into the packed query rows and their keys one
[tiles, count * block_k] index matrix into the packed key rows, so one `index_select` gathers a whole batch. Padding
(a last query tile or key tile cut short by the sequence's end) repeats the sequence's last row and is hidden by the
token mask (and padded query rows are never written back).

Token masks are kept only for the (query tile, key slot) pairs that need one: the tiles the table does not mark
full, and those that hold padding. Their masks are [P, block_q, block_k] for P such pairs, so a plan holds
O(visited tiles that are partial * block_q * block_k) booleans: linear in T for windows, never T x S.
Plans are cached on (mask, lengths, starts, tile sizes, device).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from .mask import MaskSpec, allowed, layout_for
from .tiles import tile_table


@dataclass(frozen=True)
class TileChunk:
    """A slice of a TileBatch, computed in one go: n query tiles, each visiting L = count * block_k keys.

    q_index [n * block_q] long: packed query rows (padding: a real row); keep [n * block_q] bool or None (all
    real): which rows are real; k_index [n, L] long: packed key rows (padding: a real row); hidden [n, block_q, L]
    bool or None: True where the token mask hides the pair (None: every pair is seen).
    """

    tiles: int
    q_index: Tensor
    keep: Tensor | None
    k_index: Tensor
    hidden: Tensor | None


@dataclass(frozen=True)
class TileBatch:
    """Query tiles that visit `count` key tiles each (see the module docstring).

    q_index [n * block_q] long, keep [n * block_q] bool or None, k_index [n, count * block_k] long; the partial
    pairs: part_tile [P] long (which of the n tiles, ascending), part_slot [P] long (which of its count key tiles),
    part_hidden [P, block_q, block_k] bool (True: hidden); part_offsets: n + 1 ints, the partial pairs of tile r
    are part_offsets[r]:part_offsets[r + 1].
    """

    count: int
    block_q: int
    block_k: int
    q_index: Tensor
    keep: Tensor | None
    k_index: Tensor
    part_tile: Tensor
    part_slot: Tensor
    part_hidden: Tensor
    part_offsets: tuple[int, ...]

    @property
    def tiles(self) -> int:
        return self.k_index.shape[0]

    def chunks(self, max_tiles: int) -> Iterator[TileChunk]:
        """The batch cut into chunks of at most max_tiles query tiles."""
        bq, bk = self.block_q, self.block_k
        for a in range(0, self.tiles, max_tiles):
            b = min(a + max_tiles, self.tiles)
            lo, hi = self.part_offsets[a], self.part_offsets[b]
            hidden = None
            if hi > lo:
                hidden = torch.zeros(b - a, bq, self.count, bk, dtype=torch.bool, device=self.k_index.device)
                hidden[self.part_tile[lo:hi] - a, :, self.part_slot[lo:hi], :] = self.part_hidden[lo:hi]
                hidden = hidden.view(b - a, bq, self.count * bk)
            keep = None if self.keep is None else self.keep[a * bq : b * bq]
            yield TileChunk(b - a, self.q_index[a * bq : b * bq], keep, self.k_index[a:b], hidden)


@dataclass(frozen=True)
class AttentionPlan:
    """The batches of a call: every visited (query tile, key tile) pair is in exactly one batch, every query row
    in at most one (rows of query tiles that visit nothing are in none: they see no key)."""

    block_q: int
    block_k: int
    batches: tuple[TileBatch, ...]

    @property
    def visited(self) -> int:
        """Visited (query tile, key tile) pairs."""
        return sum(batch.tiles * batch.count for batch in self.batches)


def attention_plan(
    spec: MaskSpec,
    q_lens: tuple[int, ...],
    k_lens: tuple[int, ...],
    q_starts: tuple[int, ...],
    k_starts: tuple[int, ...],
    block_q: int,
    block_k: int,
    device: torch.device | str | None = None,
) -> AttentionPlan:
    """The plan for N sequences: sequence n has q_lens[n] queries at packed rows q_starts[n]... (aligned
    bottom-right) and k_lens[n] keys at packed rows k_starts[n].... Cached on the arguments."""
    device = torch.device("cpu" if device is None else device)
    if device.type != "cpu":
        cpu = _cached_plan(spec, q_lens, k_lens, q_starts, k_starts, block_q, block_k)
        return _cached_on_device(cpu, str(device))
    return _cached_plan(spec, q_lens, k_lens, q_starts, k_starts, block_q, block_k)


@lru_cache(maxsize=32)
def _cached_on_device(plan: AttentionPlan, device: str) -> AttentionPlan:
    def move(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.to(device)

    batches = tuple(
        TileBatch(
            b.count, b.block_q, b.block_k, move(b.q_index), move(b.keep), move(b.k_index),
            move(b.part_tile), move(b.part_slot), move(b.part_hidden), b.part_offsets,
        )
        for b in plan.batches
    )
    return AttentionPlan(plan.block_q, plan.block_k, batches)


@lru_cache(maxsize=32)
def _cached_plan(
    spec: MaskSpec,
    q_lens: tuple[int, ...],
    k_lens: tuple[int, ...],
    q_starts: tuple[int, ...],
    k_starts: tuple[int, ...],
    block_q: int,
    block_k: int,
) -> AttentionPlan:
    table = tile_table(spec, q_lens, k_lens, block_q, block_k)
    counts, indices, fulls = table.kv_count.tolist(), table.kv_index.tolist(), table.kv_full.tolist()
    groups: dict[int, list] = {}
    q_offsets, k_offsets = torch.arange(block_q), torch.arange(block_k)
    for n, (q_len, k_len) in enumerate(zip(q_lens, k_lens)):
        layout = layout_for(spec, q_len, k_len)
        for i, count in enumerate(counts[n]):
            if count == 0:
                continue
            rows = i * block_q + q_offsets  # query rows within the sequence
            q_real = rows < q_len
            q_pos = rows.clamp(max=q_len - 1) + (k_len - q_len)  # absolute positions (padding: the last one)
            key_tiles = indices[n][i][:count]
            cols = (torch.tensor(key_tiles)[:, None] * block_k + k_offsets).flatten()  # [count * block_k]
            k_real = cols < k_len
            k_pos = cols.clamp(max=k_len - 1)
            q_short = not bool(q_real.all())
            partial = [
                slot for slot, t in enumerate(key_tiles)
                if q_short or not fulls[n][i][slot] or (t + 1) * block_k > k_len
            ]
            hidden = None
            if partial:
                cols_of = (torch.tensor(partial)[:, None] * block_k + k_offsets).flatten()
                seen = allowed(spec, q_pos, k_pos[cols_of], layout) & q_real[:, None] & k_real[cols_of][None, :]
                hidden = ~seen.view(block_q, len(partial), block_k).transpose(0, 1)
            entry = (q_starts[n] + q_pos - (k_len - q_len), q_real, k_starts[n] + k_pos, partial, hidden)
            groups.setdefault(count, []).append(entry)
    batches = tuple(_make_batch(count, entries, block_q, block_k) for count, entries in sorted(groups.items()))
    return AttentionPlan(block_q, block_k, batches)


def _make_batch(count: int, entries: list, block_q: int, block_k: int) -> TileBatch:
    q_index = torch.cat([e[0] for e in entries]).long()
    keep = torch.cat([e[1] for e in entries])
    k_index = torch.stack([e[2] for e in entries]).long()
    part_tile = torch.tensor([r for r, e in enumerate(entries) for _ in e[3]], dtype=torch.long)
    part_slot = torch.tensor([slot for e in entries for slot in e[3]], dtype=torch.long)
    masks = [e[4] for e in entries if e[4] is not None]
    part_hidden = torch.cat(masks) if masks else torch.zeros(0, block_q, block_k, dtype=torch.bool)
    offsets = [0]
    for e in entries:
        offsets.append(offsets[-1] + len(e[3]))
    return TileBatch(
        count, block_q, block_k, q_index, None if bool(keep.all()) else keep, k_index,
        part_tile, part_slot, part_hidden, tuple(offsets),
    )
