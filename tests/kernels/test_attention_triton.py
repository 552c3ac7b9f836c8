"""Tests of the Triton attention (kernels/attention/triton_attention*.py) against the float64 reference.

On CPU the kernels run under the Triton interpreter (tests/conftest.py sets TRITON_INTERPRET where CUDA is absent),
with 16 x 16 tiles: lengths of 37, 65 and 80 leave partial tiles, and masks with 8- or 12-token BigBird blocks,
windows and global tokens cut tiles into partly seen ones, so both the full-tile and the token-mask paths run.

Every comparison covers o, lse and the gradients of <o, dO> + <lse, dL> (dL zero on rows that see nothing) for q, k
and v. Every test draws fresh random inputs: the `seed` fixture reseeds torch from a new random seed (or from
SEQZOO_SEED when set) and every comparison names it, so `SEQZOO_SEED=<seed> pytest ...` replays a failure.
"""

from __future__ import annotations

import os

import pytest
import torch

from triton_checks import DEVICE, assert_close, half_precisions, poisoned
from zoo.kernels.attention.mask import BigBirdLayout, MaskSpec, bigbird, longformer, sliding_window
from zoo.kernels.attention.reference import attention_reference
from zoo.kernels.attention.tiles import tile_table
from zoo.kernels.attention import triton_attention
from zoo.kernels.attention.triton_attention import attention_triton

pytestmark = pytest.mark.interpreter

if os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
    pytest.skip("Triton needs CUDA or TRITON_INTERPRET=1", allow_module_level=True)

F64 = torch.float64
# Tolerances relative to the largest entry of each expected tensor (triton_checks.assert_close). float32: observed
# errors at these sizes are 1e-7 to 7e-7 of the largest entry; a wrong mask entry, tile boundary or softmax
# rescaling shows at 1e-2 or more.
TOL32 = 1e-4
# float16 inputs: q, k, v, P and dS enter the matmuls in float16 and o and the gradients are stored in float16:
# observed errors are 2e-4 to 5e-4 of the largest entry.
TOL16 = 5e-3
NAMES = ("q", "k", "v")

MASKS = {
    "causal": MaskSpec(causal=True),
    "bidirectional": MaskSpec(causal=False),
    "sliding-causal": sliding_window(7),
    "sliding-two-sided": sliding_window(5, 9, causal=False),
    "one-sided-unbounded": MaskSpec(causal=False, window=(10, -1)),
    "window-0-0": MaskSpec(causal=True, window=(0, 0)),
    "longformer-causal": longformer(4, 0, (0, 17, 40), causal=True),
    "longformer": longformer(3, 6, (1, 30, 64), causal=False),
    "bigbird-causal": bigbird(BigBirdLayout(block_size=8, window_blocks=3, global_blocks=1, random_blocks=2, seed=3),
                              causal=True),
    "bigbird": bigbird(BigBirdLayout(block_size=12, window_blocks=1, global_blocks=1, random_blocks=2, seed=5)),
    "combination": MaskSpec(causal=False, window=(6, 2), global_tokens=(33,),
                            layout=BigBirdLayout(block_size=16, window_blocks=1, global_blocks=0, random_blocks=1)),
    "combination-causal": MaskSpec(causal=True, window=(20, 0), global_tokens=(3, 50),
                                   layout=BigBirdLayout(block_size=8, window_blocks=1, global_blocks=1,
                                                        random_blocks=1, seed=2)),
}


def compare(seed, mask, batch, q_len, k_len, heads, kv_heads, head_dim, value_dim, *, cu_seqlens=None,
            dtype=torch.float32, tol=TOL32, scale=None):
    """Run attention_triton on fresh random inputs cast to `dtype` and the reference in float64 on the same (rounded)
    values; compare o, lse and the gradients of q, k, v. Returns (o, lse, (dq, dk, dv)) of the Triton form."""
    inputs = (
        torch.randn(batch, q_len, heads, head_dim, dtype=F64),
        torch.randn(batch, k_len, kv_heads, head_dim, dtype=F64),
        torch.randn(batch, k_len, kv_heads, value_dim, dtype=F64),
    )
    leaves = [x.to(DEVICE, dtype).requires_grad_() for x in inputs]
    oracle = [x.detach().cpu().to(F64).requires_grad_() for x in leaves]
    cu = None if cu_seqlens is None else cu_seqlens.to(DEVICE)
    o, lse = attention_triton(*leaves, mask=mask, scale=scale, cu_seqlens=cu)
    o_ref, lse_ref = attention_reference(*oracle, mask=mask, scale=scale, cu_seqlens=cu_seqlens)
    assert o.dtype == dtype and o.shape == o_ref.shape
    assert lse.dtype == torch.float32 and lse.shape == lse_ref.shape
    assert_close(o.cpu(), o_ref, "o", seed, tol)
    assert_close(lse.cpu(), lse_ref, "lse", seed, tol)

    seen = torch.isfinite(lse_ref)
    d_out = torch.randn(o_ref.shape, dtype=F64)
    d_lse = torch.randn(lse_ref.shape, dtype=F64) * seen
    loss_ref = (o_ref * d_out).sum() + (lse_ref.where(seen, 0) * d_lse).sum()
    lse_finite = lse.where(seen.to(DEVICE), 0)
    loss = (o * d_out.to(DEVICE, o.dtype)).sum() + (lse_finite * d_lse.to(DEVICE, lse.dtype)).sum()
    grads = torch.autograd.grad(loss, leaves)
    grads_ref = torch.autograd.grad(loss_ref, oracle)
    for name, leaf, grad, grad_ref in zip(NAMES, leaves, grads, grads_ref):
        assert grad.dtype == leaf.dtype and grad.shape == leaf.shape, name
        assert torch.isfinite(grad).all(), f"d{name} (seed={seed}): not finite"
        assert_close(grad.cpu(), grad_ref, f"d{name}", seed, tol)
    return o, lse, grads


