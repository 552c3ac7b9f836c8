"""selective_scan: Mamba-1's selective scan (a diagonal state per channel), as mamba_ssm's `selective_scan_ref`.

Forms: ``selective_scan_reference`` (loop over time, the oracle), ``selective_scan_chunked`` (blocked scan
with a hand-written backward, the CPU path), ``selective_scan_step`` (one token), chosen by ``selective_scan``;
the Triton form (``backend="triton"``, CUDA) lives in ``triton_selective``, imported on first use and not here:
``triton.jit`` reads TRITON_INTERPRET when its kernels are defined.
"""

from .checks import BACKENDS
from .chunked import selective_scan_chunked
from .dispatch import selective_scan
from .reference import selective_scan_reference
from .step import selective_scan_step

__all__ = ["BACKENDS", "selective_scan", "selective_scan_step", "selective_scan_reference", "selective_scan_chunked"]
