"""LRA ListOps: the value (0-9) of a nested MIN / MAX / MED / SM expression, from its tokens (10 classes).

Files (under the task's `data_dir`; the LRA release's, or `zoo data prepare lra/listops`'s): `basic_train.tsv`,
`basic_val.tsv`, `basic_test.tsv`, UTF-8, a header row naming the columns `Source` and `Target` (tab-separated, in
any order), then one example a line: the expression (`( ( ( [MAX 2 ) 9 ) ] )`), and the answer, a digit 0-9.

Tokens (LRA's): the characters `(` and `)` are deleted, the rest splits at whitespace, and `]` becomes `X`.
Vocabulary: `<pad>` 0, `<unk>` 1 (kept for LRA's numbering, never produced: a Source token other than a digit, an
operator or `]` is a data error), `<eos>` 2, then the 15 tokens `0`-`9`, `[MIN`, `[MAX`, `[MED`, `[SM`, `X` (ids
3-17). Every sequence ends with `<eos>`: a source of more than `max_length - 1` tokens keeps its first
`max_length - 1` tokens and then `<eos>` (the rest of the expression is lost, its label kept), so no sequence is
longer than `max_length` (the default 2048, S4's, cuts nothing: LRA's sources have fewer than 2000 tokens).
Batches: `inputs` LongTensor `[B, T]` padded with 0 to the longest sequence of the batch, `targets` `[B]`,
`lengths` `[B]` (tokens including `<eos>`).

Evaluate the checkpoint that is best on validation, not the last one: LRA users saw the test accuracy of last
checkpoints collapse. The trainer tests the best-on-validation checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import rich.progress
import torch
from torch.utils.data import Dataset
from zoo.tasks.base import DataError, TaskConfig, TaskDataModule, TaskIO, register_task, utf8_errors_named
from zoo.tasks.text_classification import pad_batch

SPECIALS = ("<pad>", "<unk>", "<eos>")
TOKENS = (*(str(digit) for digit in range(10)), "[MIN", "[MAX", "[MED", "[SM", "X")
VOCABULARY = (*SPECIALS, *TOKENS)
PAD, UNK, EOS = range(len(SPECIALS))
TOKEN_IDS = {token: index for index, token in enumerate(VOCABULARY)}
SOURCE_IDS = {**{token: TOKEN_IDS[token] for token in TOKENS if token != "X"}, "]": TOKEN_IDS["X"]}  # text -> id
TARGETS = {str(digit): digit for digit in range(10)}
SPLIT_FILES = {"train": "basic_train.tsv", "val": "basic_val.tsv", "test": "basic_test.tsv"}
HEADER = "Source\tTarget"
_ID_BYTES = {token: bytes([index]) for token, index in SOURCE_IDS.items()}
_DELETE_PARENTHESES = str.maketrans("", "", "()")


class UnknownTokenError(ValueError):
    """A Source token outside ListOps' vocabulary."""


def source_ids(source: str) -> bytes:
    """The token ids of a Source text, one byte each, without `<eos>`; an unknown token raises UnknownTokenError."""
    try:
        return b"".join(map(_ID_BYTES.__getitem__, source.translate(_DELETE_PARENTHESES).split()))
    except KeyError as error:
        raise UnknownTokenError(f"unknown token {error.args[0]!r} (ListOps has {', '.join(SOURCE_IDS)}, '(' "
                                "and ')')") from None


def encode_source(source: str, max_length: int) -> list[int]:
    """Token ids of a Source text (see the module docstring): at most `max_length`, the last one `EOS`."""
    return [*source_ids(source)[: max_length - 1], EOS]


class ListOpsExamples(Dataset):
    """The examples of one file: item `i` is `{"inputs": LongTensor [T_i], "targets": LongTensor []}`.

    Held compactly: `tokens` uint8 `[sum T_i]` (all sequences end to end), `offsets` `[N + 1]`, `targets` `[N]`.
    """

    def __init__(self, tokens: torch.Tensor, offsets: torch.Tensor, targets: torch.Tensor) -> None:
        self.tokens, self.offsets, self.targets = tokens, offsets, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start, end = self.offsets[index], self.offsets[index + 1]
        return {"inputs": self.tokens[start:end].long(), "targets": self.targets[index]}


