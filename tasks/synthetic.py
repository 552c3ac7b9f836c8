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

import hashlib
import json
import os
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from zoo.tasks.base import (
    TaskConfig,
    TaskDataModule,
    TaskIO,
    TensorDataset,
    register_task,
)

# Bump when the generator's output for the same fields changes, so old cache files are not reused.
_CACHE_VERSION = 1
# Rows of candidate scores drawn at once are capped at this many elements to bound memory.
_SCORE_CHUNK = 1 << 22


def _check_mqar(seq_len: int, num_kv_pairs: int, vocab_size: int, power_a: float) -> None:
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


def _sample_without_replacement(
    log_weights: torch.Tensor, num_rows: int, k: int, generator: torch.Generator
) -> torch.Tensor:
    """Draw `k` of `m` indices without replacement per row, index `i` with weight `exp(log_weights[i])`.

    Gumbel top-k: the `k` largest of `log_weights - log(E)`, `E ~ Exp(1)`, in decreasing order, are
    distributed as `k` successive weighted draws without replacement. `log_weights`: `[m]`.
    Returns LongTensor `[num_rows, k]` in draw order.
    """
    m = log_weights.numel()
    rows_per_chunk = max(1, _SCORE_CHUNK // m)
    out = torch.empty(num_rows, k, dtype=torch.long)
    for start in range(0, num_rows, rows_per_chunk):
        rows = min(rows_per_chunk, num_rows - start)
        noise = torch.empty(rows, m).exponential_(generator=generator).log_()
        out[start : start + rows] = torch.topk(log_weights - noise, k, dim=1).indices
    return out


def _sample_distinct_uniform(m: int, num_rows: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """Draw `k` distinct indices of `range(m)` per row, uniformly over ordered `k`-tuples.

    When `2 * k <= m`, draw `k` indices with replacement and redraw repeats until a row has none: which
    entries are redrawn depends only on where the equal entries sit, never on their values, so the
    result is invariant under relabelling the values, hence uniform. Denser draws use Gumbel top-k.
    Returns LongTensor `[num_rows, k]`.
    """
    if 2 * k > m:
        return _sample_without_replacement(torch.zeros(m), num_rows, k, generator)
    out = torch.randint(m, (num_rows, k), generator=generator)
    active = torch.arange(num_rows)  # rows that may still hold repeats
    while len(active):
        ordered, order = out[active].sort(dim=1, stable=True)
        repeat = ordered[:, 1:] == ordered[:, :-1]
        rows, cols = repeat.nonzero().unbind(dim=1)
        out[active[rows], order[rows, cols + 1]] = torch.randint(m, (len(rows),), generator=generator)
        active = active[repeat.any(dim=1)]
    return out


def generate_mqar(
    num_examples: int, seq_len: int, num_kv_pairs: int, vocab_size: int, power_a: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate MQAR examples as laid out in this module's docstring; deterministic in `seed`.

    Returns `(inputs, labels)`, both LongTensor `[num_examples, seq_len]`; labels are -100 except at the
    `num_kv_pairs` query positions of each example, which carry the queried key's value.
    """
    _check_mqar(seq_len, num_kv_pairs, vocab_size, power_a)
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, got {num_examples}")
    n, pairs, half = num_examples, num_kv_pairs, vocab_size // 2
    context = 2 * pairs
    generator = torch.Generator().manual_seed(seed)

    keys = 1 + _sample_distinct_uniform(half - 1, n, pairs, generator)
    values = half + _sample_distinct_uniform(vocab_size - half, n, pairs, generator)
    num_slots = (seq_len - context) // 2
    slot_log_weights = (power_a - 1) * torch.arange(1, num_slots + 1, dtype=torch.float64).log()
    slots = _sample_without_replacement(slot_log_weights.float(), n, pairs, generator)
    query_positions = context + 2 * slots

    inputs = torch.randint(half, vocab_size, (n, seq_len), generator=generator)
    inputs[:, 0:context:2] = keys
    inputs[:, 1:context:2] = values
    inputs.scatter_(1, query_positions, keys)
    labels = torch.full((n, seq_len), -100, dtype=torch.long)
    labels.scatter_(1, query_positions, values)
    return inputs, labels


@dataclass
class MQARConfig(TaskConfig):
    """MQAR sizes. The defaults are the small experiment (the BASED paper uses `vocab_size=8192`)."""

    name: str = "mqar"
    vocab_size: int = 256
    seq_len: int = 64
    num_kv_pairs: int = 4
    num_train: int = 20_000
    num_val: int = 1_000
    num_test: int = 1_000
    power_a: float = 0.01
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        _check_mqar(self.seq_len, self.num_kv_pairs, self.vocab_size, self.power_a)
        for field in ("num_train", "num_val", "num_test"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


def _split_seed(seed: int, split: str) -> int:
    """A 63-bit generator seed for one split, distinct across splits and across `seed`."""
    digest = hashlib.sha256(f"mqar/{split}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@register_task("mqar", MQARConfig)
class MQARDataModule(TaskDataModule):
    """MQAR train/val/test splits, generated once and cached in `<data_dir>/mqar/<hash>.pt`.

    The hash covers every field that changes the data (sizes, `power_a`, `seed`, the cache version),
    so a change of any of them makes a new file. The file holds `{"fields": ..., split: {"input_ids",
    "labels"}}` with int32 tensors `[num_<split>, seq_len]`; a file that fails to load or does not
    match the fields is regenerated with a warning.
    """

    inputs, outputs = "tokens", "lm"

    config: MQARConfig

    def __init__(self, config: MQARConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, TensorDataset] = {}

    @property
    def io(self) -> TaskIO:
        vocab = self.config.vocab_size
        return TaskIO(inputs=self.inputs, outputs=self.outputs, num_outputs=vocab, vocab_size=vocab, metrics=("accuracy",))

    @property
    def description(self) -> str:
        c = self.config
        return f"MQAR (length {c.seq_len}, {c.num_kv_pairs} key-value pairs, vocabulary {c.vocab_size})"

    @property
    def cache_fields(self) -> dict[str, int | float]:
        """The fields the generated data depends on; their hash names the cache file."""
        cfg = self.config
        return {
            "version": _CACHE_VERSION,
            "vocab_size": cfg.vocab_size,
            "seq_len": cfg.seq_len,
            "num_kv_pairs": cfg.num_kv_pairs,
            "num_train": cfg.num_train,
            "num_val": cfg.num_val,
            "num_test": cfg.num_test,
            "power_a": float(cfg.power_a),
            "seed": cfg.seed,
        }

    @property
    def split_sizes(self) -> dict[str, int]:
        """Examples per split: `{"train": num_train, "val": num_val, "test": num_test}`."""
        return {"train": self.config.num_train, "val": self.config.num_val, "test": self.config.num_test}

    @property
    def cache_path(self) -> Path:
        key = hashlib.sha256(json.dumps(self.cache_fields, sort_keys=True).encode()).hexdigest()[:16]
        return self.data_dir / "mqar" / f"{key}.pt"

    def prepare_data(self) -> None:
        """Generate and cache the splits unless a valid cache file exists."""
        self._load_or_generate()

    def setup(self, stage: str | None = None) -> None:
        """Load every split from the cache (generating it first if needed)."""
        if self.datasets:
            return
        splits = self._load_or_generate()
        self.datasets = {
            split: TensorDataset(inputs=tensors["input_ids"].long(), targets=tensors["labels"].long())
            for split, tensors in splits.items()
        }

    def _load_or_generate(self) -> dict[str, dict[str, torch.Tensor]]:
        path = self.cache_path
        if path.exists():
            try:
                return self._load(path)
            except Exception as err:  # any unreadable or mismatched file is a stale cache
                warnings.warn(
                    f"MQAR cache file {path} is unusable ({type(err).__name__}: {err}); regenerating it",
                    stacklevel=3,
                )
        splits = self._generate()
        _save_atomically({"fields": self.cache_fields, **splits}, path)
        return splits

    def _generate(self) -> dict[str, dict[str, torch.Tensor]]:
        cfg = self.config
        splits = {}
        for split, size in self.split_sizes.items():
            inputs, labels = generate_mqar(
                size, cfg.seq_len, cfg.num_kv_pairs, cfg.vocab_size, cfg.power_a, _split_seed(cfg.seed, split)
            )
            splits[split] = {"input_ids": inputs.int(), "labels": labels.int()}
        return splits

    def _load(self, path: Path) -> dict[str, dict[str, torch.Tensor]]:
        """Load and check a cache file; raise `ValueError` when it does not match the config."""
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("fields") != self.cache_fields:
            raise ValueError(f"fields {payload.get('fields')} differ from {self.cache_fields}")
        splits = {}
        for split, size in self.split_sizes.items():
            tensors = payload[split]
            for name in ("input_ids", "labels"):
                tensor = tensors[name]
                if tensor.shape != (size, self.config.seq_len) or tensor.dtype != torch.int32:
                    raise ValueError(f"{split}/{name} is {tensor.dtype}{list(tensor.shape)}")
            splits[split] = {"input_ids": tensors["input_ids"], "labels": tensors["labels"]}
        return splits


def _save_atomically(obj: object, path: Path) -> None:
    """`torch.save` to a temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as file:
            torch.save(obj, file)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
