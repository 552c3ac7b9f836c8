"""attention: the blockwise and dense forms against torch's SDPA (math backend, dense boolean mask) and against the
reference, in float64 on fresh random inputs: outputs, lse and every gradient, for every mask kind, at odd lengths,
with grouped-query heads, varlen, KV caches of earlier tokens (T < S); the dispatcher's choices and errors; and that
the blockwise form saves O(T) for backward."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from zoo.kernels.attention import (
    BigBirdLayout, KVCache, MaskSpec, attention, attention_blockwise, attention_dense, attention_reference, bigbird,
    dense_mask, longformer, sliding_window,
)
from zoo.kernels.attention import dispatch

MASKS = {
    "causal": MaskSpec(causal=True),
    "full": MaskSpec(causal=False),
    "window_causal": sliding_window(9),
    "window_two_sided": sliding_window(5, 12, causal=False),
    "window_self_only": MaskSpec(causal=False, window=(0, 0)),
    "longformer_causal": longformer(6, 0, (0, 17, 40), causal=True),
    "longformer_bidirectional": longformer(6, 6, (3, 50), causal=False),
    "bigbird_causal": bigbird(BigBirdLayout(block_size=8, random_blocks=1, seed=5), causal=True),
    "bigbird_bidirectional": bigbird(BigBirdLayout(block_size=16, random_blocks=2, seed=1)),
    "combined": MaskSpec(
        causal=True, window=(4, 0), global_tokens=(10,),
        layout=BigBirdLayout(block_size=16, window_blocks=1, global_blocks=0, random_blocks=1, seed=2),
    ),
    "globals_only_causal": MaskSpec(causal=True, global_tokens=(20, 45)),  # rows before 20 see nothing
}
TOL = dict(rtol=1e-9, atol=1e-10)


def _inputs(batch, length, keys, heads=4, kv_heads=2, dim=16, value_dim=8):
    """Fresh float64 q [B, T, H, D], k [B, S, H_kv, D], v [B, S, H_kv, Dv] that require grad."""
    q = torch.randn(batch, length, heads, dim, dtype=torch.float64, requires_grad=True)
    k = torch.randn(batch, keys, kv_heads, dim, dtype=torch.float64, requires_grad=True)
    v = torch.randn(batch, keys, kv_heads, value_dim, dtype=torch.float64, requires_grad=True)
    return q, k, v


def _sdpa(q, k, v, seen):
    """The oracle: torch's SDPA math backend on the dense boolean mask [T, S], rows that see nothing -> 0."""
    groups = q.shape[2] // k.shape[2]
    qh = q.transpose(1, 2)
    kh, vh = (x.repeat_interleave(groups, 2).transpose(1, 2) for x in (k, v))
    empty = ~seen.any(-1)
    with sdpa_kernel(SDPBackend.MATH):
        o = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=seen | empty[:, None])
    return o.transpose(1, 2).masked_fill(empty[:, None, None], 0.0)


def _close(actual, expected, what, seed):
    torch.testing.assert_close(actual, expected, **TOL, msg=lambda m: f"{what} (seed={seed}): {m}")


def _check_lse(lse, lse_ref, what, seed):
    assert torch.equal(lse.isinf(), lse_ref.isinf()), f"{what}: rows that see nothing differ (seed={seed})"
    _close(lse.masked_fill(lse.isinf(), 0.0), lse_ref.masked_fill(lse_ref.isinf(), 0.0), what, seed)


def _grads(o, lse, weights, leaves):
    """Gradients of <o, w> (+ <lse, w_lse> over the rows that see something) w.r.t. leaves."""
    loss = (o * weights[0]).sum()
    if lse is not None:
        loss = loss + (lse.masked_fill(lse.isinf(), 0.0) * weights[1]).sum()
    return torch.autograd.grad(loss, leaves)