@pytest.mark.parametrize("name", list(MASKS))
def test_every_mask(seed, name):
    """Every mask kind, with grouped-query heads (4 query heads on 2 key/value heads), D != Dv."""
    compare(seed, MASKS[name], 2, 65, 65, 4, 2, 32, 16)


@pytest.mark.parametrize("name", ["causal", "sliding-two-sided", "longformer-causal", "bigbird"])
@pytest.mark.parametrize("lengths", [(1, 1), (1, 37), (37, 37), (37, 65)], ids=lambda x: f"T{x[0]}-S{x[1]}")
def test_odd_lengths_and_fewer_queries_than_keys(seed, name, lengths):
    """Odd lengths (one token, partial tiles) and T < S (queries aligned bottom-right)."""
    compare(seed, MASKS[name], 2, *lengths, 2, 1, 16, 16)


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_grouped_query_heads(seed, kv_heads):
    """4 query heads on 1 (MQA), 2 (GQA) or 4 (MHA) key/value heads: dK/dV sum over each group."""
    compare(seed, MASKS["sliding-causal"], 1, 40, 40, 4, kv_heads, 16, 16)


@pytest.mark.parametrize("name", ["causal", "sliding-two-sided", "longformer-causal", "bigbird", "combination"])
def test_varlen(seed, name):
    """Three packed sequences, one of them empty: masks restart at each sequence (BigBird: one layout each)."""
    cu_seqlens = torch.tensor([0, 29, 29, 80], dtype=torch.int32)
    compare(seed, MASKS[name], 1, 80, 80, 2, 1, 16, 16, cu_seqlens=cu_seqlens)


def test_rows_that_see_nothing_give_zeros_and_finite_gradients(seed):
    """Causal attention to global tokens only: rows before the first global token see no key (o = 0, lse = -inf,
    dq = 0); with a global token beyond the sequence no row sees anything."""
    mask = MaskSpec(causal=True, global_tokens=(20, 45))
    o, lse, (dq, _, _) = compare(seed, mask, 2, 37, 50, 2, 1, 16, 16)
    empty = slice(0, 7)  # positions 13..19 of the 37 queries aligned bottom-right among 50 keys
    assert (o[:, empty] == 0).all() and (lse[:, :, empty] == float("-inf")).all() and (dq[:, empty] == 0).all()
    assert torch.isfinite(lse[:, :, 7:]).all()

    o, lse, grads = compare(seed, MaskSpec(causal=False, global_tokens=(100,)), 1, 20, 20, 2, 2, 16, 16)
    assert (o == 0).all() and (lse == float("-inf")).all() and all((g == 0).all() for g in grads)


@pytest.mark.parametrize("dims", [(24, 40), (48, 20)], ids=["D24-Dv40", "D48-Dv20"])
def test_head_dims_not_powers_of_two_and_unwritten_entries(seed, monkeypatch, dims):
    """Head dims padded to powers of two with masks; new buffers start as NaN, so any entry a kernel leaves
    unwritten (o, lse, delta, dq, dk, dv) shows. Varlen and an explicit scale."""
    for name in ("empty", "empty_like"):
        monkeypatch.setattr(torch, name, poisoned(getattr(torch, name)))
    cu_seqlens = torch.tensor([0, 17, 50], dtype=torch.int64)
    compare(seed, MASKS["longformer"], 1, 50, 50, 2, 1, *dims, cu_seqlens=cu_seqlens, scale=0.3)
    compare(seed, MASKS["bigbird-causal"], 2, 33, 45, 2, 2, *dims)


@pytest.mark.parametrize("dtype,tol", half_precisions(TOL16))
def test_half_precision_inputs(seed, dtype, tol):
    compare(seed, MASKS["combination-causal"], 2, 50, 50, 2, 1, 16, 16, dtype=dtype, tol=tol)


