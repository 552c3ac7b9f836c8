"""Tests of the Triton short_conv (kernels/short_conv/triton_conv.py) against the float64 reference loop.

On CPU the kernels run under the Triton interpreter: TRITON_INTERPRET must be set before triton_conv is
first imported (triton.jit reads it when the kernels are defined); tests/conftest.py sets it where CUDA is absent. The
interpreter uses one config per kernel (BLOCK_T = 64, BLOCK_D = 32): T = 63, 64, 65, 200 cross the T-blocks,
D = 40 the D-blocks.

Every test draws fresh random inputs: the `seed` fixture takes a new random seed (or SEQZOO_SEED when set)
and every comparison names it when it fails, so that `SEQZOO_SEED=<seed> pytest <this file>` replays it.
"""

from __future__ import annotations

import os

import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from zoo.kernels.short_conv import short_conv, short_conv_reference, short_conv_chunked  # noqa: E402
from zoo.kernels.short_conv import triton_conv  # noqa: E402
from zoo.kernels.short_conv.triton_conv import short_conv_triton  # noqa: E402

from triton_checks import assert_close as scaled_close  # noqa: E402
from triton_checks import half_precisions  # noqa: E402

pytestmark = pytest.mark.interpreter

if not triton_conv.INTERPRET and not torch.cuda.is_available():
    pytest.skip("Triton needs CUDA or TRITON_INTERPRET=1", allow_module_level=True)

DEVICE = "cpu" if triton_conv.INTERPRET else "cuda"
F64 = torch.float64
# Float32 kernels (float32 accumulation) against the float64 loop on the same float32-rounded inputs.
# Observed errors at these sizes (entries of order 1-10) are below 1e-6 of each tensor's largest entry:
# up to ~1.5e-6 absolute for y, dx and d initial_state, ~1e-5 for dweight and dbias, which sum up to 400
# token terms (hence their larger atol). A wrong tap, mask, block or sequence boundary shows at 1e-1 or more.
TOL32 = dict(rtol=1e-5, atol=1e-5)
TOL32_SUMS = dict(rtol=1e-5, atol=1e-4)
# Float16 inputs and outputs (float32 accumulation), held relative to each tensor's largest entry
# (`triton_checks.assert_close`): the stored y, dx, dweight, ... round to ~5e-4 of their largest terms, and
# dweight, dbias sum up to 400 tokens (an elementwise 1e-2 was reached to 0.69 over 50 seeds). Held so, the worst
# of a 100-seed sweep was 4e-5 of the largest entry (0.079 of this tolerance).
TOL16 = 5e-3
NAMES = ("x", "weight", "bias", "initial_state")


def make_inputs(gen, batch, length, dim, width, num_states, *, bias=True):
    """float64 x [B, T, D], weight [D, W], bias [D] (or None), initial_state [N, D, W-1] (or None)."""
    x = torch.randn(batch, length, dim, generator=gen, dtype=F64)
    weight = torch.randn(dim, width, generator=gen, dtype=F64) * 0.7
    b = torch.randn(dim, generator=gen, dtype=F64) if bias else None
    h0 = None if num_states is None else torch.randn(num_states, dim, width - 1, generator=gen, dtype=F64)
    return x, weight, b, h0


def assert_close(actual, expected, what, seed, tol):
    """`tol` a dict of rtol, atol: elementwise; a number: relative to the largest entry of `expected`."""
    if not isinstance(tol, dict):
        return scaled_close(actual.detach(), expected.detach().to(F64), what, seed, tol)
    torch.testing.assert_close(actual.cpu().to(F64), expected, **tol, msg=lambda m: f"{what} (seed={seed}): {m}")


def compare(seed, gen, inputs, *, dtype=torch.float32, tol=TOL32, sum_tol=TOL32_SUMS, final_state=True,
            grad_y=True, **options):
    """Run short_conv_triton on `inputs` cast to `dtype` and the reference in float64 on the same (rounded)
    values; compare y, the final state and the gradients of <y, dy> + <final_state, dfinal> for every input."""
    leaves = [None if t is None else t.to(DEVICE, dtype).requires_grad_() for t in inputs]
    oracle = [None if t is None else t.detach().cpu().to(F64).requires_grad_() for t in leaves]
    cu = options.pop("cu_seqlens", None)

    y, final = short_conv_triton(
        *leaves[:3], initial_state=leaves[3], output_final_state=final_state,
        cu_seqlens=None if cu is None else cu.to(DEVICE), **options,
    )
    y_ref, final_ref = short_conv_reference(
        *oracle[:3], initial_state=oracle[3], output_final_state=True, cu_seqlens=cu, **options
    )
    assert y.dtype == dtype and y.shape == y_ref.shape, f"seed={seed}"
    assert_close(y, y_ref, "y", seed, tol)
    outputs, outputs_ref, grads_out = [], [], []
    if grad_y:
        dy = torch.randn(y_ref.shape, generator=gen, dtype=F64)
        outputs, outputs_ref, grads_out = [y], [y_ref], [dy]
    if final_state:
        assert final.dtype == dtype and final.shape == final_ref.shape, f"seed={seed}"
        assert_close(final, final_ref, "final_state", seed, tol)
        if final_ref.numel() > 0:  # W == 1: the state is empty, nothing flows back through it
            dfinal = torch.randn(final_ref.shape, generator=gen, dtype=F64)
            outputs, outputs_ref, grads_out = outputs + [final], outputs_ref + [final_ref], grads_out + [dfinal]
    else:
        assert final is None, f"seed={seed}"

    names = [name for name, t in zip(NAMES, leaves) if t is not None]
    wrt = [t for t in leaves if t is not None]
    wrt_ref = [t for t in oracle if t is not None]
    grads = torch.autograd.grad(outputs, wrt, [g.to(DEVICE, dtype) for g in grads_out], allow_unused=True)
    grads_ref = torch.autograd.grad(outputs_ref, wrt_ref, grads_out, allow_unused=True)
    for name, g, g_ref, leaf in zip(names, grads, grads_ref, wrt):
        g_ref = torch.zeros_like(leaf, dtype=F64, device="cpu") if g_ref is None else g_ref
        assert g is not None and g.dtype == leaf.dtype, f"grad of {name} (seed={seed})"
        assert_close(g, g_ref, f"grad of {name}", seed, sum_tol if name in ("weight", "bias") else tol)


