"""LRA Retrieval: do two AAN papers cite one another, at byte level (`lra-retrieval`), and its offline stand-in: do
two windows of the Austen novels come from the same novel (`lra-retrieval-standin`).

`lra-retrieval` reads the LRA release's `new_aan_pairs.{train,eval,test}.tsv` (eval is the validation split) from
`data_dir`: no header, one pair a line, five tab-separated fields `label id1 id2 text1 text2`, the label a number
equal to 0 or 1 (LRA reads the column as a float: `1` and `1.0` both occur in such files); empty lines are skipped.
Each text becomes its bytes as the file holds them (ids 0-255), cut to `max_length` (4000, LRA's setting).

`lra-retrieval-standin` is not AAN: its documents are windows of `max_length` bytes of the books in `data_dir`,
split by position inside each book (`zoo.tasks.lra.byte_windows`); each split's pairs are drawn from that split's
windows only, half of them (`count // 2`) from one book (label 1: two different windows of it), the rest from two
different books (label 0), seeded by `seed` and the split, in shuffled order. A pair may occur more than once.

Batches: `inputs` LongTensor `[B, 2, T]` (T: the longest document in the batch; zeros after each document),
`targets` LongTensor `[B]`, `lengths` LongTensor `[B, 2]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import rich.progress
import torch
from torch.utils.data import Dataset
from zoo.tasks.base import DataError, TaskConfig, TaskDataModule, TaskIO, register_task
from zoo.tasks.lra.byte_windows import SPLITS, BookWindowsConfig, BookWindowsDataModule
from zoo.tasks.text_classification import BYTES

AAN_FILES = {"train": "new_aan_pairs.train.tsv", "val": "new_aan_pairs.eval.tsv", "test": "new_aan_pairs.test.tsv"}
AAN_COLUMNS = ("label", "id1", "id2", "text1", "text2")


class DocumentPairs(Dataset):
    """Pairs of byte documents. `documents` uint8 or LongTensor `[M, L]` (zeros after each), `lengths` `[M]`, `pairs`
    LongTensor `[P, 2]` (rows of `documents`), `targets` `[P]`. Item: `inputs` LongTensor `[2, T]` (T: the longer of the
    two), `targets` `[]`, `lengths` `[2]`."""

    def __init__(self, documents: torch.Tensor, lengths: torch.Tensor, pairs: torch.Tensor,
                 targets: torch.Tensor) -> None:
        self.documents, self.lengths, self.pairs, self.targets = documents, lengths, pairs, targets

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        pair = self.pairs[index]
        lengths = self.lengths[pair]
        return {"inputs": self.documents[pair, :int(lengths.max())].long(), "targets": self.targets[index],
                "lengths": lengths}


def pad_pair_batch(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pairs of different lengths (`inputs` `[2, T_i]`, `lengths` `[2]`) -> `inputs` `[B, 2, T_max]` (zeros after
    each document), `targets` `[B]`, `lengths` `[B, 2]`."""
    inputs = torch.zeros(len(items), 2, max(item["inputs"].shape[-1] for item in items), dtype=torch.long)
    for row, item in enumerate(items):
        inputs[row, :, :item["inputs"].shape[-1]] = item["inputs"]
    return {"inputs": inputs, "targets": torch.stack([item["targets"] for item in items]),
            "lengths": torch.stack([item["lengths"] for item in items])}


def read_aan_pairs(path: Path, max_length: int) -> DocumentPairs:
    """The pairs of one `new_aan_pairs.*.tsv` file (see the module docstring), read with a progress bar; a missing
    file, a line without five fields, a label other than 0 or 1 or an empty text raises `DataError` naming the file
    and line."""
    if not path.is_file():
        raise DataError(f"AAN file not found: {path}; set the task's data_dir to the folder holding "
                        f"{', '.join(AAN_FILES.values())} (from the LRA release, lra_release/tsv_data)")
    rows, lengths, targets = bytearray(), [], []
    with rich.progress.open(path, "rb", description=f"reading {path.name}") as file:
        for line_number, line in enumerate(file, start=1):
            fields = line.rstrip(b"\r\n").split(b"\t")
            if fields == [b""]:
                continue
            where = f"{path}, line {line_number}"
            if len(fields) != len(AAN_COLUMNS):
                raise DataError(f"{where}: {len(fields)} tab-separated field(s), expected {len(AAN_COLUMNS)} "
                                f"({' '.join(AAN_COLUMNS)}); tabs cannot occur inside a text")
            try:
                label = float(fields[0])
            except ValueError:
                label = None
            if label not in (0.0, 1.0):
                raise DataError(f"{where}: the label {fields[0][:20].decode(errors='replace')!r} is not 0 or 1")
            for column, text in zip(AAN_COLUMNS[3:], fields[3:]):
                if not text:
                    raise DataError(f"{where}: {column} is empty")
                rows += text[:max_length].ljust(max_length, b"\0")
            lengths.append([min(len(text), max_length) for text in fields[3:]])
            targets.append(int(label))
    if not targets:
        raise DataError(f"{path} holds no pairs; it should hold one `label id1 id2 text1 text2` line per pair")
    documents = torch.frombuffer(rows, dtype=torch.uint8).view(-1, max_length)
    pairs = torch.arange(len(documents)).view(-1, 2)
    return DocumentPairs(documents, torch.tensor(lengths).view(-1), pairs, torch.tensor(targets))


