"""DeltaNet and Gated DeltaNet: mixers on the delta rule kernel, presets (with the DeltaNet paper's attention
hybrids), and the converter of flash-linear-attention checkpoints."""

from zoo.models.families.deltanet import papers, presets  # noqa: F401  (registers them)
from zoo.models.families.deltanet.convert import convert_fla_state_dict
from zoo.models.families.deltanet.mixer import (
    DeltaNet,
    DeltaNetConfig,
    DeltaNetState,
    GatedDeltaNet,
    GatedDeltaNetConfig,
)

__all__ = ["DeltaNet", "DeltaNetConfig", "DeltaNetState", "GatedDeltaNet", "GatedDeltaNetConfig",
           "convert_fla_state_dict"]
