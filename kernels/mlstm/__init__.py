"""The mLSTM op: xLSTM's matrix memory with exponential input gate, normaliser and max-stabiliser, with the
conventions of mlstm_kernels (pre-activation gates, log-sigmoid forget gate, only q scaled, zero state with
m = 0, eps outside the max).

The Triton form, `triton_mlstm.mlstm_triton`, is not imported here: importing it defines its kernels, which must
happen after TRITON_INTERPRET is settled; `mlstm_scan(..., backend="triton")` imports it lazily."""

from .checks import BACKENDS
from .chunked import mlstm_chunked
from .dispatch import mlstm_scan
from .reference import mlstm_reference
from .step import MLSTMState, mlstm_step

__all__ = ["BACKENDS", "MLSTMState", "mlstm_scan", "mlstm_step", "mlstm_reference", "mlstm_chunked"]
