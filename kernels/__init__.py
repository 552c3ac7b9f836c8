"""Shared sequence kernels: one folder per op (reference, chunked torch, step, dispatch)."""

from .attention import attention, attention_step
from .delta_rule import delta_rule, delta_rule_step
from .scan import mlstm_scan, mlstm_step, scan, scan_step, ssd_scan, ssd_step
from .selective_scan import selective_scan, selective_scan_step
from .short_conv import short_conv, short_conv_step
from .slstm import slstm, slstm_step

__all__ = [
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
