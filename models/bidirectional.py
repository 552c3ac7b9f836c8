"""Bidirectional mode for encoders (vision, genomics classification, LRA): a recurrent mixer run over the
sequence in both directions, the two outputs summed (as Vision Mamba's and Caduceus' bidirectional blocks).
The backward direction has its own weights unless `tied` (Caduceus' parameter-shared BiMamba). Attention
layers need no wrapper: they become bidirectional by dropping the causal mask."""

from __future__ import annotations

import torch
from torch import nn


def reverse_sequences(x: torch.Tensor, cu_seqlens: torch.Tensor | None = None) -> torch.Tensor:
    """Reverse the time axis of x `[B, T, ...]`; with cu_seqlens `[N + 1]` (B == 1) each packed sequence is
    reversed in place, so that sequences keep their slots."""
    if cu_seqlens is None:
        return x.flip(1)
    positions = torch.arange(x.shape[1], device=x.device)
    sequence = torch.searchsorted(cu_seqlens[1:].to(x.device), positions, right=True)
    bounds = cu_seqlens.to(x.device)
    index = bounds[sequence] + bounds[sequence + 1] - 1 - positions
    return x.index_select(1, index)


class BidirectionalMixer(nn.Module):
    """`y = f(x) + reverse(g(reverse(x)))` for a causal mixer f and its backward twin g: `[B, T, d] -> [B, T, d]`.

    g is a second instance of f's class with its own parameters, or None to reuse f (tied weights).
    Bidirectional layers see the whole sequence, so they neither take nor return a decoding state and have no
    `step`.
    """

    causal = False

    def __init__(self, forward_mixer: nn.Module, backward_mixer: nn.Module | None = None):
        super().__init__()
        self.forward_mixer = forward_mixer
        self.backward_mixer = backward_mixer
        if hasattr(forward_mixer, "block_d_intermediate"):  # a mixer that sizes its block's MLP (sLSTM)
            self.block_d_intermediate = forward_mixer.block_d_intermediate

    def forward(
        self, x: torch.Tensor, state: None = None, cu_seqlens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, None]:
        """x `[B, T, d]` (or packed `[1, T, d]` with cu_seqlens `[N + 1]`) -> (y `[B, T, d]`, None)."""
        if state is not None:
            raise ValueError("a bidirectional layer sees the whole sequence: it takes no decoding state")
        backward = self.forward_mixer if self.backward_mixer is None else self.backward_mixer
        y_forward, _ = self.forward_mixer(x, None, cu_seqlens)
        y_backward, _ = backward(reverse_sequences(x, cu_seqlens), None, cu_seqlens)
        return y_forward + reverse_sequences(y_backward, cu_seqlens), None

    def step(self, x: torch.Tensor, state) -> tuple[torch.Tensor, None]:
        raise ValueError(
            "a bidirectional layer cannot decode token by token (each output depends on later tokens); "
            "build the model with bidirectional=false to generate"
        )
