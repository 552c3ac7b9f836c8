"""A description of the machine a benchmark ran on, recorded with its results."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_machine(device: torch.device) -> dict[str, str | int]:
    """Device name, CPU model, core/thread counts and library versions."""
    info: dict[str, str | int] = {
        "device": device.type,
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        pass
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info["gpu"] = properties.name
        info["gpu_memory_gib"] = round(properties.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda or ""
    return info


def machine_label(info: dict[str, str | int]) -> str:
    """A short file-name-safe label: the GPU name on CUDA, else `cpu<cores>`."""
    if info.get("gpu"):
        return str(info["gpu"]).lower().replace("nvidia", "").strip().replace(" ", "-")
    return f"cpu{info['cpu_count']}"
