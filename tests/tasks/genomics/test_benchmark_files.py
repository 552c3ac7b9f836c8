"""The GenomicBenchmarks and Nucleotide Transformer loaders on folders written in their formats: classes from the
class folders (or the header labels), a stratified validation share of train, padded batches with lengths, and bad
files (garbage bases, headers without a label, missing folders) named."""

from __future__ import annotations

import pytest
import torch
from files_genomics import write_genomic_benchmark, write_nt_downstream
from zoo.tasks import DataError, get_task


def task(name, folder, **fields):
    config_cls, datamodule_cls = get_task(name)
    return datamodule_cls(config_cls(data_dir=str(folder), **fields))


def test_genomic_benchmark_folders(tmp_path, seed):
    folder = write_genomic_benchmark(tmp_path / "human_nontata_promoters", seed,
                                     classes=("negative", "positive", "zzz"), per_class=(10, 3))
    data = task("genomic-benchmark", folder, batch_size=6)
    data.setup()
    assert data.io.labels == ("negative", "positive", "zzz") and data.io.num_outputs == 3
    assert [len(data.datasets[s]) for s in ("train", "val", "test")] == [27, 3, 9]
    batch = next(iter(data.train_dataloader()))
    lengths = batch["lengths"]
    assert batch["inputs"].shape == (6, int(lengths.max())) and (lengths >= 20).all()
    for row, length in zip(batch["inputs"], lengths):
        assert (row[length:] == 0).all() and (row[:length] >= 4).all()  # padding id 0 after the bases
    assert "human_nontata_promoters" in data.description


def test_nt_downstream_folders(tmp_path, seed):
    folder = write_nt_downstream(tmp_path / "H3K4me3", seed, counts=(30, 8), classes=3)
    data = task("nt-downstream", folder, batch_size=4)
    data.setup()
    assert data.io.labels == ("0", "1", "2")
    assert [len(data.datasets[s]) for s in ("train", "val", "test")] == [27, 3, 8]
    assert torch.bincount(torch.stack([item["targets"] for item in data.datasets["val"]])).tolist() == [1, 1, 1]


def test_bad_files_are_named(tmp_path, seed):
    folder = write_genomic_benchmark(tmp_path / "gb", seed)
    (folder / "train" / "positive" / "0.txt").write_text("ACGT#ACGT\n")
    with pytest.raises(DataError, match=r"positive/0.txt: '#' at position 4 is not a nucleotide"):
        task("genomic-benchmark", folder).setup()
    nt = write_nt_downstream(tmp_path / "nt", seed)
    (nt / "test.fna").write_text(">seq1 no label\nACGT\n")
    with pytest.raises(DataError, match=r"test.fna: record 'seq1' has no '\|<class id>'"):
        task("nt-downstream", nt).setup()
    with pytest.raises(DataError, match="is not a GenomicBenchmarks dataset"):
        task("genomic-benchmark", tmp_path / "nt").setup()
    config_cls, datamodule_cls = get_task("nt-downstream")
    with pytest.raises(DataError, match="set task.data_dir to the dataset's folder"):
        datamodule_cls(config_cls()).setup()
