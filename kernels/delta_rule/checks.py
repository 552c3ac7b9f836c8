"""Input validation and the small helpers every delta-rule form shares."""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_floating, check_shape

BACKENDS = ("auto", "torch", "reference", "triton")
L2NORM_EPS = 1e-6  # x / sqrt(sum(x^2) + eps), as fla's l2norm
# What the Triton form tiles: the UT transform M is one [C, C] tile in registers (C <= 64), and the state
# kernels hold [K, BV] tiles of the state, W and K (K <= 256).
TRITON_CHUNK_SIZES = (16, 32, 64)
TRITON_MAX_KEY_DIM = 256


def l2_normalize(x: Tensor) -> Tensor:
    """L2-normalise the last axis: x / sqrt(sum(x^2) + 1e-6) (eps inside the root, as fla)."""
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True) + L2NORM_EPS)


def check_delta_rule_inputs(
    op: str,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    g: Tensor | None,
    state: Tensor | None,
    *,
    lead: str,
    num_states: int,
    state_name: str,
    state_source: str,
    g_name: str = "g",
) -> None:
    """Validate q, k: [*lead, H, K], v: [*lead, H, V], beta and g (optional): [*lead, H],
    state: [num_states, H, K, V]. lead is "B, T" for the sequence form, "B" for the step form."""
    n_lead = len(lead.split(", "))
    check_shape(op, "q", q, f"{lead}, H, K", [None] * (n_lead + 2))
    *lead_sizes, heads, key_dim = q.shape
    check_shape(op, "k", k, f"{lead}, H, K", q.shape, "q")
    check_shape(op, "v", v, f"{lead}, H, V", [*lead_sizes, heads, None], "q")
    check_shape(op, "beta", beta, f"{lead}, H", [*lead_sizes, heads], "q")
    if g is not None:
        check_shape(op, g_name, g, f"{lead}, H", [*lead_sizes, heads], "q")
    if state is not None:
        expected = (num_states, heads, key_dim, v.shape[-1])
        check_shape(op, state_name, state, "N, H, K, V", expected, state_source)
    check_floating(op, q=q, k=k, v=v, beta=beta, **{g_name: g, state_name: state})
