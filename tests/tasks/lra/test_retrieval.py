"""LRA Retrieval (`lra-retrieval`, AAN files) and its stand-in (`lra-retrieval-standin`, pairs of windows of books):
byte ids and lengths of both documents, the max_length cut, labels, malformed lines named by file and line, pair
balance, same/different-book labels, pairs drawn only within their split, determinism by seed, registered names."""

from __future__ import annotations

import pytest
import torch
from files_text import write_aan, write_books
from torch.utils.data import DataLoader
from zoo.tasks import DataError, get_task
from zoo.tasks.lra.byte_windows import SPLITS, book_windows
from zoo.tasks.lra.retrieval import (
    AAN_FILES,
    AANConfig,
    AANDataModule,
    AustenRetrievalConfig,
    AustenRetrievalDataModule,
    draw_pairs,
    pad_pair_batch,
)


def aan(folder, **fields) -> AANDataModule:
    dm = AANDataModule(AANConfig(data_dir=str(folder), batch_size=4, **fields))
    dm.setup()
    return dm


def aan_rows(path) -> list[tuple[int, bytes, bytes]]:
    """(label, text1, text2) of each line of an AAN file, read independently of the loader."""
    rows = []
    for line in path.read_bytes().splitlines():
        label, _, _, text1, text2 = line.split(b"\t")
        rows.append((int(float(label)), text1, text2))
    return rows


@pytest.mark.parametrize("max_length", [10_000, 30])
def test_aan_pairs_are_bytes_with_lengths_and_labels(tmp_path, seed, max_length):
    folder = write_aan(tmp_path, seed)
    dm = aan(folder, max_length=max_length)
    assert (dm.io.inputs, dm.io.outputs, dm.io.num_outputs, dm.io.vocab_size) == ("tokens", "matching", 2, 256)
    for split, name in AAN_FILES.items():
        rows = aan_rows(folder / name)
        assert len(dm.datasets[split]) == len(rows) and {label for label, _, _ in rows} == {0, 1}
        held = list(DataLoader(dm.datasets[split], batch_size=4, collate_fn=AANDataModule.collate_fn))
        inputs = [pair for batch in held for pair in batch["inputs"]]
        lengths = torch.cat([batch["lengths"] for batch in held])
        targets = torch.cat([batch["targets"] for batch in held])
        for batch in held:
            assert batch["inputs"].shape == (len(batch["targets"]), 2, int(batch["lengths"].max()))
        for (label, *texts), pair, length, target in zip(rows, inputs, lengths.tolist(), targets.tolist()):
            assert target == label and length == [min(len(text), max_length) for text in texts], f"seed={seed}"
            for document, text, real in zip(pair, texts, length):
                assert bytes(document[:real].tolist()) == text[:max_length] and not document[real:].any()
    sizes = [len(text) for _, *texts in aan_rows(folder / AAN_FILES["train"]) for text in texts]
    assert min(sizes) < 30 < max(sizes) < 10_000, "the texts lie on both sides of the 30-byte cut"
    assert next(iter(dm.val_dataloader()))["inputs"].shape[:2] == (4, 2)


def test_aan_accepts_float_labels_and_skips_empty_lines(tmp_path, seed):
    folder = write_aan(tmp_path, seed, rows=(4, 2, 2))
    path = folder / AAN_FILES["train"]
    path.write_text("1.0\ta\tb\tfirst\tsecond\n\n0.0\tc\td\tthird\tfourth\n")
    dm = aan(folder)
    assert dm.datasets["train"].targets.tolist() == [1, 0] and dm.datasets["train"].lengths.tolist() == [5, 6, 5, 6]


@pytest.mark.parametrize(("line", "message"), [
    ("1\ta\tb\tonly four", "4 tab-separated field"),
    ("1\ta\tb\tc\td\te", "6 tab-separated field"),
    ("2\ta\tb\tc\td", "label '2' is not 0 or 1"),
    ("yes\ta\tb\tc\td", "label 'yes' is not 0 or 1"),
    ("0\ta\tb\tc\t", "text2 is empty"),
])
def test_aan_malformed_line_is_named_by_file_and_line(tmp_path, seed, line, message):
    folder = write_aan(tmp_path, seed)
    path = folder / AAN_FILES["val"]
    lines = path.read_text().splitlines()
    lines[4] = line
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message) as error:
        aan(folder)
    assert f"{path}, line 5:" in str(error.value)


def test_aan_missing_or_empty_file_is_named(tmp_path, seed):
    folder = write_aan(tmp_path, seed)
    (folder / AAN_FILES["test"]).write_text("\n")
    with pytest.raises(DataError, match="new_aan_pairs.test.tsv holds no pairs"):
        aan(folder)
    (folder / AAN_FILES["test"]).unlink()
    with pytest.raises(DataError, match="AAN file not found: .*new_aan_pairs.test.tsv"):
        aan(folder)


