"""The kernel benchmark harness: records with their spread, JSON, plot, and measurements that respond to the work."""

import json
from types import SimpleNamespace

import pytest
import torch
from rich.console import Console

from benchmarks import kernels
from benchmarks.harness.measure import measure
from benchmarks.kernel_suite.case import Case, Shape
from benchmarks.kernel_suite.cases import kernel_cases
from benchmarks.harness.arguments import RESULTS
from benchmarks.kernel_suite.report import figure, print_table
from benchmarks.kernel_suite import runner
from benchmarks.kernel_suite.runner import run_cases

TINY = ["--device", "cpu", "--heads", "1", "--head-dim", "8", "--min-seconds", "0"]


def test_measure_sees_time_and_memory_grow_with_the_work():
    small = measure(lambda: torch.ones(64, 64).sum(), torch.device("cpu"), min_seconds=0.0)
    big = measure(lambda: (torch.ones(2048, 2048) @ torch.ones(2048, 256)).sum(), torch.device("cpu"), min_seconds=0.0)
    assert big.record()["ms"] > small.record()["ms"]
    assert big.peak_bytes >= 2048 * 2048 * 4 > small.peak_bytes


def test_measure_keeps_the_warm_up_and_every_timed_call():
    calls = []
    result = measure(lambda: calls.append(1), torch.device("cpu"), warmup=2, min_repeats=5, max_repeats=5,
                     min_seconds=0.0, peak_memory=False)
    assert len(calls) == 2 + 5 and result.warmup == 2 and result.repeats == 5
    record = result.record()
    assert record["ms_min"] <= record["ms"] <= record["ms_max"] and record["first_call_ms"] > 0
    assert record["repeats"] == 5 and record["warmup"] == 2
    # a caller that made the first call itself: it counts as a warm-up call, and its time is the first call's
    result = measure(lambda: calls.append(1), torch.device("cpu"), warmup=0, min_repeats=1, min_seconds=0.0,
                     peak_memory=False, first_call_ms=123.0)
    assert result.warmup == 1 and result.record()["first_call_ms"] == 123.0


def test_run_cases_times_available_cases_and_explains_skipped_ones():
    cases = [c for c in kernel_cases() if c.op == "short_conv"]
    records = run_cases(cases, [32, 64], torch.device("cpu"), torch.float32, Shape(heads=2, head_dim=8), min_seconds=0.0)
    ran = {(r["impl"], r["T"]) for r in records if "ms" in r}
    assert {("seqzoo:torch", 32), ("seqzoo:torch", 64), ("seqzoo:reference", 64)} <= ran
    skipped = [r for r in records if "skipped" in r]
    assert {r["impl"] for r in skipped} == {"causal_conv1d", "seqzoo:triton"}
    assert all(r["skipped"] == "needs CUDA" for r in skipped)
    for r in records:
        if "ms" in r:
            assert 0 < r["ms_min"] <= r["ms"] <= r["ms_max"] and r["warmup"] == 2 and r["repeats"] >= 3
            assert r["first_call_ms"] > 0
    # loops over time are timed without the (costly) memory profile; the torch form gets one
    assert all((r["peak_mib"] is None) == (r["impl"] == "seqzoo:reference") for r in records if "ms" in r)
    assert all(r["peak_mib"] > 0 for r in records if r["impl"] == "seqzoo:torch")


def test_a_failing_peer_is_recorded_and_a_failing_form_of_ours_raises():
    def broken(T, s, device, dtype):
        raise RuntimeError("no kernel for this\nsecond line")

    peer = Case("scan", "peer:broken", broken, upstream=True)
    (record,) = run_cases([peer], [16], torch.device("cpu"), torch.float32, Shape(heads=1, head_dim=8), 0.0)
    assert record["skipped"] == "failed (RuntimeError: no kernel for this)"
    with pytest.raises(RuntimeError, match="no kernel"):
        run_cases([Case("scan", "seqzoo:broken", broken)], [16], torch.device("cpu"), torch.float32,
                  Shape(heads=1, head_dim=8), 0.0)


def test_benchmark_writes_json_and_plot_with_the_spread(tmp_path):
    argv = [*TINY, "--ops", "scan", "--impls", "seqzoo:torch", "--lengths", "16", "32", "--out", str(tmp_path)]
    kernels.main(argv)
    (json_path,) = tmp_path.glob("kernels-*.json")
    payload = json.loads(json_path.read_text())
    assert payload["machine"]["device"] == "cpu" and payload["machine"]["cpu"]
    assert [(r["impl"], r["T"]) for r in payload["results"]] == [("seqzoo:torch", 16), ("seqzoo:torch", 32)]
    assert all({"ms", "ms_min", "ms_max", "repeats", "warmup", "first_call_ms"} <= set(r) for r in payload["results"])
    assert payload["grid"] == {"cases": [["scan", "seqzoo:torch"]], "lengths": [16, 32],
                               "shape": {"batch": 1, "heads": 1, "head_dim": 8, "d_state": 16}}
    assert json_path.with_suffix(".png").stat().st_size > 0


