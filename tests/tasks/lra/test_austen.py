"""The `lra/austen` preparer and the reader of its folder: reading an R lazy-load database (one written here, and
once per session the real r-cran-janeaustenr from the Debian registry), the books it writes, and `read_books` errors
that name the file and line."""

from __future__ import annotations

import argparse
import gzip
import random
import sys
import zlib
from pathlib import Path

import numpy
import pytest
import torch
from files_text import write_books
from zoo.tasks import DataError
from zoo.tasks.lra import austen
from zoo.tasks.lra.austen import TITLES, novel_texts, prepare_austen, read_books, read_lazy_load_database
from zoo.tasks.lra.retrieval import AustenRetrievalConfig, AustenRetrievalDataModule
from zoo.tasks.lra.text import AustenTextConfig, AustenTextDataModule

from zoo.cli import main

# The six novels as janeaustenr 1.0.0 holds them, joined as the preparer joins them: 4,025,028 characters (REFERENCES
# section 2: about 4.03 M). The bounds leave room for another packaging of the same texts.
TOTAL_CHARACTERS = (4_000_000, 4_060_000)


def write_database(folder: Path, objects: dict[str, object], compressed=True) -> Path:
    """An R lazy-load database `folder/Rdata.rdb` + `Rdata.rdx` holding `objects` (numpy arrays), laid out as R
    writes one: per object a 4-byte big-endian size and its zlib-compressed serialisation; the index a gzipped RDS.
    Skips the test where PyPI rdata (Python >= 3.11) is missing."""
    rdata = pytest.importorskip("rdata")
    folder.mkdir(parents=True, exist_ok=True)
    blob, variables = bytearray(), {}
    for name, value in objects.items():
        rds = folder / f"{name}.rds"
        rdata.write_rds(rds, value)
        serialised = gzip.decompress(rds.read_bytes())
        rds.unlink()
        entry = len(serialised).to_bytes(4, "big") + zlib.compress(serialised)
        variables[name] = numpy.array([len(blob), len(entry)], dtype=numpy.int32)
        blob += entry
    (folder / "Rdata.rdb").write_bytes(bytes(blob))
    rdata.write_rds(folder / "Rdata.rdx", {"variables": variables, "references": {},
                                           "compressed": numpy.array([compressed])})
    return folder / "Rdata.rdb"


def novel_lines(seed: int) -> dict[str, list[str]]:
    """Object name -> a short novel of its own: the title line, blank lines, lines of words, a pound sign."""
    rng = random.Random(seed)
    novels = {}
    for name, title in TITLES.items():
        words = [name[:rng.randrange(2, 6)] + str(index) for index in range(30)]
        body = [" ".join(rng.choices(words, k=rng.randrange(0, 12))) for _ in range(rng.randrange(5, 40))]
        novels[name] = [title.upper(), "", *body, "£5 a year"]
    return novels


def test_reads_the_objects_and_joins_each_novels_lines(tmp_path, seed):
    novels = novel_lines(seed)
    database = write_database(tmp_path, {name: numpy.array(lines) for name, lines in novels.items()})
    objects = read_lazy_load_database(database)
    assert {name: list(value) for name, value in objects.items()} == novels, f"seed={seed}"
    texts = novel_texts(database)
    assert texts == {TITLES[name]: "\n".join(lines) + "\n" for name, lines in sorted(novels.items())}


def test_preparer_writes_one_file_per_novel(tmp_path, seed, monkeypatch):
    novels = novel_lines(seed)
    database = write_database(tmp_path / "db", {name: numpy.array(lines) for name, lines in novels.items()})
    monkeypatch.setattr(austen, "debian_file", lambda package, path, **options: database)
    out = tmp_path / "out"
    (out / "Emma.txt").parent.mkdir()
    (out / "Emma.txt").write_text("an older copy")
    assert prepare_austen(argparse.Namespace(out=out)) == out
    assert sorted(path.name for path in out.iterdir()) == sorted(f"{title}.txt" for title in TITLES.values())
    books = read_books(out)
    assert list(books) == sorted(TITLES.values())
    for name, lines in novels.items():
        assert books[TITLES[name]].decode("utf-8") == "\n".join(lines) + "\n", f"{name} (seed={seed})"


def test_damaged_database_raises_data_error(tmp_path, seed):
    novels = {name: numpy.array(lines) for name, lines in novel_lines(seed).items()}
    database = write_database(tmp_path / "cut", novels)
    database.write_bytes(database.read_bytes()[:-10])
    with pytest.raises(DataError, match="Rdata.rdb: the object 'sensesensibility' .* is damaged"):
        read_lazy_load_database(database)
    with pytest.raises(DataError, match="compression \\[0\\] is not zlib"):
        read_lazy_load_database(write_database(tmp_path / "raw", novels, compressed=False))
    del novels["persuasion"]
    with pytest.raises(DataError, match="lacks the novel\\(s\\) persuasion"):
        novel_texts(write_database(tmp_path / "five", novels))
    novels["persuasion"] = numpy.array([1, 2, 3], dtype=numpy.int32)
    with pytest.raises(DataError, match="'persuasion' is not a vector of text lines"):
        novel_texts(write_database(tmp_path / "numbers", novels))
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="cannot read the R database"):
        read_lazy_load_database(tmp_path / "none" / "Rdata.rdb")


