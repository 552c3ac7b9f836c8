"""chr22-lm on a MAF written in the alignment's format: the human rows joined in coordinate order (repeats
uppercased, other species ignored), cut into consecutive train / val / test coordinate ranges named by their
coordinates, and alignments the reader cannot use (minus strand, unsorted, no human row, two files) named."""

from __future__ import annotations

import pytest
from files_genomics import random_bases, write_chr22, write_maf
from zoo.tasks import DataError, get_task
from zoo.tasks.genomics.chr22 import coordinate, human_blocks
from zoo.tasks.genomics.nucleotides import decode


def task(folder, **fields):
    config_cls, datamodule_cls = get_task("chr22-lm")
    return datamodule_cls(config_cls(data_dir=str(folder), **fields))


def test_human_rows_join_in_coordinate_order(tmp_path, seed):
    path, human = write_chr22(tmp_path / "maf", seed, blocks=10, size=50)
    blocks = human_blocks(path)
    assert decode(blocks["ids"]) == human and blocks["sizes"].tolist() == [50] * 10
    assert coordinate(blocks, 0) == 1000 and coordinate(blocks, 49) == 1049
    assert coordinate(blocks, 50) == int(blocks["starts"][1])
    assert coordinate(blocks, 499) == int(blocks["starts"][9]) + 49


def test_coordinate_ranges_are_held_out_in_order(tmp_path, seed):
    path, human = write_chr22(tmp_path / "maf", seed, blocks=40, size=100)
    data = task(path.parent, window=32, train_windows=8, eval_windows=0, val_fraction=0.1, test_fraction=0.2)
    data.setup()
    parts = [data.datasets[split].segments[0] for split in ("train", "val", "test")]
    assert "".join(decode(part.ids) for part in parts) == human
    assert [len(part.ids) for part in parts] == [2800, 400, 800]
    blocks = human_blocks(path)
    assert parts[2].name == f"chr22:{coordinate(blocks, 3200):,}-{coordinate(blocks, 3999) + 1:,}"
    assert len(data.datasets["test"]) == 800 // 33 and data.io.outputs == "lm"


@pytest.mark.parametrize("problem, message", [
    ("minus", r"block 1's Hsap.22 row \(- strand"),
    ("unsorted", r"block 2's Hsap.22 row \(\+ strand, start 1,000\) is not on the \+ strand after the previous"),
    ("no human", r"no alignment block has a row of species 'Hsap'"),
])
def test_unusable_alignments_are_named(tmp_path, seed, problem, message):
    import random

    rng = random.Random(seed)
    rows = [[("Hsap.22", 5000, random_bases(rng, 40))], [("Hsap.22", 1000, random_bases(rng, 40))]]
    if problem == "no human":
        rows = [[("Ptro.22", 10, random_bases(rng, 40))]]
    elif problem == "minus":
        rows = rows[:1]
    path = tmp_path / "x.maf"
    write_maf(path, rows, strand="-" if problem == "minus" else "+")
    with pytest.raises(DataError, match=message):
        human_blocks(path)


def test_the_data_dir_must_hold_one_alignment(tmp_path, seed):
    path, _ = write_chr22(tmp_path / "maf", seed, blocks=4)
    (path.parent / "other.maf").write_text("##maf version=1\n")
    with pytest.raises(DataError, match="holds 2 .maf / .maf.gz files, chr22-lm reads exactly one"):
        task(path.parent).setup()
