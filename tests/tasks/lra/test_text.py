"""LRA Text (`lra-text`, IMDB files) and its stand-in (`lra-text-standin`, windows of books): byte ids, labels,
lengths and the max_length cut, the test split doubling as validation, the position split of the windows, errors
that name the file, and the registered names."""

from __future__ import annotations

import pytest
import torch
from files_text import write_books, write_imdb
from zoo.tasks import DataError, get_task
from zoo.tasks.lra.austen import read_books
from zoo.tasks.lra.byte_windows import SPLITS, book_windows, split_sizes
from zoo.tasks.lra.text import AustenTextConfig, AustenTextDataModule, IMDBConfig, IMDBDataModule


def imdb(folder, **fields) -> IMDBDataModule:
    dm = IMDBDataModule(IMDBConfig(data_dir=str(folder), batch_size=4, **fields))
    dm.setup()
    return dm


def review_files(root, split) -> list[tuple[bytes, int]]:
    """(bytes, class) of every review file of a split, sorted: what the loader must hold, in any order."""
    return sorted((path.read_bytes(), label) for label, name in enumerate(("neg", "pos"))
                  for path in (root / "aclImdb" / split / name).glob("*.txt"))


def test_imdb_holds_every_review_as_bytes_with_its_label(tmp_path, seed):
    root = write_imdb(tmp_path, seed, per_class=6)
    dm = imdb(root, max_length=10_000)
    assert (dm.io.inputs, dm.io.outputs, dm.io.num_outputs, dm.io.vocab_size) == ("tokens", "classifier", 2, 256)
    assert dm.io.labels == ("neg", "pos")
    for split in ("train", "test"):
        dataset = dm.datasets[split]
        held = sorted((bytes(dataset[i]["inputs"].tolist()), int(dataset[i]["targets"])) for i in range(len(dataset)))
        assert held == review_files(root, split), f"{split} (seed={seed})"
    assert any(max(text) > 127 for text, _ in review_files(root, "train")), "the files should hold non-ASCII bytes"


def test_imdb_cuts_at_max_length_and_pads_with_lengths(tmp_path, seed):
    root = write_imdb(tmp_path, seed)
    dm = imdb(root, max_length=40)
    sizes = [len(text) for text, _ in review_files(root, "train")]
    assert min(sizes) < 40 < max(sizes), "the files should hold reviews on both sides of the cut"
    held = []
    for batch in dm.train_dataloader():
        assert batch["inputs"].shape == (len(batch["targets"]), int(batch["lengths"].max()))
        for row, length in zip(batch["inputs"], batch["lengths"].tolist()):
            assert not row[length:].any(), f"padding is zeros (seed={seed})"
            held.append(bytes(row[:length].tolist()))
    assert sorted(held) == sorted(text[:40] for text, _ in review_files(root, "train")), f"seed={seed}"


def test_imdb_validates_on_the_test_split_and_says_so(tmp_path, seed):
    dm = imdb(write_imdb(tmp_path, seed) / "aclImdb")  # data_dir may also name aclImdb itself
    assert dm.datasets["val"] is dm.datasets["test"]
    assert "validated on the test split, as LRA and S4 do" in dm.description
    assert "4096 bytes" in dm.description and IMDBConfig().max_length == 4096
    assert "1000 bytes" in imdb(tmp_path, max_length=1000).description


def test_imdb_reads_its_default_subdir(data_dir, seed):
    write_imdb(data_dir / "lra" / "imdb", seed, per_class=2)
    dm = imdb("")
    assert IMDBDataModule.default_subdir == "lra/imdb" and len(dm.datasets["train"]) == 4


@pytest.mark.parametrize(("content", "message"), [(b"", "is empty"), (b"  \n", "is empty"),
                                                  (b"ok \xff\xfe bad", "not UTF-8"), (None, "cannot read")])
def test_imdb_bad_review_file_is_named(tmp_path, seed, content, message):
    root = write_imdb(tmp_path, seed, per_class=2)
    bad = root / "aclImdb" / "test" / "pos" / "99_9.txt"
    bad.mkdir() if content is None else bad.write_bytes(content)
    with pytest.raises(DataError, match=message) as error:
        imdb(root)
    assert str(bad) in str(error.value)


