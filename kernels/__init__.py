"""Shared sequence kernels: one folder per op (reference, chunked torch, step, dispatch)."""

from .scan import scan, scan_step, ssd_scan, ssd_step
from .short_conv import short_conv, short_conv_step
