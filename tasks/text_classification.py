"""Text classification from tab-separated files, at byte level: the shape of LRA's ListOps and Text tasks, for any
labelled text a user has.

Files (under the task's `data_dir`): `train_file`, `val_file`, `test_file`, each a TSV with a header row naming at
least `text_column` and `label_column`, one example per line, fields unquoted (tabs and newlines cannot occur inside
a field). Texts become their UTF-8 bytes (ids 0-255), cut to `max_length`; labels are strings, numbered in sorted
order of the labels the training file holds. Batches are padded to their longest text and carry the real lengths.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset
from zoo.tasks.base import DataError, TaskConfig, TaskDataModule, TaskIO, register_task, utf8_errors_named

BYTES = 256


@dataclass
class TextClassificationConfig(TaskConfig):
    """Where the TSV files are and how to read them (see the module docstring)."""

    name: str = "text-classification"
    train_file: str = "train.tsv"
    val_file: str = "val.tsv"
    test_file: str = "test.tsv"
    text_column: str = "text"
    label_column: str = "label"
    max_length: int = 1024

    def validate(self) -> None:
        super().validate()
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")


def read_examples(path: Path, text_column: str, label_column: str) -> list[tuple[str, str]]:
    """(text, label) pairs of a TSV file with a header row; a missing file, column or empty text raises DataError."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}; set the task's data_dir (or the *_file keys) to where it is")
    csv.field_size_limit(sys.maxsize)
    with utf8_errors_named(path), open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [column for column in (text_column, label_column) if column not in (reader.fieldnames or [])]
        if missing:
            raise DataError(
                f"{path}: the header row {reader.fieldnames} lacks the column(s) {missing}; name them with the task's "
                "text_column / label_column keys"
            )
        examples = []
        for line, row in enumerate(reader, start=2):
            text, label = row[text_column], row[label_column]
            if text is None or label is None:
                raise DataError(f"{path}, line {line}: fewer fields than the header names")
            if not text:
                raise DataError(f"{path}, line {line}: the text is empty")
            examples.append((text, label))
    if not examples:
        raise DataError(f"{path} holds no examples (only a header, or nothing)")
    return examples


class ByteTexts(Dataset):
    """Examples as `{"inputs": bytes LongTensor [T], "targets": class LongTensor []}`; held as uint8 (an eighth of the
    memory of int64: the 25k reviews of an IMDB split take 33 MB)."""

    def __init__(self, examples: list[tuple[str, str]], classes: dict[str, int], max_length: int, path: Path):
        self.texts, self.labels = [], []
        for line, (text, label) in enumerate(examples, start=2):
            if label not in classes:
                raise DataError(
                    f"{path}, line {line}: label {label!r} does not occur in the training file (its labels: "
                    f"{', '.join(classes)})"
                )
            self.texts.append(torch.frombuffer(bytearray(text.encode("utf-8")[:max_length]), dtype=torch.uint8))
            self.labels.append(classes[label])

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"inputs": self.texts[index].long(), "targets": torch.tensor(self.labels[index])}


def pad_batch(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Sequences of different lengths (texts `[T]`, series `[T, D]`) -> `inputs` `[B, T_max, ...]` (zeros after each),
    `targets` `[B]`, `lengths` `[B]`."""
    lengths = torch.tensor([len(item["inputs"]) for item in items])
    inputs = torch.nn.utils.rnn.pad_sequence([item["inputs"] for item in items], batch_first=True)
    return {"inputs": inputs, "targets": torch.stack([item["targets"] for item in items]), "lengths": lengths}


@register_task("text-classification", TextClassificationConfig)
class TextClassificationDataModule(TaskDataModule):
    """Byte-level classification of the texts in three TSV files (train, val, test)."""

    config: TextClassificationConfig
    inputs, outputs = "tokens", "classifier"
    collate_fn = staticmethod(pad_batch)

    def __init__(self, config: TextClassificationConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, ByteTexts] = {}
        self._classes: dict[str, int] | None = None

    def path(self, split: str) -> Path:
        return self.data_dir / getattr(self.config, f"{split}_file")

    @property
    def classes(self) -> dict[str, int]:
        """Label -> class id, in sorted order of the training file's labels."""
        if self._classes is None:
            labels = {label for _, label in self._read("train")}
            if len(labels) < 2:
                raise DataError(f"{self.path('train')}: every example has the label {labels.pop()!r}; a classifier "
                                "needs at least two classes")
            self._classes = {label: index for index, label in enumerate(sorted(labels))}
        return self._classes

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs=self.inputs, outputs=self.outputs, num_outputs=len(self.classes), vocab_size=BYTES,
                      metrics=("accuracy", "f1"), labels=tuple(self.classes))

    @property
    def description(self) -> str:
        return f"text classification of {self.path('train').name} (bytes, up to {self.config.max_length})"

    def _read(self, split: str) -> list[tuple[str, str]]:
        return read_examples(self.path(split), self.config.text_column, self.config.label_column)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        for split in ("train", "val", "test"):
            self.datasets[split] = ByteTexts(self._read(split), self.classes, self.config.max_length, self.path(split))
