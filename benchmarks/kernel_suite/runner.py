"""Run benchmark cases over sequence lengths: forward + backward time and peak memory per (op, impl, T)."""

from __future__ import annotations

import time
from collections.abc import Iterable

import torch
from rich.progress import Progress

from benchmarks.harness.measure import measure, timed_call
from benchmarks.kernel_suite.case import Case, Shape


def run_cases(
    cases: Iterable[Case],
    lengths: list[int],
    device: torch.device,
    dtype: torch.dtype,
    shape: Shape,
    min_seconds: float = 0.5,
    budget_seconds: float | None = None,
) -> list[dict]:
    """One record per (case, T): `{"op", "impl", "T"}` with the measurement's fields (`ms` the median, `ms_min`,
    `ms_max`, `repeats`, `warmup`, `first_call_ms`, `peak_mib`), or `"skipped": reason`; in the order of the
    cases, then of T.

    Lengths are taken shortest first, every case at one length before the next: with a `budget_seconds`, what
    has not started when it is spent is recorded as skipped for that reason, so a run cut short still covers
    every op at the shorter lengths."""
    cases = list(cases)
    reasons = [case.unavailable(device) for case in cases]
    records: list[tuple[int, dict]] = []
    started = time.perf_counter()
    with Progress(transient=True) as progress:
        task = progress.add_task("benchmarking", total=len(cases) * len(lengths))
        for length in sorted(lengths):
            for index, (case, reason) in enumerate(zip(cases, reasons)):
                progress.update(task, advance=1, description=f"{case.op} {case.impl} T={length}")
                record = {"op": case.op, "impl": case.impl, "T": length}
                longest = case.longest(device)
                if reason is None and longest is not None and length > longest:
                    continue
                if reason is None and budget_seconds is not None and time.perf_counter() - started > budget_seconds:
                    records.append((index, {**record, "skipped": f"time budget of {budget_seconds:g} s spent"}))
                    continue
                if reason is not None:
                    records.append((index, {**record, "skipped": reason}))
                    continue
                records.append((index, {**record, **_time_case(case, length, device, dtype, shape, min_seconds)}))
    return [record for _, record in sorted(records, key=lambda item: (item[0], item[1]["T"]))]


def _time_case(case: Case, length: int, device, dtype, shape: Shape, min_seconds: float) -> dict:
    """The measurement of one case at one length; out of memory, and any failure of a peer's form, is recorded
    as the reason it was skipped."""
    try:
        leaves, run = case.build(length, shape, device, dtype)
        grad: list[torch.Tensor] = []  # a random upstream gradient of the output's shape, drawn on the first call

        def drop_gradients() -> None:
            for tensor in leaves:
                tensor.grad = None

        def forward_backward() -> None:
            out = run(leaves)
            if not grad:
                grad.append(torch.randn_like(out))
            out.backward(grad[0])

        first_call_ms = timed_call(forward_backward, device, drop_gradients)  # compiles and autotunes, if it does
        result = measure(
            forward_backward,
            device,
            reset=drop_gradients,
            peak_memory=case.profile_memory or device.type == "cuda",
            warmup=1,
            first_call_ms=first_call_ms,
            min_seconds=min_seconds,
        )
    except torch.OutOfMemoryError:
        return {"skipped": "out of memory"}
    except Exception as error:
        if not case.upstream:
            raise
        return {"skipped": f"failed ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"}
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    peak_mib = None if result.peak_bytes is None else round(result.peak_bytes / 2**20, 2)
    return {**result.record(), "peak_mib": peak_mib}
