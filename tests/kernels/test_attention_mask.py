"""The attention mask spec and its tile tables: the rule on small cases written out by hand, the BigBird
layout's reproducibility, and the tile classification against the dense mask on random specs (a visited tile
list must cover every seen pair, a tile marked full must be seen entirely, and windows must skip every empty
tile)."""

from __future__ import annotations

import random

import pytest
import torch

from zoo.kernels.attention.mask import BigBirdLayout, MaskSpec, bigbird, dense_mask, longformer, sliding_window
from zoo.kernels.attention.tiles import classify_tiles, tile_table


def test_causal_and_full_masks():
    assert torch.equal(dense_mask(MaskSpec(causal=True), 4), torch.ones(4, 4, dtype=torch.bool).tril())
    assert dense_mask(MaskSpec(causal=False), 3, 5).all()


def test_queries_align_bottom_right():
    mask = dense_mask(MaskSpec(causal=True), 2, 5)
    assert mask.tolist() == [[True] * 4 + [False], [True] * 5]


def test_sliding_window_rows():
    mask = dense_mask(sliding_window(2), 6)
    assert mask[5].tolist() == [False, False, False, True, True, True]
    assert mask[0].tolist() == [True] + [False] * 5
    two_sided = dense_mask(sliding_window(1, 2, causal=False), 6)
    assert two_sided[2].tolist() == [False, True, True, True, True, False]


def test_longformer_global_tokens_see_and_are_seen_by_all():
    mask = dense_mask(longformer(1, 1, global_tokens=(0, 4)), 8)
    assert mask[0].all() and mask[4].all()
    assert mask[:, 0].all() and mask[:, 4].all()
    assert mask[6].tolist() == [True, False, False, False, True, True, True, True]


def test_causal_longformer_hides_the_future_even_for_global_tokens():
    mask = dense_mask(longformer(1, 0, global_tokens=(2,), causal=True), 5)
    assert mask[2].tolist() == [True, True, True, False, False]
    assert not mask.triu(1).any()


def test_bigbird_layout_is_seeded_and_length_independent():
    layout = BigBirdLayout(block_size=4, window_blocks=3, global_blocks=1, random_blocks=2, seed=7)
    short = layout.blocks(6, 6, causal=True)
    long = layout.blocks(10, 10, causal=True)
    assert torch.equal(long[:6, :6], short)  # decoding sees the rows training saw
    assert torch.equal(BigBirdLayout(block_size=4, seed=7, random_blocks=2).blocks(10, 10, True), long)
    other = BigBirdLayout(block_size=4, window_blocks=3, global_blocks=1, random_blocks=2, seed=8)
    assert not torch.equal(other.blocks(10, 10, True), long)
    # every row: window (<= 2 earlier blocks incl. itself), the global block, and up to 2 random blocks
    counts = long.sum(1)
    assert (counts <= 1 + 1 + 1 + 2).all() and counts[-1] == 5
    bidirectional = layout.blocks(10, 10, causal=False)
    assert bidirectional[0].all() and bidirectional[:, 0].all()
    # window (3 blocks, block 0 among them for row 1, 2 for the last row) + global block 0 + 2 random blocks
    assert bidirectional[1:].sum(1).tolist() == [5] + [6] * 7 + [5]


def test_bigbird_token_mask_follows_blocks():
    spec = bigbird(BigBirdLayout(block_size=4, random_blocks=1, seed=3), causal=False)
    mask = dense_mask(spec, 16)
    blocks = spec.layout.blocks(4, 4, causal=False)
    assert torch.equal(mask, blocks.repeat_interleave(4, 0).repeat_interleave(4, 1))


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(window=(1,)), "window must be"),
        (dict(window=(-2, 0)), "window must be"),
        (dict(global_tokens=(-1,)), "global_tokens"),
        (dict(causal=1), "causal must be a bool"),
        (dict(layout="bigbird"), "layout must be a BigBirdLayout"),
    ],
)
def test_spec_validation(bad, message):
    with pytest.raises(ValueError, match=message):
        MaskSpec(**bad)


def test_layout_validation():
    with pytest.raises(ValueError, match="window_blocks must be odd"):
        BigBirdLayout(window_blocks=2)
    with pytest.raises(ValueError, match="block_size must be >= 1"):
        BigBirdLayout(block_size=0)


def random_spec(rng: random.Random) -> MaskSpec:
    causal = rng.random() < 0.5
    kind = rng.choice(["dense", "window", "longformer", "bigbird", "all"])
    window = (rng.choice([-1, 0, 3, 17]), rng.choice([-1, 0, 5, 20])) if kind in ("window", "longformer", "all") else (-1, -1)
    tokens = tuple(rng.sample(range(90), 3)) if kind in ("longformer", "all") else ()
    layout = None
    if kind in ("bigbird", "all"):
        layout = BigBirdLayout(block_size=rng.choice([4, 8, 16]), window_blocks=rng.choice([1, 3]),
                               global_blocks=rng.choice([0, 1]), random_blocks=rng.choice([0, 2]), seed=rng.randint(0, 99))
    return MaskSpec(causal=causal, window=window, global_tokens=tokens, layout=layout)


def test_tile_classification_covers_the_mask(seed):
    rng = random.Random(seed)
    for _ in range(60):
        spec = random_spec(rng)
        k_len = rng.randint(1, 90)
        q_len = rng.randint(1, k_len)
        block_q, block_k = rng.choice([4, 8, 16]), rng.choice([4, 8, 16])
        visit, full = classify_tiles(spec, q_len, k_len, block_q, block_k)
        mask = dense_mask(spec, q_len, k_len)
        for i in range(visit.shape[0]):
            for j in range(visit.shape[1]):
                tile = mask[i * block_q:(i + 1) * block_q, j * block_k:(j + 1) * block_k]
                context = f"spec={spec} T={q_len} S={k_len} tiles=({block_q},{block_k}) tile=({i},{j}) seed={seed}"
                assert visit[i, j] or not tile.any(), f"skipped a seen tile: {context}"
                assert not full[i, j] or tile.all(), f"marked full a partly hidden tile: {context}"
                if spec.global_tokens == () and spec.layout is None:  # windows and causal: exact
                    assert visit[i, j] == tile.any(), f"visited an empty tile: {context}"
                    assert full[i, j] == tile.all(), f"missed a full tile: {context}"


def test_sliding_window_visits_grow_linearly():
    spec = sliding_window(64)
    visits = [tile_table(spec, [t], [t], 64, 64).visited for t in (1024, 2048, 4096)]
    assert visits == [2 * 16 - 1, 2 * 32 - 1, 2 * 64 - 1]


def test_tile_table_lists_for_varlen():
    spec = MaskSpec(causal=True)
    table = tile_table(spec, [5, 0, 9], [5, 0, 9], 4, 4)
    assert table.kv_count.tolist() == [[1, 2, 0], [0, 0, 0], [1, 2, 3]]
    assert table.kv_index[2, 2].tolist() == [0, 1, 2]
    assert table.kv_full[2, 2].tolist() == [True, True, True]  # the last tiles hold query 8 and key 8 only
    assert table.kv_full[2, 1].tolist() == [True, False, False]
    assert table.q_count.tolist() == [[2, 1, 0], [0, 0, 0], [3, 2, 1]]
    assert table.q_index[2, 1, :2].tolist() == [1, 2]
    with pytest.raises(ValueError, match="more queries than keys"):
        tile_table(spec, [6], [5], 4, 4)
