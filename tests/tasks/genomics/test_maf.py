"""MAF alignment blocks: rows parsed with coordinates, gaps removed for the bases, blocks split by blank lines and
`a` lines, plain and gzip the same; each inconsistency of an `s` line named by file and line."""

from __future__ import annotations

import random

import pytest
from files_genomics import write_maf
from zoo.tasks import DataError
from zoo.tasks.genomics.maf import read_maf
from zoo.tasks.genomics.nucleotides import decode

SPECIES = ("homo_sapiens.22", "pan_troglodytes.22", "gorilla_gorilla.22")


def aligned(rng: random.Random, length: int) -> str:
    """An aligned text: bases (some lowercase, as repeats are) with gaps."""
    return "".join(rng.choice("ACGTacgt--") for _ in range(length))


@pytest.mark.parametrize("compress", [False, True])
def test_blocks_rows_and_bases(tmp_path, seed, compress):
    rng = random.Random(seed)
    blocks = []
    for index in range(5):
        length = rng.randint(5, 80)
        blocks.append([(src, 1000 * index, aligned(rng, length)) for src in SPECIES])
    path = tmp_path / "chr22.maf"
    write_maf(path, blocks, compress)
    read = list(read_maf(path))
    assert len(read) == 5 and [b.score for b in read] == [0.5, 1.5, 2.5, 3.5, 4.5]
    for block, rows in zip(read, blocks):
        human = block.row("homo_sapiens")
        assert human.src == "homo_sapiens.22" and human.start == rows[0][1] and human.strand == "+"
        assert decode(human.ids()) == rows[0][2].replace("-", "").upper()
        assert block.row("mus_musculus") is None


@pytest.mark.parametrize("line, message", [
    ("s homo_sapiens.22 0 4 + 1000000 AC-GT", None),
    ("s homo_sapiens.22 0 5 + 1000000 AC-GT", r"size 5 but the text holds 4 bases"),
    ("s homo_sapiens.22 0 4 * 1000000 AC-GT", r"strand '\*' is neither \+ nor -"),
    ("s homo_sapiens.22 x 4 + 1000000 AC-GT", r"must be whole numbers"),
    ("s homo_sapiens.22 0 4 + 1000000", r"7 fields .* this one 6"),
    ("s homo_sapiens.22 999998 4 + 1000000 AC-GT", r"runs past srcSize"),
    ("s homo_sapiens.22 0 4 + 1000000 AC-G!", r"'!' at position 3 is not a nucleotide"),
    ("s pan_troglodytes.22 0 3 + 1000000 ACG", r"aligned length 3, the block's first row has 5"),
])
def test_inconsistent_rows_are_named(tmp_path, line, message):
    path = tmp_path / "bad.maf"
    path.write_text(f"##maf version=1\na score=1\ns homo_sapiens.22 0 4 + 1000000 AC-GT\n{line}\n\n")
    if message is None:
        assert len(next(read_maf(path)).rows) == 2
        return
    with pytest.raises(DataError, match=rf"bad\.maf, line 4: .*{message}"):
        list(read_maf(path))


def test_row_before_a_block_and_truncated_gzip(tmp_path, seed):
    path = tmp_path / "bad.maf"
    path.write_text("##maf version=1\ns homo_sapiens.22 0 2 + 100 AC\n")
    with pytest.raises(DataError, match=r"bad\.maf, line 2: an 's' line before any 'a' line"):
        list(read_maf(path))
    rng = random.Random(seed)
    blocks = [[(src, 0, aligned(rng, 3000)) for src in SPECIES] for _ in range(20)]
    write_maf(tmp_path / "cut.maf.gz", blocks, compress=True)
    data = (tmp_path / "cut.maf.gz").read_bytes()
    (tmp_path / "cut.maf.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.maf\.gz: unreadable after line \d+"):
        list(read_maf(tmp_path / "cut.maf.gz"))
