"""The kernel benchmark harness: records, JSON, plot, and measurements that respond to the work done."""

import json

import pytest
import torch

from zoo.bench.case import Shape
from zoo.bench.kernel_cases import kernel_cases
from zoo.bench.measure import measure
from zoo.bench.runner import run_cases
from zoo.cli import main


def test_measure_sees_time_and_memory_grow_with_the_work():
    small = measure(lambda: torch.ones(64, 64).sum(), torch.device("cpu"), min_seconds=0.0)
    big = measure(lambda: (torch.ones(2048, 2048) @ torch.ones(2048, 256)).sum(), torch.device("cpu"), min_seconds=0.0)
    assert big.ms > small.ms
    assert big.peak_bytes >= 2048 * 2048 * 4 > small.peak_bytes


def test_run_cases_times_available_cases_and_explains_skipped_ones():
    cases = [c for c in kernel_cases() if c.op == "short_conv"]
    records = run_cases(cases, [32, 64], torch.device("cpu"), torch.float32, Shape(heads=2, head_dim=8), min_seconds=0.0)
    ran = {(r["impl"], r["T"]) for r in records if "ms" in r}
    assert {("seqzoo:torch", 32), ("seqzoo:torch", 64), ("seqzoo:reference", 64)} <= ran
    skipped = [r for r in records if "skipped" in r]
    assert {r["impl"] for r in skipped} == {"causal_conv1d", "seqzoo:triton"}
    assert all(r["skipped"] == "needs CUDA" for r in skipped)
    assert all(r["ms"] > 0 for r in records if "ms" in r)
    # loops over time are timed without the (costly) memory profile; the torch form gets one
    assert all((r["peak_mib"] is None) == (r["impl"] == "seqzoo:reference") for r in records if "ms" in r)
    assert all(r["peak_mib"] > 0 for r in records if r["impl"] == "seqzoo:torch")


def test_bench_command_writes_json_and_plot(tmp_path, capsys):
    argv = ["bench", "kernels", "--device", "cpu", "--ops", "scan", "--impls", "seqzoo:torch",
            "--lengths", "16", "32", "--heads", "2", "--head-dim", "8", "--min-seconds", "0", "--out", str(tmp_path)]
    assert main(argv) == 0
    (json_path,) = tmp_path.glob("kernels-*.json")
    payload = json.loads(json_path.read_text())
    assert payload["machine"]["device"] == "cpu" and payload["machine"]["cpu"]
    assert [(r["impl"], r["T"]) for r in payload["results"]] == [("seqzoo:torch", 16), ("seqzoo:torch", 32)]
    assert json_path.with_suffix(".png").stat().st_size > 0


def test_bench_command_refuses_an_empty_selection(tmp_path):
    with pytest.raises(SystemExit, match="no benchmark case matches"):
        main(["bench", "kernels", "--device", "cpu", "--ops", "nothing", "--out", str(tmp_path)])


def test_bench_tag_names_the_result_files(tmp_path):
    argv = ["bench", "kernels", "--device", "cpu", "--ops", "attention_window", "--impls", "seqzoo:reference",
            "--lengths", "16", "--heads", "1", "--head-dim", "8", "--min-seconds", "0", "--out", str(tmp_path),
            "--tag", "attention"]
    assert main(argv) == 0
    (json_path,) = tmp_path.glob("kernels-*-attention.json")
    assert [(r["op"], r["T"]) for r in json.loads(json_path.read_text())["results"]] == [("attention_window", 16)]


def test_cpu_only_length_caps_apply_on_the_cpu_alone():
    (case,) = [c for c in kernel_cases() if c.op == "attention_window" and c.impl == "torch:sdpa"]
    records = run_cases([case], [16, 16384], torch.device("cpu"), torch.float32, Shape(heads=1, head_dim=8), 0.0)
    assert [r["T"] for r in records] == [16]
    assert case.longest(torch.device("cuda")) is None