def test_gradient_from_o_or_lse_alone(seed):
    """Only o or only lse used: the other output's gradient is None, and the backward takes it as zero."""
    q, k, v = (torch.randn(1, 30, 2, 16, device=DEVICE, requires_grad=True) for _ in range(3))
    oracle = [x.detach().cpu().double().requires_grad_() for x in (q, k, v)]
    mask = MASKS["sliding-causal"]
    o, lse = attention_triton(q, k, v, mask=mask)
    o_ref, lse_ref = attention_reference(*oracle, mask=mask)
    for i, (out, out_ref) in enumerate([(o, o_ref), (lse, lse_ref)]):
        grads = torch.autograd.grad(out.square().sum(), (q, k, v), retain_graph=True)
        grads_ref = torch.autograd.grad(out_ref.square().sum(), oracle, retain_graph=True, allow_unused=True)
        for name, grad, grad_ref, x in zip(NAMES, grads, grads_ref, oracle):
            grad_ref = torch.zeros_like(x) if grad_ref is None else grad_ref  # lse does not depend on v
            assert_close(grad.cpu(), grad_ref, f"d{name} from {('o', 'lse')[i]}", seed, TOL32)


def _visit_matrix(count, index, tiles):
    """[NT, R, C] bool from a table's visit lists."""
    visit = torch.zeros(*count.shape, tiles, dtype=torch.bool)
    for n in range(count.shape[0]):
        for r in range(count.shape[1]):
            visit[n, r, index[n, r, : count[n, r]].long()] = True
    return visit


def test_kernels_visit_exactly_the_tables_tiles(seed):
    """The kernels mark every (query tile, key tile) they load in a trace buffer (compiled out unless a trace is
    passed: a constexpr flag, so production kernels carry no counter). Forward, dQ and dK/dV must visit exactly
    the tile table's pairs, per sequence and head, and under a sliding window those grow linearly with length."""
    mask = MASKS["sliding-two-sided"]
    cu_seqlens = torch.tensor([0, 29, 29, 80], dtype=torch.int32)
    heads, kv_heads = 4, 2
    q = torch.randn(80, heads, 16, device=DEVICE)
    k, v = (torch.randn(80, kv_heads, 16, device=DEVICE) for _ in range(2))
    lens = (29, 0, 51)
    plan = triton_attention._plan(mask, lens, lens, 3, True, 16, 16, torch.device(DEVICE))
    table = tile_table(mask, lens, lens, 16, 16)
    visit = _visit_matrix(table.kv_count, table.kv_index, plan.k_tiles)
    expected = visit.repeat_interleave(heads, 0)  # [N * H, QT, KT]

    trace = torch.zeros(3 * heads, plan.q_tiles, plan.k_tiles, dtype=torch.int32, device=DEVICE)
    o, lse = triton_attention._forward(q, k, v, mask, 0.25, plan, trace)
    assert torch.equal(trace.cpu().bool(), expected)
    o_ref, _ = attention_reference(q[None].double(), k[None].double(), v[None].double(), mask=mask, scale=0.25,
                                   cu_seqlens=cu_seqlens)
    assert_close(o.cpu()[None], o_ref, "o", seed, TOL32)

    trace_kv = torch.zeros(3 * heads, plan.k_tiles, plan.q_tiles, dtype=torch.int32, device=DEVICE)
    trace_q = torch.zeros_like(trace)
    triton_attention._backward(q, k, v, o, lse, torch.randn_like(o), None, mask, 0.25, plan, (trace_kv, trace_q))
    assert torch.equal(trace_q.cpu().bool(), expected)
    assert torch.equal(trace_kv.cpu().bool(), expected.transpose(1, 2))

    # sliding window (5, 9) on 16-token tiles: a query tile's keys span 30 tokens, at most 3 key tiles, against
    # T / 16 when dense
    for length in (160, 320, 640):
        tiles = length // 16
        assert tile_table(mask, [length], [length], 16, 16).visited == 3 * tiles - 2
        assert tile_table(MASKS["bidirectional"], [length], [length], 16, 16).visited == tiles * tiles


def test_rejects_what_the_kernels_do_not_take():
    q = torch.randn(1, 8, 4, 16, device=DEVICE)
    k = torch.randn(1, 8, 2, 16, device=DEVICE)
    mask = MaskSpec()
    with pytest.raises(ValueError, match="float64"):
        attention_triton(q.double(), k.double(), k.double(), mask=mask)
    with pytest.raises(ValueError, match="multiple"):
        attention_triton(q, k[:, :, :1].expand(1, 8, 3, 16), k[:, :, :1].expand(1, 8, 3, 16), mask=mask)
    with pytest.raises(ValueError, match="more queries than keys"):
        attention_triton(q, k[:, :4], k[:, :4], mask=mask)
    with pytest.raises(ValueError, match="B == 1"):
        attention_triton(q.expand(2, -1, -1, -1), k.expand(2, -1, -1, -1), k.expand(2, -1, -1, -1), mask=mask,
                         cu_seqlens=torch.tensor([0, 8]))

