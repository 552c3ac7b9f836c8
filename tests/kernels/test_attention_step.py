"""attention_step: decoding token by token gives the parallel form's outputs (float64, fresh random inputs) under
every causal mask kind, from scratch and after a prefill; sliding windows keep a rolling cache of max_left + 1
keys; and the step's errors."""

from __future__ import annotations

import pytest
import torch

from zoo.kernels.attention import (
    BigBirdLayout, KVCache, MaskSpec, attention, attention_reference, attention_step, bigbird, longformer,
    sliding_window,
)

MASKS = {
    "causal": MaskSpec(causal=True),
    "window": sliding_window(5),
    "window_self_only": sliding_window(0),
    "longformer": longformer(4, 0, (0, 13), causal=True),
    "bigbird": bigbird(
        BigBirdLayout(block_size=4, window_blocks=3, global_blocks=1, random_blocks=2, seed=3), causal=True
    ),
    "combined": MaskSpec(
        causal=True, window=(3, 0), global_tokens=(7,),
        layout=BigBirdLayout(block_size=8, window_blocks=1, global_blocks=0, random_blocks=1, seed=4),
    ),
    "globals_only": MaskSpec(causal=True, global_tokens=(6,)),  # tokens before 6 see nothing
}
TOL = dict(rtol=1e-9, atol=1e-10)


def _inputs(batch, length, heads=4, kv_heads=2, dim=8, value_dim=6):
    q = torch.randn(batch, length, heads, dim, dtype=torch.float64)
    k = torch.randn(batch, length, kv_heads, dim, dtype=torch.float64)
    v = torch.randn(batch, length, kv_heads, value_dim, dtype=torch.float64)
    return q, k, v


def _close(actual, expected, what, seed):
    torch.testing.assert_close(actual, expected, **TOL, msg=lambda m: f"{what} (seed={seed}): {m}")


def _decode(q, k, v, spec, cache, start, seed):
    """Steps over tokens start..T-1 from `cache`: their outputs [B, T - start, H, Dv] and the last cache, checking
    the cache's size and positions at every step."""
    outputs = []
    for t in range(start, q.shape[1]):
        o_t, cache = attention_step(q[:, t], k[:, t], v[:, t], cache, mask=spec)
        outputs.append(o_t)
        assert cache.end == t + 1
        if spec.max_left >= 0:
            assert cache.length == min(t + 1, spec.max_left + 1), f"the rolling cache grew (seed={seed})"
        else:
            assert cache.length == t + 1 and cache.start == 0
        _close(cache.keys[:, -1], k[:, t], "the cache's newest key", seed)
    return torch.stack(outputs, 1), cache


@pytest.mark.parametrize("mask_name", list(MASKS))
def test_steps_match_the_parallel_form(seed, mask_name):
    spec = MASKS[mask_name]
    q, k, v = _inputs(2, 41)
    expected, _ = attention_reference(q, k, v, mask=spec)
    outputs, _ = _decode(q, k, v, spec, None, 0, seed)
    _close(outputs, expected, f"{mask_name}: steps vs parallel", seed)


@pytest.mark.parametrize("backend", ["torch", "dense", "reference"])
@pytest.mark.parametrize("mask_name", list(MASKS))
def test_prefill_then_steps(seed, mask_name, backend):
    spec = MASKS[mask_name]
    q, k, v = _inputs(2, 37)
    expected, _ = attention_reference(q, k, v, mask=spec)
    prefill = 20
    o, cache = attention(
        q[:, :prefill], k[:, :prefill], v[:, :prefill], mask=spec, output_final_state=True, backend=backend
    )
    _close(o, expected[:, :prefill], f"{mask_name}: prefill", seed)
    if spec.max_left >= 0:
        assert cache.length == spec.max_left + 1 and cache.start == prefill - spec.max_left - 1
    outputs, cache = _decode(q, k, v, spec, cache, prefill, seed)
    _close(outputs, expected[:, prefill:], f"{mask_name}: steps after a prefill", seed)
    # and a chunk on top of the decoded cache, through the sequence form
    more = _inputs(2, 9)
    q2, k2, v2 = (torch.cat(pair, 1) for pair in zip((q, k, v), more))
    o2, _ = attention(*(t[:, 37:] for t in (q2, k2, v2)), mask=spec, initial_state=cache, backend=backend)
    _close(o2, attention_reference(q2, k2, v2, mask=spec)[0][:, 37:], f"{mask_name}: a chunk after the steps", seed)


