"""The sLSTM's update for one token, shared by the reference loop and the decoding step, and its layouts.

Conventions are xlstm's vanilla sLSTM cell (`xlstm.blocks.slstm.src.vanilla.slstm.slstm_forward_pointwise`,
the same update as its CUDA kernel), per head h and unit k of the head:

    raw_t = x_t + y_{t-1} R + b                      gates (i, f, z, o), each [Dh], in that order
    lf_t  = log f(raw_f) + m_{t-1}                   log f = logsigmoid ("sigmoid", xlstm) or identity ("exp")
    m_t   = raw_i                 where n_{t-1} == 0 (a fresh state: xlstm's zero-state rule)
            max(raw_i, lf_t)      elsewhere
    i_t   = exp(raw_i - m_t),   f_t = exp(min(lf_t - m_t, 0))   (the min only acts where n_{t-1} == 0,
                                                                 as xlstm's min(., 1) does)
    c_t   = f_t c_{t-1} + i_t tanh(raw_z),   n_t = f_t n_{t-1} + i_t
    y_t   = sigmoid(raw_o) c_t / n_t                 the output, and the state fed back through R

The state is (y, c, n, m): the zero state is all zeros. xlstm tests `all(n == 0)` over the whole batch; the
rule here (and in xlstm's CUDA kernel) is per element, which is the same whenever a state is either fresh
or not as a whole. States this op produces have n > 0, so on them the rule fires only at a sequence's
first token from a zero state.

Gradients are the exact derivatives of this recurrence, m included (what autograd gives through xlstm's
vanilla cell). The outputs y do not depend on the stabiliser (c and n scale together with exp(-m)), so
for a loss on y alone they equal those of xlstm's CUDA backward, which treats m as a constant; for a loss
on the final c, n or m they differ from it.

Layouts (sequence-first, as every op; Dh = head dim, G = 4 gates):
    x      [B, T, H, 4*Dh]   the input part of the gate pre-activations, gate-major per head:
                             x[..., g*Dh:(g+1)*Dh] is gate g of (i, f, z, o)
    R      [H, Dh, 4*Dh]     R[h, j, g*Dh + k]: from unit j of y_{t-1} to unit k of gate g (raw = y R)
    b      [H, 4*Dh]         gate-major per head, like x
    state  (y, c, n, m)      each [N, H, Dh]
    output y [B, T, H, Dh]

From xlstm's sLSTMCell (hidden size H*Dh, `num_heads` H, its default input_shape "BSGNH"):
    x      = x_xl.view(B, T, 4, H, Dh).permute(0, 1, 3, 2, 4).reshape(B, T, H, 4 * Dh)    (x_xl [B, T, 4*H*Dh])
    R      = cell.recurrent_kernel[:].reshape(H, Dh, 4 * Dh)    (its external layout [H, Dh, 4, Dh])
           = cell._recurrent_kernel.transpose(1, 2)            (the vanilla backend's internal [H, 4*Dh, Dh])
           = cell._recurrent_kernel                            (the CUDA backend's internal [H, Dh, 4*Dh])
    b      = cell.bias[:].reshape(H, 4 * Dh)                   (its external layout [H, 4, Dh])
           = cell._bias.view(4, H, Dh).transpose(0, 1).reshape(H, 4 * Dh)   (vanilla internal [4*H*Dh])
           = cell._bias.view(H, 4 * Dh)                        (CUDA internal [H*4*Dh])
    state  = tuple(state_xl.view(4, N, H, Dh))                 (state_xl [4, N, H*Dh], order y, c, n, m)
    y_xl   = y.transpose(1, 2)                                 (its default output_shape "BNSH": [B, H, T, Dh])
and back: state_xl = torch.stack(state).flatten(-2). (`cell.recurrent_kernel` and `cell.bias` are xlstm
ParameterProxy objects: indexing them, `[:]`, gives the external layout, while their attributes, such as
`.reshape`, fall through to the internal parameter.) One step above the cell, xlstm's sLSTMLayer builds
x_xl as cat([fgate(x_conv), igate(x_conv), zgate(x), ogate(x)]): its `fgate` projection fills the input-gate
slot and its `igate` the forget-gate slot, which a weight converter must follow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SLSTMState = tuple[Tensor, Tensor, Tensor, Tensor]
FORGET_GATES = ("sigmoid", "exp")
STATE_PARTS = ("y", "c", "n", "m")


def log_forget_gate(f: Tensor, forget_gate: str) -> Tensor:
    """Forget-gate pre-activation -> log forget gate: logsigmoid(f) ("sigmoid", xlstm) or f ("exp")."""
    return F.logsigmoid(f) if forget_gate == "sigmoid" else f


def recurrent_input(y: Tensor, R: Tensor) -> Tensor:
    """y [N, H, Dh], R [H, Dh, 4*Dh] -> y R per head [N, H, 4*Dh]."""
    return torch.einsum("nhj,hjk->nhk", y, R)


def slstm_cell(raw: Tensor, state: SLSTMState, forget_gate: str) -> SLSTMState:
    """One token of the stabilised sLSTM (module docstring), all in one dtype, with autograd.

    raw: [N, H, 4*Dh] gate pre-activations (x_t + y_{t-1} R + b); state (y, c, n, m) each [N, H, Dh]
    -> the new state (y_t, c_t, n_t, m_t); y_t is also the output.
    """
    _, c, n, m = state
    raw_i, raw_f, raw_z, raw_o = raw.unflatten(-1, (4, -1)).unbind(-2)
    lf = log_forget_gate(raw_f, forget_gate) + m
    m_new = torch.where(n == 0, raw_i, torch.maximum(raw_i, lf))
    i_gate = torch.exp(raw_i - m_new)
    f_gate = torch.exp(torch.clamp(lf - m_new, max=0))
    c_new = f_gate * c + i_gate * torch.tanh(raw_z)
    n_new = f_gate * n + i_gate
    y_new = torch.sigmoid(raw_o) * c_new / n_new
    return y_new, c_new, n_new, m_new


def zero_state(num_states: int, heads: int, head_dim: int, like: Tensor) -> SLSTMState:
    """The fresh state: y = c = n = m = 0, each [N, H, Dh], like `like`."""
    return tuple(like.new_zeros(num_states, heads, head_dim) for _ in STATE_PARTS)