def test_preparer_on_python_310_says_it_needs_311(tmp_path, monkeypatch):
    monkeypatch.setattr(austen, "debian_file", lambda *args, **options: pytest.fail("nothing may be fetched"))
    monkeypatch.setattr(sys, "version_info", (3, 10, 14, "final", 0))
    with pytest.raises(DataError, match="needs Python >= 3.11"):
        prepare_austen(argparse.Namespace(out=tmp_path))


def test_read_books_sorts_by_title_and_ignores_other_files(tmp_path, seed):
    folder = write_books(tmp_path, seed)
    (folder / "A.txt").write_text("short\n")
    (folder / "A B.txt").write_text("short too\n")
    (folder / "notes.md").write_text("not a book\n")
    books = read_books(folder)
    assert list(books) == sorted(path.stem for path in folder.glob("*.txt")) and list(books)[:2] == ["A", "A B"]
    assert books["A B"] == b"short too\n"


@pytest.mark.parametrize(("content", "message"), [(b"", "is empty"),
                                                 (b"good\nlines\nbad \xe9t\xe9\n", "line 3: not UTF-8"),
                                                  (None, "cannot read the book")])
def test_read_books_names_a_bad_book(tmp_path, seed, content, message):
    folder = write_books(tmp_path, seed, num_books=2)
    bad = folder / "Bad Book.txt"
    bad.mkdir() if content is None else bad.write_bytes(content)
    with pytest.raises(DataError, match=message) as error:
        read_books(folder)
    assert str(bad) in str(error.value)


def test_read_books_needs_a_folder_of_two_books(tmp_path, seed):
    with pytest.raises(DataError, match="zoo data prepare lra/austen"):
        read_books(tmp_path / "absent")
    folder = write_books(tmp_path, seed, num_books=1)
    with pytest.raises(DataError, match="holds 1 book"):
        read_books(folder)


@pytest.fixture(scope="session")
def prepared_austen(tmp_path_factory) -> Path:
    """The data dir after one real `zoo data prepare lra/austen` (r-cran-janeaustenr from the Debian registry)."""
    pytest.importorskip("rdata", reason="the preparer reads R data with PyPI rdata (Python >= 3.11)")
    data = tmp_path_factory.mktemp("seqzoo-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQZOO_DATA", str(data))
        assert main(["data", "prepare", "lra/austen"]) == 0
    return data


def test_real_preparer_writes_the_six_novels(prepared_austen):
    out = prepared_austen / "lra" / "austen"
    assert sorted(path.name for path in out.iterdir()) == sorted(f"{title}.txt" for title in TITLES.values())
    texts = {path.stem: path.read_text(encoding="utf-8") for path in out.iterdir()}
    total = sum(map(len, texts.values()))
    assert TOTAL_CHARACTERS[0] <= total <= TOTAL_CHARACTERS[1], f"{total:,} characters"
    for title, text in texts.items():
        assert text.splitlines()[0].upper() == title.upper() and text.endswith("\n"), title
    assert "£" in texts["Mansfield Park"]
    if not Path(austen.DATABASE).is_file():  # not installed system-wide: unpacked into the data dir
        assert (prepared_austen / "debian" / austen.PACKAGE / austen.DATABASE.lstrip("/")).is_file()


def test_standins_read_the_prepared_novels_by_default(prepared_austen, monkeypatch):
    monkeypatch.setenv("SEQZOO_DATA", str(prepared_austen))
    text = AustenTextDataModule(AustenTextConfig())
    text.setup()
    sizes = [len(data) for data in text.books.values()]
    assert text.io.labels == tuple(sorted(TITLES.values())) and text.io.num_outputs == 6
    assert sum(len(text.datasets[split]) for split in ("train", "val", "test")) == sum(size // 4096 for size in sizes)
    assert "the 6 Austen novels" in text.description and text.description.startswith("stand-in for LRA Text")
    retrieval = AustenRetrievalDataModule(AustenRetrievalConfig(train_pairs=64, val_pairs=16, test_pairs=16))
    retrieval.setup()
    assert sum(len(retrieval.datasets[split].documents) for split in ("train", "val", "test")) == sum(
        size // 4000 for size in sizes)
    assert torch.equal(retrieval.datasets["test"].targets.bincount(), torch.tensor([8, 8]))
    assert "the 6 Austen novels" in retrieval.description