def test_benchmark_refuses_an_empty_selection_and_names_the_choices(tmp_path):
    with pytest.raises(SystemExit, match="no benchmark case matches .* ops: attention_bigbird, "):
        kernels.main([*TINY, "--ops", "nothing", "--out", str(tmp_path)])


def test_tag_names_the_result_files(tmp_path):
    argv = [*TINY, "--ops", "attention_window", "--impls", "seqzoo:reference", "--lengths", "16", "--out",
            str(tmp_path), "--tag", "attention"]
    kernels.main(argv)
    (json_path,) = tmp_path.glob("kernels-*-attention.json")
    assert [(r["op"], r["T"]) for r in json.loads(json_path.read_text())["results"]] == [("attention_window", 16)]


def test_cpu_only_length_caps_apply_on_the_cpu_alone():
    (case,) = [c for c in kernel_cases() if c.op == "attention_window" and c.impl == "torch:sdpa"]
    records = run_cases([case], [16, 16384], torch.device("cpu"), torch.float32, Shape(heads=1, head_dim=8), 0.0)
    assert [r["T"] for r in records] == [16]
    assert case.longest(torch.device("cuda")) is None


def test_the_table_shows_the_spread_and_reads_results_from_before_it_was_kept(capsys):
    new = {"op": "scan", "impl": "seqzoo:torch", "T": 256, "ms": 2.5, "ms_min": 2.25, "ms_max": 3.75, "repeats": 9,
           "warmup": 2, "first_call_ms": 41.5, "peak_mib": 3.8}
    old = {"op": "scan", "impl": "seqzoo:reference", "T": 256, "ms": 5.0, "peak_mib": None, "repeats": 50}
    print_table([new, old], Console(width=200))
    rows = {line.split("│")[2].strip(): [cell.strip() for cell in line.split("│")[3:-1]]
            for line in capsys.readouterr().out.splitlines() if line.count("│") > 8 and "scan" in line}
    assert rows["seqzoo:torch"] == ["256", "2.50", "2.25-3.75", "2+9", "41.5", "3.8", "1.00"]
    assert rows["seqzoo:reference"] == ["256", "5.00", "-", "50", "-", "-", "2.00"]


def test_a_time_budget_skips_what_has_not_started_and_keeps_every_op_at_short_lengths(monkeypatch):
    """A clock that advances a second at each look: the budget of 2.5 s lets two measurements start."""
    clock = iter(range(1000))
    monkeypatch.setattr(runner, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    cases = [c for c in kernel_cases() if c.impl == "seqzoo:torch" and c.op in ("scan", "short_conv")]
    records = run_cases(cases, [64, 16], torch.device("cpu"), torch.float32, Shape(heads=1, head_dim=8), 0.0,
                        budget_seconds=2.5)
    # shortest length first, every op at it before the next length; records in the order of the cases, then T
    assert [(r["op"], r["T"], r.get("skipped")) for r in records] == [
        ("scan", 16, None), ("scan", 64, "time budget of 2.5 s spent"),
        ("short_conv", 16, None), ("short_conv", 64, "time budget of 2.5 s spent")]


def test_the_committed_results_from_before_the_spread_still_draw_and_print(capsys):
    payload = json.loads((RESULTS / "kernels-cpu2-float32-delta-slstm.json").read_text())
    assert not any("ms_min" in r for r in payload["results"])  # written before spreads were kept
    drawing = figure(payload["results"], "old results")
    assert len(drawing.axes) == 2 * len({r["op"] for r in payload["results"]})
    print_table(payload["results"], Console(width=200))
    printed = capsys.readouterr().out
    assert "delta_rule" in printed and "slstm" in printed


def test_skipped_implementations_are_left_out_and_unknown_ones_refused(tmp_path):
    argv = [*TINY, "--ops", "short_conv", "--lengths", "16", "--out", str(tmp_path), "--tag", "skip"]
    kernels.main([*argv, "--skip-impls", "seqzoo:reference", "seqzoo:triton", "causal_conv1d"])
    (json_path,) = tmp_path.glob("kernels-*-skip.json")
    assert [r["impl"] for r in json.loads(json_path.read_text())["results"]] == ["seqzoo:torch"]
    with pytest.raises(SystemExit, match=r"--skip-impls names no implementation \['seqzoo:nothing'\]"):
        kernels.main([*argv, "--skip-impls", "seqzoo:nothing"])
