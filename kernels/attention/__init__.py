"""The attention op: tiled softmax attention under a mask spec (causal, sliding window, global tokens,
BigBird block layouts), grouped-query heads and varlen."""

from .blockwise import attention_blockwise
from .checks import BACKENDS
from .cache import KVCache
from .dense import attention_dense
from .dispatch import attention
from .mask import BigBirdLayout, MaskSpec, bigbird, dense_mask, longformer, sliding_window
from .reference import attention_reference
from .step import attention_step
from .tiles import TileTable, tile_table

__all__ = [
    "BACKENDS", "BigBirdLayout", "KVCache", "MaskSpec", "TileTable", "attention", "attention_blockwise",
    "attention_dense", "attention_reference", "attention_step", "bigbird", "dense_mask", "longformer", "sliding_window", "tile_table",
]
