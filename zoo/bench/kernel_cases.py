"""The kernel benchmark cases: for each op, our forms and the peer libraries' fastest forms.

A case builds random inputs for a length T and returns the leaf tensors and a function computing
the op's output from them; the benchmark times output + backward of a random upstream gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo import kernels
from zoo.bench import peers
from zoo.bench.case import Case, Inputs, Shape, anywhere, leaf, needs_cuda

def _decay(t: torch.Tensor) -> torch.Tensor:
    """log decays around log(0.98): slow enough that the state carries information far."""
    return F.logsigmoid(t + 4.0)


def _scan_inputs(T: int, s: Shape, device, dtype, per_channel: bool) -> Inputs:
    q, k, v = (leaf(s.batch, T, s.heads, s.head_dim, device=device, dtype=dtype) for _ in range(3))
    g_shape = (s.batch, T, s.heads, s.head_dim) if per_channel else (s.batch, T, s.heads)
    return q, k, v, leaf(*g_shape, device=device, dtype=torch.float32, fill=_decay)


def _scan_case(impl: str, backend: str, per_channel: bool, max_len: int | None = None, cuda_only=False) -> Case:
    def build(T, s, device, dtype):
        return _scan_inputs(T, s, device, dtype, per_channel), lambda x: kernels.scan(*x, backend=backend)[0]

    return Case("gla" if per_channel else "scan", impl, build, needs_cuda if cuda_only else anywhere, max_len)


def _ssd_inputs(T: int, s: Shape, device, dtype) -> Inputs:
    x = leaf(s.batch, T, s.heads, s.head_dim, device=device, dtype=dtype)
    dt = leaf(s.batch, T, s.heads, device=device, dtype=torch.float32, fill=lambda t: t - 3.0)
    A = leaf(s.heads, device=device, dtype=torch.float32, fill=lambda t: -torch.rand_like(t) - 0.5)
    B, C = (leaf(s.batch, T, 1, s.head_dim, device=device, dtype=dtype) for _ in range(2))
    return x, dt, A, B, C


def _ssd_case(impl: str, backend: str, max_len: int | None = None, cuda_only=False) -> Case:
    def build(T, s, device, dtype):
        def run(x):
            return kernels.ssd_scan(*x, dt_softplus=True, backend=backend)[0]

        return _ssd_inputs(T, s, device, dtype), run

    return Case("ssd", impl, build, needs_cuda if cuda_only else anywhere, max_len)


def _short_conv_case(impl: str, backend: str, max_len: int | None = None) -> Case:
    def build(T, s, device, dtype):
        channels = s.heads * s.head_dim
        leaves = (leaf(s.batch, T, channels, device=device, dtype=dtype), leaf(channels, 4, device=device, dtype=dtype))
        return leaves, lambda x: kernels.short_conv(x[0], x[1], activation="silu", backend=backend)[0]

    return Case("short_conv", impl, build, anywhere, max_len)


# The reference loops are timed up to this length (the CPU target compares them at T = 2048).
REFERENCE_MAX_LEN = 2048


def kernel_cases() -> list[Case]:
    """All cases, ours first, then the peers (each peer case says when its library is missing)."""
    return [
        _scan_case("seqzoo:torch", "torch", per_channel=False),
        _scan_case("seqzoo:reference", "reference", per_channel=False, max_len=REFERENCE_MAX_LEN),
        *peers.scan_cases(_scan_inputs),
        _ssd_case("seqzoo:torch", "torch"),
        _ssd_case("seqzoo:reference", "reference", max_len=REFERENCE_MAX_LEN),
        *peers.ssd_cases(_ssd_inputs),
        _short_conv_case("seqzoo:torch", "torch"),
        _short_conv_case("seqzoo:reference", "reference", max_len=REFERENCE_MAX_LEN),
        *peers.short_conv_cases(),
    ]
