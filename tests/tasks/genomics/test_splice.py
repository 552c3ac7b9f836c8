"""The splice task on DNA.rda written in mlbench's format (R data, 180 indicator factors and the class): bases decoded
by StatLog's code (A 100, C 010, G 001, T 000), a stratified split of StatLog's sizes that never shares a sequence,
and a file that is no R data or holds a code that is no base named with row and columns. When this machine has the
real r-cran-mlbench, its decoding is also checked (759 of 767 donors carry GT at bases 31-32)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from files_genomics import write_splice_rda
from zoo.tasks import DataError, get_task
from zoo.tasks.genomics.nucleotides import G, T, decode
from zoo.tasks.genomics.splice import CLASSES, TEST_SIZE, data_file, read_splice, stratified_split

USER_DATA = Path(os.environ.get("SEQZOO_DATA") or "~/.cache/seqzoo").expanduser()  # read before any test changes it


def test_bases_and_classes_decode(tmp_path, seed):
    path, sequences, classes = write_splice_rda(tmp_path, seed, counts=(5, 4, 7))
    bases, labels = read_splice(path)
    assert bases.shape == (16, 60) and [decode(row) for row in bases] == sequences
    assert [CLASSES[label] for label in labels.tolist()] == classes


def test_stratified_split_has_statlog_sizes(seed):
    classes = torch.tensor([0] * 767 + [1] * 765 + [2] * 1654)[torch.randperm(3186)]
    splits = stratified_split(classes, seed % 1000)
    assert len(splits["test"]) == TEST_SIZE and len(splits["train"]) + len(splits["val"]) == 2000
    every = torch.cat(list(splits.values()))
    assert len(every.unique()) == 3186  # each sequence in exactly one split
    shares = torch.bincount(classes[splits["test"]], minlength=3) / TEST_SIZE
    assert torch.allclose(shares, torch.bincount(classes, minlength=3) / 3186, atol=1e-3)
    assert torch.equal(stratified_split(classes, seed % 1000)["test"], splits["test"])  # the seed fixes it


def test_the_task_reads_a_data_dir(tmp_path, seed):
    path, _, _ = write_splice_rda(tmp_path, seed, counts=(50, 50, 100))
    config_cls, datamodule_cls = get_task("splice")
    task = datamodule_cls(config_cls(data_dir=str(tmp_path), batch_size=16))
    task.setup()
    assert task.io.labels == CLASSES and task.io.vocab_size == 9
    assert (len(task.datasets["test"]), len(task.datasets["train"]) + len(task.datasets["val"])) == (74, 126)
    batch = next(iter(task.train_dataloader()))
    assert batch["inputs"].shape == (16, 60) and batch["targets"].shape == (16,)


def test_bad_files_are_named(tmp_path, seed):
    path, _, _ = write_splice_rda(tmp_path, seed, counts=(3, 3, 3), bad=(4, 7))
    with pytest.raises(DataError, match=r"DNA.rda: row 5, base 8 \(columns V22-V24\) holds \[1, 1, 1\]"):
        read_splice(path)
    garbage = tmp_path / "garbage" / "DNA.rda"
    garbage.parent.mkdir()
    garbage.write_bytes(b"RDX3\nnot really R data")
    with pytest.raises(DataError, match=r"garbage/DNA.rda is not an R data file holding the data frame DNA"):
        read_splice(garbage)
    with pytest.raises(DataError, match=r"not found: .*missing.rda; run `zoo data prepare genomics/splice`"):
        read_splice(tmp_path / "missing.rda")


def test_the_real_data_decodes_as_statlog_says(monkeypatch):
    monkeypatch.setenv("SEQZOO_DATA", str(USER_DATA))  # the user's data dir, not the test's private one
    try:
        path = data_file(fetch=False)
    except DataError:
        pytest.skip("r-cran-mlbench is not on this machine (`zoo data prepare genomics/splice`)")
    bases, classes = read_splice(path)
    assert bases.shape == (3186, 60) and torch.bincount(classes).tolist() == [767, 765, 1654]
    donors = bases[classes == 0]
    assert int(((donors[:, 30] == G) & (donors[:, 31] == T)).sum()) == 759
