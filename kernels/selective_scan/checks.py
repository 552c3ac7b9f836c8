"""Input validation for the selective scan: every failure is a ValueError naming the argument,
the shape it has and the shape it should have."""

from __future__ import annotations


from torch import Tensor

from ..checks import check_floating, check_shape

BACKENDS = ("auto", "torch", "triton", "reference")


def check_selective_scan_inputs(
    op: str,
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    z: Tensor | None,
    delta_bias: Tensor | None,
    state: Tensor | None,
    *,
    lead: str,
    num_states: int,
    state_name: str,
    state_source: str,
    suffix: str = "",
) -> None:
    """Validate the selective-scan inputs: u, delta, z: [*lead, D]; A: [D, N]; B, C: [*lead, N] or
    [*lead, G, N] with D % G == 0 (both the same shape); D, delta_bias: [D]; state: [num_states, D, N].
    lead is "B, T" for the sequence form, "B" for the step form, whose per-token arguments are named
    with suffix "_t" (u_t, delta_t, B_t, C_t, z_t)."""
    n_lead = len(lead.split(", "))
    u_name, delta_name, b_name, c_name, z_name = (name + suffix for name in ("u", "delta", "B", "C", "z"))
    check_shape(op, u_name, u, f"{lead}, D", [None] * (n_lead + 1))
    *lead_sizes, channels = u.shape
    check_shape(op, delta_name, delta, f"{lead}, D", u.shape, u_name)
    check_shape(op, "A", A, "D, N", [channels, None], u_name)
    state_dim = A.shape[1]
    grouped = isinstance(B, Tensor) and B.ndim == n_lead + 2
    b_dims = f"{lead}, G, N" if grouped else f"{lead}, N"
    if grouped:
        check_shape(op, b_name, B, b_dims, [*lead_sizes, None, state_dim], f"{u_name} and A")
        groups = B.shape[-2]
        if groups < 1 or channels % groups != 0:
            raise ValueError(
                f"{op}: the number of channels D = {channels} (from {u_name}) must be a multiple of "
                f"the number of groups G = {groups} (from {b_name})"
            )
    else:
        check_shape(op, b_name, B, b_dims, [*lead_sizes, state_dim], f"{u_name} and A")
    check_shape(op, c_name, C, b_dims, B.shape, b_name)
    if D is not None:
        check_shape(op, "D", D, "D", [channels], u_name)
    if z is not None:
        check_shape(op, z_name, z, f"{lead}, D", u.shape, u_name)
    if delta_bias is not None:
        check_shape(op, "delta_bias", delta_bias, "D", [channels], u_name)
    if state is not None:
        check_shape(op, state_name, state, "N_seq, D, N", (num_states, channels, state_dim), state_source)
    named = {u_name: u, delta_name: delta, "A": A, b_name: B, c_name: C, "D": D, z_name: z}
    check_floating(op, **named, delta_bias=delta_bias, **{state_name: state})
