"""The MQAR accuracy-versus-state-size sweep on a tiny setting: each point trains, measures its decoding state and
merges into the record as it finishes (replacing only its own family and width), and the plot is drawn."""

from __future__ import annotations

import json

import pytest

from benchmarks import mqar_state_size

TINY = """name: tiny-sweep
seed: {seed}
output_dir: {runs}
model: {{name: attention-tiny}}
task: {{name: mqar, seq_len: 32, num_kv_pairs: 4, vocab_size: 64, num_train: 64, num_val: 16, num_test: 16,
        batch_size: 16, data_dir: {data}}}
optim: {{lr: 3.0e-3}}
trainer: {{max_epochs: 1}}
"""


@pytest.mark.slow
def test_points_merge_into_the_record_and_plot(tmp_path, seed):
    config, record, picture = tmp_path / "tiny-sweep.yaml", tmp_path / "sweep.json", tmp_path / "sweep.png"
    config.write_text(TINY.format(seed=seed % 1000, runs=tmp_path / "runs", data=tmp_path / "data"))
    files = ["--config", str(config), "--record", str(record), "--plot", str(picture)]

    assert mqar_state_size.main(["--families", "attention", "mamba", "--widths", "32", *files]) == 0
    sweep = json.loads(record.read_text())
    assert sweep["setting"] == "MQAR length 32, 4 pairs, vocabulary 64, 64 training examples, at most 1 epochs"
    assert [(p["family"], p["d_model"]) for p in sweep["points"]] == [("attention", 32), ("mamba", 32)]
    by_family = {p["family"]: p for p in sweep["points"]}
    for point in by_family.values():
        assert 0 <= point["test_acc"] <= 1 and point["parameters"] > 0 and point["state_bytes"] > 0
        assert point["command"].startswith(f"zoo train {config} model.name=")
    # attention keeps keys and values of all 32 steps (more than Mamba's fixed state at this width)
    assert by_family["attention"]["state_bytes"] > by_family["mamba"]["state_bytes"]
    assert picture.read_bytes().startswith(b"\x89PNG")
    picture.unlink()
    assert mqar_state_size.main(["--redraw", *files]) == 0 and picture.read_bytes().startswith(b"\x89PNG")
    assert json.loads(record.read_text()) == sweep, "redrawing trains nothing and leaves the record"

    assert mqar_state_size.main(["--families", "mamba", "--widths", "32", *files]) == 0
    again = json.loads(record.read_text())
    assert [p["family"] for p in again["points"]] == ["attention", "mamba"], "the other family's point is kept"
    assert again["points"][0] == sweep["points"][0]

    config.write_text(config.read_text().replace("num_kv_pairs: 4", "num_kv_pairs: 2"))
    assert mqar_state_size.main(["--families", "mamba", "--widths", "32", *files]) == 0
    other = json.loads(record.read_text())
    assert [p["family"] for p in other["points"]] == ["mamba"], "points of another setting are dropped"
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file is left behind"
