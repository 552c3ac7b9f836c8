"""The attention mixer (`zoo.models.families.attention.Attention`) in each of its kinds: full, sliding window, Longformer and
BigBird, causal and bidirectional.

- The layer's output equals softmax attention over a dense token mask built here from the definitions (window
  |i - j| <= w, global tokens, BigBird blocks expanded to tokens), with rotary embeddings at absolute positions and
  grouped-query heads, for the kernel's forms (auto: dense SDPA at this size; torch: blockwise; reference).
- Decoding: prefill + steps and steps from an empty cache equal the parallel forward; under a sliding window the
  cache rolls (at most window + 1 keys, whatever the decoded length) and rotary positions stay absolute; global
  tokens and BigBird rows decode with the rows the parallel form uses.
- Packed sequences (cu_seqlens) equal separate runs: positions, global tokens and BigBird blocks restart.
- Config validation names the config key.
All in float64 (tolerance 1e-10), so the only difference is the order of summation.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from zoo.kernels.attention import BigBirdLayout, KVCache
from zoo.models.families.attention import Attention, AttentionConfig

D_MODEL, HEADS, KV_HEADS = 32, 4, 2
TOL = dict(rtol=1e-10, atol=1e-10)

CONFIGS = {
    "full": AttentionConfig(kind="full"),
    "sliding_window": AttentionConfig(kind="sliding_window", window=5),
    "longformer": AttentionConfig(kind="longformer", window=3, global_tokens=[0, 13]),
    "bigbird": AttentionConfig(
        kind="bigbird", block_size=4, window_blocks=3, global_blocks=1, random_blocks=2, seed=7
    ),
}


def make_layer(kind: str, causal: bool = True, **changes) -> Attention:
    config = dataclasses.replace(CONFIGS[kind], num_heads=HEADS, num_kv_heads=KV_HEADS, causal=causal, **changes)
    return Attention(D_MODEL, config).double().eval()


def token_mask(config: AttentionConfig, length: int) -> torch.Tensor:
    """[T, T] bool (True = query i sees key j), from the definitions of each kind."""
    i, j = torch.arange(length)[:, None], torch.arange(length)[None, :]
    if config.kind == "full":
        seen = torch.ones(length, length, dtype=torch.bool)
    elif config.kind in ("sliding_window", "longformer"):
        seen = (i - j).abs() <= config.window
        if config.kind == "longformer":
            tokens = torch.tensor(config.global_tokens)
            seen = seen | torch.isin(i, tokens) | torch.isin(j, tokens)
    else:
        size, half = config.block_size, config.window_blocks // 2
        blocks = -(-length // size)
        layout = BigBirdLayout(size, config.window_blocks, config.global_blocks, config.random_blocks, config.seed)
        block_seen = layout.blocks(blocks, blocks, config.causal)  # the seeded random draw comes from the layout
        rows, cols = torch.arange(blocks)[:, None], torch.arange(blocks)[None, :]
        structural = ((rows - cols).abs() <= half) | (rows < config.global_blocks) | (cols < config.global_blocks)
        if config.causal:
            structural &= cols <= rows
        random = block_seen & ~structural
        assert (block_seen >= structural).all(), "the layout must hold its window and global blocks"
        for row in range(blocks):  # each row draws min(random_blocks, blocks it does not see yet) extra blocks
            unseen = int((~structural[row, : row + 1 if config.causal else blocks]).sum())
            assert int(random[row].sum()) == min(config.random_blocks, unseen), f"block row {row}"
        seen = block_seen[i // size, j // size]
    if config.causal:
        seen = seen & (j <= i)
    return seen


def dense_attention(layer: Attention, x: torch.Tensor, seen: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(D) + mask) v per head, keys/values repeated over the query heads, then out_proj."""
    q, k, v = layer._qkv(x)
    q, k = layer.rotary(q, positions), layer.rotary(k, positions)
    groups = layer.num_heads // layer.num_kv_heads
    k, v = k.repeat_interleave(groups, 2), v.repeat_interleave(groups, 2)
    scores = torch.einsum("bthd,bshd->bhts", q, k) * layer.head_dim**-0.5
    weights = torch.softmax(scores.masked_fill(~seen, float("-inf")), dim=-1)
    y = torch.einsum("bhts,bshd->bthd", weights, v)
    return layer.out_proj(y.flatten(2))


