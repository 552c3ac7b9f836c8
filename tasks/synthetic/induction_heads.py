"""Induction heads (Olsson et al., 2022; H3 and Hyena's synthetic): after a trigger token, recall what followed it
the first time.

An example of length `T` over vocabulary `V` (the trigger is token `V - 1`):

    tokens      uniform over [0, V-2] everywhere but at three places:
    position p  the trigger, p uniform in [0, T-3]
    position p+1  the target, uniform over [0, V-2]
    position T-1  the trigger again
    labels      -100 everywhere but at T-1, which is labelled with the target

The trigger occurs exactly twice, so the answer is never ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from zoo.tasks.base import register_task
from zoo.tasks.synthetic.generated import GeneratedConfig, GeneratedTokenTask


def generate_induction_heads(num_examples: int, seq_len: int, vocab_size: int,
                             seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Examples as the module docstring lays out; deterministic in `seed`.

    Returns `(inputs, labels)`, LongTensors `[num_examples, seq_len]`.
    """
    _check(seq_len, vocab_size)
    generator = torch.Generator().manual_seed(seed)
    trigger = vocab_size - 1
    inputs = torch.randint(0, trigger, (num_examples, seq_len), generator=generator)
    rows = torch.arange(num_examples)
    first = torch.randint(0, seq_len - 2, (num_examples,), generator=generator)
    inputs[rows, first] = trigger
    inputs[:, -1] = trigger
    labels = torch.full_like(inputs, -100)
    labels[:, -1] = inputs[rows, first + 1]
    return inputs, labels


def _check(seq_len: int, vocab_size: int) -> None:
    if seq_len < 3:
        raise ValueError(f"seq_len must be >= 3 (trigger, target, trigger), got {seq_len}")
    if vocab_size < 3:
        raise ValueError(f"vocab_size must be >= 3 (two tokens and the trigger), got {vocab_size}")


@dataclass
class InductionHeadsConfig(GeneratedConfig):
    """Safari's setting: vocabulary 20; sequence length a parameter (30 up to 131072 in the Hyena paper)."""

    name: str = "induction-heads"
    vocab_size: int = 20
    seq_len: int = 256

    def validate(self) -> None:
        super().validate()
        _check(self.seq_len, self.vocab_size)


@register_task("induction-heads", InductionHeadsConfig)
class InductionHeadsDataModule(GeneratedTokenTask):
    """Induction-head splits, generated once and cached in `<data_dir>/induction-heads/`."""

    config: InductionHeadsConfig
    cache_version = 1

    @property
    def description(self) -> str:
        return f"induction heads (length {self.config.seq_len}, vocabulary {self.config.vocab_size})"

    def data_fields(self) -> dict[str, Any]:
        return {"vocab_size": self.config.vocab_size, "seq_len": self.config.seq_len}

    def generate(self, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        return generate_induction_heads(size, self.config.seq_len, self.config.vocab_size, seed)