def test_rolling_cache_memory_is_constant(seed):
    """Under a sliding window, the cache holds the window's keys no matter how long decoding runs, in fresh
    tensors (no view of a longer storage)."""
    spec = sliding_window(3)
    q, k, v = _inputs(1, 200, heads=2, kv_heads=1)
    _, cache = attention(q[:, :100], k[:, :100], v[:, :100], mask=spec, output_final_state=True)
    assert cache.keys.untyped_storage().nbytes() == cache.keys.numel() * 8
    for t in range(100, 200):
        _, cache = attention_step(q[:, t], k[:, t], v[:, t], cache, mask=spec)
        assert cache.keys.shape == (1, 4, 1, 8) and cache.values.shape == (1, 4, 1, 6)
        assert cache.keys.untyped_storage().nbytes() == cache.keys.numel() * 8
    assert cache.start == 196


def test_step_keeps_dtype_and_computes_in_float32(seed):
    spec = sliding_window(4)
    q, k, v = (t.to(torch.bfloat16) for t in _inputs(1, 12))
    expected, _ = attention_reference(q.double(), k.double(), v.double(), mask=spec)
    cache = None
    for t in range(12):
        o_t, cache = attention_step(q[:, t], k[:, t], v[:, t], cache, mask=spec)
        assert o_t.dtype == torch.bfloat16 and cache.keys.dtype == torch.bfloat16
        torch.testing.assert_close(o_t.double(), expected[:, t], rtol=2e-2, atol=2e-2)


def _step_error_cases():
    q_t, k_t, v_t = torch.randn(2, 4, 8), torch.randn(2, 2, 8), torch.randn(2, 2, 6)
    rolled = KVCache(torch.randn(2, 3, 2, 8), torch.randn(2, 3, 2, 6), start=5)
    return [
        ((q_t, k_t, v_t, None), dict(mask=MaskSpec(causal=False)), "decoding needs a causal mask"),
        ((q_t, k_t, v_t, None), dict(mask=sliding_window(2, 2, causal=False)), "decoding needs a causal mask"),
        ((q_t, k_t, v_t, None), dict(mask="causal"), "mask must be a MaskSpec"),
        ((q_t[:, :, :4], k_t, v_t, None), dict(mask=MaskSpec()), r"k_t has shape \(2, 2, 8\) but expected"),
        ((q_t, k_t[:1], v_t, None), dict(mask=MaskSpec()), r"k_t has shape \(1, 2, 8\)"),
        ((q_t, k_t, v_t[:, :1], None), dict(mask=MaskSpec()), r"v_t has shape \(2, 1, 6\)"),
        ((q_t[:, :3], k_t, v_t, None), dict(mask=MaskSpec()), "H = 3 .* multiple .* H_kv = 2"),
        ((q_t, k_t, v_t, (k_t, v_t)), dict(mask=MaskSpec()), "cache must be a KVCache"),
        ((q_t, k_t, v_t, KVCache(torch.randn(2, 3, 2, 8), torch.randn(2, 4, 2, 6))), dict(mask=MaskSpec()),
         r"cache.values has shape \(2, 4, 2, 6\)"),
        ((q_t, k_t, v_t, rolled), dict(mask=MaskSpec()), "a rolling cache"),
        ((q_t, k_t, v_t, rolled), dict(mask=sliding_window(4)), "fewer than the window's 4"),
        ((q_t, k_t.double(), v_t, None), dict(mask=MaskSpec()), "must share one dtype"),
        ((q_t, k_t, v_t, None), dict(mask=MaskSpec(), scale=[1.0]), "scale must be a number"),
    ]


@pytest.mark.parametrize("index", range(len(_step_error_cases())))
def test_step_errors(index):
    args, kwargs, message = _step_error_cases()[index]
    with pytest.raises(ValueError, match=message):
        attention_step(*args, **kwargs)


def test_rolled_cache_serves_its_window():
    q_t, k_t, v_t = torch.randn(2, 4, 8), torch.randn(2, 2, 8), torch.randn(2, 2, 6)
    rolled = KVCache(torch.randn(2, 3, 2, 8), torch.randn(2, 3, 2, 6), start=5)
    _, cache = attention_step(q_t, k_t, v_t, rolled, mask=sliding_window(2))
    assert (cache.start, cache.length, cache.end) == (6, 3, 9)
