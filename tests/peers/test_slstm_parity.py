"""zoo.kernels.slstm (backends "torch" and "reference") against xlstm's sLSTM cell with its vanilla backend
(`sLSTMCell` with backend="vanilla": plain PyTorch, runs on CPU with autograd; the default backend "cuda"
compiles a CUDA extension), on the same weights, inputs and states.

The mapping between the layouts is the one kernels/slstm/cell.py documents, a reshape each: xlstm's input
[B, T, 4*H*Dh] (its default input_shape "BSGNH", gates outermost) is our x [B, T, H, 4*Dh]; its external
recurrent kernel [H, Dh, 4, Dh] (`cell.recurrent_kernel[:]`) is our R [H, Dh, 4*Dh]; its external bias
[H, 4, Dh] our b [H, 4*Dh]; its state [4, B, H*Dh] our (y, c, n, m), each [B, H, Dh]; its output
[B, H, T, Dh] (output_shape "BNSH") our y [B, T, H, Dh] transposed.

What is compared: outputs, final states and the gradients of x, R, b and the initial state for random
upstream gradients on the output and the final state, in float64 (both sides exact: they agree to
rounding) and float32; one token of `slstm_step` against the cell; weights from the cell's own
initialisation read through the documented mapping; the documented reshapes from the internal parameters
of both of xlstm's backends (the CUDA one built without compiling its kernel).

xlstm applies its zero-state rule (m_t = raw_i where n == 0) when n is zero in the whole batch, ours per
unit: the two agree on zero states and on states with n > 0, which is what is compared here.
"""

from __future__ import annotations

import pytest
import torch

from zoo.kernels.slstm import slstm, slstm_step

from .oracles import require

pytestmark = pytest.mark.peers

# Float64: both sides are the same exact recurrence, summed in another order: over 20 seeds they agreed to
# 6e-15 relative to each tensor's largest entry; 1e-9 still catches any difference in semantics.
TOL64 = 1e-9
# Float32, relative to the largest entry of each expected tensor: rounding of the exponential gates and of
# the division by n over 37 tokens; over 20 seeds the largest errors were 3e-6 (outputs, states) and 5e-6
# (gradients, R's and b's sums over the tokens), while a wrong gate order or layout shows at 1e-1.
TOL32 = 1e-4
HEADS, HEAD_DIM = 2, 8
STATE_NAMES = ("y", "c", "n", "m")
DTYPES = {"float32": (torch.float32, TOL32), "float64": (torch.float64, TOL64)}


def vanilla_cell(dtype, **config):
    cell_module = require("xlstm.blocks.slstm.cell")
    options = dict(hidden_size=HEADS * HEAD_DIM, num_heads=HEADS, backend="vanilla", dtype="float32")
    cell = cell_module.sLSTMCell(cell_module.sLSTMCellConfig(**{**options, **config}))
    assert type(cell).__name__ == "sLSTMCell_vanilla"
    return cell.to(dtype)


# The documented mapping (kernels/slstm/cell.py), both ways.


def x_from_xlstm(x_xl):
    batch, length = x_xl.shape[:2]
    x = x_xl.view(batch, length, 4, HEADS, HEAD_DIM).permute(0, 1, 3, 2, 4)
    return x.reshape(batch, length, HEADS, 4 * HEAD_DIM)


def state_from_xlstm(state_xl):
    return tuple(state_xl.view(4, state_xl.shape[1], HEADS, HEAD_DIM).unbind(0))


def state_to_xlstm(state):
    return torch.stack(state).flatten(-2)


def load_weights(cell, R, b):
    """Write our R [H, Dh, 4*Dh] and b [H, 4*Dh] into the cell through its external layouts."""
    cell.recurrent_kernel[...] = R.reshape(HEADS, HEAD_DIM, 4, HEAD_DIM)
    cell.bias[...] = b.reshape(HEADS, 4, HEAD_DIM)


