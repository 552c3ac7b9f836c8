"""Shared sequence kernels: one folder per op (reference, chunked torch, Triton, step, dispatch), and each op's
backend names (`<OP>_BACKENDS`: what its `backend=` argument takes)."""

from .attention import attention, attention_step
from .attention import BACKENDS as ATTENTION_BACKENDS
from .delta_rule import BACKENDS as DELTA_RULE_BACKENDS
from .delta_rule import delta_rule, delta_rule_step
from .mlstm import BACKENDS as MLSTM_BACKENDS
from .mlstm import mlstm_scan, mlstm_step
from .scan import BACKENDS as SCAN_BACKENDS
from .scan import scan, scan_step
from .selective_scan import BACKENDS as SELECTIVE_SCAN_BACKENDS
from .selective_scan import selective_scan, selective_scan_step
from .short_conv import BACKENDS as SHORT_CONV_BACKENDS
from .short_conv import short_conv, short_conv_step
from .slstm import BACKENDS as SLSTM_BACKENDS
from .slstm import slstm, slstm_step
from .ssd import BACKENDS as SSD_BACKENDS
from .ssd import ssd_scan, ssd_step

__all__ = [
    "ATTENTION_BACKENDS",
    "DELTA_RULE_BACKENDS",
    "MLSTM_BACKENDS",
    "SCAN_BACKENDS",
    "SELECTIVE_SCAN_BACKENDS",
    "SHORT_CONV_BACKENDS",
    "SLSTM_BACKENDS",
    "SSD_BACKENDS",
    "attention",
    "attention_step",
    "delta_rule",
    "delta_rule_step",
    "mlstm_scan",
    "mlstm_step",
    "scan",
    "scan_step",
    "selective_scan",
    "selective_scan_step",
    "short_conv",
    "short_conv_step",
    "slstm",
    "slstm_step",
    "ssd_scan",
    "ssd_step",
]
