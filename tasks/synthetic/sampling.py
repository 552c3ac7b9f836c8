"""Index sampling for the generators: weighted draws without replacement, and distinct uniform draws."""

from __future__ import annotations

import torch

# Rows of candidate scores drawn at once are capped at this many elements to bound memory.
_SCORE_CHUNK = 1 << 22


def sample_without_replacement(
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


def sample_distinct_uniform(m: int, num_rows: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """Draw `k` distinct indices of `range(m)` per row, uniformly over ordered `k`-tuples.

    When `2 * k <= m`, draw `k` indices with replacement and redraw repeats until a row has none: which
    entries are redrawn depends only on where the equal entries sit, never on their values, so the
    result is invariant under relabelling the values, hence uniform. Denser draws use Gumbel top-k.
    Returns LongTensor `[num_rows, k]`.
    """
    if 2 * k > m:
        return sample_without_replacement(torch.zeros(m), num_rows, k, generator)
    out = torch.randint(m, (num_rows, k), generator=generator)
    active = torch.arange(num_rows)  # rows that may still hold repeats
    while len(active):
        ordered, order = out[active].sort(dim=1, stable=True)
        repeat = ordered[:, 1:] == ordered[:, :-1]
        rows, cols = repeat.nonzero().unbind(dim=1)
        out[active[rows], order[rows, cols + 1]] = torch.randint(m, (len(rows),), generator=generator)
        active = active[repeat.any(dim=1)]
    return out
