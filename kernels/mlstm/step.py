"""One decoding step of the mLSTM: O(1) in the sequence length. `mlstm_cell` is also the body of the
reference loop."""

from __future__ import annotations

import torch
from torch import Tensor

from ..precision import accumulation_dtype
from .checks import check_mlstm_inputs, check_mlstm_options
from .gates import log_forget_gate, stabiliser_floor

MLSTMState = tuple[Tensor, Tensor, Tensor]


def mlstm_cell(
    q_t: Tensor, k_t: Tensor, v_t: Tensor, i_t: Tensor, f_log_t: Tensor, state: MLSTMState, eps: float
) -> tuple[Tensor, MLSTMState]:
    """The stabilised mLSTM update for one token, all inputs in one dtype:

        m_t = max(log f_t + m_{t-1}, i_t)
        C_t = exp(log f_t + m_{t-1} - m_t) C_{t-1} + exp(i_t - m_t) k_t v_t^T
        n_t = exp(log f_t + m_{t-1} - m_t) n_{t-1} + exp(i_t - m_t) k_t
        h_t = C_t^T q_t / (max(|n_t . q_t|, exp(-m_t)) + eps)

    q_t (already scaled), k_t: [B, H, K]; v_t: [B, H, V]; i_t, f_log_t: [B, H];
    state (C [B, H, K, V], n [B, H, K], m [B, H]) -> (h_t [B, H, V], new state).
    """
    C, n, m = state
    m_new = torch.maximum(f_log_t + m, i_t)
    decay = (f_log_t + m - m_new).exp()
    gain = (i_t - m_new).exp()
    C = decay[..., None, None] * C + (gain[..., None] * k_t)[..., :, None] * v_t[..., None, :]
    n = decay[..., None] * n + gain[..., None] * k_t
    numerator = torch.einsum("bhkv,bhk->bhv", C, q_t)
    denominator = torch.maximum((n * q_t).sum(-1).abs(), stabiliser_floor(m_new)) + eps
    return numerator / denominator[..., None], (C, n, m_new)


def zero_state(batch: int, heads: int, key_dim: int, value_dim: int, like: Tensor) -> MLSTMState:
    """The mLSTM's starting state: C = 0 [N, H, K, V], n = 0 [N, H, K], m = 0 [N, H], like `like`."""
    return (
        like.new_zeros(batch, heads, key_dim, value_dim),
        like.new_zeros(batch, heads, key_dim),
        like.new_zeros(batch, heads),
    )


def mlstm_step(
    q_t: Tensor,
    k_t: Tensor,
    v_t: Tensor,
    i_t: Tensor,
    f_t: Tensor,
    state: MLSTMState | None = None,
    *,
    scale: float | None = None,
    forget_gate: str = "sigmoid",
    eps: float = 1e-6,
) -> tuple[Tensor, MLSTMState]:
    """Advance the mLSTM by one token (the update of `mlstm_cell`, as mlstm_kernels' recurrent step).

    q_t, k_t: [B, H, K]; v_t: [B, H, V]; i_t: [B, H] input-gate pre-activation (the log input gate);
    f_t: [B, H] forget-gate pre-activation (log f = logsigmoid(f_t), or f_t when forget_gate == "exp");
    state: (C [B, H, K, V], n [B, H, K], m [B, H]), zeros when None; scale None means K ** -0.5 (only
    q is scaled); eps is added outside the max of the denominator.
    Computes in float64 when an input is float64, else float32.

    Returns (h_t [B, H, V] in q_t's dtype, new state (C, n, m) in the compute dtype).
    """
    check_mlstm_options("mlstm_step", forget_gate, eps)
    check_mlstm_inputs(
        "mlstm_step", q_t, k_t, v_t, i_t, f_t, state,
        lead="B", num_states=q_t.shape[0], state_name="state", state_source="q_t and v_t",
    )
    dtype, out_dtype = accumulation_dtype(q_t, k_t, v_t, i_t, f_t, *(state or ())), q_t.dtype
    batch, heads, key_dim = q_t.shape
    scale = key_dim**-0.5 if scale is None else scale
    q_t, k_t, v_t, i_t, f_t = (t.to(dtype) for t in (q_t, k_t, v_t, i_t, f_t))
    if state is None:
        state = zero_state(batch, heads, key_dim, v_t.shape[-1], q_t)
    state = tuple(s.to(dtype) for s in state)
    h_t, state = mlstm_cell(q_t * scale, k_t, v_t, i_t, log_forget_gate(f_t, forget_gate), state, eps)
    return h_t.to(out_dtype), state
