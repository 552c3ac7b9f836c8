"""Tests of the Triton selective scan (kernels/selective_scan/triton_selective.py) against the float64 reference loop.

On CPU the kernels run under the Triton interpreter: TRITON_INTERPRET must be set before triton_selective is
first imported (triton.jit reads it when the kernels are defined); tests/conftest.py sets it where CUDA is absent. The
interpreter uses 4 channels per program, so D = 6 channels ungrouped span two channel blocks (the second
half masked), and G = 2 groups of 3 one masked block each; N = 5 states pads the state tile to 8. T = 63,
64, 65 and 200 cross the stored-state blocks of the default chunk_size = 64. The interpreter is slow
(~10 ms per token and channel block for the forward and backward), so the sizes are small and the long
case runs one sequence.

Every test draws fresh random inputs: the `seed` fixture takes a new random seed (or SEQZOO_SEED when set)
and every comparison names it when it fails, so that `SEQZOO_SEED=<seed> pytest <this file>` replays it.
"""

from __future__ import annotations

import os

import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from zoo.kernels.selective_scan import selective_scan, selective_scan_chunked, selective_scan_reference  # noqa: E402
from zoo.kernels.selective_scan import triton_selective  # noqa: E402
from zoo.kernels.selective_scan.triton_selective import selective_scan_triton  # noqa: E402

from triton_checks import assert_close as scaled_close  # noqa: E402
from triton_checks import half_precisions  # noqa: E402

pytestmark = pytest.mark.interpreter

if not triton_selective.INTERPRET and not torch.cuda.is_available():
    pytest.skip("Triton needs CUDA or TRITON_INTERPRET=1", allow_module_level=True)

DEVICE = "cpu" if triton_selective.INTERPRET else "cuda"
F64 = torch.float64
NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state")
CHANNELS, STATE_DIM = 6, 5
# Float32 kernels (float32 accumulation) against the float64 loop on the same float32-rounded inputs.
# States reach ~10-100 (slow decays A = -exp(randn) near -0.05 remember ~20 tokens), gradients of the
# sums over tokens (dA, dD, d delta_bias) ~1e3. Observed over 12 seeds of the dense T = 64, 65, 200,
# varlen and softplus-extremes cases: every error below 6e-7 of its tensor's largest entry, and at most
# 1/6 of these tolerances. A wrong decay, block hand-over, group, mask or sequence boundary shows at 1e-1.
TOL32 = dict(rtol=2e-5, atol=2e-5)
TOL32_SUMS = dict(rtol=2e-5, atol=2e-4)
# Float16 inputs, outputs and gradients (float32 accumulation), held relative to each tensor's largest entry
# (`triton_checks.assert_close`): a stored sum rounds to ~5e-4 of its largest terms, which an elementwise atol missed
# on small entries of dA (~2e2): over 50 seeds the error reached 2.2e-4 of the largest entry, 0.8 of an elementwise
# 1e-2. Held so, the worst of a 100-seed sweep was 0.13 of this tolerance.
TOL16 = 1e-2
SUMS = ("A", "D", "delta_bias")


def make_inputs(gen, batch, length, num_states, *, groups=None, gated=True, channels=CHANNELS,
                state_dim=STATE_DIM, delta_scale=1.0):
    """float64 inputs in NAMES order. A = -exp(randn) (decays of every speed); B, C: [B, T, N] ungrouped,
    else [B, T, G, N]. gated: raw delta around 0 (for softplus) with D, z and delta_bias; else delta > 0
    and none of them. initial_state [num_states, D, N], or None when num_states is None."""
    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=F64)

    delta = randn(batch, length, channels) * delta_scale
    bc_shape = (batch, length, state_dim) if groups is None else (batch, length, groups, state_dim)
    return [
        randn(batch, length, channels),
        delta if gated else 0.05 + delta.abs(),
        -torch.exp(randn(channels, state_dim)),
        randn(*bc_shape),
        randn(*bc_shape),
        randn(channels) if gated else None,
        randn(batch, length, channels) if gated else None,
        randn(channels) if gated else None,
        None if num_states is None else randn(num_states, channels, state_dim),
    ]


def assert_close(actual, expected, what, seed, tol):
    """`tol` a dict of rtol, atol: elementwise; a number: relative to the largest entry of `expected`."""
    if not isinstance(tol, dict):
        return scaled_close(actual.detach(), expected.detach().to(F64), what, seed, tol)
    torch.testing.assert_close(actual.detach().cpu().to(F64), expected.detach().to(F64), **tol,
                               msg=lambda m: f"{what} (seed={seed}): {m}")


