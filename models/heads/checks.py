"""The value checks every head's config shares, each error naming the `head.<field>` key."""

from __future__ import annotations

from typing import Any

from zoo.models.config import ModelConfigError
from zoo.models.heads.pooling import POOLS


def check_head_config(config: Any) -> None:
    """Refuse out-of-range values of the common head fields that `config` has (num_outputs, horizon, hidden,
    dropout, pool)."""
    for key, low in (("num_outputs", 1), ("horizon", 1), ("hidden", 0)):
        value = getattr(config, key, low)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ModelConfigError(f"head.{key}", f"must be an int >= {low}, got {value!r}")
    dropout = getattr(config, "dropout", 0.0)
    if not 0.0 <= dropout < 1.0:
        raise ModelConfigError("head.dropout", f"must lie in [0, 1), got {dropout!r}")
    mode = getattr(config, "pool", POOLS[0])
    if mode not in POOLS:
        raise ModelConfigError("head.pool", f"'{mode}' is not a pooling; choose one of: {', '.join(POOLS)}")
