"""Input validation for the scan op: every failure is a ValueError naming the argument,
the shape it has and the shape it should have."""

from __future__ import annotations

from torch import Tensor

from ..checks import check_floating, check_shape, check_shape_one_of

BACKENDS = ("auto", "torch", "reference", "triton")


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