def _columns(path: Path, header: str) -> tuple[int, int, int]:
    """(Source index, Target index, field count) of a header row; DataError when a column is missing."""
    names = header.rstrip("\r\n").split("\t")
    missing = [name for name in ("Source", "Target") if name not in names]
    if missing:
        raise DataError(f"{path}, line 1: the header {names} lacks {missing}; a ListOps file starts with the row "
                        f"{HEADER!r} (the LRA release's layout)")
    return names.index("Source"), names.index("Target"), len(names)


def read_listops(path: Path, max_length: int) -> ListOpsExamples:
    """Read and tokenise one ListOps TSV file (layout in the module docstring); malformed lines raise `DataError`
    naming the file and line."""
    if not path.is_file():
        raise DataError(f"ListOps file not found: {path}; point the task's data_dir at the LRA release's ListOps "
                        "folder, or make one with `zoo data prepare lra/listops`")
    tokens, offsets, targets = bytearray(), [0], []
    with utf8_errors_named(path), rich.progress.open(path, "r", encoding="utf-8", newline="",
                                                     description=f"reading {path.name}") as file:
        header = file.readline()
        if not header:
            raise DataError(f"{path} is empty; a ListOps file has a 'Source<TAB>Target' header and examples")
        source_column, target_column, field_count = _columns(path, header)
        for line_number, line in enumerate(file, start=2):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != field_count:
                raise DataError(f"{path}, line {line_number}: {len(fields)} tab-separated field(s), the header names "
                                f"{field_count}; fix or remove the line")
            target = fields[target_column].strip()
            if target not in TARGETS:
                raise DataError(f"{path}, line {line_number}: Target {target!r} is not a digit 0-9")
            try:
                ids = source_ids(fields[source_column])
            except UnknownTokenError as error:
                raise DataError(f"{path}, line {line_number}: {error}; fix or remove the line") from None
            if not ids:
                raise DataError(f"{path}, line {line_number}: the Source holds no token; fix or remove the line")
            tokens += ids[: max_length - 1]
            tokens.append(EOS)
            offsets.append(len(tokens))
            targets.append(TARGETS[target])
    if not targets:
        raise DataError(f"{path} holds a header but no examples")
    return ListOpsExamples(torch.frombuffer(tokens, dtype=torch.uint8).clone(), torch.tensor(offsets),
                           torch.tensor(targets))


@dataclass
class ListOpsConfig(TaskConfig):
    """LRA ListOps; `data_dir` holds `basic_{train,val,test}.tsv` ("" = `<data dir>/lra/listops`)."""

    name: str = "lra-listops"
    batch_size: int = 32  # S4's
    max_length: int = 2048  # tokens including <eos> (S4's)

    def validate(self) -> None:
        super().validate()
        if self.max_length < 2:
            raise ValueError(f"max_length must be >= 2 (at least one token and <eos>), got {self.max_length}")


@register_task("lra-listops", ListOpsConfig)
class ListOpsDataModule(TaskDataModule):
    """LRA ListOps from the three TSV files in `data_dir` (see the module docstring)."""

    config: ListOpsConfig
    inputs, outputs = "tokens", "classifier"
    default_subdir = "lra/listops"
    collate_fn = staticmethod(pad_batch)

    def __init__(self, config: ListOpsConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, ListOpsExamples] = {}

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs=self.inputs, outputs=self.outputs, num_outputs=len(TARGETS), vocab_size=len(VOCABULARY),
                      metrics=("accuracy",))

    @property
    def description(self) -> str:
        return (f"LRA ListOps from {self.data_dir}/basic_{{train,val,test}}.tsv (the LRA release or `zoo data "
                f"prepare lra/listops`), 10 classes, up to {self.config.max_length} tokens with <eos>")

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        for split, name in SPLIT_FILES.items():
            self.datasets[split] = read_listops(self.data_dir / name, self.config.max_length)