def weights_of(cell):
    """Our R and b from the cell's external layouts (leaves of no graph)."""
    return cell.recurrent_kernel[:].reshape(HEADS, HEAD_DIM, 4 * HEAD_DIM), cell.bias[:].reshape(HEADS, 4 * HEAD_DIM)


def internal_grads_to_ours(dR_internal, db_internal):
    """The gradients of the vanilla cell's internal parameters ([H, 4*Dh, Dh] and [4*H*Dh], gate-outermost)
    in our layouts."""
    dR = dR_internal.transpose(1, 2)
    db = db_internal.view(4, HEADS, HEAD_DIM).transpose(0, 1).reshape(HEADS, 4 * HEAD_DIM)
    return dR, db


def check(compare, actual, expected, what, tol):
    scale = max(expected.abs().max().item(), 1.0)
    compare(actual, expected, what, rtol=tol, atol=tol * scale)


def random_inputs(batch, length, dtype, with_state):
    """x_xl [B, T, 4*H*Dh] in xlstm's layout with raw_i ~ N(0, 8^2) (the stabiliser matters) and raw_f ~
    N(3, 2^2); R ~ N(0, 1/Dh), b ~ N(0, 1/4) in ours; the state [4, B, H*Dh] with n > 0, or None."""
    x_xl = torch.randn(batch, length, 4, HEADS * HEAD_DIM, dtype=dtype)
    x_xl[:, :, 0] *= 8
    x_xl[:, :, 1] = 3 + 2 * x_xl[:, :, 1]
    R = torch.randn(HEADS, HEAD_DIM, 4 * HEAD_DIM, dtype=dtype) * HEAD_DIM**-0.5
    b = 0.5 * torch.randn(HEADS, 4 * HEAD_DIM, dtype=dtype)
    state = None
    if with_state:
        state = torch.randn(4, batch, HEADS * HEAD_DIM, dtype=dtype)
        state[2] = state[2].exp()
        state[3] *= 3
    return x_xl.flatten(2), R, b, state


