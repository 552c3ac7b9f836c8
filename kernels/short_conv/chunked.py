"""Causal depthwise conv1d in PyTorch (the chunked torch form, whose one chunk is the whole sequence): one grouped
``F.conv1d`` over the state-padded input, with autograd.

Varlen batches are padded to [N, Tmax, D] and run as a batch: zeros after the end of a sequence
cannot reach its real positions, since the convolution is causal.
"""

import torch
import torch.nn.functional as F

from ..varlen import pad_packed, unpad_to_packed


def _history(x: torch.Tensor, initial_state: torch.Tensor | None, width: int) -> torch.Tensor:
    """[B, T, D] inputs -> [B, D, W-1+T]: the W-1 previous inputs (state or zeros), then the sequence."""
    x_t = x.transpose(1, 2)
    if initial_state is None:
        return F.pad(x_t, (width - 1, 0))
    return torch.cat([initial_state.to(x.dtype), x_t], dim=-1)


def _conv(
    history: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, activation: str | None
) -> torch.Tensor:
    """[B, D, W-1+T] history -> [B, T, D] outputs (T = 0 included, which F.conv1d refuses)."""
    batch, dim, columns = history.shape
    if columns < weight.shape[1]:
        return history.new_empty(batch, 0, dim)
    y = F.conv1d(history, weight.unsqueeze(1), bias, groups=weight.shape[0])
    if activation == "silu":
        y = F.silu(y)
    return y.transpose(1, 2).contiguous()


def short_conv_chunked(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    activation: str | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Causal depthwise conv1d (+ optional SiLU) through ``F.conv1d(groups=D)``.

    Args:
        x: [B, T, D] inputs; with ``cu_seqlens``, B == 1 and the sequences are packed along T.
        weight: [D, W] filter; ``weight[:, -1]`` multiplies the current token.
        bias: [D] or None.
        activation: None or "silu".
        initial_state: [N, D, W-1], the W-1 inputs before each sequence, oldest first; None means zeros.
        output_final_state: also return the last W-1 inputs of each sequence.
        cu_seqlens: [N+1] int offsets of the packed sequences in T, or None.

    Returns:
        y: [B, T, D].
        final_state: [N, D, W-1] or None.
    """
    width = weight.shape[1]
    if cu_seqlens is None:
        history = _history(x, initial_state, width)
        y = _conv(history, weight, bias, activation)
        final_state = history[..., x.shape[1] :].contiguous() if output_final_state else None
        return y, final_state

    history = _history(pad_packed(x, cu_seqlens), initial_state, width)  # [N, D, W-1+Tmax]
    y = unpad_to_packed(_conv(history, weight, bias, activation), cu_seqlens)
    if not output_final_state:
        return y, None
    # Sequence n's last W-1 inputs sit at columns len_n .. len_n+W-2 of its history.
    lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).to(device=x.device, dtype=torch.long)
    columns = lengths[:, None] + torch.arange(width - 1, device=x.device)  # [N, W-1]
    index = columns[:, None, :].expand(-1, x.shape[-1], -1)  # [N, D, W-1]
    return y, history.gather(-1, index)