@pytest.mark.parametrize("backend", ["auto", "torch", "reference"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("kind", CONFIGS)
def test_layer_matches_dense_mask_attention(kind, causal, backend, seed):
    layer = make_layer(kind, causal, backend=backend)
    length = 37  # not a multiple of the BigBird block size
    x = torch.randn(2, length, D_MODEL, dtype=torch.float64)
    with torch.no_grad():
        y, state = layer(x)
        seen = token_mask(dataclasses.replace(CONFIGS[kind], causal=causal), length)
        expected = dense_attention(layer, x, seen, torch.arange(length))
    torch.testing.assert_close(y, expected, **TOL, msg=lambda m: f"{kind} (seed={seed}): {m}")
    assert (state is not None) == causal, "causal layers return a KV cache, bidirectional ones none"


def test_sparse_kinds_differ_from_full_attention(seed):
    """A mask that does nothing would pass the comparison above only if the reference were wrong as well."""
    x = torch.randn(1, 37, D_MODEL, dtype=torch.float64)
    full = make_layer("full")
    with torch.no_grad():
        baseline = full(x)[0]
        for kind in ("sliding_window", "longformer", "bigbird"):
            layer = make_layer(kind)
            layer.load_state_dict(full.state_dict())
            assert (layer(x)[0] - baseline).abs().max() > 1e-3, kind


@pytest.mark.parametrize("kind", CONFIGS)
def test_decoding_matches_parallel_forward(kind, seed):
    """Prefill 11 tokens, then step; and step from an empty cache. Longformer's global token 13 and BigBird's
    random blocks are decoded as step rows."""
    layer = make_layer(kind)
    length, prompt = 40, 11
    x = torch.randn(3, length, D_MODEL, dtype=torch.float64)
    with torch.no_grad():
        expected, _ = layer(x)
        y, state = layer(x[:, :prompt])
        outputs = [y]
        for t in range(prompt, length):
            y_t, state = layer.step(x[:, t], state)
            outputs.append(y_t[:, None])
        torch.testing.assert_close(torch.cat(outputs, 1), expected, **TOL)

        state, outputs = None, []
        for t in range(length):
            y_t, state = layer.step(x[:, t], state)
            outputs.append(y_t[:, None])
        torch.testing.assert_close(torch.cat(outputs, 1), expected, **TOL)
        assert state.end == length


def test_chunked_prefill_continues_the_cache(seed):
    """Forward in three pieces, each continuing the previous cache, equals one forward (queries after the cache)."""
    for kind in CONFIGS:
        layer = make_layer(kind)
        x = torch.randn(2, 30, D_MODEL, dtype=torch.float64)
        with torch.no_grad():
            expected, _ = layer(x)
            state, pieces = None, []
            for start, end in ((0, 7), (7, 19), (19, 30)):
                y, state = layer(x[:, start:end], state)
                pieces.append(y)
        torch.testing.assert_close(torch.cat(pieces, 1), expected, **TOL, msg=lambda m: f"{kind}: {m}")


def test_sliding_window_cache_stays_bounded_and_positions_stay_absolute(seed):
    window = 5
    layer = make_layer("sliding_window")
    length = 60
    x = torch.randn(2, length, D_MODEL, dtype=torch.float64)
    with torch.no_grad():
        expected, prefill_state = layer(x)
        assert prefill_state.length == window + 1 and prefill_state.start == length - window - 1
        state, outputs = None, []
        for t in range(length):
            y_t, state = layer.step(x[:, t], state)
            outputs.append(y_t[:, None])
            assert isinstance(state, KVCache)
            assert state.length == min(t + 1, window + 1), f"step {t}: {state.length} keys cached"
            assert state.keys.shape == (2, min(t + 1, window + 1), KV_HEADS, layer.head_dim)
            assert state.end == t + 1
    # the rolled cache keeps absolute positions: the late steps (cache start > 0) still match the parallel form,
    # which they would not if rotary were applied at positions relative to the cache
    torch.testing.assert_close(torch.cat(outputs, 1), expected, **TOL)


def test_global_and_bigbird_caches_keep_every_key(seed):
    for kind in ("full", "longformer", "bigbird"):
        layer = make_layer(kind)
        state = None
        with torch.no_grad():
            for t in range(20):
                _, state = layer.step(torch.randn(1, D_MODEL, dtype=torch.float64), state)
        assert state.start == 0 and state.length == 20, kind


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("kind", CONFIGS)
def test_packed_sequences_match_separate_runs(kind, causal, seed):
    layer = make_layer(kind, causal)
    lengths = [5, 17, 14]  # the middle sequence holds global token 13 and several BigBird blocks
    sequences = [torch.randn(1, n, D_MODEL, dtype=torch.float64) for n in lengths]
    cu_seqlens = torch.tensor([0, 5, 22, 36])
    with torch.no_grad():
        packed, state = layer(torch.cat(sequences, 1), cu_seqlens=cu_seqlens)
        separate = torch.cat([layer(s)[0] for s in sequences], 1)
    assert state is None
    torch.testing.assert_close(packed, separate, **TOL)


def test_bigbird_layout_is_seeded(seed):
    """The seed picks the random blocks: same seed, same layer output; another seed, another layout."""
    x = torch.randn(1, 64, D_MODEL, dtype=torch.float64)
    first, again, other = make_layer("bigbird"), make_layer("bigbird"), make_layer("bigbird", seed=8)
    again.load_state_dict(first.state_dict())
    other.load_state_dict(first.state_dict())
    with torch.no_grad():
        assert torch.equal(first(x)[0], again(x)[0])
        assert not torch.allclose(first(x)[0], other(x)[0])


def test_weight_names_are_those_of_the_full_attention_baseline():
    """Shipped checkpoints (hybrid-tiny-mqar) name in_proj and out_proj; every kind keeps them."""
    for kind in CONFIGS:
        assert sorted(make_layer(kind).state_dict()) == ["in_proj.weight", "out_proj.weight"], kind


def test_bidirectional_layers_refuse_decoding():
    layer = make_layer("sliding_window", causal=False)
    x = torch.randn(1, D_MODEL, dtype=torch.float64)
    with pytest.raises(ValueError, match="attention.causal = False"):
        layer.step(x, None)
    cache = make_layer("sliding_window")(x[:, None])[1]
    with pytest.raises(ValueError, match="takes no KV cache"):
        layer(x[:, None], cache)


@pytest.mark.parametrize(
    "changes, key",
    [
        (dict(kind="sparse"), "attention.kind"),
        (dict(kind="sliding_window", window=0), "attention.window"),
        (dict(kind="full", window=4), "attention.window"),
        (dict(kind="full", global_tokens=[0]), "attention.global_tokens"),
        (dict(kind="longformer", window=4), "attention.global_tokens"),
        (dict(kind="longformer", window=4, global_tokens=[-1]), "attention.global_tokens"),
        (dict(kind="bigbird", window_blocks=2), "attention.window_blocks"),
        (dict(kind="bigbird", block_size=0), "attention.block_size"),
        (dict(kind="bigbird", random_blocks=-1), "attention.random_blocks"),
        (dict(backend="cuda"), "attention.backend"),
        (dict(num_heads=4, num_kv_heads=3), "attention.num_heads"),
    ],
)
def test_config_errors_name_the_key(changes, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        Attention(D_MODEL, dataclasses.replace(AttentionConfig(), **changes))
