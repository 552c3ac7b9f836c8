"""Tests of the scan op (kernels/scan) and of the packed-batch helpers it uses (kernels/varlen.py).

Every test draws fresh random inputs: the `seed` fixture reseeds torch from a new random seed (or from
SEQZOO_SEED when set) and every comparison names that seed when it fails, so that
`SEQZOO_SEED=<seed> pytest tests/kernels/test_scan.py` replays the failure.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from zoo.kernels.scan import scan, scan_chunked, scan_reference, scan_step
from zoo.kernels.ssd import ssd_scan, ssd_step
from zoo.kernels.varlen import check_cu_seqlens, pad_packed, unpad_to_packed

F64 = torch.float64
# Float64 tolerances. The chunked form and the loop differ only in the order of summation: at these
# sizes (T <= 200, entries of order 1-10) their float64 results agree to ~1e-14. 1e-9 leaves five orders
# of magnitude for rounding, while a wrong decay, chunk boundary or state hand-over shows at 1e-3 or more.
TOL = dict(rtol=1e-9, atol=1e-9)


def assert_close(actual, expected, what: str, seed: int, **tol) -> None:
    torch.testing.assert_close(actual, expected, **(tol or TOL), msg=lambda m: f"{what} (seed={seed}): {m}")


def decays(*shape: int, dtype=F64) -> torch.Tensor:
    """Log-decays g [B, T, H] < 0, per head from fast (mean ~ -0.8) to slow (~ -0.008), as in retention."""
    heads = shape[-1]
    return -F.softplus(torch.randn(*shape, dtype=dtype)) * torch.logspace(0, -2, heads, dtype=dtype)


def channel_decays(*shape: int, dtype=F64) -> torch.Tensor:
    """Log-decays g [B, T, H, K] < 0 per key channel (GLA), from fast (mean ~ -2.5) to slow (~ -0.003)
    across the channels of a head, with the channel order shuffled per head."""
    *lead, heads, key_dim = shape
    rates = torch.logspace(0.5, -2.5, key_dim, dtype=dtype)
    rates = torch.stack([rates[torch.randperm(key_dim)] for _ in range(heads)])  # [H, K]
    return -F.softplus(torch.randn(*shape, dtype=dtype)) * rates


DECAYS = ("head", "channel")


def scan_inputs(
    batch: int, length: int, num_states: int | None, heads=3, key_dim=8, value_dim=5, decay="head"
):
    """Leaf tensors q, k [B, T, H, K], v [B, T, H, V], g ([B, T, H] when decay == "head", [B, T, H, K]
    when "channel") and initial_state [N, H, K, V] (None when num_states is None). K != V so that a
    transposed state cannot pass."""
    q = torch.randn(batch, length, heads, key_dim, dtype=F64)
    k = torch.randn(batch, length, heads, key_dim, dtype=F64)
    v = torch.randn(batch, length, heads, value_dim, dtype=F64)
    if decay == "head":
        g = decays(batch, length, heads)
    else:
        g = channel_decays(batch, length, heads, key_dim)
    h0 = None if num_states is None else torch.randn(num_states, heads, key_dim, value_dim, dtype=F64)
    return [t if t is None else t.requires_grad_() for t in (q, k, v, g, h0)]


def detached(leaves):
    return [t if t is None else t.detach() for t in leaves]


def upstream(out_shape, state_shape):
    """Random upstream gradients (dO, dS) for the output and the final state."""
    return torch.randn(out_shape, dtype=F64), torch.randn(state_shape, dtype=F64)


def outputs_and_grads(run, leaves, d_out, d_state):
    """(out, state, grads of <out, dO> + <state, dS> w.r.t. the leaves that are not None)."""
    out, state = run()
    loss = (out * d_out).sum() + (state * d_state).sum()
    grads = torch.autograd.grad(loss, [t for t in leaves if t is not None])
    return out, state, grads


GRAD_NAMES = ("q", "k", "v", "g", "initial_state")


# ---------------------------------------------------------------------------------------------------------
# The oracle itself


def test_reference_matches_closed_form_for_two_tokens(seed):
    q, k, v, g, _ = detached(scan_inputs(1, 2, None))
    o, state = scan_reference(q, k, v, g, output_final_state=True)
    scale = q.shape[-1] ** -0.5
    s1 = torch.einsum("hk,hv->hkv", k[0, 0], v[0, 0])
    s2 = g[0, 1].exp()[:, None, None] * s1 + torch.einsum("hk,hv->hkv", k[0, 1], v[0, 1])
    assert_close(o[0, 0], torch.einsum("hkv,hk->hv", s1, scale * q[0, 0]), "o_1", seed)
    assert_close(o[0, 1], torch.einsum("hkv,hk->hv", s2, scale * q[0, 1]), "o_2", seed)
    assert_close(state[0], s2, "S_2", seed)


def test_reference_matches_closed_form_with_channel_decay(seed):
    q, k, v, g, _ = detached(scan_inputs(1, 2, None, decay="channel"))
    o, state = scan_reference(q, k, v, g, output_final_state=True)
    scale = q.shape[-1] ** -0.5
    s1 = torch.einsum("hk,hv->hkv", k[0, 0], v[0, 0])
    s2 = g[0, 1].exp()[:, :, None] * s1 + torch.einsum("hk,hv->hkv", k[0, 1], v[0, 1])
    assert_close(o[0, 1], torch.einsum("hkv,hk->hv", s2, scale * q[0, 1]), "o_2", seed)
    assert_close(state[0], s2, "S_2", seed)


# ---------------------------------------------------------------------------------------------------------
# Chunked vs reference


@pytest.mark.parametrize("decay", DECAYS)
@pytest.mark.parametrize("with_state", [True, False], ids=["h0", "no-h0"])
@pytest.mark.parametrize("chunk_size", [16, 64])
@pytest.mark.parametrize("length", [1, 63, 64, 65, 200])
def test_chunked_matches_reference(seed, length, chunk_size, with_state, decay):
    batch = 2
    leaves = scan_inputs(batch, length, batch if with_state else None, decay=decay)
    q, k, v, g, h0 = leaves
    gradients = upstream((batch, length, 3, 5), (batch, 3, 8, 5))

    def run(form, **kw):
        return lambda: form(q, k, v, g, initial_state=h0, output_final_state=True, **kw)

    o_ref, s_ref, grads_ref = outputs_and_grads(run(scan_reference), leaves, *gradients)
    o, s, grads = outputs_and_grads(run(scan_chunked, chunk_size=chunk_size), leaves, *gradients)
    assert_close(o, o_ref, "o", seed)
    assert_close(s, s_ref, "final_state", seed)
    for name, grad, grad_ref in zip(GRAD_NAMES, grads, grads_ref):
        assert_close(grad, grad_ref, f"d{name}", seed)


@pytest.mark.parametrize("decay", DECAYS)
@pytest.mark.parametrize("lengths", [(37, 1, 90), (16, 0, 33)], ids=["37-1-90", "16-0-33"])
@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_varlen_matches_separate_sequences(seed, lengths, backend, decay):
    total = sum(lengths)
    leaves = scan_inputs(1, total, len(lengths), decay=decay)
    q, k, v, g, h0 = leaves
    cu_seqlens = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    gradients = upstream((1, total, 3, 5), (len(lengths), 3, 8, 5))

    def packed():
        return scan(
            q, k, v, g, initial_state=h0, output_final_state=True, cu_seqlens=cu_seqlens,
            chunk_size=16, backend=backend,
        )

    def separate():
        bounds = cu_seqlens.tolist()
        runs = [
            scan_reference(
                q[:, s:e], k[:, s:e], v[:, s:e], g[:, s:e],
                initial_state=h0[i : i + 1], output_final_state=True,
            )
            for i, (s, e) in enumerate(zip(bounds, bounds[1:]))
        ]
        return torch.cat([o for o, _ in runs], dim=1), torch.cat([s for _, s in runs], dim=0)

    o_ref, s_ref, grads_ref = outputs_and_grads(separate, leaves, *gradients)
    o, s, grads = outputs_and_grads(packed, leaves, *gradients)
    assert_close(o, o_ref, "o", seed)
    assert_close(s, s_ref, "final_state", seed)
    for name, grad, grad_ref in zip(GRAD_NAMES, grads, grads_ref):
        assert_close(grad, grad_ref, f"d{name}", seed)


@pytest.mark.parametrize("decay", DECAYS)
def test_backends_agree_and_state_is_optional(seed, decay):
    q, k, v, g, h0 = detached(scan_inputs(2, 50, 2, decay=decay))
    backends = ("auto", "torch", "reference")
    results = {b: scan(q, k, v, g, initial_state=h0, backend=b, chunk_size=16) for b in backends}
    for backend, (o, state) in results.items():
        assert state is None, backend
        assert_close(o, results["reference"][0], f"o of backend {backend}", seed)
    o_scaled, _ = scan(q, k, v, g, scale=q.shape[-1] ** -0.5)
    assert_close(scan(q, k, v, g)[0], o_scaled, "default scale K**-0.5", seed)


@pytest.mark.parametrize("decay", DECAYS)
def test_low_precision_inputs(seed, decay):
    q, k, v, g, h0 = detached(scan_inputs(2, 70, 2, decay=decay))
    o_ref, s_ref = scan_reference(q, k, v, g, initial_state=h0, output_final_state=True)
    o, s = scan(q.float(), k.float(), v.float(), g.float(), initial_state=h0.float(), output_final_state=True)
    assert (o.dtype, s.dtype) == (torch.float32, torch.float32)
    # float32 accumulation over chunks of 64: relative rounding ~1e-6 on entries of order 1-10.
    assert_close(o.double(), o_ref, "float32 o", seed, rtol=1e-4, atol=1e-4)
    assert_close(s.double(), s_ref, "float32 final_state", seed, rtol=1e-4, atol=1e-4)
    o, s = scan(q.bfloat16(), k.bfloat16(), v.bfloat16(), g.float(), output_final_state=True)
    assert (o.dtype, s.dtype) == (torch.bfloat16, torch.float32)


@pytest.mark.parametrize("chunk_size", [24, 64])
def test_strong_channel_decay_neither_overflows_nor_loses_slow_channels(seed, chunk_size):
    """g down to -5 per step in some key channels, next to channels that barely decay: within a chunk of 64
    the fast channels accumulate a log decay of ~ -160, so the naive q * exp(b), k * exp(-b) split would
    overflow float32 (exp(160) > 3.4e38) and, in float64, drown the slow channels in rounding."""
    batch, length, heads, key_dim = 2, 200, 3, 8
    leaves = scan_inputs(batch, length, batch, heads=heads, key_dim=key_dim, decay="channel")
    q, k, v, _, h0 = leaves
    fast = torch.rand(heads, key_dim) < 0.5  # per head, about half the channels decay strongly
    strong = -5 * torch.rand(batch, length, heads, key_dim, dtype=F64)
    weak = -0.01 * torch.rand(batch, length, heads, key_dim, dtype=F64)
    g = torch.where(fast, strong, weak).requires_grad_()
    leaves = [q, k, v, g, h0]
    per_chunk = g.detach()[:, :64].sum(1)
    assert per_chunk.min() < -100, f"the test needs a strong accumulated decay (seed={seed})"
    gradients = upstream((batch, length, heads, 5), (batch, heads, key_dim, 5))

    def run(form, **kw):
        return lambda: form(q, k, v, g, initial_state=h0, output_final_state=True, **kw)

    o_ref, s_ref, grads_ref = outputs_and_grads(run(scan_reference), leaves, *gradients)
    o, s, grads = outputs_and_grads(run(scan_chunked, chunk_size=chunk_size), leaves, *gradients)
    assert_close(o, o_ref, "o", seed)
    assert_close(s, s_ref, "final_state", seed)
    for name, grad, grad_ref in zip(GRAD_NAMES, grads, grads_ref):
        assert_close(grad, grad_ref, f"d{name}", seed)

    f32 = [t.detach().float().requires_grad_() for t in leaves]
    o32, s32 = scan_chunked(*f32[:4], initial_state=f32[4], output_final_state=True, chunk_size=chunk_size)
    grads32 = torch.autograd.grad((o32 * gradients[0]).sum() + (s32 * gradients[1]).sum(), f32)
    for name, t in zip(("o", "final_state", *(f"d{n}" for n in GRAD_NAMES)), (o32, s32, *grads32)):
        assert torch.isfinite(t).all(), f"float32 {name} is not finite (seed={seed})"
    # float32 against the float64 oracle: entries of order 1-10, relative rounding ~1e-6.
    assert_close(o32.double(), o_ref, "float32 o", seed, rtol=1e-4, atol=1e-4)
    assert_close(s32.double(), s_ref, "float32 final_state", seed, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------------------
# Mamba-2 SSD


def ssd_loop(x, dt, A, B, C, D, z, dt_bias, dt_softplus, dt_limit, h0):
    """Mamba-2 SSD head by head and token by token, in mamba_ssm's own state layout [batch, P, N]:
    h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T, y_t = h_t C_t + D x_t, y_t *= silu(z_t).
    Returns (y [batch, T, H, P], final state in seqzoo's layout [batch, H, N, P])."""
    batch, length, heads, head_dim = x.shape
    groups, state_dim = B.shape[2:]
    if dt_bias is not None:
        dt = dt + dt_bias
    if dt_softplus:
        dt = torch.log1p(torch.exp(dt))
    dt = torch.clamp(dt, *dt_limit)
    ys, states = [], []
    for h in range(heads):
        group = h * groups // heads
        state = x.new_zeros(batch, head_dim, state_dim) if h0 is None else h0[:, h].transpose(-1, -2)
        y_h = []
        for t in range(length):
            step = dt[:, t, h, None, None]
            state = torch.exp(step * A[h]) * state + step * x[:, t, h, :, None] * B[:, t, group, None, :]
            y = (state @ C[:, t, group, :, None])[..., 0]
            y_h.append(y if D is None else y + D[h] * x[:, t, h])
        ys.append(torch.stack(y_h, dim=1))
        states.append(state)
    y = torch.stack(ys, dim=2)
    if z is not None:
        y = y * z * torch.sigmoid(z)
    return y, torch.stack(states, dim=1).transpose(-1, -2)


def ssd_inputs(batch, length, num_states, *, d_shape="H", gated=True, heads=4, groups=2, head_dim=3, state_dim=6):
    """Leaf tensors for ssd_scan, in its argument order: x, dt, A, B, C, D, z, dt_bias, initial_state.
    gated: dt raw around 0 (for softplus) with z and dt_bias, else dt around 0.5 (a quarter of it negative:
    clamped to 0 by the default dt_limit) without z and dt_bias."""
    x = torch.randn(batch, length, heads, head_dim, dtype=F64)
    dt = torch.randn(batch, length, heads, dtype=F64)
    dt = dt if gated else dt * 0.7 + 0.5
    A = -torch.exp(torch.randn(heads, dtype=F64))
    B = torch.randn(batch, length, groups, state_dim, dtype=F64)
    C = torch.randn(batch, length, groups, state_dim, dtype=F64)
    D = torch.randn(heads if d_shape == "H" else (heads, head_dim), dtype=F64)
    z = torch.randn(batch, length, heads, head_dim, dtype=F64) if gated else None
    dt_bias = torch.randn(heads, dtype=F64) if gated else None
    h0 = None if num_states is None else torch.randn(num_states, heads, state_dim, head_dim, dtype=F64)
    return [t if t is None else t.requires_grad_() for t in (x, dt, A, B, C, D, z, dt_bias, h0)]


SSD_ARGS = ("x", "dt", "A", "B", "C", "D", "z", "dt_bias", "initial_state")
SSD_CONFIGS = {
    # dt + bias through softplus, clamped on both sides; z gate; D per head; initial state.
    "softplus-limit-gate": dict(
        gated=True, d_shape="H", dt_softplus=True, dt_limit=(0.3, 1.5), with_state=True
    ),
    # raw dt (negative in places: clamped to the default limit), no gate, D per head and channel, no initial state.
    "raw-dt": dict(
        gated=False, d_shape="HP", dt_softplus=False, dt_limit=(0.0, float("inf")), with_state=False
    ),
}


@pytest.mark.parametrize("config", SSD_CONFIGS.values(), ids=SSD_CONFIGS.keys())
def test_ssd_matches_loop(seed, config):
    batch, length = 2, 37
    num_states = batch if config["with_state"] else None
    leaves = ssd_inputs(batch, length, num_states, gated=config["gated"], d_shape=config["d_shape"])
    x, dt, A, B, C, D, z, dt_bias, h0 = leaves
    flags = dict(dt_softplus=config["dt_softplus"], dt_limit=config["dt_limit"])
    gradients = upstream((batch, length, 4, 3), (batch, 4, 6, 3))

    def ours():
        return ssd_scan(
            x, dt, A, B, C, D=D, z=z,
            dt_bias=dt_bias, initial_state=h0, output_final_state=True, chunk_size=16, **flags,
        )

    def loop():
        return ssd_loop(x, dt, A, B, C, D, z, dt_bias, h0=h0, **flags)

    y_ref, s_ref, grads_ref = outputs_and_grads(loop, leaves, *gradients)
    y, s, grads = outputs_and_grads(ours, leaves, *gradients)
    assert_close(y, y_ref, "y", seed)
    assert_close(s, s_ref, "final_state", seed)
    names = [n for n, t in zip(SSD_ARGS, leaves) if t is not None]
    for name, grad, grad_ref in zip(names, grads, grads_ref):
        assert_close(grad, grad_ref, f"d{name}", seed)


def test_ssd_varlen_matches_separate_sequences(seed):
    lengths = (21, 40, 3)
    x, dt, A, B, C, D, z, dt_bias, h0 = detached(ssd_inputs(1, sum(lengths), len(lengths)))
    flags = dict(dt_bias=dt_bias, dt_softplus=True, output_final_state=True, chunk_size=16)
    cu_seqlens = torch.tensor([0, 21, 61, 64])
    y, s = ssd_scan(x, dt, A, B, C, D=D, z=z, initial_state=h0, cu_seqlens=cu_seqlens, **flags)
    for i, (start, end) in enumerate(zip(cu_seqlens.tolist(), cu_seqlens[1:].tolist())):
        part = slice(start, end)
        y_i, s_i = ssd_scan(
            x[:, part], dt[:, part], A, B[:, part], C[:, part], D=D, z=z[:, part],
            initial_state=h0[i : i + 1], **flags,
        )
        assert_close(y[:, part], y_i, f"y of sequence {i}", seed)
        assert_close(s[i : i + 1], s_i, f"final_state of sequence {i}", seed)


@pytest.mark.parametrize("backend", ["reference", "torch"])
def test_ssd_clamps_a_negative_dt_to_the_default_limit(seed, backend):
    """dt + dt_bias < 0 without softplus: the default dt_limit (0, inf) clamps it to 0, as mamba_ssm's
    `mamba_chunk_scan_combined` does (unclamped, exp(dt A) > 1 grows: errors of 1e13 and more)."""
    x = torch.randn(1, 20, 4, 6, dtype=F64)
    dt = torch.randn(1, 20, 4, dtype=F64) - 1
    A = -torch.rand(4, dtype=F64).exp()
    B, C = (torch.randn(1, 20, 2, 10, dtype=F64) for _ in range(2))
    y, s = ssd_scan(x, dt, A, B, C, output_final_state=True, chunk_size=8, backend=backend)
    y_ref, s_ref = ssd_scan(x, dt.clamp(min=0), A, B, C, output_final_state=True, chunk_size=8, backend=backend)
    assert_close(y, y_ref, "y", seed)
    assert_close(s, s_ref, "final_state", seed)
    y_t, s_t = ssd_step(x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], state=s)
    y_t_ref, s_t_ref = ssd_step(x[:, 0], dt[:, 0].clamp(min=0), A, B[:, 0], C[:, 0], state=s)
    assert_close(y_t, y_t_ref, "stepped y", seed)
    assert_close(s_t, s_t_ref, "stepped state", seed)


