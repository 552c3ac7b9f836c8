"""What a model benchmark case is: one implementation of one model family, driven through a common interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from benchmarks.kernel_suite.case import anywhere


@dataclass
class LM:
    """A language model as the benchmark drives it, ours or an upstream one.

    `logits(ids [B, T]) -> [B, T, V]` (training forward); `prefill(ids [B, P], room) -> state`, the decoding
    state after the prompt, with room for `room` more tokens (upstream caches are allocated up front);
    `step(token [B], state) -> (logits [B, V], state)`, one decoding step (the state may be updated in place).
    """

    module: nn.Module
    logits: Callable[[torch.Tensor], torch.Tensor]
    prefill: Callable[[torch.Tensor, int], Any]
    step: Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def parameters(self) -> int:
        """Distinct parameters (tied weights counted once)."""
        return sum(p.numel() for p in {id(p): p for p in self.module.parameters()}.values())


@dataclass(frozen=True)
class ModelCase:
    """One implementation ("seqzoo" or an upstream library's model) of one family.

    `build(device, dtype, max_len) -> LM` (max_len: the longest sequence it will see, prompt and generated
    tokens included); `unavailable(device)`: why it cannot run there (None when it can); `cpu_max_len` caps the
    training length T on the CPU (models that loop over time in Python there); `profile_memory=False` skips
    the CPU peak-memory run of such loops (the profiler's record of every op of an autograd loop over time
    takes gigabytes: over 15 GB for mamba_ssm's selective_scan_ref at T = 256); `upstream`: another library's
    model, whose failures are recorded as reasons instead of raised.
    """

    family: str
    impl: str
    build: Callable[[torch.device, torch.dtype, int], LM]
    unavailable: Callable[[torch.device], str | None] = anywhere
    cpu_max_len: int | None = None
    profile_memory: bool = True
    upstream: bool = False

    def longest(self, device: torch.device) -> int | None:
        """The longest training length on `device` (None: no limit)."""
        return self.cpu_max_len if device.type == "cpu" else None
