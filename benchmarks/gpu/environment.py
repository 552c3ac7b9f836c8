"""What the GPU check runs on: the machine, the versions that matter, and which peers load there (or why not).

    python -m benchmarks.gpu.environment OUT.json

Written by benchmarks/gpu/check.sh before the tests and the benchmark, so that a peer missing from both is
explained once. Peers the check does not carry (`wheel_set.NOT_CARRIED`) are reported with that reason.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmarks.gpu.wheel_set import BUILT_WITHOUT_CUDA, DOWNLOADED, NOT_CARRIED
from benchmarks.harness.machine import describe_machine
from benchmarks.upstream import stand_in, try_load

# label -> the module that must load for the peer to run
PEERS = {
    "fla kernels (simple GLA, GLA, delta rules)": "fla.ops.simple_gla",
    "fla models (DeltaNet, Gated DeltaNet)": "fla.models",
    "mamba_ssm Triton SSD (mamba_chunk_scan_combined)": "mamba_ssm.ops.triton.ssd_combined",
    "mamba_ssm CUDA selective scan (selective_scan_fn)": "mamba_ssm.ops.selective_scan_interface",
    "causal_conv1d CUDA kernels": "causal_conv1d",
    "mlstm_kernels (chunkwise Triton)": "mlstm_kernels.torch",
    "xlstm (sLSTM CUDA cell, xLSTMLMModel)": "xlstm",
    "torch FlexAttention": "torch.nn.attention.flex_attention",
}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def peers() -> dict[str, dict]:
    """Each peer: `{"module", "available"}` and, where it is not, `"reason"`."""
    found = {}
    for label, module in PEERS.items():
        loaded, reason = try_load(module)
        if loaded is not None and module.endswith("selective_scan_interface") and stand_in("selective_scan_cuda"):
            loaded, reason = None, NOT_CARRIED["selective-scan-cuda"]
        elif loaded is None and module == "causal_conv1d":
            reason = NOT_CARRIED["causal-conv1d"]
        found[label] = {"module": module, "available": loaded is not None, **({"reason": reason} if reason else {})}
    return found


def describe() -> dict:
    import zoo  # the check's first question: does seqzoo import from the source tree here

    distributions = ("torch", "triton", "transformers", *DOWNLOADED, *BUILT_WITHOUT_CUDA, "causal-conv1d")
    return {
        "machine": describe_machine(torch.device("cuda" if torch.cuda.is_available() else "cpu")),
        "seqzoo": {"version": zoo.__version__, "path": str(Path(zoo.__file__).resolve().parent.parent)},
        "distributions": {name: _version(name) for name in distributions},
        "peers": peers(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu.environment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the JSON file to write")
    out = parser.parse_args(argv).out
    described = describe()
    out.write_text(json.dumps(described, indent=2) + "\n")
    table = Table(title=f"peers on {described['machine'].get('gpu', described['machine']['cpu'])}")
    for column in ("peer", "loads", "reason"):
        table.add_column(column, overflow="fold")
    for label, peer in described["peers"].items():
        table.add_row(label, "yes" if peer["available"] else "no", escape(peer.get("reason", "")))
    console = Console()
    console.print(table)
    console.print(", ".join(f"{name} {version or '-'}" for name, version in described["distributions"].items()))


if __name__ == "__main__":
    main()