def _check_form(name, form, q, k, v, spec, seed, *, cu_seqlens=None, with_lse=True, **options):
    """form(q, k, v) against the reference: o, lse (incl. its -inf rows) and the gradients of q, k, v."""
    o_ref, lse_ref = attention_reference(q, k, v, mask=spec, cu_seqlens=cu_seqlens)
    o, lse = form(q, k, v, mask=spec, cu_seqlens=cu_seqlens, **options)
    assert o.shape == o_ref.shape and o.dtype == q.dtype
    assert not o.isnan().any(), f"{name}: NaN in the output (seed={seed})"
    _close(o, o_ref, f"{name} output", seed)
    if with_lse:
        assert lse.shape == lse_ref.shape
        _check_lse(lse, lse_ref, f"{name} lse", seed)
    weights = (torch.randn_like(o_ref), torch.randn_like(lse_ref))
    grads = _grads(o, lse if with_lse else None, weights, (q, k, v))
    grads_ref = _grads(o_ref, lse_ref if with_lse else None, weights, (q, k, v))
    for arg, g, g_ref in zip("qkv", grads, grads_ref):
        assert not g.isnan().any(), f"{name}: NaN in the gradient of {arg} (seed={seed})"
        _close(g, g_ref, f"{name} gradient of {arg}", seed)
    return o


def _blockwise(block_q, block_k):
    def form(q, k, v, **options):
        return attention_blockwise(q, k, v, block_q=block_q, block_k=block_k, **options)

    return form


def _dense_with_lse(q, k, v, **options):
    return attention_dense(q, k, v, return_lse=True, **options)


@pytest.mark.parametrize("length", [1, 63, 65, 200])
@pytest.mark.parametrize("mask_name", list(MASKS))
def test_forms_match_sdpa_and_reference(seed, mask_name, length):
    spec = MASKS[mask_name]
    q, k, v = _inputs(2, length, length)
    expected = _sdpa(q, k, v, dense_mask(spec, length))
    tiles = (16, 24) if length % 2 else (32, 16)  # tile sizes that do not divide the lengths, square or not
    for name, form in (("blockwise", _blockwise(*tiles)), ("dense", _dense_with_lse)):
        o = _check_form(f"{name} {mask_name} T={length}", form, q, k, v, spec, seed)
        _close(o, expected, f"{name} {mask_name} T={length} vs SDPA", seed)


@pytest.mark.parametrize(
    "mask_name",
    ["causal", "window_two_sided", "longformer_bidirectional", "bigbird_causal", "combined", "globals_only_causal"],
)
def test_queries_align_bottom_right(seed, mask_name):
    """T < S: the T queries sit at positions S - T .. S - 1."""
    spec = MASKS[mask_name]
    q, k, v = _inputs(1, 37, 90)
    expected = _sdpa(q, k, v, dense_mask(spec, 37, 90))
    for name, form in (("blockwise", _blockwise(16, 16)), ("dense", _dense_with_lse)):
        o = _check_form(f"{name} {mask_name}", form, q, k, v, spec, seed)
        _close(o, expected, f"{name} {mask_name} vs SDPA", seed)


@pytest.mark.parametrize("form", ["torch", "dense", "auto"])
def test_rows_that_see_nothing_give_zeros(seed, form):
    """Under causal global-token masks the rows before the first global token see no key: zeros, lse -inf, and no
    NaN anywhere in the gradients; here also at T < S where part of the queries see nothing."""
    spec = MASKS["globals_only_causal"]
    for length, keys in ((64, 64), (30, 40)):
        q, k, v = _inputs(2, length, keys)
        o, _ = attention(q, k, v, mask=spec, backend=form)
        empty = ~dense_mask(spec, length, keys).any(-1)
        assert empty.any() and (o[:, empty] == 0).all(), f"seed={seed}"
        grads = torch.autograd.grad(o.square().sum(), (q, k, v))
        assert not any(g.isnan().any() for g in grads), f"seed={seed}"
        assert (grads[0][:, empty] == 0).all()
        _close(o, _sdpa(q, k, v, dense_mask(spec, length, keys)), f"{form} T={length} S={keys}", seed)


@pytest.mark.parametrize("form", ["torch", "dense"])
def test_window_zero_sees_only_itself(seed, form):
    q, k, v = _inputs(2, 50, 50, heads=4, kv_heads=2)
    o, _ = attention(q, k, v, mask=MaskSpec(causal=False, window=(0, 0)), backend=form)
    _close(o, v.repeat_interleave(2, 2), f"{form}: o = v", seed)


