"""The mLSTM in Triton: chunkwise forward and backward kernels (triton_mlstm_fwd.py, triton_mlstm_bwd.py) in a
`torch.autograd.Function`, with the semantics and the stabilisation of `mlstm_chunked` (and so of
`mlstm_reference`), and `mlstm_triton`, which validates a call and packs its inputs as one row of tokens.

Per chunk of C tokens (q already scaled), with b_t the cumulative log forget gate inside the chunk
(inclusive), L the chunk's last token and (C_0, n_0, m_0) the state before the chunk, as `mlstm_chunked`:

    D_tj = b_t - b_j + i_j  (j <= t),   m_t = max(b_t + m_0, max_j D_tj)   (the recurrent m_t exactly)
    u_t = sum_{j <= t} exp(D_tj - m_t) (q_t . k_j) v_j + exp(b_t + m_0 - m_t) C_0^T q_t      (= C_t^T q_t)
    s_t = sum_{j <= t} exp(D_tj - m_t) (q_t . k_j)     + exp(b_t + m_0 - m_t) n_0 . q_t      (= n_t . q_t)
    h_t = u_t / d_t,   d_t = max(|s_t|, exp(-m_t)) + eps
    m' = m_L,   C' = exp(b_L + m_0 - m_L) C_0 + sum_j exp(D_Lj - m_L) k_j v_j^T,   n' likewise with k_j

Every exponent is <= 0, whatever the gates. b is summed in float64 (then stored in float32), as the
differences b_t - b_j set the accuracy of every weight.

Varlen is native (`triton_common.layout`): a dense batch [B, T] is one packed row with cu_seqlens =
[0, T, 2T, ...]; every kernel walks a list of (sequence, chunk within the sequence) and masks by the end
of its sequence.

Runs on CUDA, and on CPU under TRITON_INTERPRET=1 (set before this module is imported), where every
kernel has a single config instead of autotuning.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_shape
from ..triton_common.layout import ChunkLayout, chunk_layout, pack_tokens
from ..triton_support import interpreting, unsupported_chunk_size, unsupported_device, unsupported_dtype
from ..varlen import check_cu_seqlens
from .checks import check_mlstm_inputs, check_mlstm_options
from .triton_mlstm_bwd import mlstm_backward
from .triton_mlstm_fwd import mlstm_forward

INTERPRET = interpreting()


def triton_unsupported(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    i: Tensor,
    f: Tensor,
    initial_state: tuple[Tensor, Tensor, Tensor] | None = None,
    chunk_size: int = 64,
) -> str | None:
    """Why `mlstm_triton` cannot run this (otherwise valid) call, or None if it can."""
    tensors = dict(q=q, k=k, v=v, i=i, f=f)
    tensors.update({f"initial_state {part}": t for part, t in zip("Cnm", initial_state or ())})
    return (
        unsupported_device(INTERPRET, __name__, **tensors)
        or unsupported_dtype(**tensors)
        or unsupported_chunk_size(chunk_size)
    )


class _MLSTMTriton(torch.autograd.Function):
    """On one packed row: q, k [T, H, K], v [T, H, V] (one dtype), i, f [T, H]; initial state C [N, H, K, V],
    n [N, H, K], m [N, H] or three Nones."""

    @staticmethod
    def forward(
        ctx, q, k, v, i, f, c_init, n_init, m_init, scale, eps, exp_forget, layout: ChunkLayout,
        chunk_size, output_final_state,
    ):
        m_start = m_init if m_init is not None else q.new_zeros(layout.num_sequences, q.shape[1], dtype=torch.float32)
        m_start = m_start.float().contiguous()
        h, final, saved = mlstm_forward(
            q, k, v, i, f, (c_init, n_init, m_start), scale, eps, exp_forget, layout, chunk_size,
            store_final=output_final_state,
        )
        final = final or (None, None, None)
        ctx.save_for_backward(q, k, v, i, f, c_init, n_init, m_start, h, *saved, *final[:2])
        ctx.layout, ctx.options = layout, (scale, eps, exp_forget, chunk_size)
        ctx.m_dtype = None if m_init is None else m_init.dtype
        return (h, *final)

    @staticmethod
    def backward(ctx, dh, dc_fin, dn_fin, dm_fin):
        q, k, v, i, f, c_init, n_init, m_start, h, b, ms, ss, c_fin, n_fin = ctx.saved_tensors
        scale, eps, exp_forget, chunk_size = ctx.options
        dh = torch.zeros_like(v) if dh is None else dh.contiguous()
        dq, dk, dv, di, df, d_init = mlstm_backward(
            q, k, v, i, f, (c_init, n_init, m_start), h, (b, ms, ss), dh, (c_fin, n_fin), (dc_fin, dn_fin, dm_fin),
            scale, eps, exp_forget, ctx.layout, chunk_size,
        )
        grads_init = (None, None, None)
        if d_init is not None:
            dc_init, dn_init, dm_init = d_init
            grads_init = (dc_init.to(c_init.dtype), dn_init.to(n_init.dtype), dm_init.to(ctx.m_dtype))
        return (dq, dk, dv, di.to(i.dtype), df.to(f.dtype), *grads_init, None, None, None, None, None, None)


def mlstm_triton(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    i: Tensor,
    f: Tensor,
    *,
    scale: float | None = None,
    forget_gate: str = "sigmoid",
    eps: float = 1e-6,
    initial_state: tuple[Tensor, Tensor, Tensor] | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor] | None]:
    """Triton form of `mlstm_chunked` (same arguments, results and stabilisation), forward and backward
    in Triton:

        m_t = max(log f_t + m_{t-1}, i_t)
        C_t = exp(log f_t + m_{t-1} - m_t) C_{t-1} + exp(i_t - m_t) k_t v_t^T
        n_t = exp(log f_t + m_{t-1} - m_t) n_{t-1} + exp(i_t - m_t) k_t
        h_t = C_t^T (scale q_t) / (max(|n_t . (scale q_t)|, exp(-m_t)) + eps)

    q, k: [B, T, H, K]; v: [B, T, H, V]; i, f: [B, T, H] gate pre-activations (log f = logsigmoid(f), or
    f when forget_gate == "exp"); scale None means K ** -0.5; initial_state: (C [N, H, K, V], n [N, H, K],
    m [N, H]), zeros when None (N = B, or the number of sequences in cu_seqlens [N + 1] with B == 1);
    chunk_size: tokens per chunk, a power of two >= 16. q, k, v: float16, bfloat16 or float32 (cast to one
    common dtype; float32 matmuls run in full float32, not TF32); gates, states and everything the
    backward accumulates are float32. Gradients flow to q, k, v, i, f and the initial C, n, m (and from
    gradients on the final C, n, m), in their dtypes; the gradient of a max goes to its argmax (the state
    on ties). Varlen runs inside the kernels (no padding); reading the chunk count of cu_seqlens costs one
    device sync.

    Returns (h [B, T, H, V] in q's dtype, final state (C, n, m) float32, or None unless
    output_final_state). Tensors must be on CUDA, or on CPU with TRITON_INTERPRET=1 set before import.
    """
    op = "mlstm_triton"
    check_mlstm_options(op, forget_gate, eps)
    check_shape(op, "q", q, "B, T, H, K", [None] * 4)
    batch, length, heads, key_dim = q.shape
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    source = "q and v" if cu_seqlens is None else "cu_seqlens, q and v"
    check_mlstm_inputs(
        op, q, k, v, i, f, initial_state,
        lead="B, T", num_states=num_states, state_name="initial_state", state_source=source,
    )
    reason = triton_unsupported(q, k, v, i, f, initial_state, chunk_size)
    if reason is not None:
        raise ValueError(f"{op} cannot run this call: {reason}")
    value_dim = v.shape[-1]
    scale = key_dim**-0.5 if scale is None else float(scale)
    dtype = torch.promote_types(torch.promote_types(q.dtype, k.dtype), v.dtype)
    layout = chunk_layout(cu_seqlens, batch, length, chunk_size, q.device)
    c_init, n_init, m_init = (None, None, None) if initial_state is None else (
        s.contiguous() for s in initial_state
    )
    h, c_fin, n_fin, m_fin = _MLSTMTriton.apply(
        pack_tokens(q, dtype), pack_tokens(k, dtype), pack_tokens(v, dtype), pack_tokens(i, i.dtype),
        pack_tokens(f, f.dtype), c_init, n_init, m_init, scale, float(eps), forget_gate == "exp", layout,
        chunk_size, output_final_state,
    )
    h = h.view(batch, length, heads, value_dim).to(q.dtype)
    return h, ((c_fin, n_fin, m_fin) if output_final_state else None)
