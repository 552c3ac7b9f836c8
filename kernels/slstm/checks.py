"""Input validation for the sLSTM: every failure is a ValueError naming the argument, the shape it has and
the shape it should have."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from ..checks import check_floating, check_shape
from ..varlen import check_cu_seqlens
from .cell import FORGET_GATES, STATE_PARTS

BACKENDS = ("auto", "torch", "triton", "reference")


def check_forget_gate(op: str, forget_gate: str) -> None:
    """Raise ValueError unless forget_gate is one of FORGET_GATES."""
    if forget_gate not in FORGET_GATES:
        raise ValueError(f"{op}: unknown forget_gate {forget_gate!r}; the choices are {FORGET_GATES}")


def check_slstm_inputs(
    op: str,
    x: Tensor,
    R: Tensor,
    b: Tensor | None,
    state: Sequence[Tensor] | None,
    *,
    lead: str,
    num_states: int,
    state_name: str,
    state_source: str,
    suffix: str = "",
) -> None:
    """Validate the sLSTM inputs: x: [*lead, H, 4*Dh], R: [H, Dh, 4*Dh], b: [H, 4*Dh], state: a tuple
    (y, c, n, m) of [num_states, H, Dh] tensors. lead is "B, T" for the sequence form, "B" for the step
    form, whose per-token input is named with suffix "_t" (x_t)."""
    n_lead = len(lead.split(", "))
    x_name = "x" + suffix
    check_shape(op, x_name, x, f"{lead}, H, 4*Dh", [None] * (n_lead + 2))
    *lead_sizes, heads, _ = x.shape
    check_shape(op, "R", R, "H, Dh, 4*Dh", [heads, None, None], x_name)
    head_dim = R.shape[1]
    if R.shape[2] != 4 * head_dim:
        raise ValueError(
            f"{op}: R has shape {tuple(R.shape)} but expected (H, Dh, 4*Dh) = ({heads}, {head_dim}, {4 * head_dim}): "
            "its last axis holds the 4 gates (i, f, z, o) of Dh units each"
        )
    check_shape(op, x_name, x, f"{lead}, H, 4*Dh", [*lead_sizes, heads, 4 * head_dim], "R")
    if b is not None:
        check_shape(op, "b", b, "H, 4*Dh", [heads, 4 * head_dim], "R")
    named = {}
    if state is not None:
        is_sequence = isinstance(state, (tuple, list))
        if not (is_sequence and len(state) == 4 and all(isinstance(s, Tensor) for s in state)):
            got = type(state).__name__ + (f" of {len(state)}" if is_sequence else "")
            raise ValueError(f"{op}: {state_name} must be a tuple (y, c, n, m) of 4 tensors, got {got}")
        for part, tensor in zip(STATE_PARTS, state):
            check_shape(op, f"{state_name} {part}", tensor, "N, H, Dh", (num_states, heads, head_dim), state_source)
            named[f"{state_name} {part}"] = tensor
    check_floating(op, **{x_name: x}, R=R, b=b, **named)


def check_sequence_inputs(
    op: str, x: Tensor, R: Tensor, b: Tensor | None, initial_state: Sequence[Tensor] | None,
    cu_seqlens: Tensor | None,
) -> None:
    """The checks of every sequence form: x [B, T, H, 4*Dh], cu_seqlens (B == 1), then `check_slstm_inputs`
    with N = B, or the number of sequences in cu_seqlens."""
    check_shape(op, "x", x, "B, T, H, 4*Dh", [None] * 4)
    batch, length = x.shape[:2]
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    check_slstm_inputs(
        op, x, R, b, initial_state, lead="B, T", num_states=num_states, state_name="initial_state",
        state_source="x and R" if cu_seqlens is None else "cu_seqlens, x and R",
    )
