"""Run benchmark cases over sequence lengths: forward + backward time and peak memory per (op, impl, T)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from rich.progress import Progress

from zoo.bench.case import Case, Shape
from zoo.bench.measure import measure


def run_cases(
    cases: Iterable[Case],
    lengths: list[int],
    device: torch.device,
    dtype: torch.dtype,
    shape: Shape,
    min_seconds: float = 0.5,
) -> list[dict]:
    """One record per (case, T): `{"op", "impl", "T", "ms", "peak_mib"}`, or `"skipped": reason`."""
    cases = list(cases)
    records: list[dict] = []
    with Progress(transient=True) as progress:
        task = progress.add_task("benchmarking", total=len(cases) * len(lengths))
        for case in cases:
            reason, longest = case.unavailable(device), case.longest(device)
            for length in lengths:
                progress.update(task, advance=1, description=f"{case.op} {case.impl} T={length}")
                record = {"op": case.op, "impl": case.impl, "T": length}
                if reason is None and longest is not None and length > longest:
                    continue
                if reason is not None:
                    records.append({**record, "skipped": reason})
                    continue
                records.append({**record, **_time_case(case, length, device, dtype, shape, min_seconds)})
    return records


def _time_case(case: Case, length: int, device, dtype, shape: Shape, min_seconds: float) -> dict:
    try:
        leaves, run = case.build(length, shape, device, dtype)
        grad = torch.randn_like(run(leaves))

        def drop_gradients() -> None:
            for tensor in leaves:
                tensor.grad = None

        result = measure(
            lambda: run(leaves).backward(grad),
            device,
            reset=drop_gradients,
            peak_memory=case.profile_memory or device.type == "cuda",
            min_seconds=min_seconds,
        )
    except torch.OutOfMemoryError:
        return {"skipped": "out of memory"}
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    peak_mib = None if result.peak_bytes is None else round(result.peak_bytes / 2**20, 2)
    return {"ms": round(result.ms, 4), "peak_mib": peak_mib, "repeats": result.repeats}
