"""short_conv: causal depthwise conv1d (+ optional SiLU) with a rolling state for decoding.

Forms: ``short_conv_reference`` (loop over time, the oracle), ``short_conv_torch`` (grouped ``F.conv1d``),
``short_conv_step`` (one token), ``short_conv_triton`` (Triton kernels; imported on first access, since
``triton.jit`` reads TRITON_INTERPRET when the kernels are defined) and the optional ``causal_conv1d``
package on CUDA, chosen by ``short_conv``.
"""

from .conv_torch import short_conv_torch
from .dispatch import BACKENDS, short_conv
from .reference import short_conv_reference
from .step import short_conv_step

__all__ = ["BACKENDS", "short_conv", "short_conv_reference", "short_conv_step", "short_conv_torch", "short_conv_triton"]


def __getattr__(name: str):
    if name == "short_conv_triton":
        from .triton_conv import short_conv_triton

        return short_conv_triton
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
