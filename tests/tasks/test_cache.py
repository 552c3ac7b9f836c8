"""The verified cache of generated tensors: intact entries are reused, damaged or mismatched ones rebuilt with a
warning, and no temporary file is left behind."""

from __future__ import annotations

import json

import pytest
import torch
from zoo.tasks.cache import CachedTensors


def _entry(tmp_path, **fields) -> CachedTensors:
    return CachedTensors(tmp_path / "task", {"size": 5, **fields})


def _build(seed: int):
    def build():
        return {"train": {"x": torch.randint(0, 100, (5, 3), generator=torch.Generator().manual_seed(seed))}}
    return build


def test_an_intact_entry_is_reused(tmp_path, seed):
    entry = _entry(tmp_path)
    first = entry.load_or_build(_build(seed))
    calls = []
    again = _entry(tmp_path).load_or_build(lambda: calls.append(1) or _build(seed + 1)())
    assert not calls and torch.equal(again["train"]["x"], first["train"]["x"])
    manifest = json.loads(entry.manifest.read_text())
    assert manifest["fields"] == {"size": 5} and manifest["size"] == entry.path.stat().st_size
    assert _entry(tmp_path, size=6).path != entry.path, "other fields, another entry"


@pytest.mark.parametrize("damage", ["truncate", "flip", "no manifest", "other fields", "check fails"])
def test_a_damaged_entry_is_rebuilt_with_a_warning(tmp_path, seed, damage):
    entry = _entry(tmp_path)
    entry.load_or_build(_build(seed))
    check = None
    if damage == "truncate":
        entry.path.write_bytes(entry.path.read_bytes()[:-7])
    elif damage == "flip":
        data = bytearray(entry.path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        entry.path.write_bytes(bytes(data))
    elif damage == "no manifest":
        entry.manifest.unlink()
    elif damage == "other fields":
        manifest = json.loads(entry.manifest.read_text())
        entry.manifest.write_text(json.dumps({**manifest, "fields": {"size": 4}}))
    else:
        def check(tensors):
            raise ValueError("shape differs")
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = entry.load_or_build(_build(seed + 1), check)
    assert torch.equal(rebuilt["train"]["x"], _build(seed + 1)()["train"]["x"])
    assert sorted(p.name for p in entry.path.parent.iterdir()) == sorted([entry.path.name, entry.manifest.name])
    if damage != "check fails":
        assert torch.equal(entry.load()["train"]["x"], rebuilt["train"]["x"]), "the rebuilt entry verifies"


def test_a_failed_build_leaves_nothing(tmp_path):
    def build():
        raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError, match="interrupted"):
        _entry(tmp_path).load_or_build(build)
    assert not (tmp_path / "task").exists() or not list((tmp_path / "task").iterdir())
