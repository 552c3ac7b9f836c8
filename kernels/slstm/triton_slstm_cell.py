"""The sLSTM's update of one token and its adjoint, elementwise on a block of units, as Triton functions that
both forms of the kernels (triton_slstm_register.py, triton_slstm_tiled.py) inline. The update and its adjoint
are cell.py's and recurrent.py's (module docstrings); everything here is float32.

Elementwise functions are written out (tanh, sigmoid, logsigmoid by exp and log): under the interpreter a call
of a Triton function costs as much as a few tensor ops, and the compiled kernels are the same either way.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _log_forget(a_f, m_prev, EXP_FORGET: tl.constexpr):
    """lf = log f(raw_f) + m_{t-1}: raw_f itself ("exp") or logsigmoid(raw_f) ("sigmoid"), as
    min(f, 0) - log1p(e), e = exp(-|f|), log1p(e) = log(u) e / (u - 1) with u = 1 + e (e itself where u
    rounds to 1; the division's other branch is kept finite there, so that the interpreter does not warn)."""
    if EXP_FORGET:
        lf = a_f + m_prev
    else:
        e = tl.exp(-tl.abs(a_f))
        u = 1.0 + e
        tiny = u == 1.0
        lf = tl.minimum(a_f, 0.0) - tl.where(tiny, e, tl.log(u) * (e / tl.where(tiny, 1.0, u - 1.0))) + m_prev
    return lf


@triton.jit
def _tanh_sigmoid(a_z, a_o):
    """(tanh(raw_z), sigmoid(raw_o))."""
    e2 = tl.exp(-2.0 * tl.abs(a_z))
    g_z = (1.0 - e2) / (1.0 + e2)
    g_z = tl.where(a_z < 0, -g_z, g_z)
    g_o = 1.0 / (1.0 + tl.exp(-a_o))
    return g_z, g_o


@triton.jit
def _cell_forward(a_i, a_f, a_z, a_o, c, n, m, EXP_FORGET: tl.constexpr):
    """One token: pre-activations raw_t = (a_i, a_f, a_z, a_o) and the state (c, n, m)_{t-1} ->
    (y, c, n, m)_t."""
    lf = _log_forget(a_f, m, EXP_FORGET)
    m_new = tl.where(n == 0.0, a_i, tl.maximum(a_i, lf))
    g_i = tl.exp(a_i - m_new)
    g_f = tl.exp(tl.minimum(lf - m_new, 0.0))
    g_z, g_o = _tanh_sigmoid(a_z, a_o)
    c = g_f * c + g_i * g_z
    n = g_f * n + g_i
    return g_o * c / n, c, n, m_new


@triton.jit
def _cell_backward(
    a_i, a_f, a_z, a_o, c_prev, n_prev, m_prev, y_new, n_new, m_new, gy, d_c, d_n, d_m, EXP_FORGET: tl.constexpr
):
    """The adjoint of one token: its pre-activations raw_t, the state before it (c, n, m)_{t-1} and after it
    (y, n, m)_t, gy = dL/dy_t (all of it) and (d_c, d_n, d_m) = dL/d(c, n, m)_t ->
    (d raw_i, d raw_f, d raw_z, d raw_o, dL/dc_{t-1}, dL/dn_{t-1}, dL/dm_{t-1})."""
    lf = _log_forget(a_f, m_prev, EXP_FORGET)
    take_i = (n_prev == 0.0) | (a_i >= lf)  # m_t = raw_i (else m_t = lf)
    g_i = tl.exp(a_i - m_new)
    f_exp = lf - m_new
    g_f = tl.exp(tl.minimum(f_exp, 0.0))
    f_deriv = tl.where(f_exp > 0.0, 0.0, g_f)  # the forget gate's min(., 0) has no gradient
    g_z, g_o = _tanh_sigmoid(a_z, a_o)
    d_c = d_c + gy * g_o / n_new
    d_n = d_n - gy * y_new / n_new
    d_o = gy * y_new * (1.0 - g_o)
    d_z = d_c * g_i * (1.0 - g_z * g_z)
    adj_i = (d_c * g_z + d_n) * g_i
    adj_f = (d_c * c_prev + d_n * n_prev) * f_deriv
    d_i = adj_i + tl.where(take_i, d_m - adj_i - adj_f, 0.0)
    d_m = d_m - d_i  # d lf, which is dL/dm_{t-1}
    if EXP_FORGET:
        d_f = d_m
    else:
        d_f = d_m / (1.0 + tl.exp(a_f))  # d logsigmoid(f) / df = sigmoid(-f)
    return d_i, d_f, d_z, d_o, d_c * g_f, d_n * g_f, d_m
