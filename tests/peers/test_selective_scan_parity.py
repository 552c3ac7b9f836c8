"""zoo.kernels.selective_scan against mamba_ssm's `selective_scan_ref` (pure torch, so its autograd gives
the oracle's gradients) on the same inputs, in float32: outputs, last states and the gradient of every input.

mamba_ssm's layout is channel-first: u, delta, z [B, D, L]; B, C [B, N, L] or grouped [B, G, N, L]. The
leaves here are ours (sequence-first) and mamba_ssm reads transposed views of the same leaves, so both
gradients land in our layout. selective_scan_ref takes no initial state (ours starts from zeros too).

Shapes: B=2, T=37 (not a multiple of our block of 16 tokens), D=8 channels, N=16 states, ungrouped or in
G=2 groups; every combination of delta_bias, softplus, D and z that Mamba uses, and none of them.
"""

from __future__ import annotations

import pytest
import torch

from zoo.kernels.selective_scan import selective_scan

from .oracles import require, triton_device

pytestmark = pytest.mark.peers

# Float32 tolerances. Both sides run the same recurrence in float32 (ours as exp2(dt A log2 e), in blocks;
# mamba_ssm as exp(dt A) token by token), so they differ by rounding only: with states of order 1-10 and
# 37 tokens the errors stay near 1e-6 (see the max abs errors printed), while a wrong convention (bias
# after softplus, the gate before the skip, groups mapped d % G instead of d // (D / G), B and C swapped)
# shows at 1e-1. 1e-4 leaves room for rounding and none for such bugs.
FWD_TOL = dict(rtol=1e-4, atol=1e-4)
# dA, dD and d delta_bias sum over every token of both rows: their rounding grows with the number of terms.
GRAD_TOL = dict(rtol=5e-4, atol=5e-4)
NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")

CONFIGS = {
    # Mamba-1's own call: dt_proj's bias inside softplus, the skip D and the gate z.
    "bias-softplus-skip-gate": dict(delta_bias=True, delta_softplus=True, D=True, z=True),
    # softplus without a bias, a skip without a gate.
    "softplus-skip": dict(delta_bias=False, delta_softplus=True, D=True, z=False),
    # a bias without softplus, a gate without a skip.
    "bias-gate": dict(delta_bias=True, delta_softplus=False, D=False, z=True),
    # the bare recurrence: positive delta, nothing else.
    "raw": dict(delta_bias=False, delta_softplus=False, D=False, z=False),
}


def make_leaves(config, groups, batch=2, length=37, channels=8, state_dim=16, device="cpu"):
    """Leaf float32 tensors in our layout (u, delta, z [B, T, D]; B, C [B, T, N] or [B, T, G, N]); None
    for the arguments that `config` leaves out. A < 0 with decays of every speed."""
    bc_shape = (batch, length, state_dim) if groups is None else (batch, length, groups, state_dim)
    softplus = config["delta_softplus"]
    delta = torch.randn(batch, length, channels)
    leaves = dict(
        u=torch.randn(batch, length, channels),
        delta=delta if softplus else 0.05 + 0.5 * delta.abs(),  # without softplus, a positive step
        A=-torch.exp(torch.randn(channels, state_dim)),
        B=torch.randn(bc_shape),
        C=torch.randn(bc_shape),
        D=torch.randn(channels) if config["D"] else None,
        z=torch.randn(batch, length, channels) if config["z"] else None,
        delta_bias=(torch.randn(channels) * 0.5 if softplus else torch.rand(channels) * 0.1)
        if config["delta_bias"] else None,
    )
    return {name: None if t is None else t.to(device).requires_grad_() for name, t in leaves.items()}


def channel_first(t):
    """Ours -> mamba_ssm's layout: [B, T, D] -> [B, D, T], [B, T, N] -> [B, N, T], [B, T, G, N] -> [B, G, N, T]."""
    if t is None:
        return None
    return t.permute(0, 2, 3, 1) if t.ndim == 4 else t.transpose(1, 2)


def check_against_selective_scan_ref(config, groups, backend, device, compare):
    interface = require("mamba_ssm.ops.selective_scan_interface")
    leaves = make_leaves(config, groups, device=device)
    u, delta, A, B, C, D, z, delta_bias = (leaves[name] for name in NAMES)

    y_ref, last_ref = interface.selective_scan_ref(
        channel_first(u), channel_first(delta), A, channel_first(B), channel_first(C), D=D, z=channel_first(z),
        delta_bias=delta_bias, delta_softplus=config["delta_softplus"], return_last_state=True,
    )
    y_ref = y_ref.transpose(1, 2)  # back to [B, T, D]
    y, last = selective_scan(
        u, delta, A, B, C, D, z, delta_bias=delta_bias, delta_softplus=config["delta_softplus"],
        output_final_state=True, chunk_size=16, backend=backend,
    )
    compare(y, y_ref, "y", **FWD_TOL)
    compare(last, last_ref, "last_state", **FWD_TOL)

    # One random cotangent for both outputs, so every gradient path (through y and through the state) counts.
    grad_y, grad_last = torch.randn_like(y), torch.randn_like(last)
    wrt = {name: t for name, t in leaves.items() if t is not None}
    grads_ref = torch.autograd.grad((y_ref, last_ref), list(wrt.values()), (grad_y, grad_last))
    grads = torch.autograd.grad((y, last), list(wrt.values()), (grad_y, grad_last))
    for name, g, g_ref in zip(wrt, grads, grads_ref):
        compare(g, g_ref, f"d{name}", **GRAD_TOL)


@pytest.mark.parametrize("groups", [None, 2], ids=["ungrouped", "G=2"])
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_selective_scan_matches_selective_scan_ref(config, groups, compare):
    check_against_selective_scan_ref(config, groups, "torch", "cpu", compare)


@pytest.mark.parametrize("groups", [None, 2], ids=["ungrouped", "G=2"])
def test_triton_selective_scan_matches_selective_scan_ref(groups, compare):
    """Our Triton form (on a CPU machine under the interpreter) on Mamba-1's own call."""
    config = CONFIGS["bias-softplus-skip-gate"]
    check_against_selective_scan_ref(config, groups, "triton", triton_device(), compare)
