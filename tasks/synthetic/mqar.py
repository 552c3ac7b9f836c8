"""Synthetic recall tasks: multi-query associative recall (MQAR, from the BASED paper).

An MQAR example of length `T` with `P` key-value pairs over vocabulary `V` (`H = V // 2`):

    position  0   1   2   3   ...  2P-2   2P-1  | 2P ... T-1
    input     k0  v0  k1  v1  ...  k_P-1  v_P-1 | query region
    label     -100 everywhere in the context    | v_j at the position of each queried key k_j, else -100

- Keys are `P` distinct tokens from `[1, H)`, values `P` distinct tokens from `[H, V)`, both drawn
  uniformly without replacement per example; token 0 never occurs.
- The query region is cut into `S = (T - 2P) // 2` slots of two positions; slot `i` (1-based) starts at
  position `2P + 2(i - 1)`. `P` slots are drawn without replacement, slot `i` with probability
  proportional to `i ** (power_a - 1)`, so queries crowd toward the start of the region. The slot drawn
  `j`-th holds key `k_j` at its first position.
- Label convention (next-token prediction, as zoology): the label of the position holding a queried key
  `k_j` is its value `v_j`; the input at the following position is filler, not `v_j`. Every other label,
  the whole context included, is -100. Each example has exactly `P` labelled positions.
- Filler (the second position of every slot, the unqueried slots, and the last position when `T - 2P`
  is odd) is drawn uniformly from the value range `[H, V)`. Filler is therefore never a key token: a key
  token in the query region occurs exactly where it is queried, so no query is ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from zoo.tasks.base import register_task
from zoo.tasks.synthetic.generated import GeneratedConfig, GeneratedTokenTask
from zoo.tasks.synthetic.sampling import sample_distinct_uniform, sample_without_replacement


def check_mqar(seq_len: int, num_kv_pairs: int, vocab_size: int, power_a: float) -> None:
    """Raise `ValueError` naming the field when MQAR examples of these sizes cannot be built."""
    if num_kv_pairs < 1:
        raise ValueError(f"num_kv_pairs must be >= 1, got {num_kv_pairs}")
    if seq_len < 4 * num_kv_pairs:
        raise ValueError(
            f"seq_len must be >= 4 * num_kv_pairs = {4 * num_kv_pairs} (a context of 2 * num_kv_pairs "
            f"tokens and a query region with num_kv_pairs two-position slots), got {seq_len}"
        )
    if vocab_size // 2 - 1 < num_kv_pairs:
        raise ValueError(
            f"vocab_size must be >= {2 * (num_kv_pairs + 1)} so that the key range [1, vocab_size // 2) "
            f"holds num_kv_pairs = {num_kv_pairs} distinct keys, got {vocab_size}"
        )
    if not power_a > 0:
        raise ValueError(f"power_a must be > 0, got {power_a}")


def generate_mqar(
    num_examples: int, seq_len: int, num_kv_pairs: int, vocab_size: int, power_a: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate MQAR examples as laid out in this module's docstring; deterministic in `seed`.

    Returns `(inputs, labels)`, both LongTensor `[num_examples, seq_len]`; labels are -100 except at the
    `num_kv_pairs` query positions of each example, which carry the queried key's value.
    """
    check_mqar(seq_len, num_kv_pairs, vocab_size, power_a)
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, got {num_examples}")
    n, pairs, half = num_examples, num_kv_pairs, vocab_size // 2
    context = 2 * pairs
    generator = torch.Generator().manual_seed(seed)

    keys = 1 + sample_distinct_uniform(half - 1, n, pairs, generator)
    values = half + sample_distinct_uniform(vocab_size - half, n, pairs, generator)
    num_slots = (seq_len - context) // 2
    slot_log_weights = (power_a - 1) * torch.arange(1, num_slots + 1, dtype=torch.float64).log()
    slots = sample_without_replacement(slot_log_weights.float(), n, pairs, generator)
    query_positions = context + 2 * slots

    inputs = torch.randint(half, vocab_size, (n, seq_len), generator=generator)
    inputs[:, 0:context:2] = keys
    inputs[:, 1:context:2] = values
    inputs.scatter_(1, query_positions, keys)
    labels = torch.full((n, seq_len), -100, dtype=torch.long)
    labels.scatter_(1, query_positions, values)
    return inputs, labels


@dataclass
class MQARConfig(GeneratedConfig):
    """MQAR sizes. The defaults are the small experiment (the BASED paper uses `vocab_size=8192`)."""

    name: str = "mqar"
    vocab_size: int = 256
    seq_len: int = 64
    num_kv_pairs: int = 4
    power_a: float = 0.01

    def validate(self) -> None:
        super().validate()
        check_mqar(self.seq_len, self.num_kv_pairs, self.vocab_size, self.power_a)


@register_task("mqar", MQARConfig)
class MQARDataModule(GeneratedTokenTask):
    """MQAR train/val/test splits of one setting, generated once and cached in `<data_dir>/mqar/`."""

    config: MQARConfig
    cache_version = 2

    @property
    def description(self) -> str:
        c = self.config
        return f"MQAR (length {c.seq_len}, {c.num_kv_pairs} key-value pairs, vocabulary {c.vocab_size})"

    def data_fields(self) -> dict[str, Any]:
        c = self.config
        return {"vocab_size": c.vocab_size, "seq_len": c.seq_len, "num_kv_pairs": c.num_kv_pairs,
                "power_a": float(c.power_a)}

    def generate(self, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        return generate_mqar(size, c.seq_len, c.num_kv_pairs, c.vocab_size, c.power_a, seed)
