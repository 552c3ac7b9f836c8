"""The scan op: gated linear attention with a matrix state (scalar decay per head), and Mamba-2 SSD on it."""

from .chunked import scan_chunked
from .dispatch import scan
from .reference import scan_reference
from .ssd import ssd_scan, ssd_step
from .step import scan_step

__all__ = ["scan", "scan_step", "ssd_scan", "ssd_step", "scan_reference", "scan_chunked"]