@pytest.mark.parametrize("heads, kv_heads", [(4, 4), (4, 1), (6, 2)])
def test_grouped_query_heads(seed, heads, kv_heads):
    spec = MASKS["bigbird_bidirectional"]
    q, k, v = _inputs(2, 70, 70, heads=heads, kv_heads=kv_heads)
    for name, form in (("blockwise", _blockwise(16, 16)), ("dense", _dense_with_lse)):
        _check_form(f"{name} H={heads} H_kv={kv_heads}", form, q, k, v, spec, seed)


@pytest.mark.parametrize(
    "mask_name", ["causal", "window_causal", "longformer_bidirectional", "bigbird_bidirectional", "combined"]
)
def test_varlen(seed, mask_name):
    """Three packed sequences, one empty: the mask applies within each, positions restart at each."""
    spec = MASKS[mask_name]
    cu_seqlens = torch.tensor([0, 37, 37, 100])
    q, k, v = _inputs(1, 100, 100)
    for name, form in (("blockwise", _blockwise(16, 8)), ("dense", _dense_with_lse)):
        _check_form(f"{name} varlen {mask_name}", form, q, k, v, spec, seed, cu_seqlens=cu_seqlens)
    separate = [
        attention_reference(q[:, a:b], k[:, a:b], v[:, a:b], mask=spec)[0] for a, b in ((0, 37), (37, 100))
    ]
    o, state = attention(q, k, v, mask=spec, cu_seqlens=cu_seqlens, backend="torch")
    assert state is None
    _close(o, torch.cat(separate, 1), f"varlen {mask_name} vs separate sequences", seed)


@pytest.mark.parametrize("backend", ["torch", "dense", "reference", "auto"])
@pytest.mark.parametrize(
    "mask_name", ["causal", "window_causal", "window_two_sided", "longformer_causal", "bigbird_causal", "full"]
)
def test_initial_state(seed, mask_name, backend):
    """A prefill's final state, then a chunk with it as initial_state (T < S): the chunk's outputs and final state
    are those of one pass over everything (and so are the prefill's under causal masks: bidirectional ones let a
    one-pass query see the chunk's keys); gradients reach q, k, v as in that pass."""
    spec = MASKS[mask_name]
    q, k, v = _inputs(2, 83, 83)
    o_all, _ = attention_reference(q, k, v, mask=spec)
    split = 50
    o1, state = attention(q[:, :split], k[:, :split], v[:, :split], mask=spec, output_final_state=True, backend=backend)
    keep = spec.max_left + 1 if spec.max_left >= 0 else split
    assert state.length == keep and state.start == split - keep and state.end == split
    o2, final = attention(
        q[:, split:], k[:, split:], v[:, split:], mask=spec, initial_state=state, output_final_state=True,
        backend=backend,
    )
    _close(o2, o_all[:, split:], f"{backend} {mask_name} chunk after the prefill", seed)
    if spec.causal:
        _close(o1, o_all[:, :split], f"{backend} {mask_name} prefill", seed)
    keep = spec.max_left + 1 if spec.max_left >= 0 else 83
    _close(final.keys, k[:, 83 - keep:], "final keys", seed)
    _close(final.values, v[:, 83 - keep:], "final values", seed)
    assert final.start == 83 - keep
    weights = torch.randn_like(o2)
    grads = torch.autograd.grad((o2 * weights).sum(), (q, k, v))
    grads_ref = torch.autograd.grad((o_all[:, split:] * weights).sum(), (q, k, v))
    for arg, g, g_ref in zip("qkv", grads, grads_ref):
        _close(g, g_ref, f"{backend} {mask_name} gradient of {arg}", seed)


def test_backends_agree_in_float32(seed):
    """float32 inputs (float32 accumulation) against the float64 reference."""
    spec = MASKS["longformer_bidirectional"]
    q, k, v = (t.detach().float() for t in _inputs(2, 120, 120))
    expected, _ = attention_reference(q.double(), k.double(), v.double(), mask=spec)
    for backend in ("torch", "dense", "reference"):
        o, _ = attention(q, k, v, mask=spec, backend=backend)
        assert o.dtype == torch.float32
        torch.testing.assert_close(
            o.double(), expected, rtol=1e-4, atol=1e-5, msg=lambda m: f"{backend} (seed={seed}): {m}"
        )


