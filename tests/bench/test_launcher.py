"""`zoo bench kernels|models`: a thin launcher of the checkout's benchmarks, which the library never imports."""

import json
import re
import subprocess
import sys
from pathlib import Path

import zoo.cli
from zoo.cli import main

ROOT = Path(__file__).resolve().parents[2]
IMPORTS_BENCHMARKS = re.compile(r"^\s*(from|import)\s+benchmarks\b", re.MULTILINE)


def test_the_library_does_not_import_the_benchmarks():
    probe = "import sys, zoo.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'benchmarks'))"
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd="/", check=True)
    assert shown.stdout.strip() == "[]"
    for folder in ("zoo", "models", "kernels", "tasks"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not IMPORTS_BENCHMARKS.search(path.read_text()), path


def test_zoo_bench_runs_the_benchmark_with_its_own_options(tmp_path, capfd):
    argv = ["bench", "kernels", "--device", "cpu", "--ops", "scan", "--impls", "seqzoo:torch", "--lengths", "16",
            "--heads", "1", "--head-dim", "8", "--min-seconds", "0", "--out", str(tmp_path), "--tag", "launched"]
    assert main(argv) == 0
    (json_path,) = tmp_path.glob("kernels-*-launched.json")
    assert [(r["op"], r["T"]) for r in json.loads(json_path.read_text())["results"]] == [("scan", 16)]
    assert main(["bench", "models", "--help"]) == 0
    assert "--families" in capfd.readouterr().out


def test_zoo_bench_without_the_source_checkout_says_where_to_get_it(tmp_path, monkeypatch, capsys):
    installed = tmp_path / "site-packages" / "zoo"
    installed.mkdir(parents=True)
    monkeypatch.setattr(zoo.cli, "__file__", str(installed / "cli.py"))
    assert main(["bench", "kernels", "--ops", "scan"]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "not part of the installed package" in error and "seqzoo source repository" in error
    assert "python -m benchmarks.kernels" in error
