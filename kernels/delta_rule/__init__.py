"""The delta rule op: DeltaNet, and gated DeltaNet with a decay per head (fla's conventions).

The Triton form, `triton_delta.delta_rule_triton`, is not imported here: importing it defines its kernels,
which must happen after TRITON_INTERPRET is settled; `delta_rule(..., backend="triton")` imports it lazily."""

from .checks import BACKENDS
from .chunked import delta_rule_chunked
from .dispatch import delta_rule
from .reference import delta_rule_reference
from .step import delta_rule_step

__all__ = ["BACKENDS", "delta_rule", "delta_rule_step", "delta_rule_reference", "delta_rule_chunked"]