class DocumentPairsTask:
    """What both Retrieval tasks share (mixed in before their data module base): two byte documents a pair in
    (`pad_pair_batch`), match or not out; `datasets` maps each split to its `DocumentPairs`, filled by `setup`."""

    inputs, outputs = "tokens", "matching"
    collate_fn = staticmethod(pad_pair_batch)

    def __init__(self, config: TaskConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, DocumentPairs] = {}

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs=self.inputs, outputs=self.outputs, num_outputs=2, vocab_size=BYTES)


@dataclass
class AANConfig(TaskConfig):
    """LRA Retrieval over the AAN files in `data_dir` (see the module docstring)."""

    name: str = "lra-retrieval"
    max_length: int = 4000  # bytes kept of each document (LRA: 4000)

    def validate(self) -> None:
        super().validate()
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")


@register_task("lra-retrieval", AANConfig)
class AANDataModule(DocumentPairsTask, TaskDataModule):
    """LRA Retrieval: whether two AAN papers are linked by a citation, two documents of bytes a pair, 2 classes."""

    config: AANConfig
    default_subdir = "lra/aan"

    @property
    def description(self) -> str:
        return (f"LRA Retrieval: whether two AAN papers are linked by a citation, at byte level, "
                f"{self.config.max_length} bytes per document")

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        for split, name in AAN_FILES.items():
            self.datasets[split] = read_aan_pairs(self.data_dir / name, self.config.max_length)


def draw_pairs(books: torch.Tensor, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` pairs of windows, balanced: `pairs` LongTensor `[count, 2]` (window rows), `targets` `[count]` (1:
    two different windows of one book, `count // 2` of them; 0: windows of two different books), shuffled.

    `books` LongTensor `[N]`: each window's book, windows of a book contiguous; needs two or more books. The first
    window of a pair is uniform over the windows (of books with two or more windows, for label 1), the second
    uniform over the other windows of its book (label 1) or the windows of the other books (label 0).
    """
    sizes = torch.bincount(books)
    starts = torch.cumsum(sizes, 0) - sizes
    same, different = count // 2, count - count // 2
    eligible = torch.nonzero(sizes[books] >= 2).squeeze(1)
    if same and not len(eligible):
        raise DataError("no book has two windows in this split, so no pair of one book can be drawn; lower the "
                        "task's max_length or give the books more text")
    first = eligible[torch.randint(len(eligible), (same,), generator=generator)]
    size, start = sizes[books[first]], starts[books[first]]
    step = 1 + (torch.rand(same, generator=generator, dtype=torch.float64) * (size - 1)).long()
    second = start + (first - start + step) % size
    first_other = torch.randint(len(books), (different,), generator=generator)
    size, start = sizes[books[first_other]], starts[books[first_other]]
    other = (torch.rand(different, generator=generator, dtype=torch.float64) * (len(books) - size)).long()
    second_other = torch.where(other < start, other, other + size)
    pairs = torch.cat([torch.stack([first, second], 1), torch.stack([first_other, second_other], 1)])
    targets = torch.cat([torch.ones(same, dtype=torch.long), torch.zeros(different, dtype=torch.long)])
    order = torch.randperm(count, generator=generator)
    return pairs[order], targets[order]


@dataclass
class AustenRetrievalConfig(BookWindowsConfig):
    """The LRA Retrieval stand-in: pairs of windows of the books in `data_dir` (default: the Austen novels)."""

    name: str = "lra-retrieval-standin"
    max_length: int = 4000  # bytes per document (window), as LRA Retrieval's
    train_pairs: int = 20_000
    val_pairs: int = 2_000
    test_pairs: int = 2_000
    seed: int = 0  # draws the pairs (with the split) and shuffles the training set

    def validate(self) -> None:
        super().validate()
        for split in SPLITS:
            if getattr(self, f"{split}_pairs") < 2:
                raise ValueError(f"{split}_pairs must be >= 2 (one pair of each label), got "
                                 f"{getattr(self, f'{split}_pairs')}")


@register_task("lra-retrieval-standin", AustenRetrievalConfig)
class AustenRetrievalDataModule(DocumentPairsTask, BookWindowsDataModule):
    """Stand-in for LRA Retrieval: whether two windows of bytes come from the same novel (AAN is not available
    offline)."""

    config: AustenRetrievalConfig

    @property
    def description(self) -> str:
        return (f"stand-in for LRA Retrieval (AAN is not available offline): whether two {self.config.max_length}-byte "
                f"windows of {self.book_source} come from the same one, balanced pairs, at byte level; "
                f"{self.split_rule}, pairs drawn within each split")

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        for index, (split, part) in enumerate(self.split_windows().items()):
            generator = torch.Generator().manual_seed(self.config.seed * len(SPLITS) + index)
            pairs, targets = draw_pairs(part.books, getattr(self.config, f"{split}_pairs"), generator)
            lengths = torch.full((len(part.windows),), self.config.max_length)
            self.datasets[split] = DocumentPairs(part.windows, lengths, pairs, targets)
