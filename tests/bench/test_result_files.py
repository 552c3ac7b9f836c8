"""Result files: a partial run never replaces committed results; a full run replaces them whole; writes are atomic."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from benchmarks import kernels
from benchmarks.harness.machine import describe_machine, machine_label
from benchmarks.harness.results import write_results
from benchmarks.kernel_suite.cases import kernel_cases

COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "kernels-cpu2-float32.json"
TINY = ["--device", "cpu", "--heads", "1", "--head-dim", "8", "--min-seconds", "0"]


def _full_grid_name(tmp_path: Path) -> Path:
    """Where a full float32 CPU run on this machine writes its JSON, holding a copy of the committed results."""
    label = machine_label(describe_machine(torch.device("cpu")))
    target = tmp_path / f"kernels-{label}-float32.json"
    shutil.copy(COMMITTED, target)
    shutil.copy(COMMITTED.with_suffix(".png"), target.with_suffix(".png"))
    return target


def test_a_partial_run_gets_its_own_name_and_leaves_the_full_grids_files_alone(tmp_path):
    """The reported case: `zoo bench kernels --ops scan ssd --lengths 128 256` replaced the committed results."""
    full = _full_grid_name(tmp_path)
    before = full.read_bytes(), full.with_suffix(".png").read_bytes()
    argv = [*TINY, "--ops", "scan", "ssd", "--impls", "seqzoo:torch", "--lengths", "16", "32", "--out", str(tmp_path)]
    kernels.main(argv)
    assert (full.read_bytes(), full.with_suffix(".png").read_bytes()) == before
    partial = full.with_name(full.stem + "-partial.json")
    payload = json.loads(partial.read_text())
    assert payload["full_grid"] is False and len(payload["results"]) == 4
    assert partial.with_suffix(".png").is_file()

    kernels.main(argv)  # the same partial grid again: replaces its own files
    assert json.loads(partial.read_text())["measured"] >= payload["measured"]


def test_a_partial_run_of_another_grid_is_refused_before_it_runs_unless_told(tmp_path, monkeypatch):
    argv = [*TINY, "--ops", "scan", "--impls", "seqzoo:torch", "--lengths", "16", "--out", str(tmp_path)]
    kernels.main(argv)
    (partial,) = tmp_path.glob("kernels-*-partial.json")
    before = partial.read_bytes()
    monkeypatch.setattr(kernels, "run_cases", lambda *args: pytest.fail("ran before refusing"))
    with pytest.raises(SystemExit) as refused:
        kernels.main([*TINY, "--ops", "ssd", "--impls", "seqzoo:torch", "--lengths", "16", "--out", str(tmp_path)])
    message = str(refused.value)
    assert str(partial) in message and "cases: scan, seqzoo:torch" in message and "cases: ssd, seqzoo:torch" in message
    assert "--tag NAME" in message and "--overwrite" in message
    assert partial.read_bytes() == before
    monkeypatch.undo()
    kernels.main([*TINY, "--ops", "ssd", "--impls", "seqzoo:torch", "--lengths", "16", "--out", str(tmp_path),
                  "--overwrite"])
    assert [r["op"] for r in json.loads(partial.read_text())["results"]] == ["ssd"]


def test_a_partial_run_refuses_to_replace_results_that_record_no_grid(tmp_path):
    """Results written before grids were recorded (the committed ones) are kept unless --overwrite is given."""
    full = _full_grid_name(tmp_path)
    tagged = full.with_name(full.stem + "-scan.json")
    shutil.copy(full, tagged)
    with pytest.raises(SystemExit, match=r"holds 148 results of a grid it does not record"):
        kernels.main([*TINY, "--ops", "scan", "--impls", "seqzoo:torch", "--lengths", "16", "--out", str(tmp_path),
                      "--tag", "scan"])
    assert tagged.read_bytes() == full.read_bytes()


def test_a_full_grid_run_replaces_the_full_grids_files(tmp_path, monkeypatch):
    """With every case and the default lengths (made tiny here), a run is full: it takes the plain name and
    replaces what is there, whatever grid that held."""
    full = _full_grid_name(tmp_path)
    monkeypatch.setattr(kernels, "kernel_cases", lambda: [c for c in kernel_cases() if c.impl == "seqzoo:torch"][:2])
    monkeypatch.setattr(kernels, "CPU_LENGTHS", [16])
    kernels.main(["--device", "cpu", "--min-seconds", "0", "--out", str(tmp_path)])
    payload = json.loads(full.read_text())
    assert payload["full_grid"] is True and len(payload["results"]) == 2
    assert not list(tmp_path.glob("*-partial.json"))


def test_writing_is_atomic_a_failed_render_leaves_the_previous_files(tmp_path):
    target = tmp_path / "kernels-x-float32.json"
    write_results(target, {"results": [1]}, lambda: None)
    target.with_suffix(".png").write_bytes(b"old picture")

    def broken_figure():
        raise RuntimeError("matplotlib broke")

    with pytest.raises(RuntimeError, match="matplotlib broke"):
        write_results(target, {"results": [2]}, broken_figure)
    assert json.loads(target.read_text()) == {"results": [1]}
    assert target.with_suffix(".png").read_bytes() == b"old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kernels-x-float32.json", "kernels-x-float32.png"]
    write_results(target, {"results": [3]}, lambda: None)  # nothing ran: no picture, and no stale one
    assert json.loads(target.read_text()) == {"results": [3]} and not target.with_suffix(".png").exists()
