"""Genomics tests cache decoded genomes under the data dir: point it at a fresh folder for each test."""

import pytest


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQZOO_DATA", str(tmp_path / "seqzoo-data"))
