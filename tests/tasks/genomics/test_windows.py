"""Genome windows: language-model windows shift by one base, every window lies inside one segment, classes are drawn
equally often when balanced, reverse complements are real reverse complements of the genome, evaluation windows are
fixed and evenly spread, and a window of a million bases is a slice of the stored genome (memory linear in the
window, the genome never copied)."""

from __future__ import annotations

import pytest
import torch
from zoo.tasks import DataError
from zoo.tasks.genomics.nucleotides import A, T, reverse_complement
from zoo.tasks.genomics.windows import FixedWindows, RandomWindows, Segment, split_range


def genome(length: int) -> torch.Tensor:
    return torch.randint(A, T + 1, (length,), dtype=torch.uint8)


def located(window: torch.Tensor, segments: list[Segment]) -> list[tuple[int, int]]:
    """(segment, start) of every place `window` occurs, forwards."""
    found = []
    for index, segment in enumerate(segments):
        if len(segment.ids) < len(window):
            continue
        views = segment.ids.long().unfold(0, len(window), 1)
        found += [(index, int(start)) for start in torch.nonzero((views == window).all(1)).flatten()]
    return found


def test_language_model_windows_shift_by_one_and_stay_in_a_segment(seed):
    segments = [Segment("a", genome(300)), Segment("b", genome(150)), Segment("short", genome(20))]
    windows = RandomWindows(segments, 64, 40, language_model=True)
    assert len(windows) == 40 and [s.name for s in windows.segments] == ["a", "b"]  # 20 bases hold no 65-base window
    for index in range(len(windows)):
        item = windows[index]
        assert item["inputs"].shape == item["targets"].shape == (64,) and item["inputs"].dtype == torch.long
        assert torch.equal(item["inputs"][1:], item["targets"][:-1])
        assert located(torch.cat([item["inputs"], item["targets"][-1:]]), segments)


def test_balanced_classes_and_reverse_complements(seed):
    segments = [Segment("big", genome(2000), 0), Segment("small", genome(100), 1)]
    windows = RandomWindows(segments, 32, 2000, language_model=False, balance_labels=True, reverse_complement=True)
    labels = torch.stack([windows[i]["targets"] for i in range(len(windows))])
    # each class half the time: 1000 of 2000 draws, binomial sd 22; 6 sd is never crossed by chance
    assert abs(int((labels == 1).sum()) - 1000) < 135
    forward = flipped = 0
    for index in range(200):
        item = windows[index]
        found = located(item["inputs"], segments)
        found_flipped = located(reverse_complement(item["inputs"]), segments)
        assert found or found_flipped
        assert all(segments[s].label == int(item["targets"]) for s, _ in found + found_flipped)
        forward, flipped = forward + bool(found), flipped + bool(found_flipped)
    assert forward > 50 and flipped > 50  # 200 draws at p = 1/2 each (sd 7)


def test_fixed_windows_are_fixed_evenly_spread_and_capped_per_label(seed):
    segments = [Segment("x", genome(1000), 0), Segment("y", genome(500), 1), Segment("z", genome(300), 1)]
    windows = FixedWindows(segments, 50, 6, language_model=False)
    by_label = [int(windows[i]["targets"]) for i in range(len(windows))]
    assert by_label == [0] * 6 + [1] * 6
    again = FixedWindows(segments, 50, 6, language_model=False)
    assert all(torch.equal(windows[i]["inputs"], again[i]["inputs"]) for i in range(len(windows)))
    assert windows.windows[:6] == [(0, start) for start in (0, 200, 400, 550, 750, 950)]  # of tiles 0-19
    every = FixedWindows(segments, 50, 0, language_model=True)
    assert len(every) == 19 + 9 + 5  # non-overlapping windows of 51 bases


def test_a_window_longer_than_every_sequence_is_refused():
    with pytest.raises(DataError, match=r"toy: no sequence holds a window of 1,025 bases \(the longest has 1,000\)"):
        RandomWindows([Segment("a", genome(1000))], 1024, 4, language_model=True, what="toy")


def test_a_million_base_window_is_a_slice_of_the_stored_genome(seed):
    stored = genome(3 << 20)
    windows = RandomWindows([Segment("chromosome", stored)], 1 << 20, 2, language_model=True)
    assert windows.segments[0].ids.data_ptr() == stored.data_ptr()  # held, not copied
    item = windows[0]
    assert item["inputs"].shape == (1 << 20,) and item["inputs"].untyped_storage().nbytes() == 8 * ((1 << 20) + 1)
    start = located(item["inputs"][:64], [Segment("chromosome", stored)])[0][1]
    assert torch.equal(item["inputs"], stored[start:start + (1 << 20)].long())


def test_split_range_cuts_consecutive_views():
    ids = torch.arange(100, dtype=torch.uint8)
    train, val, test = split_range(ids, (0.1, 0.2))
    assert (len(train), len(val), len(test)) == (70, 10, 20) and train.data_ptr() == ids.data_ptr()
    assert torch.equal(torch.cat([train, val, test]), ids)
