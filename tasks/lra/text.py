"""LRA Text: IMDB sentiment at byte level (`lra-text`), and its offline stand-in over the Austen novels
(`lra-text-standin`).

`lra-text` reads the IMDB release `aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt` (25,000 reviews a split, one
UTF-8 review per file); `data_dir` holds `aclImdb` or is it. A review becomes its UTF-8 bytes (ids 0-255), cut to
`max_length`: 4096 as in the LRA paper and S4, 1000 in the LRA repository's config. Classes: neg 0, pos 1. As LRA
and S4 do, the test split also serves as the validation split (`datasets["val"] is datasets["test"]`), so a
checkpoint chosen on validation is chosen on the test set; the task description says so.

`lra-text-standin` is not IMDB: it classifies windows of `max_length` bytes by the novel they come from (six Austen
novels, six classes), split by position inside each book (`zoo.tasks.lra.byte_windows`).

Batches: `inputs` LongTensor `[B, T]` (zeros after each text), `targets` LongTensor `[B]`, `lengths` LongTensor `[B]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import track
from zoo.tasks.base import DataError, TaskConfig, TaskDataModule, TaskIO, TensorDataset, register_task
from zoo.tasks.lra.byte_windows import BookWindowsConfig, BookWindowsDataModule
from zoo.tasks.text_classification import BYTES, ByteTexts, pad_batch

IMDB_CLASSES = {"neg": 0, "pos": 1}


@dataclass
class IMDBConfig(TaskConfig):
    """LRA Text over the IMDB files in `data_dir` (see the module docstring)."""

    name: str = "lra-text"
    max_length: int = 4096  # bytes kept of each review: 4096 (LRA paper, S4) or 1000 (the LRA repository's config)

    def validate(self) -> None:
        super().validate()
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")


def imdb_root(data_dir: Path) -> Path:
    """The `aclImdb` folder: `data_dir/aclImdb`, or `data_dir` itself; `DataError` when it lacks a class folder."""
    root = data_dir / "aclImdb" if (data_dir / "aclImdb").is_dir() else data_dir
    for split in ("train", "test"):
        for label in IMDB_CLASSES:
            if not (root / split / label).is_dir():
                raise DataError(f"no IMDB folder {root / split / label}; set the task's data_dir to the folder that "
                                "holds aclImdb (the IMDB release, aclImdb_v1.tar.gz, unpacked) or to aclImdb itself")
    return root


def read_reviews(root: Path, split: str) -> list[tuple[str, str]]:
    """(review, label) of every `root/<split>/{neg,pos}/*.txt`, neg first, files in name order, read with a
    progress bar; an unreadable, empty or non-UTF-8 file raises `DataError` naming it."""
    paths = [(path, label) for label in IMDB_CLASSES for path in sorted((root / split / label).glob("*.txt"))]
    for label in IMDB_CLASSES:
        if not any(path_label == label for _, path_label in paths):
            raise DataError(f"{root / split / label} holds no review (*.txt); the IMDB release has 12,500 there")
    reviews = []
    for path, label in track(paths, description=f"reading IMDB {split}"):
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as error:
            raise DataError(f"cannot read the review {path}: {error.strerror or error}") from error
        except UnicodeDecodeError as error:
            raise DataError(f"{path}: not UTF-8 text at byte {error.start} ({error.reason}); restore the file from "
                            "the IMDB release") from None
        if not text.strip():
            raise DataError(f"the review {path} is empty; restore it from the IMDB release")
        reviews.append((text, label))
    return reviews


@register_task("lra-text", IMDBConfig)
class IMDBDataModule(TaskDataModule):
    """LRA Text: IMDB reviews as bytes, 2 classes; the test split doubles as the validation split (as in LRA, S4)."""

    config: IMDBConfig
    inputs, outputs = "tokens", "classifier"
    default_subdir = "lra/imdb"
    collate_fn = staticmethod(pad_batch)

    def __init__(self, config: IMDBConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, ByteTexts] = {}

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs=self.inputs, outputs=self.outputs, num_outputs=len(IMDB_CLASSES), vocab_size=BYTES,
                      labels=tuple(IMDB_CLASSES))

    @property
    def description(self) -> str:
        return (f"LRA Text: IMDB sentiment (neg/pos) at byte level, up to {self.config.max_length} bytes; validated on "
                "the test split, as LRA and S4 do (no separate validation split)")

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        root = imdb_root(self.data_dir)
        for split in ("train", "test"):
            self.datasets[split] = ByteTexts(read_reviews(root, split), IMDB_CLASSES, self.config.max_length,
                                             root / split)
        self.datasets["val"] = self.datasets["test"]


@dataclass
class AustenTextConfig(BookWindowsConfig):
    """The LRA Text stand-in: windows of the books in `data_dir` (default: the Austen novels), class = book."""

    name: str = "lra-text-standin"


@register_task("lra-text-standin", AustenTextConfig)
class AustenTextDataModule(BookWindowsDataModule):
    """Stand-in for LRA Text: which novel a window of bytes comes from (IMDB is not available offline)."""

    config: AustenTextConfig
    inputs, outputs = "tokens", "classifier"

    def __init__(self, config: AustenTextConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, TensorDataset] = {}

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs=self.inputs, outputs=self.outputs, num_outputs=len(self.titles), vocab_size=BYTES,
                      labels=self.titles)

    @property
    def description(self) -> str:
        return (f"stand-in for LRA Text (IMDB is not available offline): which of {self.book_source} a "
                f"{self.config.max_length}-byte window comes from, at byte level; {self.split_rule}")

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        for split, part in self.split_windows().items():
            lengths = torch.full((len(part.windows),), self.config.max_length)
            self.datasets[split] = TensorDataset(inputs=part.windows, targets=part.books, lengths=lengths)
