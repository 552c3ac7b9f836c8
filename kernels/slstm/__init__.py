"""slstm: the sLSTM (xLSTM's scalar-memory cell), as xlstm's vanilla sLSTM cell, in a sequence-first layout.

Forms: ``slstm_reference`` (loop over time with autograd, the oracle), ``slstm_recurrent`` (the sequential
loop off the autograd tape with a hand-written backward, the CPU path), ``slstm_step`` (one token), chosen
by ``slstm``; the Triton form (``backend="triton"``, CUDA) lives in ``triton_slstm``, imported on first use
and not here: ``triton.jit`` reads TRITON_INTERPRET when its kernels are defined. The update, the layouts
and their mapping to xlstm's: cell.py.
"""

from .cell import SLSTMState, slstm_cell
from .checks import BACKENDS
from .dispatch import slstm
from .recurrent import slstm_recurrent
from .reference import slstm_reference
from .step import slstm_step

__all__ = ["BACKENDS", "slstm", "slstm_step", "slstm_reference", "slstm_recurrent", "slstm_cell", "SLSTMState"]