def compare(seed, gen, inputs, *, dtype=torch.float32, tol=TOL32, sum_tol=TOL32_SUMS, final_state=True,
            grad_y=True, cu_seqlens=None, **options):
    """Run selective_scan_triton on `inputs` cast to `dtype` and the reference in float64 on the same (rounded)
    values; compare y, the final state and the gradients of <y, dy> + <final_state, dS> for every input."""
    leaves = [None if t is None else t.to(DEVICE, dtype).requires_grad_() for t in inputs]
    oracle = [None if t is None else t.detach().cpu().to(F64).requires_grad_() for t in leaves]
    kwargs = dict(zip(NAMES, leaves))
    y, final = selective_scan_triton(
        **kwargs, output_final_state=final_state, cu_seqlens=None if cu_seqlens is None else cu_seqlens.to(DEVICE),
        **options,
    )
    chunk_options = {k: v for k, v in options.items() if k != "chunk_size"}
    y_ref, final_ref = selective_scan_reference(
        **dict(zip(NAMES, oracle)), output_final_state=True, cu_seqlens=cu_seqlens, **chunk_options
    )
    assert y.dtype == dtype and y.shape == y_ref.shape, f"seed={seed}"
    assert_close(y, y_ref, "y", seed, tol)
    outputs, outputs_ref, cotangents = [], [], []
    if grad_y:
        dy = torch.randn(y_ref.shape, generator=gen, dtype=F64)
        outputs, outputs_ref, cotangents = [y], [y_ref], [dy]
    if final_state:
        assert final.dtype == torch.float32 and final.shape == final_ref.shape, f"seed={seed}"
        assert_close(final, final_ref, "final_state", seed, tol)
        dfinal = torch.randn(final_ref.shape, generator=gen, dtype=F64)
        outputs, outputs_ref, cotangents = outputs + [final], outputs_ref + [final_ref], cotangents + [dfinal]
    else:
        assert final is None, f"seed={seed}"

    names = [name for name, t in zip(NAMES, leaves) if t is not None]
    wrt = [t for t in leaves if t is not None]
    grads = torch.autograd.grad(outputs, wrt, [c.to(DEVICE, o.dtype) for c, o in zip(cotangents, outputs)],
                                allow_unused=True)
    grads_ref = torch.autograd.grad(outputs_ref, [t for t in oracle if t is not None], cotangents, allow_unused=True)
    for name, g, g_ref, leaf in zip(names, grads, grads_ref, wrt):
        g_ref = torch.zeros_like(leaf, dtype=F64, device="cpu") if g_ref is None else g_ref
        assert g is not None and g.dtype == leaf.dtype and g.shape == leaf.shape, f"grad of {name} (seed={seed})"
        assert_close(g, g_ref, f"grad of {name}", seed, sum_tol if name in SUMS else tol)
    return grads


def cu_seqlens_of(lengths):
    return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)


# "gated": delta + bias through softplus, skip D, gate z, an initial state. "raw": positive delta, no bias,
# no softplus, no D, no z, zero initial state.
CONFIGS = {"gated": dict(gated=True, with_state=True), "raw": dict(gated=False, with_state=False)}
DENSE_CASES = [
    # (T, batch, groups, config): every combination at T = 1; two per length across the chunk edge;
    # one sequence at T = 200 (the interpreter is slow).
    (1, 2, None, "gated"), (1, 2, None, "raw"), (1, 2, 2, "gated"), (1, 2, 2, "raw"),
    (63, 1, None, "gated"), (63, 1, 2, "raw"),
    (64, 1, None, "raw"), (64, 1, 2, "gated"),
    (65, 2, None, "gated"), (65, 1, 2, "gated"),
    (200, 1, None, "gated"), (200, 1, 2, "raw"),
]


@pytest.mark.parametrize(
    "length, batch, groups, config", DENSE_CASES,
    ids=[f"T={t}-B={b}-{'G=2' if g else 'ungrouped'}-{c}" for t, b, g, c in DENSE_CASES],
)
def test_dense_matches_reference(seed, length, batch, groups, config):
    gen = torch.Generator().manual_seed(seed)
    cfg = CONFIGS[config]
    inputs = make_inputs(gen, batch, length, batch if cfg["with_state"] else None, groups=groups, gated=cfg["gated"])
    compare(seed, gen, inputs, delta_softplus=cfg["gated"])


@pytest.mark.parametrize("chunk_size", [1, 7])
def test_any_chunk_size(seed, chunk_size):
    """Stored states every token, or every 7 tokens (20 = 2 * 7 + 6: a partial last block)."""
    gen = torch.Generator().manual_seed(seed)
    compare(seed, gen, make_inputs(gen, 2, 20, 2, groups=2), delta_softplus=True, chunk_size=chunk_size)


