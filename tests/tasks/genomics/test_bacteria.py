"""The bacterial genome tasks on a ragout-style folder written by the test: strains read (FASTA.gz, several records)
and cached, whole strains held out for test and the last tenth of every other chromosome for validation,
`bacteria-lm` windows that predict the next base, `genome-species` windows labelled by species (balanced in
training), and every misnamed held-out strain or missing folder named in the error."""

from __future__ import annotations

import pytest
import torch
from files_genomics import GENOMES, HELD_OUT, write_genomes
from zoo.tasks import DataError, get_task
from zoo.tasks.genomics.nucleotides import decode, reverse_complement
from zoo.tasks.genomics.ragout import read_strains, strain_segments


def test_strains_are_read_and_cached(tmp_path, seed):
    folder, written = write_genomes(tmp_path / "genomes", seed)
    strains = read_strains(folder)
    assert {(s.species, s.strain): {name: decode(ids) for name, ids in s.records.items()} for s in strains} == written
    cached = list((tmp_path / "seqzoo-data" / "cache" / "genomics").glob("*.pt"))
    assert len(cached) == 1
    again = read_strains(folder)  # from the cache, the same tensors
    assert all(torch.equal(a.records[k], b.records[k]) for a, b in zip(strains, again) for k in a.records)


def test_whole_strains_held_out_and_the_last_tenth_validates(tmp_path, seed):
    folder, written = write_genomes(tmp_path / "genomes", seed)
    labels = {species: index for index, species in enumerate(GENOMES)}
    splits = strain_segments(read_strains(folder), HELD_OUT, 0.1, labels)
    assert sorted(s.name for s in splits["test"]) == sorted(
        f"{species}/{strain}/{record}" for (species, strain), records in written.items()
        if f"{species}/{strain}" in HELD_OUT for record in records)
    for train, val in zip(splits["train"], splits["val"]):
        species, strain, record = train.name.split("/")
        bases = written[species, strain][record]
        assert f"{species}/{strain}" not in HELD_OUT and train.label == val.label == labels[species]
        assert decode(train.ids) + decode(val.ids) == bases and len(val.ids) == len(bases) // 10


@pytest.mark.parametrize("test_strains, message", [
    (["Alpha/A9", "Beta/B1", "Gamma/C1"], r"\['Alpha/A9'\] are not among the genomes read"),
    (["Alpha/A1", "Beta/B1"], r"names no held-out strain for species \['Gamma'\]"),
    (["Alpha/A1", "Alpha/A2", "Beta/B1", "Gamma/C1"], r"every strain of species \['Alpha'\] is held out"),
    (["Alpha-A1"], r"\['Alpha-A1'\] is not a list of <Species>/<Strain> names"),
])
def test_misnamed_held_out_strains_are_named(tmp_path, seed, test_strains, message):
    folder, _ = write_genomes(tmp_path / "genomes", seed)
    config_cls, datamodule_cls = get_task("bacteria-lm")
    task = datamodule_cls(config_cls(data_dir=str(folder), window=64, test_strains=test_strains))
    with pytest.raises(DataError, match=message):
        task.setup()


def test_missing_and_single_species_folders_are_named(tmp_path, seed):
    config_cls, datamodule_cls = get_task("genome-species")
    with pytest.raises(DataError, match=r"no genome folder at .*nowhere; run `zoo data prepare genomics/ragout`"):
        datamodule_cls(config_cls(data_dir=str(tmp_path / "nowhere"))).setup()
    folder, _ = write_genomes(tmp_path / "genomes", seed)
    for species in ("Beta", "Gamma"):
        for path in (folder / species / "references").iterdir():
            path.unlink()
    with pytest.raises(DataError, match="holds genomes of 1 species"):
        datamodule_cls(config_cls(data_dir=str(folder))).setup()


def test_bacteria_lm_batches(tmp_path, seed):
    folder, written = write_genomes(tmp_path / "genomes", seed)
    config_cls, datamodule_cls = get_task("bacteria-lm")
    task = datamodule_cls(config_cls(data_dir=str(folder), window=128, train_windows=24, eval_windows=5,
                                     test_strains=HELD_OUT, batch_size=8))
    task.setup()
    assert task.io.outputs == "lm" and task.io.vocab_size == 9 and task.io.metrics[0] == "bits_per_token"
    assert (len(task.datasets["train"]), len(task.datasets["val"]), len(task.datasets["test"])) == (24, 5, 5)
    batch = next(iter(task.train_dataloader()))
    assert batch["inputs"].shape == batch["targets"].shape == (8, 128)
    held_out = "".join(bases for (species, strain), records in written.items() if f"{species}/{strain}" in HELD_OUT
                       for bases in records.values())
    for item in task.datasets["test"]:
        assert decode(torch.cat([item["inputs"][:1], item["targets"]])) in held_out
    # training sees no held-out base: no test window occurs in the training text, forwards or reverse-complemented
    training = [decode(s.ids) for s in task.datasets["train"].segments]
    for item in task.datasets["test"]:
        window = item["inputs"]
        assert not any(decode(window) in text or decode(reverse_complement(window)) in text for text in training)


def test_genome_species_batches_are_labelled_by_species(tmp_path, seed):
    folder, written = write_genomes(tmp_path / "genomes", seed)
    config_cls, datamodule_cls = get_task("genome-species")
    task = datamodule_cls(config_cls(data_dir=str(folder), window=100, train_windows=300, eval_windows=4,
                                     test_strains=HELD_OUT, batch_size=300, reverse_complement=False))
    task.setup()
    assert task.io.labels == tuple(sorted(GENOMES)) and task.io.outputs == "classifier"
    batch = next(iter(task.train_dataloader()))
    counts = torch.bincount(batch["targets"], minlength=3)
    assert counts.min() > 60  # 100 a class on average among 300 balanced draws (sd 8)
    for inputs, label in zip(batch["inputs"][:30], batch["targets"][:30]):
        species = task.io.labels[int(label)]
        assert any(decode(inputs) in bases for (name, _), records in written.items() if name == species
                   for bases in records.values())
    test_labels = [int(item["targets"]) for item in task.datasets["test"]]
    assert test_labels == [0] * 4 + [1] * 4 + [2] * 4
