"""The scan op: gated linear attention with a matrix state (decay per head or per key channel), and on it
Mamba-2 SSD and the mLSTM (exponential input gate, normaliser and max-stabiliser)."""

from .chunked import scan_chunked
from .dispatch import scan
from .mlstm import mlstm_scan
from .mlstm_chunked import mlstm_chunked
from .mlstm_reference import mlstm_reference
from .mlstm_step import mlstm_step
from .reference import scan_reference
from .ssd import ssd_scan, ssd_step
from .step import scan_step

__all__ = [
    "scan", "scan_step", "ssd_scan", "ssd_step", "scan_reference", "scan_chunked",
    "mlstm_scan", "mlstm_step", "mlstm_reference", "mlstm_chunked",
]
