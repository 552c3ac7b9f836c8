"""Loaders for the downstream genomics benchmarks in their own file formats, for users who have the files
(neither downloads offline): `genomic-benchmark` and `nt-downstream`.

- GenomicBenchmarks (Grešová et al. 2023; the `genomic-benchmarks` package downloads them to
  `~/.genomic_benchmarks/<dataset>/`): `<dataset>/{train,test}/<class>/<id>.txt`, one sequence per file (its lines
  joined); the class folders name the classes, sorted. Point `data_dir` at `<dataset>`.
- Nucleotide Transformer downstream tasks (Dalla-Torre et al. 2023; the Hugging Face dataset
  InstaDeepAI/nucleotide_transformer_downstream_tasks): `<task>/{train,test}.fna`, FASTA whose headers are
  `>name|label`, the label a class id 0, 1, ...; point `data_dir` at `<task>`.

Neither has a validation split: a stratified `val_fraction` of the training sequences (drawn with `split_seed`)
validates, and the test files are kept for testing. Sequences keep their lengths: a batch is padded to its longest,
with `lengths` (the anatomy's padding rules keep padding out of every result). `inputs` LongTensor `[B, T_max]`
(nucleotide ids, `nucleotides.py`), `targets` LongTensor `[B]`, `lengths` LongTensor `[B]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from zoo.tasks.base import DataError, TaskConfig, TaskDataModule, TaskIO, register_task
from zoo.tasks.genomics.fasta import read_fasta
from zoo.tasks.genomics.nucleotides import VOCAB, InvalidBaseError, encode
from zoo.tasks.text_classification import pad_batch
from zoo.tasks.timeseries.uea import Cases, stratified_holdout

SPLITS = ("train", "test")


@dataclass
class SequenceFilesConfig(TaskConfig):
    """A folder of labelled sequences (`data_dir`, required); `val_fraction` of train validates."""

    name: str = "genomic-benchmark"
    val_fraction: float = 0.1
    split_seed: int = 0

    def validate(self) -> None:
        super().validate()
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")


@dataclass
class NTDownstreamConfig(SequenceFilesConfig):
    """A Nucleotide Transformer downstream task folder (`data_dir`)."""

    name: str = "nt-downstream"


Labelled = tuple[list[torch.Tensor], list[int]]  # sequences (uint8 ids) and their class ids


def read_genomic_benchmark(folder: Path) -> tuple[dict[str, Labelled], tuple[str, ...]]:
    """`{split: (sequences, class ids)}` for train and test, and the class names (the class folders, sorted);
    DataError naming the folder or file that does not fit the layout."""
    train = folder / "train"
    classes = tuple(sorted(path.name for path in train.iterdir() if path.is_dir())) if train.is_dir() else ()
    if len(classes) < 2:
        raise DataError(f"{folder} is not a GenomicBenchmarks dataset: it needs train/<class>/*.txt for at least two "
                        "classes (and test/<class>/*.txt); point data_dir at the dataset's folder")
    splits = {}
    for split in SPLITS:
        sequences, labels = [], []
        for label, name in enumerate(classes):
            files = sorted((folder / split / name).glob("*.txt"))
            if not files:
                raise DataError(f"{folder / split / name}: no sequence files (*.txt) for class '{name}'")
            for path in files:
                text = b"".join(path.read_bytes().split())
                if not text:
                    raise DataError(f"{path} holds no sequence")
                try:
                    sequences.append(encode(text))
                except InvalidBaseError as error:
                    raise DataError(f"{path}: {error}") from None
                labels.append(label)
        splits[split] = (sequences, labels)
    return splits, classes


def read_nt_fasta(path: Path) -> Labelled:
    """The sequences and integer labels of a Nucleotide Transformer `.fna` file (headers `>name|label`)."""
    sequences, labels = [], []
    for record in read_fasta(path):
        name, separator, label = record.name.rpartition("|")
        if not separator or not label.isdigit():
            raise DataError(f"{path}: record '{record.name}' has no '|<class id>' at the end of its header "
                            "(Nucleotide Transformer files are >name|label)")
        sequences.append(record.ids)
        labels.append(int(label))
    return sequences, labels


def read_nt_downstream(folder: Path) -> tuple[dict[str, Labelled], tuple[str, ...]]:
    """`{split: (sequences, class ids)}` from `<folder>/{train,test}.fna`, and the class names ("0", "1", ...)."""
    splits = {split: read_nt_fasta(folder / f"{split}.fna") for split in SPLITS}
    count = max(max(labels) for _, labels in splits.values()) + 1
    if count < 2:
        raise DataError(f"{folder}: every sequence has label 0; a classification task needs at least two classes")
    return splits, tuple(str(label) for label in range(count))


class SequenceFilesTask(TaskDataModule):
    """Classification of labelled sequences read from `data_dir` by `read` (see the module docstring)."""

    inputs, outputs = "tokens", "classifier"
    collate_fn = staticmethod(pad_batch)
    format_name: str

    def read(self, folder: Path) -> tuple[dict[str, Labelled], tuple[str, ...]]:
        raise NotImplementedError

    @property
    def classes(self) -> tuple[str, ...]:
        if not getattr(self, "_classes", None):
            self.setup()
        return self._classes

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", outputs="classifier", num_outputs=len(self.classes), vocab_size=len(VOCAB),
                      metrics=("accuracy", "f1", "mcc"), labels=self.classes)

    @property
    def description(self) -> str:
        return f"{self.format_name} sequence classification: {self.data_dir.name}"

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "datasets", None):
            return
        if not self.config.data_dir:
            raise DataError(f"{self.config.name} reads {self.format_name} files, which do not install offline: set "
                            "task.data_dir to the dataset's folder")
        if not self.data_dir.is_dir():
            raise DataError(f"no {self.format_name} folder at {self.data_dir}")
        splits, self._classes = self.read(self.data_dir)
        train_sequences, train_labels = splits["train"]
        kept, held = stratified_holdout(torch.tensor(train_labels), self.config.val_fraction, self.config.split_seed)
        test_sequences, test_labels = splits["test"]
        self.datasets = {
            "train": Cases([train_sequences[i].long() for i in kept], torch.tensor([train_labels[i] for i in kept])),
            "val": Cases([train_sequences[i].long() for i in held], torch.tensor([train_labels[i] for i in held])),
            "test": Cases([ids.long() for ids in test_sequences], torch.tensor(test_labels)),
        }


@register_task("genomic-benchmark", SequenceFilesConfig)
class GenomicBenchmarkDataModule(SequenceFilesTask):
    """A GenomicBenchmarks dataset folder."""

    format_name = "GenomicBenchmarks"

    def read(self, folder: Path) -> tuple[dict[str, Labelled], tuple[str, ...]]:
        return read_genomic_benchmark(folder)


@register_task("nt-downstream", NTDownstreamConfig)
class NTDownstreamDataModule(SequenceFilesTask):
    """A Nucleotide Transformer downstream task folder."""

    format_name = "Nucleotide Transformer"

    def read(self, folder: Path) -> tuple[dict[str, Labelled], tuple[str, ...]]:
        return read_nt_downstream(folder)
