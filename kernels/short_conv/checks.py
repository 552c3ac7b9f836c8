"""Argument checks shared by the short_conv dispatcher and the step form.

Each check raises ValueError naming the argument, with the shape it got and the shape it expected.
"""

import torch

ACTIVATIONS = (None, "silu")


def _shape(t: torch.Tensor) -> list[int]:
    return list(t.shape)


def check_weight_and_bias(weight: torch.Tensor, bias: torch.Tensor | None, dim: int) -> int:
    """Check ``weight`` [D, W] with W >= 1 and ``bias`` [D] or None; return W."""
    if weight.dim() != 2 or weight.shape[0] != dim:
        raise ValueError(f"weight must be [D, W] = [{dim}, W], got {_shape(weight)}")
    width = weight.shape[1]
    if width < 1:
        raise ValueError(f"weight width W must be >= 1, got weight of shape {_shape(weight)}")
    if bias is not None and _shape(bias) != [dim]:
        raise ValueError(f"bias must be [D] = [{dim}], got {_shape(bias)}")
    return width


def check_activation(activation: str | None) -> None:
    """Check that ``activation`` is None or "silu"."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")


def check_state(name: str, state: torch.Tensor | None, n: int, dim: int, width: int) -> None:
    """Check a conv state [N, D, W-1] (or None)."""
    if state is not None and _shape(state) != [n, dim, width - 1]:
        raise ValueError(f"{name} must be [N, D, W-1] = [{n}, {dim}, {width - 1}], got {_shape(state)}")
