"""The attention mask spec: which keys each query sees, for every attention form.

A query at row i of a [T]-long query block sits at absolute position p = i + S - T among S keys
(queries aligned bottom-right, as FlashAttention). Query p may see key j when

    (not causal or j <= p)  and  (dense or in_window(p, j) or p in globals or j in globals or layout(p, j))

where `dense` means that no sparse part is given (no window, no global tokens, no block layout):

- window = (left, right): p - left <= j <= p + right, -1 meaning unbounded on that side (FlashAttention's
  `window_size`); causal masks clip right to 0;
- global_tokens: positions that attend to all keys and that all queries attend to (Longformer);
- layout: a BigBird block layout (`BigBirdLayout`): query block p // block_size sees key block j // block_size
  when the layout says so (window blocks, global blocks, random blocks, seeded).

Under varlen (`cu_seqlens`), positions restart at each sequence and the mask applies within each sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor


@dataclass(frozen=True)
class BigBirdLayout:
    """BigBird's block-sparse pattern over blocks of `block_size` tokens.

    Query block r sees: the `window_blocks` blocks centred on it (odd; r - w .. r + w with w = window_blocks // 2),
    the first `global_blocks` blocks (which also see every block), and `random_blocks` more blocks drawn without
    repetition from those it does not see yet, from a generator seeded by (seed, r) only, so that a row is the same
    for every sequence length (decoding reproduces training). Under causal masks the random blocks are drawn
    among earlier blocks. Every head shares the layout. HF BigBird's ITC variant makes the first *and last* blocks
    global; here the first `global_blocks` are, which also suits causal models.
    """

    block_size: int = 64
    window_blocks: int = 3
    global_blocks: int = 1
    random_blocks: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("block_size", "window_blocks", "global_blocks", "random_blocks", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"BigBirdLayout: {name} must be a non-negative int, got {value!r}")
        if self.block_size < 1:
            raise ValueError(f"BigBirdLayout: block_size must be >= 1, got {self.block_size}")
        if self.window_blocks % 2 != 1:
            raise ValueError(
                f"BigBirdLayout: window_blocks must be odd (the block itself and as many on each side), "
                f"got {self.window_blocks}"
            )

    def blocks(self, num_q_blocks: int, num_k_blocks: int, causal: bool) -> Tensor:
        """[num_q_blocks, num_k_blocks] bool: which key blocks each query block sees (before causal masking
        within blocks). Cached: equal arguments give the same (read-only) tensor."""
        return _bigbird_blocks(self, num_q_blocks, num_k_blocks, causal)


def _row_generator(seed: int, row: int) -> torch.Generator:
    """A CPU generator that depends only on (seed, row)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + row)


@lru_cache(maxsize=64)
def _bigbird_blocks(layout: BigBirdLayout, num_q_blocks: int, num_k_blocks: int, causal: bool) -> Tensor:
    rows = torch.arange(num_q_blocks)[:, None]
    cols = torch.arange(num_k_blocks)[None, :]
    half = layout.window_blocks // 2
    seen = ((cols - rows).abs() <= half) | (cols < layout.global_blocks) | (rows < layout.global_blocks)
    if causal:
        seen &= cols <= rows
    if layout.random_blocks:
        for row in range(num_q_blocks):
            limit = min(row + 1, num_k_blocks) if causal else num_k_blocks
            candidates = (~seen[row, :limit]).nonzero().flatten()
            if candidates.numel():
                order = torch.randperm(candidates.numel(), generator=_row_generator(layout.seed, row))
                seen[row, candidates[order[: layout.random_blocks]]] = True
    return seen


