"""The attention op's state: a KV cache that knows the absolute position of its first key, so that a rolling
cache (the last keys of a sliding window only) keeps its positions right."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .mask import MaskSpec


@dataclass
class KVCache:
    """Keys and values of the tokens seen so far, for every batch row alike.

    keys: [B, S, H_kv, D]; values: [B, S, H_kv, Dv]; start: the absolute position of keys[:, 0] (0 unless the
    cache rolls: under a pure sliding window only the last max_left + 1 keys are kept, see `MaskSpec.max_left`).
    Key i sits at position start + i; the next token goes to position `end`.
    """

    keys: Tensor
    values: Tensor
    start: int = 0

    @property
    def length(self) -> int:
        """Keys held (S)."""
        return self.keys.shape[1]

    @property
    def end(self) -> int:
        """The absolute position of the next token: start + S."""
        return self.start + self.length

    def extend(self, keys: Tensor, values: Tensor, mask: MaskSpec) -> KVCache:
        """A new cache with keys [B, T, H_kv, D] and values [B, T, H_kv, Dv] appended, trimmed to the last
        mask.max_left + 1 keys when the mask is a pure sliding window (memory then stays constant: the result
        is a fresh tensor of at most that many keys, holding on to no longer storage)."""
        keep = mask.max_left + 1
        drop = max(self.length + keys.shape[1] - keep, 0) if keep > 0 else 0
        old, new = min(drop, self.length), max(drop - self.length, 0)
        return KVCache(
            torch.cat((self.keys[:, old:], keys[:, new:]), 1),
            torch.cat((self.values[:, old:], values[:, new:]), 1),
            self.start + drop,
        )

    @staticmethod
    def empty(keys: Tensor, values: Tensor) -> KVCache:
        """An empty cache (S = 0, start 0) shaped like keys [B, *, H_kv, D] and values [B, *, H_kv, Dv]."""
        return KVCache(keys[:, :0], values[:, :0], 0)