def test_several_channel_blocks_per_group(seed):
    """D = 12 in G = 2 groups: 6 channels per group span two blocks of 4, so dB and dC sum partials over
    blocks within each group; N = 3 pads the state tile to 4."""
    gen = torch.Generator().manual_seed(seed)
    inputs = make_inputs(gen, 2, 19, 2, groups=2, channels=12, state_dim=3)
    compare(seed, gen, inputs, delta_softplus=True, chunk_size=8)


@pytest.mark.parametrize(
    "lengths, groups, config",
    [((20, 0, 45), 2, "gated"), ((5, 1, 9), None, "raw"), ((0, 7, 0), None, "gated")],
    ids=["20-0-45-G=2-gated", "5-1-9-ungrouped-raw", "0-7-0-gated"],
)
def test_varlen_matches_reference(seed, lengths, groups, config):
    """Three sequences packed in one row, one of them empty (its final state is its initial state and
    d initial_state the final state's gradient); 20 and 45 cross blocks of 16 tokens."""
    gen = torch.Generator().manual_seed(seed)
    cfg = CONFIGS[config]
    inputs = make_inputs(gen, 1, sum(lengths), len(lengths) if cfg["with_state"] else None, groups=groups,
                         gated=cfg["gated"])
    compare(seed, gen, inputs, delta_softplus=cfg["gated"], chunk_size=16, cu_seqlens=cu_seqlens_of(lengths))


@pytest.mark.parametrize("grad_y, final_state", [(True, False), (False, True)], ids=["y_only", "final_only"])
def test_gradient_through_one_output(seed, grad_y, final_state):
    """No final state asked for, or a loss on the final state alone (y's gradient arrives as None)."""
    gen = torch.Generator().manual_seed(seed)
    lengths = (6, 9)
    inputs = make_inputs(gen, 1, sum(lengths), 2, groups=2)
    compare(seed, gen, inputs, delta_softplus=True, chunk_size=4, grad_y=grad_y, final_state=final_state,
            cu_seqlens=cu_seqlens_of(lengths))


def test_empty_batch_returns_the_initial_state(seed):
    gen = torch.Generator().manual_seed(seed)
    compare(seed, gen, make_inputs(gen, 2, 0, 2), delta_softplus=True)


def test_softplus_at_its_extremes(seed):
    """delta + bias from about -40 to 40: softplus switches to the identity above 20, and its tiny values
    far below 0 (exp(x) < float32 epsilon) must not round to zero."""
    gen = torch.Generator().manual_seed(seed)
    # delta up to ~40 makes dA and the states large where delta is: errors held relative to each tensor's largest
    # entry (elementwise TOL32 reached 0.35 over 50 seeds, on small entries beside large ones; so held, 0.019 over 100)
    compare(seed, gen, make_inputs(gen, 1, 12, 1, delta_scale=15.0), delta_softplus=True, tol=2e-5, sum_tol=2e-5)


@pytest.mark.parametrize("dtype,tol", half_precisions(TOL16))
def test_half_precision(seed, dtype, tol):
    gen = torch.Generator().manual_seed(seed)
    compare(seed, gen, make_inputs(gen, 1, 65, 1, groups=2), dtype=dtype, tol=tol, sum_tol=tol,
            delta_softplus=True)


def test_inputs_without_grad_and_deterministic_gradients(seed):
    """An initial state and a D that need no gradient get none; the gradients of the others are bitwise
    the same on a second run (partial sums reduced in a fixed order, no atomics)."""
    gen = torch.Generator().manual_seed(seed)
    u, delta, A, B, C, D, z, bias, h0 = (t.float().to(DEVICE) for t in make_inputs(gen, 2, 10, 2))
    leaves = [t.requires_grad_() for t in (u, delta, A, B, C, z, bias)]

    def grads():
        y, s = selective_scan_triton(u, delta, A, B, C, D, z, delta_bias=bias, delta_softplus=True,
                                     initial_state=h0, output_final_state=True, chunk_size=4)
        return torch.autograd.grad((y * y).sum() + s.sum(), leaves)

    first, second = grads(), grads()
    for name, g1, g2 in zip(("u", "delta", "A", "B", "C", "z", "delta_bias"), first, second):
        assert torch.equal(g1, g2), f"grad of {name} differs between runs (seed={seed})"
    y_ref, s_ref = selective_scan_chunked(u, delta, A, B, C, D, z, delta_bias=bias, delta_softplus=True,
                                          initial_state=h0, output_final_state=True)
    for name, g, g_ref in zip(("u", "delta", "A", "B", "C", "z", "delta_bias"), first,
                              torch.autograd.grad((y_ref * y_ref).sum() + s_ref.sum(), leaves)):
        assert_close(g, g_ref, f"grad of {name}", seed, TOL32_SUMS)


