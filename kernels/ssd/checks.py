"""Input validation for Mamba-2's SSD: every failure is a ValueError naming the argument, the shape it has and
the shape it should have."""

from __future__ import annotations

from torch import Tensor

from ..checks import check_floating, check_shape, check_shape_one_of
from ..scan.checks import BACKENDS as SCAN_BACKENDS

BACKENDS = SCAN_BACKENDS  # the SSD runs on the scan: its forms are the scan's


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