@dataclass(frozen=True)
class MaskSpec:
    """Which keys each query sees (see the module docstring for the rule).

    causal: keys after the query are hidden; window: (left, right) token window, -1 unbounded;
    global_tokens: positions that see and are seen by all (Longformer); layout: a BigBird block layout.
    With no window, no global tokens and no layout the mask is dense (full or causal attention).
    """

    causal: bool = True
    window: tuple[int, int] = (-1, -1)
    global_tokens: tuple[int, ...] = ()
    layout: BigBirdLayout | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.causal, bool):
            raise ValueError(f"MaskSpec: causal must be a bool, got {self.causal!r}")
        window = tuple(self.window)
        if len(window) != 2 or any(isinstance(w, bool) or not isinstance(w, int) or w < -1 for w in window):
            raise ValueError(f"MaskSpec: window must be (left, right) ints >= -1 (-1: unbounded), got {self.window!r}")
        object.__setattr__(self, "window", window)
        tokens = tuple(self.global_tokens)
        if any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in tokens):
            raise ValueError(f"MaskSpec: global_tokens must be non-negative positions, got {self.global_tokens!r}")
        object.__setattr__(self, "global_tokens", tuple(sorted(set(tokens))))
        if self.layout is not None and not isinstance(self.layout, BigBirdLayout):
            raise ValueError(f"MaskSpec: layout must be a BigBirdLayout or None, got {type(self.layout).__name__}")

    @property
    def effective_window(self) -> tuple[int, int]:
        """(left, right) with causal applied: right is 0 under causal masks (-1: unbounded)."""
        left, right = self.window
        return left, (0 if self.causal else right)

    @property
    def has_window(self) -> bool:
        """Whether the window limits anything (a side is bounded)."""
        return self.window != (-1, -1)

    @property
    def dense(self) -> bool:
        """Whether no sparse part is given: every key (every earlier key, if causal) is seen."""
        return not self.has_window and not self.global_tokens and self.layout is None

    @property
    def max_left(self) -> int:
        """How far back a query can see at most when decoding: the window's left size when that alone bounds
        it (a rolling cache of max_left + 1 keys suffices), -1 when any key may be needed."""
        if self.has_window and self.window[0] >= 0 and not self.global_tokens and self.layout is None:
            return self.window[0]
        return -1


def sliding_window(left: int, right: int = 0, causal: bool = True) -> MaskSpec:
    """Sliding-window attention: each query sees `left` keys back and `right` ahead (0 under causal)."""
    return MaskSpec(causal=causal, window=(left, 0 if causal else right))


def longformer(left: int, right: int, global_tokens: tuple[int, ...], causal: bool = False) -> MaskSpec:
    """Longformer: a sliding window plus global tokens that see and are seen by every position."""
    return MaskSpec(causal=causal, window=(left, 0 if causal else right), global_tokens=tuple(global_tokens))


def bigbird(layout: BigBirdLayout | None = None, causal: bool = False) -> MaskSpec:
    """BigBird: window, global and random blocks (`BigBirdLayout`, defaults: 64-token blocks, 3 window blocks,
    1 global block, 2 random blocks)."""
    return MaskSpec(causal=causal, layout=layout or BigBirdLayout())


def allowed(spec: MaskSpec, q_pos: Tensor, k_pos: Tensor, layout_blocks: Tensor | None = None) -> Tensor:
    """The mask rule on absolute positions: q_pos [M] and k_pos [N] int64 -> [M, N] bool (True = seen).

    layout_blocks: `spec.layout.blocks(...)` covering every position's block (needed when spec.layout is set).
    """
    p, j = q_pos[:, None], k_pos[None, :]
    seen = torch.ones(p.shape[0], j.shape[1], dtype=torch.bool, device=q_pos.device)
    if not spec.dense:
        seen = torch.zeros_like(seen)
        if spec.has_window:
            left, right = spec.window
            if left >= 0:
                inside = j >= p - left
                seen |= inside & (j <= p + right) if right >= 0 else inside
            else:
                seen |= j <= p + right
        if spec.global_tokens:
            tokens = torch.tensor(spec.global_tokens, device=q_pos.device)
            seen |= torch.isin(q_pos, tokens)[:, None] | torch.isin(k_pos, tokens)[None, :]
        if spec.layout is not None:
            if layout_blocks is None:
                raise ValueError("allowed: spec has a BigBird layout, so layout_blocks must be given")
            size = spec.layout.block_size
            seen |= layout_blocks.to(q_pos.device)[p // size, j // size]
    if spec.causal:
        seen &= j <= p
    return seen


def layout_for(spec: MaskSpec, q_len: int, k_len: int) -> Tensor | None:
    """The BigBird block layout [nb, nb] covering S = k_len keys and T <= S queries aligned bottom-right, or None."""
    if spec.layout is None:
        return None
    num_blocks = max(-(-k_len // spec.layout.block_size), 1)
    return spec.layout.blocks(num_blocks, num_blocks, spec.causal)


def dense_mask(spec: MaskSpec, q_len: int, k_len: int | None = None, device=None) -> Tensor:
    """The mask as a dense [T, S] bool matrix (True = seen), T <= S queries aligned bottom-right. For references
    and tests: it is T x S."""
    k_len = q_len if k_len is None else k_len
    q_pos = torch.arange(q_len, device=device) + (k_len - q_len)
    k_pos = torch.arange(k_len, device=device)
    return allowed(spec, q_pos, k_pos, layout_for(spec, q_len, k_len))
