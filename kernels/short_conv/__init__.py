"""short_conv: causal depthwise conv1d (+ optional SiLU) with a rolling state for decoding.

Forms: ``short_conv_reference`` (loop over time, the oracle), ``short_conv_chunked`` (one grouped ``F.conv1d``
over the whole sequence, the CPU path), ``short_conv_step`` (one token), and the optional ``causal_conv1d``
package on CUDA, chosen by ``short_conv``; the Triton form (``backend="triton"``) lives in ``triton_conv``,
imported on first use and not here: ``triton.jit`` reads TRITON_INTERPRET when its kernels are defined.
"""

from .chunked import short_conv_chunked
from .dispatch import BACKENDS, short_conv
from .reference import short_conv_reference
from .step import short_conv_step

__all__ = ["BACKENDS", "short_conv", "short_conv_reference", "short_conv_step", "short_conv_chunked"]