def test_half_precision_computes_in_float32(seed):
    spec = MASKS["window_causal"]
    q, k, v = (t.detach().to(torch.bfloat16) for t in _inputs(1, 90, 90))
    expected, _ = attention_reference(q.double(), k.double(), v.double(), mask=spec)
    o, lse = attention_blockwise(q, k, v, mask=spec, block_q=32, block_k=32)
    assert o.dtype == torch.bfloat16 and lse.dtype == torch.float32
    torch.testing.assert_close(o.double(), expected, rtol=2e-2, atol=2e-2, msg=lambda m: f"seed={seed}: {m}")


def _saved_elements(length):
    """Elements the blockwise form saves for backward under a sliding window of 16 at T = S = length."""
    q, k, v = _inputs(1, length, length, heads=2, kv_heads=1, dim=8, value_dim=8)
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        o, _ = attention_blockwise(q, k, v, mask=sliding_window(16), block_q=16, block_k=16)
    o.sum().backward()
    return sum(sizes), max(sizes)


def test_blockwise_saves_linear_memory():
    """q, k, v, o and lse only: the saved elements grow exactly in proportion to T, nothing is T x S."""
    total_short, largest_short = _saved_elements(256)
    total_long, largest_long = _saved_elements(1024)
    assert total_long == 4 * total_short
    assert largest_long == 4 * largest_short == 1024 * 2 * 8
    assert total_short == 256 * (2 * 8 + 8 + 8 + 2 * 8 + 2)  # q, k, v, o, lse


def test_blockwise_skips_empty_tiles(monkeypatch):
    """The plan visits the tile table's tiles only: for a sliding window, linear in T."""
    from zoo.kernels.attention.plan import attention_plan

    spec = sliding_window(64)
    visits = [attention_plan(spec, (t,), (t,), (0,), (0,), 64, 64).visited for t in (1024, 4096)]
    assert visits == [2 * 16 - 1, 2 * 64 - 1]


def test_auto_picks_forms(monkeypatch):
    q = torch.zeros(1, 600, 2, 8)
    k = torch.zeros(1, 600, 2, 8)
    resolve = dispatch._resolve
    assert resolve("auto", q, k, k, MaskSpec(causal=True), False) == "dense"
    assert resolve("auto", q, k, k, sliding_window(16), False) == "torch"
    assert resolve("auto", q, k, k, MaskSpec(causal=True), True) == "torch"  # packed: no T x T block-diagonal mask
    assert resolve("auto", q[:, :400], k[:, :400], k[:, :400], sliding_window(16), False) == "dense"
    assert resolve("torch", q[:, :4], k[:, :4], k[:, :4], MaskSpec(), False) == "torch"


@pytest.mark.parametrize(
    "on_cuda, triton_runs, dense_mask, packed, elements, form",
    [
        (True, True, True, False, 10**8, "dense"),  # causal/full on CUDA: SDPA's flash backend
        (True, True, False, False, 10**8, "triton"),  # sparse masks on CUDA: our block-sparse kernel
        (True, True, True, True, 10**8, "triton"),  # packed batches: varlen in-kernel
        (True, False, False, False, 10**8, "torch"),  # float64 on CUDA: Triton cannot, blockwise torch
        (False, False, False, False, 100, "dense"),
        (False, False, True, True, 10**8, "torch"),
    ],
)
def test_auto_form_table(on_cuda, triton_runs, dense_mask, packed, elements, form):
    assert dispatch.auto_form(on_cuda, triton_runs, dense_mask, packed, elements) == form


