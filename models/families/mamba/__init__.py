"""Mamba: Mamba-1 (selective scan) and Mamba-2 (SSD) mixers, their presets, the Mamba-2 hybrids, and the converter
of mamba_ssm checkpoints."""

from zoo.models.families.mamba import convert, hybrid_presets, papers, presets  # noqa: F401  (registers them)
from zoo.models.families.mamba.hybrid_presets import hybrid_layers
from zoo.models.families.mamba.mamba1 import Mamba, MambaConfig, MambaState
from zoo.models.families.mamba.mamba2 import Mamba2, Mamba2Config, Mamba2State

__all__ = ["Mamba", "Mamba2", "Mamba2Config", "Mamba2State", "MambaConfig", "MambaState", "hybrid_layers"]