def cu_seqlens_of(lengths):
    return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)


@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "state"])
@pytest.mark.parametrize("width", [2, 4])
@pytest.mark.parametrize("length", [1, 3, 63, 64, 65, 200])
def test_dense_matches_reference(seed, length, width, with_state, activation):
    gen = torch.Generator().manual_seed(seed)
    batch = 2 if length < 200 else 1  # the interpreter is slow; rows are covered by the shorter lengths
    inputs = make_inputs(gen, batch, length, 8, width, batch if with_state else None)
    compare(seed, gen, inputs, activation=activation)


@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "state"])
@pytest.mark.parametrize("width", [2, 4])
@pytest.mark.parametrize("lengths", [(7, 2, 11), (5, 66, 2), (6, 0, 1)], ids=["short", "across_blocks", "empty"])
def test_varlen_matches_reference(seed, lengths, width, with_state, activation):
    """Three packed sequences, one of them shorter than W-1 (final states reach into the initial state);
    "across_blocks" puts a sequence start inside a T-block and runs a sequence across a block edge."""
    gen = torch.Generator().manual_seed(seed)
    inputs = make_inputs(gen, 1, sum(lengths), 8, width, len(lengths) if with_state else None)
    compare(seed, gen, inputs, activation=activation, cu_seqlens=cu_seqlens_of(lengths))


@pytest.mark.parametrize("varlen", [False, True], ids=["dense", "varlen"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "state"])
def test_empty_sequences(seed, with_state, varlen):
    """T = 0, dense and packed: an empty y; the final state is the initial one (zeros without one), its
    gradient passed straight back; zero gradients for the weight and bias."""
    gen = torch.Generator().manual_seed(seed)
    batch, num_states = (1, 3) if varlen else (2, 2)
    inputs = make_inputs(gen, batch, 0, 40, 4, num_states if with_state else None)
    x, weight, bias, h0 = (None if t is None else t.to(DEVICE, torch.float32).requires_grad_() for t in inputs)
    y, final = short_conv_triton(
        x, weight, bias, activation="silu", initial_state=h0, output_final_state=True,
        cu_seqlens=cu_seqlens_of((0,) * num_states).to(DEVICE) if varlen else None,
    )
    assert y.shape == (batch, 0, 40), f"seed={seed}"
    expected = torch.zeros(num_states, 40, 3, dtype=F64) if h0 is None else h0.detach().cpu().to(F64)
    assert_close(final, expected, "final_state", seed, TOL32)
    d_final = torch.randn(final.shape, generator=gen).to(DEVICE)
    wrt = [weight, bias] + ([] if h0 is None else [h0])
    grads = torch.autograd.grad((y, final), wrt, (torch.zeros_like(y), d_final), allow_unused=True)
    for name, grad in zip(("weight", "bias"), grads):
        assert grad is not None and not grad.any(), f"grad of {name} (seed={seed})"
    if h0 is not None:
        assert_close(grads[2], d_final.cpu().to(F64), "grad of initial_state", seed, TOL32)


def test_several_d_blocks_and_rows(seed):
    gen = torch.Generator().manual_seed(seed)
    compare(seed, gen, make_inputs(gen, 3, 70, 40, 3, 3), activation="silu")


@pytest.mark.parametrize("width", [1, 8])
def test_widths_at_the_limits(seed, width):
    gen = torch.Generator().manual_seed(seed)
    compare(seed, gen, make_inputs(gen, 1, 20, 8, width, 1 if width > 1 else None), activation="silu")


def test_without_bias(seed):
    gen = torch.Generator().manual_seed(seed)
    compare(seed, gen, make_inputs(gen, 2, 9, 8, 4, 2, bias=False), activation="silu")


