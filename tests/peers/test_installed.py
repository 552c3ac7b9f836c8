"""The peers extra is installed at the versions pinned in constraints.txt, and each peer imports;
install.sh installs exactly the peers extra.

The parity tests and their shims were written against these versions; a different version is a
different oracle, so it fails here rather than somewhere deep inside a shim.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

import pytest

from .oracles import missing, require

pytestmark = pytest.mark.peers

# distribution -> the module to import, or None where the import needs the CUDA build (causal_conv1d
# imports its compiled extension at the top of the package; mamba_ssm only runs without it).
PEERS = {
    "flash-linear-attention": "fla",
    "mlstm-kernels": "mlstm_kernels",
    "xlstm": "xlstm",
    "mamba-ssm": "mamba_ssm",
    "causal-conv1d": None,
}


def pinned_version(root, distribution: str) -> str:
    normal = re.sub(r"[-_.]+", "-", distribution).lower()
    for line in (root / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if version and re.sub(r"[-_.]+", "-", name.strip()).lower() == normal:
            return version.strip()
    raise AssertionError(f"{distribution} has no pin in constraints.txt")


@pytest.mark.parametrize("distribution", PEERS)
def test_peer_is_installed_at_its_pin(distribution, request):
    try:
        installed = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        missing(f"peer {distribution} is not installed; ./install.sh installs the peers")
    assert installed == pinned_version(request.config.rootpath, distribution), (
        f"{distribution} {installed} is installed, constraints.txt pins another version: rerun ./install.sh"
    )
    if PEERS[distribution] is not None:
        require(PEERS[distribution])


def test_install_script_installs_exactly_the_peers_extra(request):
    """install.sh installs the peers itself (two of them without their CUDA-only dependencies), from two
    lists that must name the same distributions as the peers extra in pyproject.toml and PEERS above."""
    root = request.config.rootpath
    extra = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]["peers"]
    in_pyproject = {re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0] for requirement in extra}
    script = (root / "install.sh").read_text()
    in_script = set()
    for array in ("peers_pip", "peers_nodeps"):
        found = re.search(rf"^{array}=\(([^)]*)\)", script, re.MULTILINE)
        assert found, f"install.sh defines no {array}=(...)"
        in_script |= set(found.group(1).split())
    assert in_script == in_pyproject == set(PEERS)
