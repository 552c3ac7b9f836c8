"""Causal depthwise conv1d as a plain loop over time: the oracle for the other forms.

For a sequence x_1..x_T of width-D vectors and a filter ``weight`` of shape [D, W],

    y_t[d] = sum_{i=0}^{W-1} weight[d, i] * x_{t-(W-1)+i}[d] + bias[d]

so the last tap ``weight[:, W-1]`` multiplies the current token. Positions before the start of a
sequence read from ``initial_state`` (the W-1 inputs that came before it, oldest first) or are zero.
"""

import torch
import torch.nn.functional as F


def short_conv_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    activation: str | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Causal depthwise conv1d, one token at a time.

    Args:
        x: [B, T, D] inputs; with ``cu_seqlens``, B == 1 and the sequences are packed along T.
        weight: [D, W] filter; ``weight[:, -1]`` multiplies the current token.
        bias: [D] or None.
        activation: None or "silu", applied after the bias.
        initial_state: [N, D, W-1], the W-1 inputs before each sequence, oldest first; None means zeros.
            N is B, or the number of sequences with ``cu_seqlens``.
        output_final_state: also return the last W-1 inputs of each sequence.
        cu_seqlens: [N+1] int offsets of the packed sequences in T, or None.

    Returns:
        y: [B, T, D].
        final_state: [N, D, W-1] (the state the next token of each sequence would read), or None.
    """
    batch, length, _ = x.shape
    width = weight.shape[1]
    if cu_seqlens is None:
        segments = [(b, 0, length) for b in range(batch)]
    else:
        bounds = cu_seqlens.tolist()
        segments = [(0, bounds[n], bounds[n + 1]) for n in range(len(bounds) - 1)]

    rows: list[list[torch.Tensor | None]] = [[None] * length for _ in range(batch)]
    finals = []
    for n, (b, start, end) in enumerate(segments):
        if initial_state is None:
            history = [x.new_zeros(x.shape[-1]) for _ in range(width - 1)]
        else:
            history = list(initial_state[n].to(x.dtype).unbind(-1))
        for t in range(start, end):
            history.append(x[b, t])
            window = history[len(history) - width :]
            y_t = sum(weight[:, i] * window[i] for i in range(width))
            if bias is not None:
                y_t = y_t + bias
            if activation == "silu":
                y_t = F.silu(y_t)
            rows[b][t] = y_t
        tail = history[len(history) - (width - 1) :]
        finals.append(torch.stack(tail, dim=-1) if tail else x.new_zeros(x.shape[-1], 0))

    y = torch.stack([torch.stack(row) for row in rows]) if length else x.new_empty(batch, 0, x.shape[-1])
    final_state = torch.stack(finals) if output_final_state else None
    return y, final_state