@pytest.mark.parametrize("grad_y, final_state", [(True, False), (False, True)], ids=["y_only", "final_only"])
def test_gradient_through_one_output(seed, grad_y, final_state):
    """No final state asked for, or a loss on the final state alone (y's gradient arrives as None)."""
    gen = torch.Generator().manual_seed(seed)
    lengths = (5, 1, 9)
    inputs = make_inputs(gen, 1, sum(lengths), 8, 4, 3)
    compare(seed, gen, inputs, activation="silu", grad_y=grad_y, final_state=final_state,
            cu_seqlens=cu_seqlens_of(lengths))


@pytest.mark.parametrize("dtype,tol", half_precisions(TOL16))
def test_half_precision(seed, dtype, tol):
    gen = torch.Generator().manual_seed(seed)
    compare(seed, gen, make_inputs(gen, 2, 65, 8, 4, 2), dtype=dtype, tol=tol, sum_tol=tol,
            activation="silu")


def test_state_without_grad(seed):
    """An initial state that needs no gradient gets none, the other inputs still do."""
    gen = torch.Generator().manual_seed(seed)
    x, weight, bias, h0 = (t.float().to(DEVICE) for t in make_inputs(gen, 2, 10, 8, 4, 2))
    x.requires_grad_()
    y, _ = short_conv_triton(x, weight, bias, initial_state=h0)
    (dx,) = torch.autograd.grad(y.sum(), [x])
    y_ref, _ = short_conv_chunked(x, weight, bias, initial_state=h0)
    (dx_ref,) = torch.autograd.grad(y_ref.sum(), [x])
    assert_close(dx, dx_ref.cpu().to(F64), "grad of x", seed, TOL32)


def test_dispatch_triton_matches_torch(seed):
    gen = torch.Generator().manual_seed(seed)
    x, weight, bias, h0 = (t.float().to(DEVICE) for t in make_inputs(gen, 2, 33, 8, 4, 2))
    kwargs = dict(activation="silu", initial_state=h0, output_final_state=True)
    for got, expected in zip(short_conv(x, weight, bias, backend="triton", **kwargs),
                             short_conv_chunked(x, weight, bias, **kwargs)):
        assert_close(got, expected.cpu().to(F64), "output", seed, TOL32)


def test_dispatch_triton_on_cpu_needs_the_interpreter(monkeypatch):
    """The rule: on a CPU tensor the triton backend runs only if the kernels were defined under the
    interpreter (TRITON_INTERPRET=1 when triton_conv was first imported); otherwise a clear ValueError."""
    monkeypatch.setattr(triton_conv, "INTERPRET", False)
    x, weight = torch.randn(1, 6, 8), torch.randn(8, 4)
    with pytest.raises(ValueError, match=r"backend='triton' cannot run this call: the triton backend needs a CUDA "
                                         r"tensor \(or TRITON_INTERPRET=1"):
        short_conv(x, weight, backend="triton")
    with pytest.raises(ValueError, match=r"needs a CUDA tensor"):
        short_conv_triton(x, weight)
    y, _ = short_conv(x, weight)  # auto on CPU is the torch form
    torch.testing.assert_close(y, short_conv_chunked(x, weight)[0], rtol=0, atol=0)


def test_dispatch_triton_on_cpu_without_interpreter_in_a_fresh_process():
    """The same rule end to end: a process without TRITON_INTERPRET gets the error, not a Triton crash."""
    code = (
        "import torch\n"
        "from zoo.kernels.short_conv import short_conv\n"
        "try:\n"
        "    short_conv(torch.randn(1, 6, 8), torch.randn(8, 4), backend='triton')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "the triton backend needs a CUDA tensor (or TRITON_INTERPRET=1" in result.stdout, result.stdout


@pytest.mark.parametrize(
    "weight, dtype, match",
    [
        (torch.randn(8, 9), torch.float32, r"widths 1 to 8, got W = 9"),
        (torch.randn(8, 4, dtype=F64), F64, r"x has dtype torch.float64"),
    ],
    ids=["too_wide", "float64"],
)
def test_dispatch_triton_refuses_clearly(weight, dtype, match):
    x = torch.randn(1, 6, 8, dtype=dtype, device=DEVICE)
    with pytest.raises(ValueError, match=r"backend='triton' cannot run this call: .*" + match):
        short_conv(x, weight.to(DEVICE), backend="triton")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_on_cuda_prefers_causal_conv1d_then_triton(monkeypatch):
    from zoo.kernels.short_conv import dispatch

    x, weight = torch.randn(1, 6, 8, device="cuda"), torch.randn(8, 4, device="cuda")
    monkeypatch.setattr(dispatch, "load_causal_conv1d", lambda: None)
    assert dispatch._resolve("auto", x, weight, None, None, False, None) == "triton"
    assert dispatch._resolve("auto", x.double(), weight.double(), None, None, False, None) == "torch"
    monkeypatch.setattr(dispatch, "load_causal_conv1d", lambda: object())
    assert dispatch._resolve("auto", x, weight, None, None, False, None) == "causal_conv1d"
    assert dispatch._resolve("auto", x[..., :5], weight[:5], None, None, False, None) == "triton"  # D % 8 != 0
