"""The genome bits-per-base-versus-context sweep on a tiny genome folder: every window gets the same token budget,
each point merges into the record as it finishes, and the plot is drawn (and redrawn from the record alone)."""

from __future__ import annotations

import gzip
import json

import pytest
import torch

from benchmarks import genome_context


def write_tiny_genomes(folder, seed: int) -> None:
    """Two species of two strains, 2,000 random bases each, as <Species>/references/<Strain>.fasta.gz."""
    generator = torch.Generator().manual_seed(seed)
    for species in ("Alpha", "Beta"):
        for strain in ("one", "two"):
            bases = "".join("ACGT"[i] for i in torch.randint(0, 4, (2000,), generator=generator).tolist())
            path = folder / species / "references" / f"{strain}.fasta.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(f">{strain}\n{bases}\n".encode()))


def test_budget_overrides_keep_tokens_fixed():
    assert genome_context.budget_overrides(256, 16_384, 1 << 22, 1 << 17) == [
        "task.window=256", "task.batch_size=64", "task.train_windows=16384", "task.eval_windows=512"]
    with pytest.raises(SystemExit, match="at least one window"):
        genome_context.budget_overrides(4096, 1024, 1 << 22, 1 << 17)


@pytest.mark.slow
def test_points_merge_into_the_record_and_plot(tmp_path, seed, monkeypatch):
    monkeypatch.setenv("SEQZOO_DATA", str(tmp_path / "data-home"))
    write_tiny_genomes(tmp_path / "genomes", seed)
    record, picture = tmp_path / "context.json", tmp_path / "context.png"
    common = ["--tokens-per-step", "128", "--train-tokens", "256", "--eval-tokens", "128", "--record", str(record),
              "--plot", str(picture), f"task.data_dir={tmp_path / 'genomes'}",
              "task.test_strains=[Alpha/one, Beta/one]", f"output_dir={tmp_path / 'runs'}", f"seed={seed % 1000}"]

    assert genome_context.main(["--families", "mamba", "attention", "--windows", "32", "64", *common]) == 0
    sweep = json.loads(record.read_text())
    assert [(p["family"], p["window"]) for p in sweep["points"]] == [("attention", 32), ("attention", 64),
                                                                     ("mamba", 32), ("mamba", 64)]
    for point in sweep["points"]:
        assert 0 < point["test_bpb"] < 10 and f"task.window={point['window']}" in point["command"]
        assert f"task.batch_size={128 // point['window']}" in point["command"]
    assert "128 tokens a step, 256 training tokens an epoch" in sweep["setting"]
    assert genome_context.main(["--families", "mamba", "--windows", "64", *common]) == 0  # replaces one point
    again = json.loads(record.read_text())
    assert len(again["points"]) == 4 and again["points"][:3] == sweep["points"][:3]
    picture.unlink()
    assert genome_context.main(["--redraw", "--record", str(record), "--plot", str(picture)]) == 0
    assert picture.read_bytes().startswith(b"\x89PNG")