# ---------------------------------------------------------------------------------------------------------
# Decoding steps


@pytest.mark.parametrize("decay", DECAYS)
def test_scan_step_matches_parallel(seed, decay):
    q, k, v, g, h0 = detached(scan_inputs(2, 37, 2, decay=decay))
    o_ref, s_ref = scan(q, k, v, g, initial_state=h0, output_final_state=True, chunk_size=16)
    state, outs = h0, []
    for t in range(q.shape[1]):
        o_t, state = scan_step(q[:, t], k[:, t], v[:, t], g[:, t], state)
        outs.append(o_t)
    assert_close(torch.stack(outs, dim=1), o_ref, "stepped o", seed)
    assert_close(state, s_ref, "stepped state", seed)
    o_1, state_1 = scan_step(q[:, 0], k[:, 0], v[:, 0], g[:, 0], None)
    assert_close(o_1, scan(q[:, :1], k[:, :1], v[:, :1], g[:, :1])[0][:, 0], "step from no state", seed)
    assert state_1.shape == h0.shape


def test_ssd_step_matches_parallel(seed):
    x, dt, A, B, C, D, z, dt_bias, h0 = detached(ssd_inputs(2, 29, 2))
    flags = dict(dt_bias=dt_bias, dt_softplus=True, dt_limit=(0.3, 1.5))
    y_ref, s_ref = ssd_scan(
        x, dt, A, B, C, D=D, z=z, initial_state=h0, output_final_state=True, chunk_size=16, **flags
    )
    state, ys = h0, []
    for t in range(x.shape[1]):
        y_t, state = ssd_step(x[:, t], dt[:, t], A, B[:, t], C[:, t], D=D, z_t=z[:, t], state=state, **flags)
        ys.append(y_t)
    assert_close(torch.stack(ys, dim=1), y_ref, "stepped y", seed)
    assert_close(state, s_ref, "stepped state", seed)


