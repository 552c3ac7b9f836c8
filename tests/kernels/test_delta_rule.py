"""Tests of the delta rule op (kernels/delta_rule): DeltaNet and gated DeltaNet.

The chunked form (WY/UT representation) is compared with the loop over time in float64, for outputs,
final states and every gradient. Every test draws fresh random inputs from the `seed` fixture and names
the seed in its failures: `SEQZOO_SEED=<seed> pytest tests/kernels/test_delta_rule.py` replays one.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.kernels.delta_rule import delta_rule, delta_rule_chunked, delta_rule_reference, delta_rule_step

F64 = torch.float64
# The chunked form solves a unit-triangular system per chunk instead of looping; in float64 at these
# sizes both agree to ~1e-13. A wrong decay, mask or state hand-over shows at 1e-3 or more.
TOL = dict(rtol=1e-9, atol=1e-9)


def assert_close(actual, expected, what: str, seed: int, **tol) -> None:
    torch.testing.assert_close(actual, expected, **(tol or TOL), msg=lambda m: f"{what} (seed={seed}): {m}")


def delta_inputs(batch, length, num_states, *, gated, l2norm, heads=3, key_dim=8, value_dim=5):
    """Leaf tensors q, k [B, T, H, K], v [B, T, H, V], beta [B, T, H] in (0, 1), g [B, T, H] < 0 (None
    unless gated), initial_state [N, H, K, V] (None when num_states is None). Without the in-kernel
    L2 norm the keys are unit vectors (as DeltaNet feeds them), so the recurrence stays contractive;
    with it they are raw randn. K != V so that a transposed state cannot pass."""
    q = torch.randn(batch, length, heads, key_dim, dtype=F64)
    k = torch.randn(batch, length, heads, key_dim, dtype=F64)
    if not l2norm:
        k = F.normalize(k, dim=-1)
    v = torch.randn(batch, length, heads, value_dim, dtype=F64)
    beta = torch.rand(batch, length, heads, dtype=F64) * 0.9 + 0.05
    g = -F.softplus(torch.randn(batch, length, heads, dtype=F64)) * torch.logspace(0, -2, heads, dtype=F64)
    g = g if gated else None
    h0 = None if num_states is None else torch.randn(num_states, heads, key_dim, value_dim, dtype=F64)
    return [t if t is None else t.requires_grad_() for t in (q, k, v, beta, g, h0)]


def run_and_grads(fn, leaves, d_out, d_state, **options):
    q, k, v, beta, g, h0 = leaves
    out, state = fn(q, k, v, beta=beta, g=g, initial_state=h0, output_final_state=True, **options)
    loss = (out * d_out).sum() + (state * d_state).sum()
    grads = torch.autograd.grad(loss, [t for t in leaves if t is not None])
    return out, state, grads


NAMES = ("q", "k", "v", "beta", "g", "initial_state")


def compare(leaves, seed, ref_options, chunk_options, num_states):
    q, _, v, *_ = leaves
    d_out = torch.randn(v.shape, dtype=F64)
    d_state = torch.randn(num_states, q.shape[2], q.shape[3], v.shape[3], dtype=F64)
    expected = run_and_grads(delta_rule_reference, leaves, d_out, d_state, **ref_options)
    actual = run_and_grads(delta_rule_chunked, leaves, d_out, d_state, **chunk_options)
    assert_close(actual[0], expected[0], "output", seed)
    assert_close(actual[1], expected[1], "final state", seed)
    names = [n for n, t in zip(NAMES, leaves) if t is not None]
    for name, a, e in zip(names, actual[2], expected[2]):
        assert_close(a, e, f"grad of {name}", seed)


@pytest.mark.parametrize("length", [1, 63, 64, 65, 200])
@pytest.mark.parametrize("chunk_size", [16, 64])
@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("l2norm", [False, True])
def test_chunked_matches_reference(seed, length, chunk_size, gated, l2norm):
    leaves = delta_inputs(2, length, 2, gated=gated, l2norm=l2norm)
    options = dict(use_qk_l2norm_in_kernel=l2norm)
    compare(leaves, seed, options, dict(options, chunk_size=chunk_size), 2)


def test_chunked_matches_reference_without_initial_state_and_with_scale(seed):
    q, k, v, beta, g, _ = delta_inputs(1, 37, None, gated=True, l2norm=False)
    expected = delta_rule_reference(q, k, v, beta=beta, g=g, scale=0.7, output_final_state=True)
    actual = delta_rule_chunked(q, k, v, beta=beta, g=g, scale=0.7, output_final_state=True, chunk_size=16)
    assert_close(actual[0], expected[0], "output", seed)
    assert_close(actual[1], expected[1], "final state", seed)
    assert delta_rule_chunked(q, k, v, beta=beta, g=g)[1] is None


@pytest.mark.parametrize("gated", [False, True])
def test_varlen_matches_reference_and_separate_sequences(seed, gated):
    lengths = [17, 70, 40]  # crosses chunk boundaries at chunk 16 and at 32
    cu_seqlens = torch.tensor([0, 17, 87, 127], dtype=torch.int32)
    leaves = delta_inputs(1, sum(lengths), 3, gated=gated, l2norm=True)
    options = dict(cu_seqlens=cu_seqlens, use_qk_l2norm_in_kernel=True)
    compare(leaves, seed, options, dict(options, chunk_size=32), 3)

    # Against each sequence run on its own.
    q, k, v, beta, g, h0 = (t if t is None else t.detach() for t in leaves)
    out, state = delta_rule_chunked(q, k, v, beta=beta, g=g, initial_state=h0, output_final_state=True, **options)
    for i, (s, e) in enumerate(zip(cu_seqlens.tolist(), cu_seqlens.tolist()[1:])):
        o_i, s_i = delta_rule_reference(
            q[:, s:e], k[:, s:e], v[:, s:e], beta=beta[:, s:e], g=None if g is None else g[:, s:e],
            initial_state=h0[i : i + 1], output_final_state=True, use_qk_l2norm_in_kernel=True,
        )
        assert_close(out[:, s:e], o_i, f"output of sequence {i}", seed)
        assert_close(state[i : i + 1], s_i, f"final state of sequence {i}", seed)


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("l2norm", [False, True])
def test_step_matches_parallel(seed, gated, l2norm):
    q, k, v, beta, g, h0 = (t if t is None else t.detach() for t in delta_inputs(2, 23, 2, gated=gated, l2norm=l2norm))
    expected, expected_state = delta_rule(
        q, k, v, beta=beta, g=g, initial_state=h0, output_final_state=True, use_qk_l2norm_in_kernel=l2norm,
        chunk_size=8,
    )
    state, outs = h0, []
    for t in range(q.shape[1]):
        o_t, state = delta_rule_step(
            q[:, t], k[:, t], v[:, t], beta_t=beta[:, t], g_t=None if g is None else g[:, t], state=state,
            use_qk_l2norm_in_kernel=l2norm,
        )
        outs.append(o_t)
    assert_close(torch.stack(outs, dim=1), expected, "step outputs", seed)
    assert_close(state, expected_state, "step state", seed)


def test_step_from_zero_state_and_dtypes(seed):
    q, k, v = torch.randn(2, 3, 4), F.normalize(torch.randn(2, 3, 4), dim=-1), torch.randn(2, 3, 6)
    beta = torch.rand(2, 3)
    o, state = delta_rule_step(q.half(), k, v, beta_t=beta)
    assert o.dtype == torch.float16 and state.dtype == torch.float32 and state.shape == (2, 3, 4, 6)
    expected = (beta[..., None, None] * k[..., :, None] * v[..., None, :])  # one update of a zero state
    assert_close(state, expected, "first state", seed, rtol=1e-6, atol=1e-6)


def test_backends_agree_and_dtypes(seed):
    q, k, v, beta, g, h0 = (t.detach().float() for t in delta_inputs(1, 50, 1, gated=True, l2norm=True))
    results = {
        backend: delta_rule(q, k, v, beta=beta, g=g, initial_state=h0, output_final_state=True,
                            use_qk_l2norm_in_kernel=True, chunk_size=16, backend=backend)
        for backend in ("auto", "torch", "reference")
    }
    for backend in ("auto", "torch"):
        assert_close(results[backend][0], results["reference"][0], f"{backend} output", seed, rtol=1e-4, atol=1e-4)
        assert_close(results[backend][1], results["reference"][1], f"{backend} state", seed, rtol=1e-4, atol=1e-4)
    out, state = delta_rule(q.bfloat16(), k.bfloat16(), v.bfloat16(), beta=beta, g=g, output_final_state=True)
    assert out.dtype == torch.bfloat16 and state.dtype == torch.float32


def _valid(**changes):
    inputs = dict(
        q=torch.randn(1, 6, 2, 4), k=torch.randn(1, 6, 2, 4), v=torch.randn(1, 6, 2, 3),
        beta=torch.rand(1, 6, 2), g=None,
    )
    options = {}
    for key, value in changes.items():
        (inputs if key in inputs else options)[key] = value
    return inputs, options


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            dict(k=torch.randn(1, 6, 2, 5)),
            r"delta_rule: k has shape \(1, 6, 2, 5\) but expected \(B, T, H, K\) = \(1, 6, 2, 4\) from q",
        ),
        (dict(v=torch.randn(1, 6, 3, 3)), r"delta_rule: v has shape \(1, 6, 3, 3\)"),
        (dict(beta=torch.rand(1, 6, 2, 1)), r"delta_rule: beta has shape \(1, 6, 2, 1\) but expected \(B, T, H\)"),
        (dict(g=torch.rand(1, 6, 2, 4)), r"delta_rule: g has shape \(1, 6, 2, 4\) but expected \(B, T, H\)"),
        (
            dict(initial_state=torch.zeros(1, 2, 3, 4)),
            r"delta_rule: initial_state has shape \(1, 2, 3, 4\) but expected \(N, H, K, V\) = \(1, 2, 4, 3\)",
        ),
        (dict(beta=torch.ones(1, 6, 2, dtype=torch.int64)), r"delta_rule: beta has dtype torch.int64"),
        (dict(backend="cuda"), r"delta_rule: unknown backend 'cuda'"),
        (dict(chunk_size=0), r"delta_rule: chunk_size must be a positive int"),
        (dict(g=torch.full((1, 6, 2), 0.5)), r"delta_rule_chunked: g has entries > 0 \(the largest is 0.5\)"),
        (dict(cu_seqlens=torch.tensor([0, 2, 5])), r"cu_seqlens must end at the packed length T == 6"),
        (
            dict(cu_seqlens=torch.tensor([0, 2, 6]), initial_state=torch.zeros(1, 2, 4, 3)),
            r"initial_state has shape \(1, 2, 4, 3\) but expected \(N, H, K, V\) = \(2, 2, 4, 3\) from cu_seqlens",
        ),
    ],
)
def test_validation_errors(changes, message):
    inputs, options = _valid(**changes)
    with pytest.raises(ValueError, match=message):
        delta_rule(**inputs, **options)


def test_gates_are_keyword_only():
    """beta and g have one shape [B, T, H] and fla orders them (g, beta): positionally they could swap silently."""
    q, k, v, beta, g, _ = (t if t is None else t.detach() for t in delta_inputs(1, 4, None, gated=True, l2norm=False))
    for form in (delta_rule, delta_rule_chunked, delta_rule_reference):
        with pytest.raises(TypeError, match="positional argument"):
            form(q, k, v, beta, g)
    with pytest.raises(TypeError, match="positional argument"):
        delta_rule_step(q[:, 0], k[:, 0], v[:, 0], beta[:, 0])


def test_step_validation_errors():
    q, k, v, beta = torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.randn(2, 3, 5), torch.rand(2, 3)
    with pytest.raises(ValueError, match=r"delta_rule_step: g_t has shape \(2, 3, 4\) but expected \(B, H\)"):
        delta_rule_step(q, k, v, beta_t=beta, g_t=torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"delta_rule_step: state has shape \(2, 3, 5, 4\)"):
        delta_rule_step(q, k, v, beta_t=beta, state=torch.zeros(2, 3, 5, 4))
