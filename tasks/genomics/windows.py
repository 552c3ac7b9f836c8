"""Windows cut from long nucleotide sequences, for language modelling and for classifying where a window comes from.

A `Segment` is a stretch of sequence a window may be cut from (a chromosome, a plasmid, a range of coordinates held
out), stored as nucleotide ids uint8 `[length]` (one byte a base: a 48 Mbp genome collection is 48 MB). A window is
a slice of one segment, converted to int64 only when it is fetched, so memory is linear in the window's length
(1K up to 1M tokens and beyond) and independent of how many windows an epoch draws.

- `RandomWindows` draws fresh windows at every fetch from torch's global generator (which training seeds): a segment
  with probability proportional to the number of windows it holds (per class first, uniformly, with
  `balance_labels`), then a start uniformly; with `reverse_complement`, half the windows are reverse-complemented
  (HyenaDNA's augmentation).
- `FixedWindows` cuts evaluation windows that never change: each segment tiled with non-overlapping windows from
  its start, then at most `max_windows` of them (per class with labels) kept, evenly spaced over the tiling.

Items: `{"inputs": LongTensor [length], "targets": ...}`; for language modelling a window holds `length + 1` bases,
`inputs` its first `length` and `targets` its last `length` (the next base at every position); for classification
`targets` is the segment's label, LongTensor `[]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset
from zoo.tasks.base import DataError
from zoo.tasks.genomics.nucleotides import reverse_complement


@dataclass(frozen=True)
class Segment:
    """A stretch of sequence: `name` (for messages), `ids` uint8 `[length]`, `label` (a class id; -1: none)."""

    name: str
    ids: torch.Tensor
    label: int = -1


def _span(length: int, language_model: bool) -> int:
    """Bases one window takes: one more than its length for language modelling (the last target)."""
    return length + 1 if language_model else length


def usable(segments: list[Segment], span: int, what: str) -> list[Segment]:
    """The segments that hold at least one window of `span` bases; DataError naming `what` when none does."""
    kept = [segment for segment in segments if len(segment.ids) >= span]
    if not kept:
        longest = max((len(segment.ids) for segment in segments), default=0)
        raise DataError(f"{what}: no sequence holds a window of {span:,} bases (the longest has {longest:,}); use a "
                        "shorter window")
    return kept


def _item(window: torch.Tensor, label: int, language_model: bool) -> dict[str, torch.Tensor]:
    window = window.long()
    if language_model:
        return {"inputs": window[:-1], "targets": window[1:]}
    return {"inputs": window, "targets": torch.tensor(label)}


class RandomWindows(Dataset):
    """`count` random windows of `length` bases an epoch (see the module docstring); `what` names the data in
    errors."""

    def __init__(self, segments: list[Segment], length: int, count: int, *, language_model: bool,
                 reverse_complement: bool = False, balance_labels: bool = False, what: str = "sequences") -> None:
        self.length, self.count, self.language_model = length, count, language_model
        self.reverse_complement = reverse_complement
        span = _span(length, language_model)
        self.segments = usable(segments, span, what)
        starts = torch.tensor([len(segment.ids) - span + 1 for segment in self.segments], dtype=torch.float64)
        labels = torch.tensor([segment.label for segment in self.segments])
        if balance_labels:  # each class equally often, its segments by their number of windows
            weights = torch.zeros_like(starts)
            for label in labels.unique():
                chosen = labels == label
                weights[chosen] = starts[chosen] / starts[chosen].sum()
        else:
            weights = starts
        self.weights = weights / weights.sum()
        self.starts = starts.long()

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        choice = int(torch.multinomial(self.weights, 1))
        segment = self.segments[choice]
        start = int(torch.randint(int(self.starts[choice]), ()))
        window = segment.ids[start:start + _span(self.length, self.language_model)]
        if self.reverse_complement and bool(torch.rand(()) < 0.5):
            window = reverse_complement(window)
        return _item(window, segment.label, self.language_model)


class FixedWindows(Dataset):
    """Evaluation windows of `length` bases that never change (see the module docstring): at most `max_windows`
    (per label when the segments have labels; 0: all)."""

    def __init__(self, segments: list[Segment], length: int, max_windows: int, *, language_model: bool,
                 what: str = "sequences") -> None:
        self.length, self.language_model = length, language_model
        span = _span(length, language_model)
        self.segments = usable(segments, span, what)
        by_label: dict[int, list[tuple[int, int]]] = {}
        for index, segment in enumerate(self.segments):
            tiles = [(index, start) for start in range(0, len(segment.ids) - span + 1, span)]
            by_label.setdefault(segment.label, []).extend(tiles)
        self.windows = []
        for label in sorted(by_label):
            tiles = by_label[label]
            if max_windows and len(tiles) > max_windows:
                keep = torch.linspace(0, len(tiles) - 1, max_windows).round().long().unique()
                tiles = [tiles[i] for i in keep.tolist()]
            self.windows.extend(tiles)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        segment_index, start = self.windows[index]
        segment = self.segments[segment_index]
        return _item(segment.ids[start:start + _span(self.length, self.language_model)], segment.label,
                     self.language_model)


def split_range(ids: torch.Tensor, fractions: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut `ids` `[L]` into three consecutive coordinate ranges: the first `1 - val - test`, then `val`, then `test`
    (fractions `(val, test)` of L, rounded down); views, not copies."""
    val, test = fractions
    length = len(ids)
    test_start = length - int(length * test)
    val_start = test_start - int(length * val)
    return ids[:val_start], ids[val_start:test_start], ids[test_start:]
