"""What a benchmark case is: one implementation of one op, building its inputs for a length T."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Inputs = tuple[torch.Tensor, ...]

# Python loops over time (our reference forms, mamba_ssm's selective_scan_ref) are timed up to this
# length; the CPU target compares the chunked forms with them at T = 2048.
REFERENCE_MAX_LEN = 2048


@dataclass(frozen=True)
class Shape:
    """Benchmark sizes: batch, heads, head dimension (K = V = P = head_dim), Mamba-1's state size N."""

    batch: int = 1
    heads: int = 4
    head_dim: int = 64
    d_state: int = 16


def anywhere(device: torch.device) -> str | None:
    return None


def needs_cuda(device: torch.device) -> str | None:
    return None if device.type == "cuda" else "needs CUDA"


@dataclass(frozen=True)
class Case:
    """One implementation of one op.

    `build(T, shape, device, dtype) -> (leaves, run)`: the input tensors that get gradients, and
    `run(leaves) -> output`. `unavailable(device)` gives the reason it cannot run there (None when it
    can); `max_len` caps T (slow reference loops), `cpu_max_len` caps it on the CPU only (forms whose
    T x T matrices fit a GPU but not the CPU's memory); `profile_memory=False` skips the peak-memory run
    (profiling every op of a Python loop over time costs gigabytes of profiler events); `upstream`: a peer
    library's form, whose failures are recorded as reasons instead of raised.
    """

    op: str
    impl: str
    build: Callable[[int, Shape, torch.device, torch.dtype], tuple[Inputs, Callable[[Inputs], torch.Tensor]]]
    unavailable: Callable[[torch.device], str | None] = anywhere
    max_len: int | None = None
    profile_memory: bool = True
    cpu_max_len: int | None = None
    upstream: bool = False

    def longest(self, device: torch.device) -> int | None:
        """The longest T this case runs at on `device` (None: no limit)."""
        limits = [self.max_len] + ([self.cpu_max_len] if device.type == "cpu" else [])
        limits = [limit for limit in limits if limit is not None]
        return min(limits) if limits else None


def leaf(*shape: int, device, dtype, fill: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> torch.Tensor:
    """A random input `fill(randn(shape))` in `dtype` that requires grad."""
    return fill(torch.randn(*shape, device=device, dtype=torch.float32)).to(dtype).requires_grad_()
