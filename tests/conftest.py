"""Shared fixtures. `import zoo` first: it makes torchvision (and so lightning) importable on CPU torch.

Without a GPU, Triton kernels (ours and the upstream oracles in tests/peers) run only under the Triton
interpreter, which `@triton.jit` picks when TRITON_INTERPRET=1 is in the environment at the time a kernel
is defined. Collection imports every test module into each worker before any test runs, so it is set here,
before anything can import a kernel module; an explicit TRITON_INTERPRET in the environment wins.
"""

import os

import torch  # importing torch does not import triton

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import zoo  # noqa: E402,F401
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _single_thread_per_worker(monkeypatch):
    """Tests run in parallel workers on 2 cores; one intra-op thread each avoids oversubscription."""
    torch.set_num_threads(1)


@pytest.fixture
def seed() -> int:
    """Reseed torch from a fresh random seed (or `SEQZOO_SEED`, to replay a failure) and return it;
    tests name it in every failure message."""
    value = int(os.environ.get("SEQZOO_SEED", torch.seed()))
    torch.manual_seed(value)
    return value


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A private data cache for generated task data."""
    path = tmp_path / "data"
    monkeypatch.setenv("SEQZOO_DATA", str(path))
    return path
