"""xLSTM: the mLSTM and sLSTM mixers, xLSTM[a:b] presets, and the converter of xlstm's `xLSTMLMModel`."""

from zoo.models.families.xlstm import convert, papers, presets  # noqa: F401  (registers them)
from zoo.models.families.xlstm.mlstm import MLSTM, MLSTMConfig, MLSTMLayerState
from zoo.models.families.xlstm.presets import xlstm_layers
from zoo.models.families.xlstm.slstm import SLSTM, SLSTMConfig, SLSTMLayerState

__all__ = ["MLSTM", "MLSTMConfig", "MLSTMLayerState", "SLSTM", "SLSTMConfig", "SLSTMLayerState", "xlstm_layers"]