# ---------------------------------------------------------------------------------------------------------
# Dispatch


def float_inputs(seed, batch=2, length=9):
    gen = torch.Generator().manual_seed(seed)
    u, delta, A, B, C, D, z, bias, h0 = (t.float().to(DEVICE) for t in make_inputs(gen, batch, length, batch, groups=2))
    return dict(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=bias, initial_state=h0,
                delta_softplus=True, output_final_state=True)


def test_dispatch_triton_runs_the_triton_form(seed, monkeypatch):
    calls = []
    original = triton_selective.selective_scan_triton
    monkeypatch.setattr(triton_selective, "selective_scan_triton", lambda *a, **k: calls.append(1) or original(*a, **k))
    args = float_inputs(seed)
    got = selective_scan(**args, chunk_size=4, backend="triton")
    assert calls == [1]
    for what, a, b in zip(("y", "final_state"), got, selective_scan_chunked(**args)):
        assert_close(a, b.cpu(), what, seed, TOL32)


def test_dispatch_auto_on_cpu_is_the_torch_form(seed, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("auto ran the Triton form on CPU tensors")

    monkeypatch.setattr(triton_selective, "selective_scan_triton", fail)
    args = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in float_inputs(seed).items()}
    for a, b in zip(selective_scan(**args), selective_scan_chunked(**args)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_dispatch_triton_on_cpu_needs_the_interpreter(monkeypatch):
    """The rule: on a CPU tensor the triton backend runs only if the kernels were defined under the
    interpreter (TRITON_INTERPRET=1 when triton_selective was first imported); otherwise a clear ValueError."""
    monkeypatch.setattr(triton_selective, "INTERPRET", False)
    args = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in float_inputs(0).items()}
    expected = (
        "selective_scan: backend='triton' cannot run this call: "
        "the triton backend needs a CUDA tensor (or TRITON_INTERPRET=1"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        selective_scan(**args, backend="triton")
    with pytest.raises(ValueError, match=r"selective_scan_triton cannot run this call: .*needs a CUDA tensor"):
        selective_scan_triton(**args)
    selective_scan(**args)  # auto on CPU is the torch form


def test_dispatch_triton_on_cpu_without_interpreter_in_a_fresh_process():
    """The same rule end to end: a process without TRITON_INTERPRET gets the error, not a Triton crash."""
    code = (
        "import torch\n"
        "from zoo.kernels.selective_scan import selective_scan\n"
        "u = torch.randn(1, 5, 4)\n"
        "try:\n"
        "    selective_scan(u, u, -torch.rand(4, 3), torch.randn(1, 5, 3), torch.randn(1, 5, 3), backend='triton')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "backend='triton' cannot run this call: the triton backend needs a CUDA tensor" in result.stdout, (
        result.stdout + result.stderr
    )


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda a: {**a, "u": a["u"].double()}, r"u has dtype torch.float64"),
        (lambda a: {**a, "A": -torch.rand(CHANNELS, 300, device=DEVICE), "B": torch.randn(2, 9, 2, 300, device=DEVICE),
                    "C": torch.randn(2, 9, 2, 300, device=DEVICE), "initial_state": None}, r"N <= 256, got N = 300"),
    ],
    ids=["float64", "state_too_large"],
)
def test_dispatch_triton_refuses_clearly(change, match):
    args = change(float_inputs(0))
    with pytest.raises(ValueError, match=r"backend='triton' cannot run this call: .*" + match):
        selective_scan(**args, backend="triton")


def test_unknown_backend_lists_the_triton_backend():
    expected = "unknown backend 'cuda'; the backends of this op are ('auto', 'torch', 'triton', 'reference')"
    with pytest.raises(ValueError, match=re.escape(expected)):
        selective_scan(**float_inputs(0), backend="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_on_cuda_picks_triton_where_it_applies(monkeypatch):
    from zoo.kernels.selective_scan import dispatch

    args = float_inputs(0)
    tensors = [args[name] for name in NAMES]
    assert dispatch._resolve("auto", *tensors) == "triton"
    assert dispatch._resolve("auto", *[None if t is None else t.double() for t in tensors]) == "torch"
    assert dispatch._resolve("auto", *[None if t is None else t.cpu() for t in tensors]) == "torch"
