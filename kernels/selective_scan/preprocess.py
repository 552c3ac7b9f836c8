"""What every form of the selective scan does around the recurrence: delta's
bias and softplus, the group layout of B and C, and the skip connection and gate on the output."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def process_delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    """delta [.., D] -> delta + delta_bias, then softplus if delta_softplus (mamba_ssm's order)."""
    if delta_bias is not None:
        delta = delta + delta_bias.to(delta.dtype)
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


def grouped(BC: Tensor, lead_dims: int) -> Tensor:
    """B or C as [*lead, G, N]: an ungrouped [*lead, N] becomes one group [*lead, 1, N]."""
    return BC.unsqueeze(-2) if BC.ndim == lead_dims + 1 else BC


def per_channel(BC: Tensor, channels: int) -> Tensor:
    """Grouped B or C [.., G, N] -> [.., D, N]: channel d reads group d // (D // G)."""
    return BC.repeat_interleave(channels // BC.shape[-2], dim=-2)


def skip_and_gate(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    """y, u, z: [.., D]; D: [D] -> y + D * u, times silu(z) when z is given (the skip comes first)."""
    if D is not None:
        y = torch.addcmul(y, u, D.to(y.dtype))
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y
