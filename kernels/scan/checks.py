"""Input validation for the scan ops: every failure is a ValueError naming the argument,
the shape it has and the shape it should have."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from ..checks import check_floating, check_shape, check_shape_one_of
from .mlstm_gates import FORGET_GATES

BACKENDS = ("auto", "torch", "reference", "triton")
MLSTM_BACKENDS = ("auto", "torch", "reference", "triton")


def check_scan_inputs(
    op: str,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    state: Tensor | None,
    *,
    lead: str,
    num_states: int,
    state_name: str,
    state_source: str,
) -> None:
    """Validate the scan inputs: q, k: [*lead, H, K], v: [*lead, H, V], g: [*lead, H] (a decay per head)
    or [*lead, H, K] (per key channel), state: [num_states, H, K, V]. lead is "B, T" for the sequence
    form, "B" for the step form."""
    n_lead = len(lead.split(", "))
    check_shape(op, "q", q, f"{lead}, H, K", [None] * (n_lead + 2))
    *lead_sizes, heads, key_dim = q.shape
    check_shape(op, "k", k, f"{lead}, H, K", q.shape, "q")
    check_shape(op, "v", v, f"{lead}, H, V", [*lead_sizes, heads, None], "q")
    per_head = (f"{lead}, H", [*lead_sizes, heads])
    per_channel = (f"{lead}, H, K", [*lead_sizes, heads, key_dim])
    check_shape_one_of(op, "g", g, [per_head, per_channel], "q")
    if state is not None:
        expected = (num_states, heads, key_dim, v.shape[-1])
        check_shape(op, state_name, state, "N, H, K, V", expected, state_source)
    check_floating(op, q=q, k=k, v=v, g=g, **{state_name: state})


def check_ssd_inputs(
    op: str,
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    z: Tensor | None,
    dt_bias: Tensor | None,
    state: Tensor | None,
    *,
    lead: str,
    num_states: int,
    state_name: str,
    state_source: str,
) -> None:
    """Validate the SSD inputs: x, z: [*lead, H, P], dt: [*lead, H], A, dt_bias: [H], B, C: [*lead, G, N]
    with H % G == 0, D: [H] or [H, P], state: [num_states, H, N, P]. lead is "B, T" or "B"."""
    n_lead = len(lead.split(", "))
    check_shape(op, "x", x, f"{lead}, H, P", [None] * (n_lead + 2))
    *lead_sizes, heads, head_dim = x.shape
    check_shape(op, "dt", dt, f"{lead}, H", [*lead_sizes, heads], "x")
    check_shape(op, "A", A, "H", [heads], "x")
    check_shape(op, "B", B, f"{lead}, G, N", [*lead_sizes, None, None], "x")
    groups, state_dim = B.shape[-2:]
    check_shape(op, "C", C, f"{lead}, G, N", B.shape, "B")
    if heads % groups != 0:
        raise ValueError(
            f"{op}: the number of heads H = {heads} (from x) must be a multiple of "
            f"the number of groups G = {groups} (from B)"
        )
    if D is not None:
        check_shape_one_of(op, "D", D, [("H", [heads]), ("H, P", [heads, head_dim])], "x")
    if z is not None:
        check_shape(op, "z", z, f"{lead}, H, P", x.shape, "x")
    if dt_bias is not None:
        check_shape(op, "dt_bias", dt_bias, "H", [heads], "x")
    if state is not None:
        expected = (num_states, heads, state_dim, head_dim)
        check_shape(op, state_name, state, "N_seq, H, N, P", expected, state_source)
    check_floating(op, x=x, dt=dt, A=A, B=B, C=C, D=D, z=z, dt_bias=dt_bias, **{state_name: state})


def check_mlstm_options(op: str, forget_gate: str, eps: float) -> None:
    """Raise ValueError unless forget_gate is one of FORGET_GATES and eps is a number >= 0."""
    if forget_gate not in FORGET_GATES:
        raise ValueError(f"{op}: unknown forget_gate {forget_gate!r}; the choices are {FORGET_GATES}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ValueError(f"{op}: eps must be a number >= 0, got {eps!r}")


def check_mlstm_inputs(
    op: str,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    i: Tensor,
    f: Tensor,
    state: Sequence[Tensor] | None,
    *,
    lead: str,
    num_states: int,
    state_name: str,
    state_source: str,
) -> None:
    """Validate the mLSTM inputs: q, k: [*lead, H, K], v: [*lead, H, V], i, f: [*lead, H], state: a tuple
    (C [num_states, H, K, V], n [num_states, H, K], m [num_states, H]). lead is "B, T" or "B"."""
    n_lead = len(lead.split(", "))
    check_shape(op, "q", q, f"{lead}, H, K", [None] * (n_lead + 2))
    *lead_sizes, heads, key_dim = q.shape
    check_shape(op, "k", k, f"{lead}, H, K", q.shape, "q")
    check_shape(op, "v", v, f"{lead}, H, V", [*lead_sizes, heads, None], "q")
    check_shape(op, "i", i, f"{lead}, H", [*lead_sizes, heads], "q")
    check_shape(op, "f", f, f"{lead}, H", [*lead_sizes, heads], "q")
    named = {}
    if state is not None:
        is_sequence = isinstance(state, (tuple, list))
        if not (is_sequence and len(state) == 3 and all(isinstance(s, Tensor) for s in state)):
            got = type(state).__name__ + (f" of {len(state)}" if is_sequence else "")
            raise ValueError(f"{op}: {state_name} must be a tuple (C, n, m) of 3 tensors, got {got}")
        value_dim = v.shape[-1]
        shapes = (
            ("C", "N, H, K, V", (num_states, heads, key_dim, value_dim)),
            ("n", "N, H, K", (num_states, heads, key_dim)),
            ("m", "N, H", (num_states, heads)),
        )
        for tensor, (part, dims, expected) in zip(state, shapes):
            check_shape(op, f"{state_name} {part}", tensor, dims, expected, state_source)
            named[f"{state_name} {part}"] = tensor
    check_floating(op, q=q, k=k, v=v, i=i, f=f, **named)