# ---------------------------------------------------------------------------------------------------------
# Input validation


def valid_scan_args(batch=2, length=10, heads=4, key_dim=16, value_dim=8):
    return dict(
        q=torch.randn(batch, length, heads, key_dim),
        k=torch.randn(batch, length, heads, key_dim),
        v=torch.randn(batch, length, heads, value_dim),
        g=-torch.rand(batch, length, heads),
        initial_state=torch.randn(batch, heads, key_dim, value_dim),
    )


SCAN_ERRORS = {
    "q-ndim": (dict(q=torch.randn(2, 10, 4)), "scan: q has shape (2, 10, 4) but expected (B, T, H, K)"),
    "k": (
        dict(k=torch.randn(2, 10, 4, 8)),
        "scan: k has shape (2, 10, 4, 8) but expected (B, T, H, K) = (2, 10, 4, 16) from q",
    ),
    "v": (
        dict(v=torch.randn(2, 10, 3, 8)),
        "scan: v has shape (2, 10, 3, 8) but expected (B, T, H, V) = (2, 10, 4, V) from q",
    ),
    "g": (
        dict(g=torch.randn(2, 10, 4, 1)),
        "scan: g has shape (2, 10, 4, 1) but expected (B, T, H) = (2, 10, 4) "
        "or (B, T, H, K) = (2, 10, 4, 16) from q",
    ),
    "g-heads": (
        dict(g=torch.randn(2, 10, 3)),
        "scan: g has shape (2, 10, 3) but expected (B, T, H) = (2, 10, 4) "
        "or (B, T, H, K) = (2, 10, 4, 16) from q",
    ),
    "initial_state": (
        dict(initial_state=torch.randn(2, 4, 8, 16)),
        "scan: initial_state has shape (2, 4, 8, 16) but expected (N, H, K, V) = (2, 4, 16, 8)",
    ),
    "dtype": (dict(k=torch.ones(2, 10, 4, 16, dtype=torch.long)), "scan: k has dtype torch.int64"),
    "cu_seqlens-batch": (
        dict(cu_seqlens=torch.tensor([0, 10])),
        "cu_seqlens is given, so the batch must be packed",
    ),
    "chunk_size": (dict(chunk_size=0), "scan: chunk_size must be a positive int"),
}


