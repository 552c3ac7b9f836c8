"""Selective copying (Gu & Dao, Mamba, 2023): remember the data tokens scattered through noise, recall them in order.

An example over vocabulary `A` with `M = num_tokens` data tokens and `L = context_len` context positions:

    positions 0 .. L-1      M data tokens from [1, A-2] at M distinct positions drawn uniformly, 0 elsewhere
    positions L .. L+M-1    the marker A-1, M times
    labels                  -100 in the context; at marker j, the j-th data token in order of position

The prediction at each marker position is the label there (the head reads the sequence up to and including it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from zoo.tasks.base import register_task
from zoo.tasks.synthetic.generated import GeneratedConfig, GeneratedTokenTask
from zoo.tasks.synthetic.sampling import sample_distinct_uniform


def generate_selective_copying(num_examples: int, context_len: int, num_tokens: int, vocab_size: int,
                               seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Examples as the module docstring lays out; deterministic in `seed`.

    Returns `(inputs, labels)`, LongTensors `[num_examples, context_len + num_tokens]`.
    """
    _check(context_len, num_tokens, vocab_size)
    generator = torch.Generator().manual_seed(seed)
    data = torch.randint(1, vocab_size - 1, (num_examples, num_tokens), generator=generator)
    positions = sample_distinct_uniform(context_len, num_examples, num_tokens, generator).sort(dim=1).values
    inputs = torch.zeros(num_examples, context_len + num_tokens, dtype=torch.long)
    inputs.scatter_(1, positions, data)
    inputs[:, context_len:] = vocab_size - 1
    labels = torch.full_like(inputs, -100)
    labels[:, context_len:] = data
    return inputs, labels


def _check(context_len: int, num_tokens: int, vocab_size: int) -> None:
    if num_tokens < 1:
        raise ValueError(f"num_tokens must be >= 1, got {num_tokens}")
    if context_len < num_tokens:
        raise ValueError(f"context_len must be >= num_tokens = {num_tokens} (each data token takes a position), "
                         f"got {context_len}")
    if vocab_size < 3:
        raise ValueError(f"vocab_size must be >= 3 (noise 0, data tokens, the marker), got {vocab_size}")


@dataclass
class SelectiveCopyingConfig(GeneratedConfig):
    """The Mamba paper's setting: 16 data tokens over a vocabulary of 16, context 4096."""

    name: str = "selective-copying"
    vocab_size: int = 16
    num_tokens: int = 16
    context_len: int = 4096

    def validate(self) -> None:
        super().validate()
        _check(self.context_len, self.num_tokens, self.vocab_size)


@register_task("selective-copying", SelectiveCopyingConfig)
class SelectiveCopyingDataModule(GeneratedTokenTask):
    """Selective copying splits, generated once and cached in `<data_dir>/selective-copying/`."""

    config: SelectiveCopyingConfig
    cache_version = 1

    @property
    def description(self) -> str:
        c = self.config
        return (f"selective copying ({c.num_tokens} tokens in a context of {c.context_len}, vocabulary "
                f"{c.vocab_size})")

    def data_fields(self) -> dict[str, Any]:
        c = self.config
        return {"vocab_size": c.vocab_size, "num_tokens": c.num_tokens, "context_len": c.context_len}

    def generate(self, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        return generate_selective_copying(size, c.context_len, c.num_tokens, c.vocab_size, seed)
