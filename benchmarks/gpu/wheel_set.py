"""What the GPU check carries to the GPU machine as wheels, what it leaves behind and why, and what that machine
already has. Versions come from constraints.txt, so that tests/peers/test_installed.py finds its pins there too."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVICE_PACKAGES_FILE = Path(__file__).with_name("device_packages.txt")

# Downloaded from PyPI as wheels for CPython 3.12 on x86-64 Linux: what seqzoo and the peers import that the machine
# lacks (seqzoo's other dependencies are preinstalled there; seqzoo itself runs from the source tree).
DOWNLOADED = ("omegaconf", "flash-linear-attention", "fla-core", "mlstm-kernels", "xlstm")
# PyPI has only a source distribution: built here without the CUDA extension (MAMBA_SKIP_CUDA_BUILD), the wheel is
# pure Python, so mamba_ssm's Triton kernels (SSD, its RMSNorm, the state update) run there and its CUDA ones don't.
BUILT_WITHOUT_CUDA = ("mamba-ssm",)

_CUDA_BUILD = ("PyPI has no prebuilt wheel for CPython 3.12 / torch 2.11, only a source distribution whose CUDA build "
               "(nvcc, several minutes) does not fit the check")
# Requirements and imports the check goes without: each is recorded on the machine as an unavailable peer or path.
NOT_CARRIED = {
    "causal-conv1d": f"causal_conv1d's CUDA kernels: {_CUDA_BUILD}",
    "selective-scan-cuda": f"mamba_ssm's compiled selective scan (selective_scan_cuda): {_CUDA_BUILD}",
    "tilelang": "mamba_ssm requires it for Mamba-3 kernels only, which nothing here imports",
    "apache-tvm-ffi": "mamba_ssm requires it for Mamba-3 (tilelang) kernels only, which nothing here imports",
    "quack-kernels": "mamba_ssm requires it for Mamba-3 (CuTe) kernels only, which nothing here imports",
}


def normal(name: str) -> str:
    """A distribution or module name in PEP 503 normal form (lower case, runs of -_. as one -)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    """Distribution -> `name==version` of every carried wheel, from constraints.txt."""
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if version and normal(name) in map(normal, DOWNLOADED + BUILT_WITHOUT_CUDA):
            found[normal(name)] = f"{name.strip()}=={version.strip()}"
    missing = sorted(set(map(normal, DOWNLOADED + BUILT_WITHOUT_CUDA)) - set(found))
    if missing:
        raise SystemExit(f"constraints.txt pins no version of {', '.join(missing)}; pin them there first")
    return found


def device_packages() -> set[str]:
    """The distributions preinstalled on the GPU machine (device_packages.txt), in normal form."""
    lines = (line.split("#")[0] for line in DEVICE_PACKAGES_FILE.read_text().splitlines())
    return {normal(name) for line in lines for name in line.split()}
