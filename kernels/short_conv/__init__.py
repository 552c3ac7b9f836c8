"""short_conv: causal depthwise conv1d (+ optional SiLU) with a rolling state for decoding.

Forms: ``short_conv_reference`` (loop over time, the oracle), ``short_conv_torch`` (grouped ``F.conv1d``),
``short_conv_step`` (one token), and the optional ``causal_conv1d`` package on CUDA, chosen by ``short_conv``.
"""

from .conv_torch import short_conv_torch
from .dispatch import BACKENDS, short_conv
from .reference import short_conv_reference
from .step import short_conv_step

__all__ = ["BACKENDS", "short_conv", "short_conv_reference", "short_conv_step", "short_conv_torch"]
