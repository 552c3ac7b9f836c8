"""zoo.kernels.mlstm_scan (backend "torch": the chunked form) against mlstm_kernels' own forms, on the
same inputs: the recurrent sequence form, the chunkwise and the parallel native (PyTorch) forms, and its
Triton chunkwise kernels (on a CPU machine under the interpreter).

Conventions are mlstm_kernels' (pre-activation gates, log-sigmoid forget gate, q scaled by K ** -0.5,
zero state with m = 0, eps outside the max); only the layouts differ: theirs are head-first
q, k [B, NH, S, DHQK], v [B, NH, S, DHV], i, f [B, NH, S], and their m is [B, NH, 1] where ours is [N, H].

What each upstream form supports, and so what is compared:
- recurrent sequence (`mlstm_recurrent_sequence__native_fw`): any length, initial and final states,
  float64 (dtype_state), plain autograd: h, final C, n, m and every gradient.
- chunkwise native (`mlstm_chunkwise__native_autograd`): lengths that are multiples of its chunk, initial
  and final states, plain autograd: the same.
- parallel native (`mlstm_parallel__native_autograd`): no states. Its stabiliser is a max over the
  tokens' log weights only, max_j (b_t - b_j + i_j), without the zero state's term b_t + m_0 (m_0 = 0)
  that ours (and the recurrent form) include. h = C~^T q / (max(|n~ . q|, 1) + eps exp(m_t)) in terms of
  the unstabilised memory, so the two differ by eps (exp(m_ours) - exp(m_theirs)) relative, and only
  where the state's term is the larger, i.e. where every input gate so far is below its forget path.
  With i_1 >= 0 the first token's weight dominates the zero state at every t (b_t - b_1 + i_1 >= b_t),
  the two stabilisers coincide and the forms agree to rounding: `test_matches_parallel_native` uses
  such inputs; `test_parallel_native_differs_by_eps_without_the_state_term` checks the O(eps) bound where
  the state's term wins.
- custom backward passes (`*__native_custbw`, the Triton kernels): their backward divides dh by the saved
  denominator max(|n . q|, exp(-m)) + eps and stops there (no gradient through n . q or m), and takes no
  gradient for the final n and m: their dq, dk, di, df and initial n, m differ from autograd's by design.
  The gradients that do not pass through the normaliser are comparable: v and the initial C.

Shapes: H=2, K=16, V=8 (K != V, so that a transposed C cannot pass), gates as in tests/kernels/test_mlstm.py.
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.upstream import interpreting
from zoo.kernels import mlstm_scan

from .oracles import require, triton_device

pytestmark = pytest.mark.peers

# Float64: both sides are exact algorithms that differ in the order of summation and where the stabiliser
# is applied: at most 2e-13 relative over 40 seeds; 1e-9 still catches any difference in semantics.
TOL64 = 1e-9
# Float32, relative to the largest entry of each expected tensor: rounding in sums over the tokens, and in
# h = C^T q / |n . q| where n . q may nearly cancel; over 40 seeds the largest errors were 1e-5 (h, states)
# and 3e-5 (gradients), while a wrong gate, scale or state layout shows at 1e-2 or more.
TOL32 = 3e-4
HEADS, KEY_DIM, VALUE_DIM = 2, 16, 8
STATE_NAMES = ("C", "n", "m")
GRAD_NAMES = ("q", "k", "v", "i", "f", "initial C", "initial n", "initial m")


def heads_first(x: torch.Tensor) -> torch.Tensor:
    """[B, T, H, ...] -> [B, H, T, ...] (and back: the same transposition)."""
    return x.transpose(1, 2).contiguous()


def mlstm_inputs(batch, length, dtype, *, with_state=True, device="cpu"):
    """Leaf tensors q, k [B, T, H, K], v [B, T, H, V], i, f [B, T, H] and (C, n, m) or nothing.
    i ~ N(0, 2^2), logsigmoid(f) mostly in (-3, -0.002)."""
    tensors = [
        torch.randn(batch, length, HEADS, KEY_DIM),
        torch.randn(batch, length, HEADS, KEY_DIM),
        torch.randn(batch, length, HEADS, VALUE_DIM),
        2 * torch.randn(batch, length, HEADS),
        3 + 2 * torch.randn(batch, length, HEADS),
    ]
    if with_state:
        tensors += [
            torch.randn(batch, HEADS, KEY_DIM, VALUE_DIM),
            torch.randn(batch, HEADS, KEY_DIM),
            torch.randn(batch, HEADS),
        ]
    return [t.to(device, dtype).requires_grad_() for t in tensors]


def clones(leaves):
    return [t.detach().clone().requires_grad_() for t in leaves]


def ours(leaves, chunk_size, output_final_state=True):
    q, k, v, i, f, *state = leaves
    return mlstm_scan(
        q, k, v, i, f, initial_state=tuple(state) or None, output_final_state=output_final_state,
        chunk_size=chunk_size, backend="torch",
    )


def theirs(kernel, leaves, **options):
    """Run an mlstm_kernels form on our leaves; returns h [B, T, H, V] and, with states, (C, n, m [B, H])."""
    q, k, v, i, f, *state = leaves
    if state:
        c, n, m = state
        options.update(c_initial=c, n_initial=n, m_initial=m[..., None], return_last_states=True)
    result = kernel(*(heads_first(x) for x in (q, k, v, i, f)), **options)
    if not state:
        return heads_first(result), None
    h, (c_last, n_last, m_last) = result
    assert m_last.shape == (q.shape[0], HEADS, 1)
    return heads_first(h), (c_last, n_last, m_last[..., 0])


def check(compare, actual, expected, what, tol):
    scale = max(expected.abs().max().item(), 1.0)
    compare(actual, expected, what, rtol=tol, atol=tol * scale)


def upstream_gradients(h, state):
    return [torch.randn_like(h), *([] if state is None else [torch.randn_like(s) for s in state])]


def loss_of(h, state, grads):
    outputs = [h, *([] if state is None else state)]
    return sum((out * g).sum() for out, g in zip(outputs, grads))


def compare_all(compare, leaves, run_ours, run_theirs, tol, grad_names=GRAD_NAMES):
    """Outputs, final states and the gradients of <h, dh> (+ <C, dC> + <n, dn> + <m, dm>) for every leaf."""
    mine, other = leaves, clones(leaves)
    h, state = run_ours(mine)
    h_ref, state_ref = run_theirs(other)
    check(compare, h, h_ref, "h", tol)
    if state_ref is not None:
        for name, s, s_ref in zip(STATE_NAMES, state, state_ref):
            check(compare, s, s_ref, f"final {name}", tol)
    grads = upstream_gradients(h_ref, state_ref)
    got = torch.autograd.grad(loss_of(h, state, grads), mine)
    want = torch.autograd.grad(loss_of(h_ref, state_ref, grads), other)
    for name, g, g_ref in zip(grad_names, got, want):
        check(compare, g, g_ref, f"d{name}", tol)


DTYPES = {"float32": (torch.float32, TOL32), "float64": (torch.float64, TOL64)}


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_recurrent_sequence(dtype, compare):
    """T = 37 (not a multiple of our chunk of 16), from a random initial state, every output and gradient."""
    recurrent = require("mlstm_kernels.torch.recurrent")
    torch_dtype, tol = DTYPES[dtype]
    leaves = mlstm_inputs(2, 37, torch_dtype)
    compare_all(
        compare, leaves,
        lambda x: ours(x, chunk_size=16),
        lambda x: theirs(recurrent.mlstm_recurrent_sequence__native_fw, x, dtype_state=torch_dtype),
        tol,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_chunkwise_native(dtype, compare):
    """T = 48 in their chunks of 16 and in ours of 32 (a partial last chunk): every output and gradient."""
    chunkwise = require("mlstm_kernels.torch.chunkwise.native")
    torch_dtype, tol = DTYPES[dtype]
    leaves = mlstm_inputs(2, 48, torch_dtype)
    compare_all(
        compare, leaves,
        lambda x: ours(x, chunk_size=32),
        lambda x: theirs(chunkwise.mlstm_chunkwise__native_autograd, x, chunk_size=16),
        tol,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_parallel_native(dtype, compare):
    """No states (the parallel form has none); i_1 >= 0 so that both stabilisers are the same max (module
    docstring): h and the gradients of q, k, v, i, f against the autograd form; in float32, h and dv
    against the custom backward."""
    parallel = require("mlstm_kernels.torch.parallel.native")
    torch_dtype, tol = DTYPES[dtype]
    leaves = mlstm_inputs(2, 40, torch_dtype, with_state=False)
    with torch.no_grad():
        leaves[3][:, 0] = leaves[3][:, 0].abs()
    compare_all(
        compare, leaves,
        lambda x: (ours(x, chunk_size=16, output_final_state=False)[0], None),
        lambda x: theirs(parallel.mlstm_parallel__native_autograd, x),
        tol, grad_names=GRAD_NAMES[:5],
    )
    if torch_dtype != torch.float32:
        return  # the custom backward runs in float32, float16 or bfloat16 only
    mine, other = clones(leaves), clones(leaves)
    h, _ = ours(mine, chunk_size=16, output_final_state=False)
    h_ref, _ = theirs(parallel.mlstm_parallel__native_custbw, other)
    check(compare, h, h_ref, "h (custbw)", tol)
    d_h = torch.randn_like(h)
    (dv,) = torch.autograd.grad((h * d_h).sum(), mine[2])
    (dv_ref,) = torch.autograd.grad((h_ref * d_h).sum(), other[2])
    check(compare, dv, dv_ref, "dv (custbw)", tol)


def test_parallel_native_differs_by_eps_without_the_state_term(compare, bound):
    """Input gates all below -1: the zero state's log weight b_t (> b_t - b_j + i_j) sets our stabiliser
    m_t <= 0 and not theirs, and h differs by eps |exp(m_ours) - exp(m_theirs)| / (..) <= eps relative.
    In float64 that difference is far above rounding: it must show, and stay within the bound."""
    parallel = require("mlstm_kernels.torch.parallel.native")
    q, k, v, i, f = (t.detach() for t in mlstm_inputs(2, 40, torch.float64, with_state=False))
    i = -1 - i.abs()
    eps = 1e-6
    h, _ = mlstm_scan(q, k, v, i, f, eps=eps, chunk_size=16, backend="torch")
    h_ref, _ = theirs(parallel.mlstm_parallel__native_autograd, [q, k, v, i, f], eps=eps)
    difference = (h - h_ref).abs()
    bound((difference - eps * h.abs()).max(), 1e-13, "|h - h_parallel| beyond eps |h|")
    bound(1e-3 * eps * h.abs().max(), difference.max(), "1e-3 eps max|h| (the O(eps) difference must exceed it)")
    # |h - h_ref| <= eps |h| by the bound above, so at 4 eps the ratio stays under 1/4 (worst over 50 seeds: a
    # difference of 0.99 eps |h|)
    compare(h, h_ref, "h (state term wins)", rtol=4 * eps, atol=1e-12)


TRITON_KERNELS = {
    # name in mlstm_kernels' chunkwise registry: (options, whether the backward is compared here)
    "native_custbw": (dict(chunk_size=16), True),
    "triton_limit_chunk": (dict(chunk_size=16), False),  # its backward takes ~1 min under the interpreter
    "triton_xl_chunk": (
        dict(chunk_size=32, chunk_size_inter=16, chunk_size_intra=16, siz_b_L_parallel=16, siz_b_L_loop=16,
             siz_b_DH_parallel=16, siz_b_DH_loop=16),
        True,
    ),
}


@pytest.mark.filterwarnings("ignore:tl.make_block_ptr is deprecated")  # upstream's kernels, not ours
@pytest.mark.parametrize("kernel", TRITON_KERNELS)
def test_matches_custom_backward_kernels(kernel, compare):
    """mlstm_kernels' chunkwise kernels with their own backward (float32; T = 64, from an initial state): h
    and the final C, n, m; the gradients of v and of the initial C (see the module docstring)."""
    chunkwise = require("mlstm_kernels.torch.chunkwise")
    name = f"chunkwise--{kernel}"
    if kernel not in chunkwise.registry:
        pytest.skip(f"{name} is not in this mlstm_kernels' registry")
    device = "cpu" if kernel.startswith("native") else triton_device()
    options, backward = TRITON_KERNELS[kernel]
    if not backward and not interpreting():
        backward = True
    leaves = mlstm_inputs(1, 64, torch.float32, device=device)
    mine, other = leaves, clones(leaves)
    h, state = ours(mine, chunk_size=16)
    h_ref, state_ref = theirs(chunkwise.registry[kernel], other, **options)
    check(compare, h, h_ref, "h", TOL32)
    for part, s, s_ref in zip(STATE_NAMES, state, state_ref):
        check(compare, s, s_ref, f"final {part}", TOL32)
    if not backward:
        return
    d_h, d_c = torch.randn_like(h), torch.randn_like(state[0])
    got = torch.autograd.grad((h * d_h).sum() + (state[0] * d_c).sum(), [mine[2], mine[5]])
    want = torch.autograd.grad((h_ref * d_h).sum() + (state_ref[0] * d_c).sum(), [other[2], other[5]])
    for what, g, g_ref in zip(("dv", "dinitial C"), got, want):
        check(compare, g, g_ref, what, TOL32)
