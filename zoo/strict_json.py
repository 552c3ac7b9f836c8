"""JSON that every parser reads: non-finite floats (Mamba-2's `dt_limit` upper bound is inf) are written as the
strings "inf", "-inf" and "nan", which the typed config loaders (OmegaConf float fields) read back as floats."""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """`value` with every non-finite float inside it (dicts, lists, tuples) replaced by "inf", "-inf" or "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON (no NaN / Infinity tokens), indented, with a trailing newline."""
    return json.dumps(finite(value), indent=2, allow_nan=False) + "\n"
