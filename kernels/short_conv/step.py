"""One decoding step of the causal depthwise conv1d: O(1) in the sequence length."""

import torch
import torch.nn.functional as F

from .checks import check_activation, check_state, check_weight_and_bias


def short_conv_step(
    x_t: torch.Tensor,
    state: torch.Tensor | None,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    activation: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Convolve one new token with the rolling state of the W-1 previous inputs.

    Args:
        x_t: [B, D] the current token.
        state: [B, D, W-1] the previous W-1 inputs, oldest first (the ``final_state`` of ``short_conv``),
            or None for zeros.
        weight: [D, W] filter; ``weight[:, -1]`` multiplies ``x_t``.
        bias: [D] or None.
        activation: None or "silu".

    Returns:
        y_t: [B, D].
        new_state: [B, D, W-1], the state rolled by one: the oldest input dropped, ``x_t`` appended.
    """
    if x_t.dim() != 2:
        raise ValueError(f"x_t must be 2-D [B, D], got {list(x_t.shape)}")
    batch, dim = x_t.shape
    width = check_weight_and_bias(weight, bias, dim)
    check_state("state", state, batch, dim, width)
    check_activation(activation)

    if state is None:
        state = x_t.new_zeros(batch, dim, width - 1)
    window = torch.cat([state.to(x_t.dtype), x_t.unsqueeze(-1)], dim=-1)  # [B, D, W]
    y_t = (window * weight).sum(dim=-1)
    if bias is not None:
        y_t = y_t + bias
    if activation == "silu":
        y_t = F.silu(y_t)
    return y_t, window[..., 1:].contiguous()  # its own W-1 columns: the state must not keep the W-wide buffer