def test_imdb_missing_folders_are_named(tmp_path, seed):
    with pytest.raises(DataError, match="aclImdb"):
        imdb(tmp_path)
    root = write_imdb(tmp_path, seed, per_class=2)
    for review in (root / "aclImdb" / "train" / "neg").iterdir():
        review.unlink()
    with pytest.raises(DataError, match="train/neg holds no review"):
        imdb(root)


def standin(folder, **fields) -> AustenTextDataModule:
    dm = AustenTextDataModule(AustenTextConfig(data_dir=str(folder), batch_size=8, **fields))
    dm.setup()
    return dm


@pytest.mark.parametrize(("val_fraction", "test_fraction"), [(0.1, 0.1), (0.25, 0.15)])
def test_standin_windows_split_by_position(tmp_path, seed, val_fraction, test_fraction):
    folder, width = write_books(tmp_path, seed, num_books=4), 64
    books = read_books(folder)
    parts = book_windows(books, width, val_fraction, test_fraction, folder)
    for book, (title, data) in enumerate(books.items()):
        count = len(data) // width
        where = {split: parts[split].positions[parts[split].books == book].tolist() for split in SPLITS}
        every = sorted(position for positions in where.values() for position in positions)
        assert every == list(range(count)), f"{title}: every window in exactly one split (seed={seed})"
        assert [len(where[split]) for split in SPLITS] == list(split_sizes(count, val_fraction, test_fraction))
        assert len(where["val"]) == int(count * val_fraction) and len(where["test"]) == int(count * test_fraction)
        assert max(where["train"]) < min(where["val"]) and max(where["val"]) < min(where["test"]), f"seed={seed}"
    for split, part in parts.items():
        for window, book, position in zip(part.windows, part.books.tolist(), part.positions.tolist()):
            data = list(books.values())[book]
            assert bytes(window.tolist()) == data[position * width:(position + 1) * width], f"{split} (seed={seed})"
    dm = standin(folder, max_length=width, val_fraction=val_fraction, test_fraction=test_fraction)
    for split, part in parts.items():
        held = dm.datasets[split].tensors
        assert torch.equal(held["inputs"], part.windows) and torch.equal(held["targets"], part.books)
        assert held["lengths"].eq(width).all()


def test_standin_classes_are_the_sorted_titles(tmp_path, seed):
    folder = write_books(tmp_path, seed)
    dm = standin(folder, max_length=128)
    titles = sorted(path.stem for path in folder.glob("*.txt"))
    assert dm.io.labels == tuple(titles) and dm.io.num_outputs == 3 and dm.io.vocab_size == 256
    batch = next(iter(dm.val_dataloader()))
    assert batch["inputs"].shape == (8, 128) and batch["inputs"].dtype == torch.long
    assert batch["inputs"].max() <= 255 and batch["lengths"].tolist() == [128] * 8
    total = sum(len(dm.datasets[split]) for split in SPLITS)
    assert total == sum(path.stat().st_size // 128 for path in folder.glob("*.txt"))


def test_standin_is_named_as_one(tmp_path, seed):
    assert get_task("lra-text") == (IMDBConfig, IMDBDataModule)
    assert get_task("lra-text-standin") == (AustenTextConfig, AustenTextDataModule)
    assert "standin" in AustenTextConfig().name and AustenTextDataModule.default_subdir == "lra/austen"
    description = standin(write_books(tmp_path, seed), max_length=32).description
    assert description.startswith("stand-in for LRA Text (IMDB is not available offline)")
    assert "first 80%" in description and "last 10% test" in description


def test_standin_book_too_short_for_a_split_is_named(tmp_path, seed):
    folder = write_books(tmp_path, seed, num_books=2)
    (folder / "Short.txt").write_text("x" * 9 * 64)  # 9 windows: floor(0.9) = 0 for validation
    with pytest.raises(DataError, match="Short.txt.*9 window") as error:
        standin(folder, max_length=64)
    assert "lower the task's max_length" in str(error.value)


@pytest.mark.parametrize("fields", [{"max_length": 0}, {"val_fraction": 0.0}, {"test_fraction": 1.0},
                                    {"val_fraction": 0.5, "test_fraction": 0.5}])
def test_standin_config_rejects_bad_values(fields):
    with pytest.raises(ValueError, match=next(iter(fields))):
        AustenTextConfig(**fields)
