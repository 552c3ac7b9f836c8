"""The task results pipeline: a run record's identity from its config's name, docs/results.md and .json rendered from
records (stand-ins named, published numbers beside ours, per-setting accuracy), and the committed docs up to date."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import results_doc, results_sweeps
from benchmarks.task_runs import identify


@pytest.mark.parametrize(("path", "expected"), [
    ("lra/listops-mamba2-hybrid-cpu.yaml", ("listops", "mamba2-hybrid", "cpu")),
    ("lra/image-standin-gated-deltanet.yaml", ("image-standin", "gated-deltanet", "recipe")),
    ("synthetic/mqar-grid-mamba2.yaml", ("mqar-grid", "mamba2", "recipe")),
])
def test_identify_reads_recipe_family_and_setting(path, expected):
    identity = identify(Path(path))
    assert (identity["recipe"], identity["family"], identity["setting"]) == expected


def test_identify_refuses_other_files():
    with pytest.raises(SystemExit, match="not a generated experiment config"):
        identify(Path("mqar-hybrid.yaml"))


def _record(recipe: str, family: str, task: str, metrics: dict, stand_in: bool = False) -> dict:
    return {"experiment": f"lra-{recipe}-{family}-cpu", "recipe": recipe, "family": family, "setting": "cpu",
            "task": task, "task_description": f"{task} description", "stand_in": stand_in, "model": f"{family}-tiny",
            "parameters": 12345, "metrics": metrics, "train_seconds": 600.0, "train_steps": 1200, "batch_size": 32,
            "command": f"zoo train configs/experiments/lra/{recipe}-{family}-cpu.yaml",
            "run_date": "2026-12-03T00:00:00+00:00"}


def test_docs_are_rendered_from_records(tmp_path, monkeypatch):
    records = [_record("listops", "mamba", "lra-listops", {"test/acc": 0.375, "test/loss": 1.5, "val/acc": 0.4}),
               _record("image-standin", "xlstm", "lra-image-standin", {"test/acc": 0.8}, stand_in=True)]
    for record in records:
        (tmp_path / f"{record['experiment']}.json").write_text(json.dumps(record))
    monkeypatch.setattr(results_doc, "RECORDS", tmp_path)
    monkeypatch.setattr(results_doc, "DOCS", tmp_path / "docs")
    outputs = results_doc.outputs()
    rows = json.loads(outputs[tmp_path / "docs" / "results.json"])
    assert [(r["task"], r["metric"], r["value"]) for r in rows] == [
        ("lra-image-standin", "test/acc", 0.8), ("lra-listops", "test/acc", 0.375), ("lra-listops", "test/loss", 1.5)]
    assert {"task", "setting", "family", "metric", "value", "command", "run_date"} <= set(rows[0])
    page = outputs[tmp_path / "docs" / "results.md"]
    assert "### image-standin (STAND-IN)" in page and "not comparable" in page
    assert ("| mamba | cpu | mamba-tiny | 12,345 | 37.50 | 10 min | 1,200 x 32 | "
            "`zoo train configs/experiments/lra/listops-mamba-cpu.yaml` |") in page
    assert "Data of the `cpu` runs: a CPU-scale ListOps" in page, "each task says how its data was made"
    assert "| S4 (Gu et al., 2022; the repo's final runs) | 59.50 |" in page
    assert "| Transformer (LRA paper, Tay et al., 2021) | 42.44 |" in page, "the image stand-in shows LRA Image's"
    assert results_doc.main(["--check"]) == 1, "nothing written yet"
    assert results_doc.main([]) == 0 and results_doc.main(["--check"]) == 0


def test_per_setting_accuracy_is_tabulated(tmp_path, monkeypatch):
    record = _record("mqar-grid", "based", "mqar-grid", {"test/acc": 0.5, "test/T64-kv4/acc": 0.9,
                                                         "test/T256-kv32/acc": 0.1})
    (tmp_path / "r.json").write_text(json.dumps(record))
    monkeypatch.setattr(results_doc, "RECORDS", tmp_path)
    page = results_doc.markdown(results_doc.load_records())
    assert "| family | T256-kv32 | T64-kv4 |" in page and "| based | 10.0 | 90.0 |" in page


def test_committed_docs_match_the_records(capsys):
    assert results_doc.main(["--check"]) == 0, capsys.readouterr().out


def test_every_grid_names_existing_generated_configs():
    from benchmarks.task_runs import CONFIGS, GRIDS

    for grid, names in GRIDS.items():
        for name in names:
            assert (CONFIGS / name).is_file(), f"{grid}: {name}"
            identify(CONFIGS / name)


def test_state_size_sweep_joins_page_and_rows(tmp_path, monkeypatch):
    docs, record = tmp_path / "docs", tmp_path / "sweep.json"
    docs.mkdir()
    (docs / results_sweeps.STATE_SIZE_PLOT).write_bytes(b"\x89PNG")
    point = {"family": "mamba", "preset": "mamba-tiny", "d_model": 32, "parameters": 5000, "state_bytes": 12288,
             "test_acc": 0.625, "train_seconds": 75.0, "command": "zoo train sweep.yaml model.name=mamba-tiny"}
    record.write_text(json.dumps({"command": "python -m benchmarks.mqar_state_size", "run_date": "2026-12-03",
                                  "setting": "MQAR length 64", "points": [point]}))
    monkeypatch.setattr(results_doc, "RECORDS", tmp_path / "none")
    monkeypatch.setattr(results_doc, "DOCS", docs)
    monkeypatch.setattr(results_sweeps, "STATE_SIZE_RECORD", record)
    outputs = results_doc.outputs()
    (row,) = json.loads(outputs[docs / "results.json"])
    assert (row["task"], row["setting"], row["family"], row["value"], row["state_bytes"]) == (
        "mqar", "state-size-d32", "mamba", 0.625, 12288)
    page = outputs[docs / "results.md"]
    assert "MQAR length 64." in page and "| mamba | mamba-tiny | 32 | 5,000 | 12,288 | 62.5 | 75 s |" in page


def test_genome_context_sweep_joins_page_and_rows(tmp_path, monkeypatch):
    docs, record = tmp_path / "docs", tmp_path / "context.json"
    docs.mkdir()
    (docs / results_sweeps.GENOME_CONTEXT_PLOT).write_bytes(b"\x89PNG")
    points = [{"family": "mamba", "window": window, "model": "mamba-tiny", "test_bpb": bpb, "val_bpb": bpb,
               "train_seconds": 200.0, "command": f"zoo train bacteria-lm-mamba-cpu.yaml task.window={window}"}
              for window, bpb in ((256, 1.95), (1024, 1.91))]
    record.write_text(json.dumps({"command": "python -m benchmarks.genome_context", "run_date": "2026-12-03",
                                  "setting": "bacteria-lm, 4 held-out strains", "points": points}))
    monkeypatch.setattr(results_doc, "RECORDS", tmp_path / "none")
    monkeypatch.setattr(results_doc, "DOCS", docs)
    monkeypatch.setattr(results_sweeps, "GENOME_CONTEXT_RECORD", record)
    outputs = results_doc.outputs()
    rows = json.loads(outputs[docs / "results.json"])
    assert [(r["setting"], r["metric"], r["value"]) for r in rows] == [("context-256", "test/bpt", 1.95),
                                                                      ("context-1024", "test/bpt", 1.91)]
    page = outputs[docs / "results.md"]
    assert "| family | 256 bases | 1,024 bases |" in page and "| mamba | 1.950 (3 min) | 1.910 (3 min) |" in page
    assert f"![Genome bits per base versus context length]({results_sweeps.GENOME_CONTEXT_PLOT})" in page


def test_forecasting_runs_are_tabulated_per_horizon_with_their_average(tmp_path, monkeypatch):
    horizons = {96: (0.40, 0.42), 192: (0.44, 0.43), 336: (0.48, 0.45), 720: (0.52, 0.50)}
    for horizon, (mse, mae) in horizons.items():
        record = _record(f"etth1-{horizon}", "mamba", "ett", {"test/mse": mse, "test/mae": mae, "val/mse": 0.3})
        record["task_description"] = "ETT ETTh1 forecasting, Time-Series-Library protocol, features M, 96 steps -> 96"
        (tmp_path / f"{horizon}.json").write_text(json.dumps(record))
    partial = _record("etth1-96", "xlstm", "ett", {"test/mse": 0.39, "test/mae": 0.41})
    partial["task_description"] = "ETT ETTh1 forecasting, features M"
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    monkeypatch.setattr(results_doc, "RECORDS", tmp_path)
    records = results_doc.load_records()
    page = results_doc.markdown(records)
    assert "### etth1 (forecasting)" in page and "### etth1-96" not in page
    assert "| mamba | cpu | 0.400 / 0.420 | 0.440 / 0.430 | 0.480 / 0.450 | 0.520 / 0.500 | 0.460 / 0.450 |" in page
    assert "| xlstm | cpu | 0.390 / 0.410 | - | - | - | - |" in page, "no average without all four horizons"
    assert "| iTransformer (Liu et al., 2024) | 0.454 | 0.447 |" in page
    rows = results_doc.rows(records)
    assert {(r["recipe"], r["metric"]) for r in rows if r["family"] == "mamba"} >= {("etth1-720", "test/mse"),
                                                                                    ("etth1-720", "test/mae")}
