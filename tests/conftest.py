"""Shared fixtures. `import zoo` first: it makes torchvision (and so lightning) importable on CPU torch."""

import zoo  # noqa: F401
import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread_per_worker(monkeypatch):
    """Tests run in parallel workers on 2 cores; one intra-op thread each avoids oversubscription."""
    torch.set_num_threads(1)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A private data cache for generated task data."""
    path = tmp_path / "data"
    monkeypatch.setenv("SEQZOO_DATA", str(path))
    return path
