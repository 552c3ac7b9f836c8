"""Tests of the Triton sLSTM (kernels/slstm/triton_slstm*.py) against the float64 reference loop.

On CPU the kernels run under the Triton interpreter: TRITON_INTERPRET must be set before triton_slstm is
first imported (triton.jit reads it when the kernels are defined); tests/conftest.py sets it where CUDA is
absent. The interpreter is slow (~15 ms per token and head for the forward and backward), so the sizes are
small: H = 2 heads of Dh = 6 units (the tile of 8 has masked lanes), one or two sequences; T = 63, 64, 65
and 200 as in the torch form's tests, and varlen batches with an empty sequence.

Two forms of the kernels: register (R[h] in registers, Dh <= REGISTER_MAX_HEAD_DIM = 64) and tiled (R[h]
reloaded per token in [BJ, BK] tiles, for larger heads). The `tiled` fixture lowers the threshold so that the
tiled kernels run small heads too; their tests use Dh = 48 (under the interpreter BJ = 16, BK = 32: full row
blocks, a half-masked column block), Dh = 96 and Dh = 130 (chosen by size), and Dh = 6 (one block, masked).

Every test draws fresh random inputs: the `seed` fixture takes a new random seed (or SEQZOO_SEED when set)
and every comparison names it when it fails, so that `SEQZOO_SEED=<seed> pytest <this file>` replays it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch

from zoo.kernels.slstm import slstm, slstm_recurrent, slstm_reference
from zoo.kernels.slstm import triton_slstm
from zoo.kernels.slstm.triton_slstm import slstm_triton

from triton_checks import DEVICE, assert_close, half_precisions, poisoned

pytestmark = pytest.mark.interpreter

if not triton_slstm.INTERPRET and not torch.cuda.is_available():
    pytest.skip("Triton needs CUDA or TRITON_INTERPRET=1", allow_module_level=True)

F64 = torch.float64
HEADS, HEAD_DIM = 2, 6
NAMES = ("x", "R", "b", "initial y", "initial c", "initial n", "initial m")
STATE_NAMES = ("y", "c", "n", "m")
# Float32 kernels (float32 computation) against the float64 loop on the same float32-rounded inputs,
# relative to the largest entry of each expected tensor. The gates' exponentials and the division by n
# round at ~1e-7 relative per token; over 10 seeds of the dense, varlen, Dh = 16 and huge-gate cases the
# largest error was 6e-6 (dR, db and the final n), the others at most 4e-6. A wrong gate, branch of the
# max, mask or sequence boundary shows at 1e-2 or more.
TOL32 = 5e-5
# Float16 inputs, outputs and gradients (float32 inside): the stored values round to ~5e-4 relative;
# observed at most 3e-3 (the initial state's gradients) over 10 seeds.
TOL16 = 1e-2
# A gradient may be off by this many times the error of the reference loop run in float32 on the same inputs (the
# problem's own float32 conditioning; test_huge_input_gates).
CONDITIONING_MARGIN = 4


def make_inputs(gen, batch, length, num_states, *, heads=HEADS, head_dim=HEAD_DIM, input_scale=8.0):
    """float64 x [B, T, H, 4*Dh], R [H, Dh, 4*Dh], b [H, 4*Dh] and, unless num_states is None, the initial
    state (y, c, n, m) [num_states, H, Dh] with n > 0. raw_i ~ N(0, input_scale^2) (the stabiliser
    matters), raw_f ~ N(3, 2^2), raw_z, raw_o ~ N(0, 1), R ~ N(0, 1 / Dh)."""

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=F64)

    x = randn(batch, length, heads, 4, head_dim)
    x[..., 0, :] *= input_scale
    x[..., 1, :] = 3 + 2 * x[..., 1, :]
    inputs = [x.flatten(-2), randn(heads, head_dim, 4 * head_dim) * head_dim**-0.5, 0.5 * randn(heads, 4 * head_dim)]
    if num_states is not None:
        shape = (num_states, heads, head_dim)
        inputs += [randn(*shape), randn(*shape), randn(*shape).exp(), 3 * randn(*shape)]
    return inputs


def cu_seqlens_of(lengths):
    return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)


@pytest.fixture
def forms(monkeypatch):
    """The kernel forms ("register" or "tiled") that the calls of slstm_triton ran, one entry per forward."""
    used = []
    choose = triton_slstm.kernel_form
    monkeypatch.setattr(triton_slstm, "kernel_form", lambda head_dim: used.append(choose(head_dim)) or used[-1])
    return used


@pytest.fixture(params=["register", "tiled"])
def form(request, monkeypatch, forms):
    """Run the test with each form of the kernels (the tiled one by lowering the register form's bound), and
    check afterwards that it ran."""
    if request.param == "tiled":
        monkeypatch.setattr(triton_slstm, "REGISTER_MAX_HEAD_DIM", 0)
    yield request.param
    assert forms and set(forms) == {request.param}


def compare(seed, gen, inputs, *, dtype=torch.float32, tol=TOL32, grad_y=True, final_state=True,
            cu_seqlens=None, forget_gate="sigmoid", conditioning=False):
    """Run slstm_triton on `inputs` cast to `dtype` and the reference in float64 on the same (rounded) values;
    compare y, the final state and the gradients of <y, dy> + <final state, dS> for every input.

    conditioning: also evaluate the reference in float32 and allow each gradient CONDITIONING_MARGIN times that
    evaluation's own error, for inputs where cancellation makes any float32 evaluation inexact."""
    leaves = [t.to(DEVICE, dtype).requires_grad_() for t in inputs]
    oracle = [t.detach().cpu().to(F64).requires_grad_() for t in leaves]
    x, R, b, *state = leaves
    y, final = slstm_triton(
        x, R, b, initial_state=tuple(state) or None, output_final_state=final_state, forget_gate=forget_gate,
        cu_seqlens=None if cu_seqlens is None else cu_seqlens.to(DEVICE),
    )
    x_ref, R_ref, b_ref, *state_ref = oracle
    y_ref, final_ref = slstm_reference(
        x_ref, R_ref, b_ref, initial_state=tuple(state_ref) or None, output_final_state=True,
        forget_gate=forget_gate, cu_seqlens=cu_seqlens,
    )
    assert y.dtype == dtype and y.shape == y_ref.shape, f"seed={seed}"
    assert_close(y, y_ref, "y", seed, tol)
    outputs, outputs_ref, cotangents = [], [], []
    if grad_y and y_ref.numel():  # an empty y has no gradient to give
        dy = torch.randn(y_ref.shape, generator=gen, dtype=F64)
        outputs, outputs_ref, cotangents = [y], [y_ref], [dy]
    if final_state:
        for name, s, s_ref in zip(STATE_NAMES, final, final_ref):
            assert s.dtype == torch.float32 and s.shape == s_ref.shape, f"final {name} (seed={seed})"
            assert_close(s, s_ref, f"final {name}", seed, tol)
            outputs.append(s)
            outputs_ref.append(s_ref)
            cotangents.append(torch.randn(s_ref.shape, generator=gen, dtype=F64))
    else:
        assert final is None, f"seed={seed}"

    grads = torch.autograd.grad(outputs, leaves, [c.to(DEVICE, o.dtype) for c, o in zip(cotangents, outputs)],
                                allow_unused=True)
    grads_ref = torch.autograd.grad(outputs_ref, oracle, cotangents, allow_unused=True)
    floors = [0.0] * len(leaves)
    if conditioning:
        grads_32 = float32_reference_gradients(oracle, cotangents, bool(grad_y and y_ref.numel()), final_state,
                                               cu_seqlens, forget_gate)
        floors = [0.0 if g32 is None else CONDITIONING_MARGIN * (g32.double() - g_ref).abs().max().item()
                  for g32, g_ref in zip(grads_32, grads_ref)]
    for name, g, g_ref, leaf, floor in zip(NAMES, grads, grads_ref, leaves, floors):
        g_ref = torch.zeros_like(leaf, dtype=F64, device="cpu") if g_ref is None else g_ref
        assert g is not None and g.dtype == leaf.dtype and g.shape == leaf.shape, f"grad of {name} (seed={seed})"
        assert_close(g, g_ref, f"grad of {name}", seed, tol, floor)
    return grads


def float32_reference_gradients(oracle, cotangents, with_y, with_final, cu_seqlens, forget_gate):
    """The gradients the reference loop gives in float32 (autograd) for the same inputs and cotangents (of y when
    `with_y`, then of the final state when `with_final`, as `compare` draws them)."""
    leaves = [t.detach().float().requires_grad_() for t in oracle]
    x, R, b, *state = leaves
    y, final = slstm_reference(x, R, b, initial_state=tuple(state) or None, output_final_state=True,
                               forget_gate=forget_gate, cu_seqlens=cu_seqlens)
    outputs = ([y] if with_y else []) + (list(final) if with_final else [])
    return torch.autograd.grad(outputs, leaves, [c.float() for c in cotangents], allow_unused=True)


DENSE_CASES = [
    # (T, batch, with initial state, forget gate): T = 1 both ways; 63, 64, 65 and 200 as the torch form's
    # tests (one or two sequences: the interpreter is slow).
    (1, 2, True, "sigmoid"), (1, 2, False, "exp"),
    (63, 1, False, "sigmoid"), (64, 1, True, "exp"), (65, 2, True, "sigmoid"), (200, 1, True, "sigmoid"),
]


@pytest.mark.parametrize(
    "length, batch, with_state, forget_gate", DENSE_CASES,
    ids=[f"T={t}-B={b}-{'h0' if s else 'zero'}-{g}" for t, b, s, g in DENSE_CASES],
)
def test_matches_reference(seed, length, batch, with_state, forget_gate):
    gen = torch.Generator().manual_seed(seed)
    inputs = make_inputs(gen, batch, length, batch if with_state else None)
    compare(seed, gen, inputs, forget_gate=forget_gate)


@pytest.mark.parametrize("head_dim", [1, 16], ids=["Dh=1", "Dh=16"])
def test_head_dims(seed, head_dim):
    """Dh = 1 (a tile of one unit) and Dh = 16 (a full tile, no masked lanes)."""
    gen = torch.Generator().manual_seed(seed)
    compare(seed, gen, make_inputs(gen, 1, 17, 1, head_dim=head_dim))


@pytest.mark.parametrize(
    "lengths, with_state", [((20, 0, 45), True), ((0, 7, 0), False)], ids=["20-0-45-h0", "0-7-0-zero"]
)
def test_varlen_matches_reference(seed, lengths, with_state):
    """Three sequences packed in one row, one of them (or two) empty: its final state is its initial state
    and d initial_state the final state's gradient."""
    gen = torch.Generator().manual_seed(seed)
    inputs = make_inputs(gen, 1, sum(lengths), len(lengths) if with_state else None)
    compare(seed, gen, inputs, cu_seqlens=cu_seqlens_of(lengths))


@pytest.mark.parametrize("grad_y, final_state", [(True, False), (False, True)], ids=["y_only", "final_only"])
def test_gradient_through_one_output(form, seed, grad_y, final_state):
    """No final state asked for, or a loss on the final state alone (y's gradient arrives as None)."""
    gen = torch.Generator().manual_seed(seed)
    lengths = (6, 9)
    inputs = make_inputs(gen, 1, sum(lengths), 2)
    compare(seed, gen, inputs, grad_y=grad_y, final_state=final_state, cu_seqlens=cu_seqlens_of(lengths))


def test_partly_fresh_initial_state(form, seed):
    """n (and c) of the initial state zero in some units: there m_1 = raw_i (the zero-state rule per unit)."""
    gen = torch.Generator().manual_seed(seed)
    inputs = make_inputs(gen, 2, 5, 2)
    fresh = torch.rand(2, HEADS, HEAD_DIM, generator=gen) < 0.5
    inputs[4] = inputs[4].masked_fill(fresh, 0.0)
    inputs[5] = inputs[5].masked_fill(fresh, 0.0)
    compare(seed, gen, inputs)


def test_huge_input_gates(form, seed):
    """raw_i up to ~100: exp(raw_i) overflows float32, only the stabilised recurrence stays finite. Gradients through
    such gates can cancel: at SEQZOO_SEED=12844250586967165021 the initial n's gradient is off by 1.2e-4 of its
    largest entry in every float32 evaluation (ours, and the reference loop run in float32: 1.3e-4), 2.4 times
    TOL32; so each gradient may also be off by CONDITIONING_MARGIN times the float32 reference's own error."""
    gen = torch.Generator().manual_seed(seed)
    inputs = make_inputs(gen, 1, 30, 1, input_scale=40.0)
    assert inputs[0].unflatten(-1, (4, HEAD_DIM))[..., 0, :].abs().max() > 89
    compare(seed, gen, inputs, conditioning=True)


@pytest.mark.parametrize("dtype,tol", half_precisions(TOL16))
def test_half_precision(form, seed, dtype, tol):
    gen = torch.Generator().manual_seed(seed)
    compare(seed, gen, make_inputs(gen, 1, 33, 1), dtype=dtype, tol=tol)


def test_empty_batch_returns_the_initial_state(form, seed):
    gen = torch.Generator().manual_seed(seed)
    compare(seed, gen, make_inputs(gen, 2, 0, 2))


def test_every_output_is_written(form, seed, monkeypatch):
    """The buffers the kernels fill (y, the histories, the final state, the gate gradients, the initial
    state's gradients) start as NaN: an entry a kernel fails to write would show."""
    monkeypatch.setattr(torch, "empty", poisoned(torch.empty))
    gen = torch.Generator().manual_seed(seed)
    lengths = (4, 0, 7)
    compare(seed, gen, make_inputs(gen, 1, sum(lengths), 3), cu_seqlens=cu_seqlens_of(lengths))


def test_inference_without_gradients_and_deterministic_gradients(form, seed):
    """Under no_grad the forward stores no histories and gives the same outputs; the gradients are bitwise
    the same on a second run (no atomics)."""
    gen = torch.Generator().manual_seed(seed)
    x, R, b, *state = (t.float().to(DEVICE) for t in make_inputs(gen, 2, 10, 2))
    with torch.no_grad():
        y_ng, final_ng = slstm_triton(x, R, b, initial_state=tuple(state), output_final_state=True)
    leaves = [t.requires_grad_() for t in (x, R, b, *state)]

    def grads():
        y, final = slstm_triton(x, R, b, initial_state=tuple(state), output_final_state=True)
        assert torch.equal(y, y_ng) and all(torch.equal(s, s_ng) for s, s_ng in zip(final, final_ng))
        return torch.autograd.grad((y * y).sum() + sum(s.sum() for s in final), leaves)

    for name, g1, g2 in zip(NAMES, grads(), grads()):
        assert torch.equal(g1, g2), f"grad of {name} differs between runs (seed={seed})"


# ---------------------------------------------------------------------------------------------------------
# The tiled kernels at sizes that take several tiles (under the interpreter [BJ, BK] = [16, 32])

TILED_CASES = [
    # (Dh, T, batch, with initial state, forget gate): Dh = 48 runs the tiled kernels by lowering the bound of
    # the register ones (3 full row blocks, 2 column blocks of which one half-masked); Dh = 96 (full blocks) and
    # 130 (a masked block each way) take them by size.
    (48, 9, 2, True, "sigmoid"), (48, 6, 1, False, "exp"), (96, 4, 1, True, "sigmoid"), (130, 2, 1, True, "exp"),
]


@pytest.mark.parametrize(
    "head_dim, length, batch, with_state, forget_gate", TILED_CASES,
    ids=[f"Dh={d}-T={t}-B={b}-{'h0' if s else 'zero'}-{g}" for d, t, b, s, g in TILED_CASES],
)
def test_tiled_matches_reference(seed, monkeypatch, forms, head_dim, length, batch, with_state, forget_gate):
    if head_dim <= triton_slstm.REGISTER_MAX_HEAD_DIM:
        monkeypatch.setattr(triton_slstm, "REGISTER_MAX_HEAD_DIM", 0)
    gen = torch.Generator().manual_seed(seed)
    inputs = make_inputs(gen, batch, length, batch if with_state else None, head_dim=head_dim)
    compare(seed, gen, inputs, forget_gate=forget_gate)
    assert forms == ["tiled"]


@pytest.mark.parametrize(
    "lengths, with_state", [((5, 0, 4), True), ((0, 3, 0), False)], ids=["5-0-4-h0", "0-3-0-zero"]
)
def test_tiled_varlen_matches_reference(seed, monkeypatch, forms, lengths, with_state):
    """Dh = 48: packed sequences, empty ones among them, each from its own state."""
    monkeypatch.setattr(triton_slstm, "REGISTER_MAX_HEAD_DIM", 0)
    gen = torch.Generator().manual_seed(seed)
    inputs = make_inputs(gen, 1, sum(lengths), len(lengths) if with_state else None, head_dim=48)
    compare(seed, gen, inputs, cu_seqlens=cu_seqlens_of(lengths))
    assert forms == ["tiled"]


def test_tiled_every_output_is_written(seed, monkeypatch, forms):
    """Dh = 48 with every buffer (outputs and the kernels' scratch state) starting as NaN: what the kernels
    read back from the scratch must be what they wrote there first."""
    monkeypatch.setattr(triton_slstm, "REGISTER_MAX_HEAD_DIM", 0)
    monkeypatch.setattr(torch, "empty", poisoned(torch.empty))
    gen = torch.Generator().manual_seed(seed)
    lengths = (3, 0, 4)
    compare(seed, gen, make_inputs(gen, 1, sum(lengths), 3, head_dim=48), cu_seqlens=cu_seqlens_of(lengths))
    assert forms == ["tiled"]


def test_forms_agree(seed, monkeypatch, forms):
    """At a size both forms take (Dh = 40), the tiled kernels give the register ones' results up to rounding
    (the sums over j are grouped differently)."""
    gen = torch.Generator().manual_seed(seed)
    lengths = (6, 3)
    x, R, b, *state = (t.float().to(DEVICE) for t in make_inputs(gen, 1, sum(lengths), 2, head_dim=40))
    dy = torch.randn(x.shape[:-1] + (40,), generator=gen).to(DEVICE)
    cu = cu_seqlens_of(lengths).to(DEVICE)

    def run():
        leaves = [t.clone().requires_grad_() for t in (x, R, b, *state)]
        y, final = slstm_triton(*leaves[:3], initial_state=tuple(leaves[3:]), output_final_state=True, cu_seqlens=cu)
        grads = torch.autograd.grad((y * dy).sum() + sum(s.sum() for s in final), leaves)
        return [y, *final, *grads]

    register = run()
    monkeypatch.setattr(triton_slstm, "REGISTER_MAX_HEAD_DIM", 0)
    for name, a, r in zip(("y", *STATE_NAMES, *NAMES), run(), register):
        assert_close(a, r.double(), name, seed, TOL32)
    assert forms == ["register", "tiled"]


# ---------------------------------------------------------------------------------------------------------
# Dispatch


def float_inputs(seed, batch=2, length=9, device=DEVICE):
    gen = torch.Generator().manual_seed(seed)
    x, R, b, *state = (t.float().to(device) for t in make_inputs(gen, batch, length, batch))
    return dict(x=x, R=R, b=b, initial_state=tuple(state), output_final_state=True)


def test_dispatch_triton_runs_the_triton_form(seed, monkeypatch):
    calls = []
    original = triton_slstm.slstm_triton
    monkeypatch.setattr(triton_slstm, "slstm_triton", lambda *a, **k: calls.append(1) or original(*a, **k))
    y, final = slstm(**float_inputs(seed), backend="triton")
    assert calls == [1]
    y_ref, final_ref = slstm_recurrent(**float_inputs(seed, device="cpu"))
    assert_close(y, y_ref.double(), "y", seed, TOL32)
    for name, s, s_ref in zip(STATE_NAMES, final, final_ref):
        assert_close(s, s_ref.double(), f"final {name}", seed, TOL32)


def test_dispatch_auto_on_cpu_is_the_torch_form(seed, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("auto ran the Triton form on CPU tensors")

    monkeypatch.setattr(triton_slstm, "slstm_triton", fail)
    args = float_inputs(seed, device="cpu")
    (y, final), (y_ref, final_ref) = slstm(**args), slstm_recurrent(**args)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)
    for s, s_ref in zip(final, final_ref):
        torch.testing.assert_close(s, s_ref, rtol=0, atol=0)


def test_dispatch_triton_on_cpu_needs_the_interpreter(monkeypatch):
    """On a CPU tensor the triton backend runs only if the kernels were defined under the interpreter
    (TRITON_INTERPRET=1 when triton_slstm was first imported); otherwise a clear ValueError."""
    monkeypatch.setattr(triton_slstm, "INTERPRET", False)
    args = float_inputs(0, device="cpu")
    expected = (
        "slstm: backend='triton' cannot run this call: "
        "the triton backend needs a CUDA tensor (or TRITON_INTERPRET=1"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        slstm(**args, backend="triton")
    with pytest.raises(ValueError, match=r"slstm_triton cannot run this call: .*needs a CUDA tensor"):
        slstm_triton(**args)
    slstm(**args)  # auto on CPU is the torch form


def test_dispatch_triton_on_cpu_without_interpreter_in_a_fresh_process():
    """The same rule end to end: a process without TRITON_INTERPRET gets the error, not a Triton crash."""
    code = (
        "import torch\n"
        "from zoo.kernels.slstm import slstm\n"
        "try:\n"
        "    slstm(torch.randn(1, 5, 2, 16), torch.randn(2, 4, 16), backend='triton')\n"
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
        (lambda a: {**a, "x": a["x"].double()}, r"x has dtype torch.float64"),
        (lambda a: {**a, "b": a["b"].half().to("meta")}, r"all tensors must be on one device"),
    ],
    ids=["float64", "device"],
)
def test_dispatch_triton_refuses_clearly(change, match):
    args = change(float_inputs(0))
    with pytest.raises(ValueError, match=r"backend='triton' cannot run this call: .*" + match):
        slstm(**args, backend="triton")


@pytest.mark.parametrize("head_dim", [64, 65, 192, 512])
def test_every_head_size_is_supported_by_the_form_its_size_picks(head_dim):
    """No head size is refused: up to 64 units the register kernels run, above them the tiled ones."""
    x = torch.empty(1, 3, 2, 4 * head_dim, device=DEVICE)
    R = torch.empty(2, head_dim, 4 * head_dim, device=DEVICE)
    assert triton_slstm.triton_unsupported(x, R) is None
    assert triton_slstm.kernel_form(head_dim) == ("register" if head_dim <= 64 else "tiled")


def test_dispatch_triton_runs_the_tiled_form_for_large_heads(seed, forms):
    """slstm(backend="triton") at Dh = 72 (the smallest block of 8 units past the register bound) runs the
    tiled kernels and matches the torch form."""
    gen = torch.Generator().manual_seed(seed)
    x, R, b, *state = (t.float() for t in make_inputs(gen, 1, 3, 1, head_dim=72))
    args = dict(x=x, R=R, b=b, initial_state=tuple(state), output_final_state=True)
    y, final = slstm(**{**args, "x": x.to(DEVICE), "R": R.to(DEVICE), "b": b.to(DEVICE),
                        "initial_state": tuple(s.to(DEVICE) for s in state)}, backend="triton")
    assert forms == ["tiled"]
    y_ref, final_ref = slstm_recurrent(**args)
    assert_close(y, y_ref.double(), "y", seed, TOL32)
    for name, s, s_ref in zip(STATE_NAMES, final, final_ref):
        assert_close(s, s_ref.double(), f"final {name}", seed, TOL32)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_on_cuda_picks_triton_where_it_applies():
    from zoo.kernels.slstm import dispatch

    args = float_inputs(0)
    x, R, b, state = args["x"], args["R"], args["b"], args["initial_state"]
    assert dispatch._resolve("auto", x, R, b, state) == "triton"
    assert dispatch._resolve("auto", x.double(), R, b, state) == "torch"
    big = torch.empty(1, 2, HEADS, 4 * 192, device=DEVICE), torch.empty(HEADS, 192, 4 * 192, device=DEVICE)
    assert dispatch._resolve("auto", *big, None, None) == "triton"
    assert dispatch._resolve("auto", x.cpu(), R.cpu(), b.cpu(), tuple(s.cpu() for s in state)) == "torch"

