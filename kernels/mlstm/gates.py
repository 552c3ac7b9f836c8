"""The mLSTM's gates in log space, shared by its forms (mlstm_kernels' conventions).

The input gate is exponential: its pre-activation i is already the log input gate. The forget gate is
sigmoid (log f = logsigmoid(f), mlstm_kernels' only choice and the default) or exponential (log f = f,
the xLSTM paper's other option; not in mlstm_kernels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

FORGET_GATES = ("sigmoid", "exp")
# The largest exponent of the denominator's floor exp(-m): exp(80) ~ 5.5e34 dwarfs any eps and |n . q| (the
# stabilised sums), and stays finite in float32, whose exp overflows past 88.7 (float64: past 709).
FLOOR_EXPONENT_CAP = {torch.float32: 80.0, torch.float64: 700.0}


def log_forget_gate(f: Tensor, forget_gate: str) -> Tensor:
    """Pre-activation forget gate f [..] -> log forget gate [..]: logsigmoid(f) ("sigmoid") or f ("exp")."""
    return F.logsigmoid(f) if forget_gate == "sigmoid" else f


def stabiliser_floor(m: Tensor) -> Tensor:
    """The floor exp(-m) [..] of the denominator max(|n . q|, exp(-m)), for float32 or float64 m, with the
    exponent capped at FLOOR_EXPONENT_CAP: exact above m = -80 (float32), and below it a floor of 5.5e34 that
    still wins the max (so h = C^T q / floor stays ~0) while it and its gradient stay finite, where exp(-m)
    itself would overflow to inf (and its gradient to inf * 0 = NaN) once m < -88.7."""
    return (-m).clamp(max=FLOOR_EXPONENT_CAP[m.dtype]).exp()
