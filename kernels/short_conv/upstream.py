"""The optional CUDA backend: the ``causal_conv1d`` package's ``causal_conv1d_fn``.

Its kernels take ``x`` as [B, D, T]. Our [B, T, D] tensors, transposed, are its "channel-last" layout,
the only one in which it accepts initial states, returns final states and reads ``seq_idx`` (varlen).
It does not combine ``seq_idx`` with initial or final states.
"""

import functools
from collections.abc import Callable

import torch

_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@functools.cache
def load_causal_conv1d() -> Callable | None:
    """``causal_conv1d.causal_conv1d_fn`` if the package and its CUDA extension import, else None."""
    try:
        from causal_conv1d import causal_conv1d_fn
    except ImportError:
        return None
    return causal_conv1d_fn


def require_causal_conv1d() -> Callable:
    """``causal_conv1d_fn``, or ImportError saying how to install it."""
    causal_conv1d_fn = load_causal_conv1d()
    if causal_conv1d_fn is None:
        raise ImportError(
            "backend='causal_conv1d' needs the causal_conv1d package with its CUDA extension "
            "(pip install 'seqzoo[cuda]'); it could not be imported"
        )
    return causal_conv1d_fn


def causal_conv1d_unsupported(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    initial_state: torch.Tensor | None,
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,
) -> str | None:
    """Why ``causal_conv1d_fn`` cannot run this (validated) call, or None if it can."""
    dim, width = weight.shape
    if not x.is_cuda:
        return "it runs on CUDA tensors only"
    if not 2 <= width <= 4:
        return f"it supports widths 2 to 4, got W = {width}"
    if dim % 8 != 0:
        return f"it needs D divisible by 8, got D = {dim}"
    if x.dtype not in _DTYPES or weight.dtype not in _DTYPES:
        return f"it supports {_DTYPES}, got x {x.dtype} and weight {weight.dtype}"
    if bias is not None and bias.dtype != weight.dtype:
        return f"it needs bias in the weight's dtype {weight.dtype}, got {bias.dtype}"
    if initial_state is not None and initial_state.dtype != x.dtype:
        return f"it needs initial_state in x's dtype {x.dtype}, got {initial_state.dtype}"
    if cu_seqlens is not None and (initial_state is not None or output_final_state):
        return "it takes no initial_state and returns no final state with cu_seqlens"
    return None


def short_conv_causal_conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    activation: str | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Causal depthwise conv1d through ``causal_conv1d_fn`` (same arguments and results as the reference).

    Args:
        x: [B, T, D]; weight: [D, W]; bias: [D] or None; initial_state: [N, D, W-1] or None;
        cu_seqlens: [N+1] or None (then no initial_state and no final state).

    Returns:
        y: [B, T, D] and final_state: [N, D, W-1] or None.
    """
    causal_conv1d_fn = require_causal_conv1d()
    x_cl = x.contiguous().transpose(1, 2)  # [B, D, T], stride 1 along D
    seq_idx = None
    if cu_seqlens is not None:
        lengths = cu_seqlens[1:] - cu_seqlens[:-1]
        ids = torch.arange(lengths.numel(), device=x.device, dtype=torch.int32)
        seq_idx = torch.repeat_interleave(ids, lengths, output_size=x.shape[1]).unsqueeze(0)  # [1, T]
    if initial_state is not None:
        initial_state = initial_state.transpose(1, 2).contiguous().transpose(1, 2)  # stride 1 along D
    out = causal_conv1d_fn(
        x_cl,
        weight.contiguous(),
        bias,
        seq_idx=seq_idx,
        initial_states=initial_state,
        return_final_states=output_final_state,
        activation=activation,
    )
    y, final_state = out if output_final_state else (out, None)
    return y.transpose(1, 2), final_state
