"""Books cut into windows of bytes and split by position: the examples of the offline stand-ins for LRA Text and
Retrieval.

Each book's UTF-8 bytes are cut into consecutive windows of `max_length` bytes from its first byte (a tail shorter
than a window is dropped). Of a book's `n` windows the first `n - floor(n * val_fraction) - floor(n * test_fraction)`
train, the next `floor(n * val_fraction)` validate and the last `floor(n * test_fraction)` test. Windows are cut
before they are split, so none is shared between splits or crosses a split border, and text near the end of a book
is only ever seen in validation and test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from zoo.tasks.base import DataError, TaskConfig, TaskDataModule
from zoo.tasks.lra.austen import TITLES, read_books

SPLITS = ("train", "val", "test")


@dataclass
class BookWindowsConfig(TaskConfig):
    """The fields of a task over windows of books; `data_dir` is a folder of `<Title>.txt` files."""

    max_length: int = 4096  # bytes per window: every example is exactly this long
    val_fraction: float = 0.1  # of each book's windows, after the training ones
    test_fraction: float = 0.1  # of each book's windows, its last ones

    def validate(self) -> None:
        super().validate()
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")
        for field in ("val_fraction", "test_fraction"):
            if not 0 < getattr(self, field) < 1:
                raise ValueError(f"{field} must lie in (0, 1), got {getattr(self, field)}")
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(f"val_fraction + test_fraction must be below 1 to leave windows for training, got "
                             f"{self.val_fraction} + {self.test_fraction}")


class SplitWindows(NamedTuple):
    """The windows of one split, grouped by book (in class order) and in order of position inside each book."""

    windows: torch.Tensor  # LongTensor [N, max_length]: byte ids 0-255
    books: torch.Tensor  # LongTensor [N]: the book (class id: its index in sorted-title order)
    positions: torch.Tensor  # LongTensor [N]: the window's index inside its book (window k covers bytes k*W..(k+1)*W)


def cut_windows(data: bytes, width: int) -> torch.Tensor:
    """`data` as consecutive windows: LongTensor `[len(data) // width, width]` of byte ids (the tail is dropped)."""
    count = len(data) // width
    if count == 0:
        return torch.zeros(0, width, dtype=torch.long)
    return torch.frombuffer(bytearray(data[:count * width]), dtype=torch.uint8).view(count, width).long()


def split_sizes(count: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """How many of a book's `count` windows train, validate and test (see the module docstring)."""
    val, test = (math.floor(count * fraction + 1e-9) for fraction in (val_fraction, test_fraction))
    return count - val - test, val, test


def book_windows(books: Mapping[str, bytes], width: int, val_fraction: float, test_fraction: float,
                 folder: Path) -> dict[str, SplitWindows]:
    """Split -> the windows of `books` (title -> bytes, in class order) that fall in it; raises `DataError` naming
    the book file when a book has too few windows to give every split one."""
    parts: dict[str, list[SplitWindows]] = {split: [] for split in SPLITS}
    for book, (title, data) in enumerate(books.items()):
        windows = cut_windows(data, width)
        sizes = split_sizes(len(windows), val_fraction, test_fraction)
        if min(sizes) < 1:
            raise DataError(f"{folder / f'{title}.txt'}: {len(data):,} bytes make {len(windows)} window(s) of {width} "
                            f"bytes, split {'/'.join(map(str, sizes))} (train/val/test); every split needs one: give "
                            "the book more text or lower the task's max_length or fractions")
        start = 0
        for split, size in zip(SPLITS, sizes):
            positions = torch.arange(start, start + size)
            parts[split].append(SplitWindows(windows[start:start + size], torch.full((size,), book), positions))
            start += size
    return {split: SplitWindows(*(torch.cat(column) for column in zip(*parts[split]))) for split in SPLITS}


class BookWindowsDataModule(TaskDataModule):
    """Base of the tasks over windows of a folder of books (`default_subdir` "lra/austen": the Austen novels that
    `zoo data prepare lra/austen` writes). Its classes are the book titles, sorted."""

    config: BookWindowsConfig
    default_subdir = "lra/austen"

    def __init__(self, config: BookWindowsConfig) -> None:
        super().__init__(config)
        self._books: dict[str, bytes] | None = None

    @property
    def books(self) -> dict[str, bytes]:
        """Title -> bytes of every book in `data_dir`, in class order (read once)."""
        if self._books is None:
            self._books = read_books(self.data_dir)
        return self._books

    @property
    def titles(self) -> tuple[str, ...]:
        """The book titles in class order."""
        return tuple(self.books)

    def split_windows(self) -> dict[str, SplitWindows]:
        """The books' windows of `max_length` bytes, by split."""
        return book_windows(self.books, self.config.max_length, self.config.val_fraction, self.config.test_fraction,
                            self.data_dir)

    @property
    def book_source(self) -> str:
        """The books in words: "the 6 Austen novels", or "<n> books from <folder name>"."""
        if set(self.titles) == set(TITLES.values()):
            return f"the {len(self.titles)} Austen novels"
        return f"{len(self.titles)} books from {self.data_dir.name}"

    @property
    def split_rule(self) -> str:
        """The position split in words, for task descriptions."""
        val, test = self.config.val_fraction, self.config.test_fraction
        return (f"split by position inside each book: first {1 - val - test:.0%} of its windows train, next {val:.0%} "
                f"validate, last {test:.0%} test")
