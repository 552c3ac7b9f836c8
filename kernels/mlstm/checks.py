"""Input validation for the mLSTM: every failure is a ValueError naming the argument, the shape it has and the
shape it should have."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from ..checks import check_floating, check_shape
from .gates import FORGET_GATES

BACKENDS = ("auto", "torch", "reference", "triton")


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