@pytest.mark.parametrize("backend", ["torch", "reference"])
@pytest.mark.parametrize("with_state", [True, False], ids=["initial-state", "zero-state"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_vanilla_cell(compare, dtype, with_state, backend):
    """T = 37 tokens, B = 3: every output, final state and gradient."""
    torch_dtype, tol = DTYPES[dtype]
    cell = vanilla_cell(torch_dtype)
    x_xl, R, b, state_xl = random_inputs(3, 37, torch_dtype, with_state)
    load_weights(cell, R, b)
    R_now, b_now = weights_of(cell)
    assert torch.equal(R_now, R) and torch.equal(b_now, b)
    assert torch.equal(cell._recurrent_kernel.transpose(1, 2), R)  # the vanilla backend's internal layout

    # Theirs: the cell's parameters and the inputs in its layout are the leaves.
    x_xl.requires_grad_()
    if state_xl is not None:
        state_xl.requires_grad_()
    y_xl, final_xl = cell(x_xl, state_xl)
    assert y_xl.shape == (3, HEADS, 37, HEAD_DIM) and final_xl.shape == (4, 3, HEADS * HEAD_DIM)

    # Ours: the same values mapped to our layouts, as leaves of their own.
    x = x_from_xlstm(x_xl.detach()).requires_grad_()
    R, b = R.clone().requires_grad_(), b.clone().requires_grad_()
    initial = None
    if state_xl is not None:
        initial = tuple(s.clone().requires_grad_() for s in state_from_xlstm(state_xl.detach()))
    y, final = slstm(x, R, b, initial_state=initial, output_final_state=True, backend=backend)

    check(compare, y, y_xl.transpose(1, 2), "y", tol)
    for name, s, s_ref in zip(STATE_NAMES, final, state_from_xlstm(final_xl)):
        check(compare, s, s_ref, f"final {name}", tol)

    dy, d_final = torch.randn_like(y), [torch.randn_like(s) for s in final]
    loss = (y * dy).sum() + sum((s * g).sum() for s, g in zip(final, d_final))
    loss_xl = (y_xl * dy.transpose(1, 2)).sum() + (final_xl * state_to_xlstm(d_final)).sum()
    leaves = [x, R, b, *(initial or ())]
    leaves_xl = [x_xl, cell._recurrent_kernel_, cell._bias_, *([] if state_xl is None else [state_xl])]
    grads = torch.autograd.grad(loss, leaves)
    grads_xl = torch.autograd.grad(loss_xl, leaves_xl)
    dx_xl, (dR_xl, db_xl) = x_from_xlstm(grads_xl[0]), internal_grads_to_ours(*grads_xl[1:3])
    check(compare, grads[0], dx_xl, "dx", tol)
    check(compare, grads[1], dR_xl, "dR", tol)
    check(compare, grads[2], db_xl, "db", tol)
    if state_xl is not None:
        for name, g, g_ref in zip(STATE_NAMES, grads[3:], state_from_xlstm(grads_xl[3])):
            check(compare, g, g_ref, f"d initial {name}", tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_from_the_cells_own_initialisation(compare, dtype):
    """The cell's "standard" recurrent init and its default (power-law) forget-gate bias, read through the
    documented mapping: the outputs agree, from a zero state."""
    torch_dtype, tol = DTYPES[dtype]
    cell = vanilla_cell(torch_dtype, recurrent_weight_init="standard")
    cell.reset_parameters()
    R, b = weights_of(cell)
    assert R.abs().min() > 0 and b.abs().max() > 0
    x_xl = torch.randn(2, 25, 4 * HEADS * HEAD_DIM, dtype=torch_dtype) * 2
    with torch.no_grad():
        y_xl, final_xl = cell(x_xl)
    y, final = slstm(x_from_xlstm(x_xl), R, b, output_final_state=True)
    check(compare, y, y_xl.transpose(1, 2), "y", tol)
    check(compare, state_to_xlstm(final), final_xl, "final state", tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_step_matches_cell_on_one_token(compare, dtype):
    """slstm_step from a random state against the cell on a sequence of one token (the cell's own `step`
    returns the state it was given, not the new one)."""
    torch_dtype, tol = DTYPES[dtype]
    cell = vanilla_cell(torch_dtype)
    x_xl, R, b, state_xl = random_inputs(3, 1, torch_dtype, with_state=True)
    load_weights(cell, R, b)
    with torch.no_grad():
        y_xl, final_xl = cell(x_xl, state_xl)
    y_t, state = slstm_step(x_from_xlstm(x_xl)[:, 0], R, b, state_from_xlstm(state_xl))
    check(compare, y_t, y_xl[:, :, 0], "y_t", tol)
    check(compare, state_to_xlstm(state), final_xl, "state", tol)


def test_internal_layouts_of_both_backends():
    """The documented reshapes from each backend's internal parameters (the CUDA backend's built without
    compiling its kernel): they give the R and b of the external layouts."""
    cell_module = require("xlstm.blocks.slstm.cell")
    for backend in ("vanilla", "cuda"):
        config = cell_module.sLSTMCellConfig(
            hidden_size=HEADS * HEAD_DIM, num_heads=HEADS, backend=backend, dtype="float32",
            recurrent_weight_init="standard", bias_init="standard",
        )
        cell = cell_module.sLSTMCell(config, skip_backend_init=True)
        R, b = weights_of(cell)
        if backend == "vanilla":
            R_internal = cell._recurrent_kernel.transpose(1, 2)
            b_internal = cell._bias.view(4, HEADS, HEAD_DIM).transpose(0, 1).reshape(HEADS, 4 * HEAD_DIM)
        else:
            R_internal, b_internal = cell._recurrent_kernel, cell._bias.view(HEADS, 4 * HEAD_DIM)
        assert torch.equal(R_internal, R), backend
        assert torch.equal(b_internal, b), backend
