"""The mLSTM's gates in log space, shared by its forms (mlstm_kernels' conventions).

The input gate is exponential: its pre-activation i is already the log input gate. The forget gate is
sigmoid (log f = logsigmoid(f), mlstm_kernels' only choice and the default) or exponential (log f = f,
the xLSTM paper's other option; not in mlstm_kernels).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

FORGET_GATES = ("sigmoid", "exp")


def log_forget_gate(f: Tensor, forget_gate: str) -> Tensor:
    """Pre-activation forget gate f [..] -> log forget gate [..]: logsigmoid(f) ("sigmoid") or f ("exp")."""
    return F.logsigmoid(f) if forget_gate == "sigmoid" else f
