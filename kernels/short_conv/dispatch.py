"""``short_conv``: check the arguments, pick a form, run it."""

import torch

from ..triton_support import load_triton_form, resolve_triton_or_torch
from ..varlen import check_cu_seqlens
from .checks import check_activation, check_state, check_weight_and_bias
from .chunked import short_conv_chunked
from .reference import short_conv_reference
from .upstream import (
    causal_conv1d_unsupported,
    load_causal_conv1d,
    require_causal_conv1d,
    short_conv_causal_conv1d,
)


def _short_conv_triton(*args, **kwargs):
    return load_triton_form(__package__, "triton_conv").short_conv_triton(*args, **kwargs)


_FORMS = {
    "torch": short_conv_chunked,
    "reference": short_conv_reference,
    "causal_conv1d": short_conv_causal_conv1d,
    "triton": _short_conv_triton,
}
BACKENDS = ("auto", *_FORMS)


def _check_args(x, weight, bias, activation, initial_state, cu_seqlens) -> None:
    if x.dim() != 3:
        raise ValueError(f"x must be 3-D [B, T, D], got {list(x.shape)}")
    batch, length, dim = x.shape
    width = check_weight_and_bias(weight, bias, dim)
    n = batch
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
        n = cu_seqlens.shape[0] - 1
    check_state("initial_state", initial_state, n, dim, width)
    check_activation(activation)


def _resolve(backend: str, x, weight, bias, initial_state, output_final_state, cu_seqlens) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown short_conv backend {backend!r}; valid backends: {BACKENDS}")
    args = (x, weight, bias, initial_state, output_final_state, cu_seqlens)
    if backend == "auto" and x.is_cuda and load_causal_conv1d() is not None:
        if causal_conv1d_unsupported(*args) is None:
            return "causal_conv1d"
    if backend == "causal_conv1d":
        require_causal_conv1d()
        reason = causal_conv1d_unsupported(*args)
        if reason is not None:
            raise ValueError(f"backend='causal_conv1d' cannot run this call: {reason}")
        return backend
    # The rule every op follows (`triton_support.resolve_triton_or_torch`) for "auto" (after causal_conv1d),
    # "triton" and the others.
    return resolve_triton_or_torch(
        "short_conv", backend, x.is_cuda, __package__, "triton_conv", x, weight, bias, initial_state
    )


def short_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    activation: str | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Causal depthwise conv1d (+ optional SiLU): ``y_t = act(sum_i weight[:, i] * x_{t-W+1+i} + bias)``.

    Args:
        x: [B, T, D] inputs; with ``cu_seqlens``, B == 1 and the sequences are packed along T.
        weight: [D, W] filter, W >= 1; ``weight[:, -1]`` multiplies the current token
            (an ``nn.Conv1d(D, D, W, groups=D)`` weight [D, 1, W] squeezed).
        bias: [D] or None.
        activation: None or "silu".
        initial_state: [N, D, W-1], the W-1 inputs before each sequence, oldest first; None means zeros.
            N is B, or the number of sequences with ``cu_seqlens``.
        output_final_state: also return each sequence's last W-1 inputs (the state for ``short_conv_step``).
        cu_seqlens: [N+1] int offsets of packed sequences in T, or None.
        backend: "auto" (on CUDA: ``causal_conv1d`` when installed and able to run the call, else "triton"
            when it can, else "torch"; on CPU: "torch"), "torch", "reference", "causal_conv1d" or "triton"
            (CUDA tensors, or CPU ones under TRITON_INTERPRET=1 set before the Triton form is first used).

    Returns:
        y: [B, T, D].
        final_state: [N, D, W-1] or None.
    """
    _check_args(x, weight, bias, activation, initial_state, cu_seqlens)
    name = _resolve(backend, x, weight, bias, initial_state, output_final_state, cu_seqlens)
    return _FORMS[name](
        x,
        weight,
        bias,
        activation=activation,
        initial_state=initial_state,
        output_final_state=output_final_state,
        cu_seqlens=cu_seqlens,
    )