@pytest.mark.parametrize("change, message", SCAN_ERRORS.values(), ids=SCAN_ERRORS.keys())
def test_scan_rejects_bad_inputs(change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        scan(**{**valid_scan_args(), **change})


def test_varlen_initial_state_must_have_one_row_per_sequence():
    args = valid_scan_args(batch=1)
    expected = "initial_state has shape (1, 4, 16, 8) but expected (N, H, K, V) = (3, 4, 16, 8) from cu_seqlens"
    with pytest.raises(ValueError, match=re.escape(expected)):
        scan(**args, cu_seqlens=torch.tensor([0, 2, 5, 10]))


@pytest.mark.parametrize("decay", DECAYS)
def test_a_growing_log_decay_is_an_error_for_the_chunked_form_and_runs_in_the_loops(seed, decay):
    """g > 0 somewhere: the chunked form (whose every exponential is of a number <= 0 only when g <= 0) refuses
    it, naming g; the reference loop and the step compute the growth as written and agree."""
    q, k, v, g, h0 = detached(scan_inputs(1, 12, 1, decay=decay))
    g = g.clone()
    g[0, 5, 1] = 0.25
    for run in (lambda: scan(q, k, v, g, backend="torch"), lambda: scan_chunked(q, k, v, g)):
        with pytest.raises(ValueError, match=re.escape("scan_chunked: g has entries > 0 (the largest is 0.25)")):
            run()
    o_ref, s_ref = scan(q, k, v, g, initial_state=h0, output_final_state=True, backend="reference")
    state, outs = h0, []
    for t in range(q.shape[1]):
        o_t, state = scan_step(q[:, t], k[:, t], v[:, t], g[:, t], state)
        outs.append(o_t)
    assert_close(torch.stack(outs, dim=1), o_ref, "stepped o", seed)
    assert_close(state, s_ref, "stepped state", seed)


def test_ssd_skip_and_gate_are_keyword_only():
    """z has x's shape, and mamba_ssm's sixth positional argument is chunk_size: D and z go by name."""
    x, dt, A, B, C, D, z, *_ = detached(ssd_inputs(1, 5, None))
    with pytest.raises(TypeError, match="positional argument"):
        ssd_scan(x, dt, A, B, C, D, z)
    with pytest.raises(TypeError, match="positional argument"):
        ssd_step(x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D, z[:, 0])


def test_ssd_with_a_positive_A_is_an_error_naming_it_except_for_the_loop():
    x, dt, A, B, C, *_ = detached(ssd_inputs(1, 5, None, gated=False))
    A = A.clone()
    A[1] = 0.5
    with pytest.raises(ValueError, match=re.escape("ssd_scan: dt * A has entries > 0") + ".*A must be <= 0"):
        ssd_scan(x, dt, A, B, C, backend="torch")
    y, _ = ssd_scan(x, dt, A, B, C, backend="reference")
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("backend", ["fused", "cuda"])
def test_unknown_backend_lists_choices(backend):
    args = valid_scan_args()
    expected = f"unknown backend '{backend}'; the backends of this op are ('auto', 'torch', 'reference', 'triton')"
    with pytest.raises(ValueError, match=re.escape(expected)):
        scan(args["q"], args["k"], args["v"], args["g"], backend=backend)
    x, dt, A, B, C, *_ = detached(ssd_inputs(1, 5, None, gated=False))
    with pytest.raises(ValueError, match=re.escape(expected)):
        ssd_scan(x, dt, A, B, C, backend=backend)


def test_scan_step_rejects_bad_inputs():
    args = {name: t[:, 0] for name, t in valid_scan_args().items() if name != "initial_state"}
    expected = "scan_step: state has shape (2, 4, 16) but expected (N, H, K, V) = (2, 4, 16, 8)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        scan_step(args["q"], args["k"], args["v"], args["g"], torch.randn(2, 4, 16))
    expected = "scan_step: g has shape (2, 4, 1) but expected (B, H) = (2, 4) or (B, H, K) = (2, 4, 16)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        scan_step(args["q"], args["k"], args["v"], args["g"][..., None], None)


SSD_ERRORS = {
    "dt": (
        dict(dt=torch.randn(2, 5, 3)),
        "ssd_scan: dt has shape (2, 5, 3) but expected (B, T, H) = (2, 5, 4) from x",
    ),
    "A": (dict(A=torch.randn(4, 1)), "ssd_scan: A has shape (4, 1) but expected (H) = (4) from x"),
    "B": (
        dict(B=torch.randn(2, 6, 2, 6)),
        "ssd_scan: B has shape (2, 6, 2, 6) but expected (B, T, G, N) = (2, 5, G, N) from x",
    ),
    "C": (
        dict(C=torch.randn(2, 5, 2, 5)),
        "ssd_scan: C has shape (2, 5, 2, 5) but expected (B, T, G, N) = (2, 5, 2, 6) from B",
    ),
    "groups": (
        dict(B=torch.randn(2, 5, 3, 6), C=torch.randn(2, 5, 3, 6)),
        "H = 4 (from x) must be a multiple of the number of groups G = 3",
    ),
    "D": (
        dict(D=torch.randn(4, 2)),
        "ssd_scan: D has shape (4, 2) but expected (H) = (4) or (H, P) = (4, 3) from x",
    ),
    "D-not-a-tensor": (dict(D=64), "ssd_scan: D must be a tensor (H), got int"),
    "z": (
        dict(z=torch.randn(2, 5, 4, 2)),
        "ssd_scan: z has shape (2, 5, 4, 2) but expected (B, T, H, P) = (2, 5, 4, 3) from x",
    ),
    "dt_bias": (
        dict(dt_bias=torch.randn(2)),
        "ssd_scan: dt_bias has shape (2,) but expected (H) = (4) from x",
    ),
    "initial_state": (
        dict(initial_state=torch.randn(2, 4, 3, 6)),
        "ssd_scan: initial_state has shape (2, 4, 3, 6) but expected (N_seq, H, N, P) = (2, 4, 6, 3) from x and B",
    ),
}


@pytest.mark.parametrize("change, message", SSD_ERRORS.values(), ids=SSD_ERRORS.keys())
def test_ssd_rejects_bad_inputs(change, message):
    args = {**dict(zip(SSD_ARGS, detached(ssd_inputs(2, 5, 2)))), **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        ssd_scan(**args)


def test_ssd_step_rejects_bad_state():
    x, dt, A, B, C, D, z, dt_bias, h0 = detached(ssd_inputs(2, 1, 2))
    expected = "ssd_step: state has shape (2, 4, 3, 6) but expected (N_seq, H, N, P) = (2, 4, 6, 3)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        ssd_step(x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D=D, z_t=z[:, 0], state=h0.transpose(-1, -2))


# ---------------------------------------------------------------------------------------------------------
# Packed-batch helpers (kernels/varlen.py)


@pytest.mark.parametrize(
    "cu_seqlens, message",
    [
        ([0, 3, 10], None),
        ([[0, 10]], "1-D int32 or int64"),
        (torch.tensor([0.0, 10.0]), "1-D int32 or int64"),
        ([0], "at least 2 entries"),
        ([1, 10], "must start at 0"),
        ([0, 6, 4, 10], "non-decreasing"),
        ([0, 4, 9], "must end at the packed length T == 10"),
    ],
)
def test_check_cu_seqlens(cu_seqlens, message):
    cu_seqlens = cu_seqlens if isinstance(cu_seqlens, torch.Tensor) else torch.tensor(cu_seqlens)
    if message is None:
        check_cu_seqlens(cu_seqlens, 1, 10)
    else:
        with pytest.raises(ValueError, match=re.escape(message)):
            check_cu_seqlens(cu_seqlens, 1, 10)


def test_pad_and_unpad_round_trip_with_gradients(seed):
    cu_seqlens = torch.tensor([0, 3, 3, 10, 12], dtype=torch.int32)
    x = torch.randn(1, 12, 2, 3, dtype=F64, requires_grad=True)
    padded = pad_packed(x, cu_seqlens, pad_value=-7.0)
    assert padded.shape == (4, 7, 2, 3)
    assert_close(padded[2, :7], x[0, 3:10], "sequence 2", seed)
    assert_close(padded[0, :3], x[0, :3], "sequence 0", seed)
    assert (padded[0, 3:] == -7).all() and (padded[1] == -7).all() and (padded[3, 2:] == -7).all()
    assert_close(unpad_to_packed(padded, cu_seqlens), x, "round trip", seed)
    torch.autograd.gradcheck(lambda t: unpad_to_packed(pad_packed(t, cu_seqlens) * 2, cu_seqlens), (x,))