def test_pad_pair_batch_pads_both_documents():
    items = [{"inputs": torch.tensor([[5, 6, 7], [8, 0, 0]]), "targets": torch.tensor(1),
              "lengths": torch.tensor([3, 1])},
             {"inputs": torch.tensor([[9], [4]]), "targets": torch.tensor(0), "lengths": torch.tensor([1, 1])}]
    batch = pad_pair_batch(items)
    assert batch["inputs"].tolist() == [[[5, 6, 7], [8, 0, 0]], [[9, 0, 0], [4, 0, 0]]]
    assert batch["lengths"].tolist() == [[3, 1], [1, 1]] and batch["targets"].tolist() == [1, 0]


def standin(folder, seed, **fields) -> AustenRetrievalDataModule:
    fields = {"max_length": 64, "train_pairs": 200, "val_pairs": 40, "test_pairs": 41, **fields}
    dm = AustenRetrievalDataModule(AustenRetrievalConfig(data_dir=str(folder), batch_size=16, seed=seed, **fields))
    dm.setup()
    return dm


def test_standin_pairs_are_balanced_labelled_by_book_and_within_their_split(tmp_path, seed):
    folder = write_books(tmp_path, seed)
    dm = standin(folder, seed % 2**31)
    parts = book_windows(dm.books, 64, 0.1, 0.1, folder)
    for split, count in zip(SPLITS, (200, 40, 41)):
        dataset, part = dm.datasets[split], parts[split]
        assert torch.equal(dataset.documents, part.windows), f"{split}: documents are that split's windows only"
        assert len(dataset) == count and int(dataset.targets.sum()) == count // 2, f"{split}: balanced (seed={seed})"
        first, second = part.books[dataset.pairs].unbind(1)
        assert torch.equal(dataset.targets, (first == second).long()), f"{split}: labels (seed={seed})"
        same = dataset.targets == 1
        assert (dataset.pairs[same, 0] != dataset.pairs[same, 1]).all(), "a pair of one book holds two windows"
        item = dataset[0]
        assert torch.equal(item["inputs"], part.windows[dataset.pairs[0]]) and item["lengths"].tolist() == [64, 64]
    # Every book appears among the 100 first windows of each label: a book with about a third of the windows is
    # missed with probability (2/3)^100 < 3e-18 per book and label, so this holds for every seed.
    for label in (0, 1):
        chosen = dm.datasets["train"].pairs[dm.datasets["train"].targets == label, 0]
        assert set(parts["train"].books[chosen].tolist()) == {0, 1, 2}, f"label {label} (seed={seed})"
    batch = next(iter(dm.train_dataloader()))
    assert batch["inputs"].shape == (16, 2, 64) and batch["lengths"].shape == (16, 2)


def test_standin_pairs_are_determined_by_the_seed(tmp_path, seed):
    folder = write_books(tmp_path, seed)
    seed = seed % 2**31
    pairs = [standin(folder, value).datasets["val"].pairs for value in (seed, seed, seed + 1)]
    assert torch.equal(pairs[0], pairs[1]), f"seed={seed}"
    assert not torch.equal(pairs[0], pairs[2]), f"seeds {seed}, {seed + 1} give the same 40 pairs"
    changed = standin(folder, seed, train_pairs=300).datasets["val"].pairs
    assert torch.equal(changed, pairs[0]), "the training pair count leaves the validation pairs as they were"


def test_draw_pairs_uses_books_with_two_windows_for_same_pairs(seed):
    books = torch.tensor([0, 1, 1, 2])
    pairs, targets = draw_pairs(books, 50, torch.Generator().manual_seed(seed))
    assert (books[pairs[targets == 1]] == 1).all(), f"seed={seed}"
    assert (books[pairs[targets == 0, 0]] != books[pairs[targets == 0, 1]]).all(), f"seed={seed}"
    with pytest.raises(DataError, match="no book has two windows"):
        draw_pairs(torch.tensor([0, 1, 2]), 4, torch.Generator().manual_seed(seed))


def test_standin_is_named_as_one(tmp_path, seed):
    assert get_task("lra-retrieval") == (AANConfig, AANDataModule) and AANDataModule.default_subdir == "lra/aan"
    assert get_task("lra-retrieval-standin") == (AustenRetrievalConfig, AustenRetrievalDataModule)
    config = AustenRetrievalConfig()
    assert "standin" in config.name and config.max_length == AANConfig().max_length == 4000
    dm = standin(write_books(tmp_path, seed), 0)
    assert dm.description.startswith("stand-in for LRA Retrieval (AAN is not available offline)")
    assert dm.io.outputs == "matching" and dm.io.num_outputs == 2
    with pytest.raises(ValueError, match="val_pairs"):
        AustenRetrievalConfig(val_pairs=1)
