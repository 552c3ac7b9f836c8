"""The scan op: gated linear attention with a matrix state and a decay per head or per key channel (GLA).
Mamba-2's SSD (kernels/ssd) is a thin layer on it.

The Triton forms (triton_scan.scan_triton, triton_gla.scan_triton_gla) are not imported here: importing them
defines their kernels, which must happen after TRITON_INTERPRET is settled; `scan(..., backend="triton")`
imports them lazily."""

from .checks import BACKENDS
from .chunked import scan_chunked
from .dispatch import scan
from .reference import scan_reference
from .step import scan_step

__all__ = ["BACKENDS", "scan", "scan_step", "scan_reference", "scan_chunked"]
