"""Time and peak memory of one call, on CPU or CUDA; the memory a decoding state holds."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.profiler import ProfilerActivity, profile


@dataclass
class Measurement:
    """Wall times in milliseconds: the first warm-up call (compilation, autotuning and caches included; None
    without warm-up) and the `repeats` timed calls after the warm-up, summarised as min / median / max; peak
    extra memory in bytes (None: not measured)."""

    first_call_ms: float | None
    warmup: int
    times_ms: list[float]
    peak_bytes: int | None

    @property
    def repeats(self) -> int:
        return len(self.times_ms)

    def record(self, digits: int = 4) -> dict:
        """The JSON fields of a result: `ms` (the median), `ms_min`, `ms_max`, `repeats`, `warmup`,
        `first_call_ms` (rounded to `digits` decimals)."""
        first = None if self.first_call_ms is None else round(self.first_call_ms, digits)
        return {"ms": round(statistics.median(self.times_ms), digits), "ms_min": round(min(self.times_ms), digits),
                "ms_max": round(max(self.times_ms), digits), "repeats": self.repeats, "warmup": self.warmup,
                "first_call_ms": first}


def _nothing() -> None:
    return None


def _cpu_peak_bytes(fn: Callable[[], None]) -> int:
    """Peak of the memory allocated while `fn` runs, above what was allocated before it (torch profiler)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


def resident_bytes() -> int:
    """This process's resident memory (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rss_peak_bytes(fn: Callable[[], None], interval: float = 0.0005) -> int:
    """Peak resident memory while `fn` runs above the resident memory before it, sampled every `interval` seconds
    by a thread (torch releases the GIL in its kernels). For steps too long for the profiler's event log; run with
    glibc's MALLOC_MMAP_THRESHOLD_ low (e.g. 65536), so that freed tensors leave the process and the baseline is
    what stays allocated."""
    baseline = resident_bytes()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, resident_bytes())
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    return max(peak, resident_bytes()) - baseline


def _cuda_peak_bytes(fn: Callable[[], None], device: torch.device) -> int:
    torch.cuda.synchronize(device)
    baseline = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - baseline


def timed_call(fn: Callable[[], None], device: torch.device, reset: Callable[[], None] = _nothing) -> float:
    """Milliseconds of one call of `fn` (on CUDA, from an idle device to the end of its work); `reset` runs
    untimed before it."""
    reset()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
    begin = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize(device)
    return (time.perf_counter() - begin) * 1e3


def measure(
    fn: Callable[[], None],
    device: torch.device,
    *,
    reset: Callable[[], None] = _nothing,
    peak_memory: bool = True,
    warmup: int = 2,
    min_seconds: float = 0.5,
    max_repeats: int = 50,
    min_repeats: int = 3,
    first_call_ms: float | None = None,
) -> Measurement:
    """Run `fn` `warmup` times (the first of them timed), then time it until `min_seconds` have passed (at least
    `min_repeats` calls, at most `max_repeats`); the peak memory comes from one more call unless `peak_memory` is
    False. `reset` runs untimed before every call (e.g. dropping the previous call's gradients). A caller that
    made a first warm-up call itself passes its time as `first_call_ms`: it counts as one more warm-up call."""
    calls_before = 0 if first_call_ms is None else 1
    for _ in range(warmup):
        if first_call_ms is None:
            first_call_ms = timed_call(fn, device, reset)
        else:
            reset()
            fn()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_repeats or (time.perf_counter() - started < min_seconds and len(times) < max_repeats):
        times.append(timed_call(fn, device, reset))
    peak = None
    if peak_memory:
        reset()
        peak = _cuda_peak_bytes(fn, device) if device.type == "cuda" else _cpu_peak_bytes(fn)
    return Measurement(first_call_ms, calls_before + warmup, times, peak)


def state_bytes(state: object) -> int:
    """Bytes of the tensor storage a decoding state holds: every tensor reachable through lists, tuples, dicts,
    dataclasses and plain objects' attributes (not modules), each storage counted once (a view holds on to all
    of its storage)."""
    storages: dict[int, int] = {}
    seen: set[int] = set()
    pending = [state]
    while pending:
        item = pending.pop()
        if id(item) in seen or item is None or isinstance(item, (str, bytes, int, float, bool, torch.nn.Module)):
            continue
        seen.add(id(item))
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set)):
            pending.extend(item)
        elif hasattr(item, "__dict__"):
            pending.extend(vars(item).values())
        elif hasattr(item, "__slots__"):
            pending.extend(getattr(item, name, None) for name in item.__slots__)
    return sum(storages.values())
