"""The delta rule op: DeltaNet, and gated DeltaNet with a decay per head (fla's conventions)."""

from .chunked import delta_rule_chunked
from .dispatch import delta_rule
from .reference import delta_rule_reference
from .step import delta_rule_step

__all__ = ["delta_rule", "delta_rule_step", "delta_rule_reference", "delta_rule_chunked"]
