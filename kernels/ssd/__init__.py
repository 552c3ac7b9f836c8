"""The SSD op: Mamba-2's state-space duality layer as a thin layer on the scan (mamba_ssm's
`mamba_chunk_scan_combined` conventions). Its forms are the scan's (reference, chunked torch, Triton), chosen by
`backend`; the step is the scan's step on the mapped inputs."""

from .checks import BACKENDS
from .dispatch import ssd_scan
from .step import ssd_step

__all__ = ["BACKENDS", "ssd_scan", "ssd_step"]