@pytest.mark.interpreter
def test_dispatch_runs_the_triton_form(seed):
    """backend="triton" reaches the Triton form (on CPU under the interpreter), with a KV cache of earlier tokens."""
    if os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
        pytest.skip("Triton needs CUDA or TRITON_INTERPRET=1")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    spec = MASKS["longformer_causal"]
    q, k, v = (t.detach().float().to(device) for t in _inputs(1, 30, 30))
    cache = KVCache(k[:, :12], v[:, :12])
    o, state = attention(q[:, 12:], k[:, 12:], v[:, 12:], mask=spec, initial_state=cache, output_final_state=True,
                         backend="triton")
    expected, _ = attention_reference(q.double(), k.double(), v.double(), mask=spec)
    torch.testing.assert_close(o.double(), expected[:, 12:], rtol=1e-5, atol=1e-5, msg=lambda m: f"seed={seed}: {m}")
    assert state.length == 30 and state.start == 0


def test_triton_errors(monkeypatch):
    pytest.importorskip("triton")
    q, k, v = (t.detach() for t in _inputs(1, 8, 8))
    with pytest.raises(ValueError, match="backend='triton' cannot run this call: q has dtype torch.float64"):
        attention(q, k, v, backend="triton")
    from zoo.kernels.attention import triton_attention

    monkeypatch.setattr(triton_attention, "INTERPRET", False)
    with pytest.raises(ValueError, match="needs a CUDA tensor .*TRITON_INTERPRET=1"):
        attention(q.float(), k.float(), v.float(), backend="triton")


def _errors_cases():
    q, k, v = torch.randn(2, 8, 4, 16), torch.randn(2, 8, 2, 16), torch.randn(2, 8, 2, 8)
    cache = KVCache(torch.randn(2, 5, 2, 16), torch.randn(2, 5, 2, 8))
    rolled = KVCache(torch.randn(2, 5, 2, 16), torch.randn(2, 5, 2, 8), start=3)
    packed = (torch.randn(1, 8, 4, 16), torch.randn(1, 8, 2, 16), torch.randn(1, 8, 2, 8))
    cu = torch.tensor([0, 3, 8])
    return [
        ((q, k, v), dict(backend="flash"), "unknown backend 'flash'"),
        ((q, k, v), dict(mask="causal"), "mask must be a MaskSpec"),
        ((q, k[..., :8], v), {}, r"k has shape \(2, 8, 2, 8\) but expected \(B, S, H_kv, D\) = \(2, S, H_kv, 16\)"),
        ((q, k, v[:, :7]), {}, r"v has shape \(2, 7, 2, 8\) but expected \(B, S, H_kv, Dv\) = \(2, 8, 2, Dv\)"),
        ((q, k[:, :, :1].expand(2, 8, 3, 16), v[:, :, :1].expand(2, 8, 3, 8)), {}, "H = 4 .* multiple .* H_kv = 3"),
        ((q, k[:, :5], v[:, :5]), {}, "more queries than keys: T = 8"),
        ((q, k, v.double()), {}, "must share one dtype"),
        ((q, k, v), dict(scale="big"), "scale must be a number"),
        ((q, k, v), dict(initial_state=(k, v)), "initial_state must be a KVCache"),
        ((q, k, v), dict(initial_state=KVCache(k[:1], v[:1])), r"initial_state.keys has shape \(1, 8, 2, 16\)"),
        ((q, k, v), dict(initial_state=rolled), "a rolling cache"),
        ((q, k, v), dict(initial_state=rolled, mask=sliding_window(8)), "fewer than the window's 8"),
        ((q, k, v), dict(initial_state=cache, mask=sliding_window(4)), None),
        ((q, k, v), dict(cu_seqlens=cu), r"B == 1"),
        (packed, dict(cu_seqlens=torch.tensor([0, 3, 9])), "must end at the packed length"),
        ((packed[0][:, :5], *packed[1:]), dict(cu_seqlens=torch.tensor([0, 5])), "T == S"),
        (packed, dict(cu_seqlens=cu, initial_state=KVCache(packed[1], packed[2])), "cannot be combined with cu_seq"),
        (packed, dict(cu_seqlens=cu, output_final_state=True), "output_final_state cannot be combined"),
    ]


@pytest.mark.parametrize("index", range(len(_errors_cases())))
def test_validation_errors(index):
    args, kwargs, message = _errors_cases()[index]
    if message is None:
        attention(*args, **kwargs)  # valid: a full (not rolled) cache serves any mask
        return
    with pytest.raises(ValueError, match=message):
        attention(*args, **kwargs)
