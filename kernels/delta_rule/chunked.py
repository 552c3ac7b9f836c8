"""The delta rule, chunk-parallel in PyTorch with autograd, through the WY/UT representation.

Within a chunk of C tokens, with S_0 the state before it, b_i the cumulative log decay up to token i
(inclusive; 0 without g) and gamma_i = exp(b_i), write the recurrence with the new values
u_t = b_t (v_t - (exp(g_t) S_{t-1})^T k_t), so that S_t = exp(g_t) S_{t-1} + k_t u_t^T and

    S_i = gamma_i S_0 + sum_{j <= i} (gamma_i / gamma_j) k_j u_j^T.

Substituting S_{i-1} into u_i gives a unit lower-triangular system for U = [u_1; ..; u_C]:

    (I + A) U = diag(beta) (V - diag(gamma) K S_0),   A_ij = beta_i (gamma_i / gamma_j) k_i . k_j  (j < i)

so with T = (I + A)^{-1} diag(beta) (the UT transform), W = T diag(gamma) K and U~ = T V (one triangular
solve per chunk, all chunks at once), U = U~ - W S_0. Then

    o_i = gamma_i S_0^T q_i + sum_{j <= i} (gamma_i / gamma_j) (q_i . k_j) u_j
    S_C = gamma_C S_0 + sum_j (gamma_C / gamma_j) k_j u_j^T

Only the last three lines depend on S_0: a short Python loop over chunks carries the state with
matmuls. Every exponential taken is of a non-positive number when g <= 0 (ratios are masked to the
causal triangle before exp), so strong decays underflow harmlessly to 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_log_decay
from ..chunking import to_chunks
from ..varlen import pad_packed, unpad_to_packed
from .reference import prepare


def _chunk_delta_rule(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor, state: Tensor, chunk_size: int
) -> tuple[Tensor, Tensor]:
    """q (already scaled), k: [N, T, H, K], v: [N, T, H, V], beta, g: [N, T, H], state: [N, H, K, V]
    -> (o [N, T, H, V], final state [N, H, K, V]). Zero padding (k = v = beta = g = 0) leaves the state
    unchanged."""
    batch, length, heads, key_dim = q.shape
    num_chunks = max(-(-length // chunk_size), 1)
    q, k, v, beta, g = (to_chunks(x, num_chunks, chunk_size) for x in (q, k, v, beta, g))  # [N, H, n, C, *]

    b = g.cumsum(-1)  # [N, H, n, C]
    b_last = b[..., -1:]
    ones = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=q.device)
    diff = b[..., :, None] - b[..., None, :]  # b_i - b_j; > 0 above the diagonal: mask before exp
    decay_strict = diff.masked_fill(~ones.tril(-1), float("-inf")).exp()
    decay_incl = diff.masked_fill(~ones.tril(), float("-inf")).exp()

    # The UT transform: solve (I + A) [W, U~] = diag(beta) [diag(gamma) K, V] for every chunk at once.
    a = beta[..., :, None] * (k @ k.transpose(-1, -2)) * decay_strict  # strictly lower, [N, H, n, C, C]
    rhs = beta[..., None] * torch.cat([k * b.exp()[..., None], v], dim=-1)
    solved = torch.linalg.solve_triangular(a, rhs, upper=False, unitriangular=True)  # diagonal read as 1
    w, u_tilde = solved.split([key_dim, v.shape[-1]], dim=-1)

    scores = (q @ k.transpose(-1, -2)) * decay_incl  # [N, H, n, C, C]
    q_decayed = q * b.exp()[..., None]
    k_to_end = (k * (b_last - b).exp()[..., None]).transpose(-1, -2)  # [N, H, n, K, C]
    chunk_decay = b_last.exp()[..., None]  # [N, H, n, 1, 1]
    outputs = []
    # unbind, not [:, :, c]: the backward of an index in the loop writes a zero tensor of the whole sequence per
    # chunk (time quadratic in T); unbind's backward stacks every chunk's gradient once
    per_chunk = (x.unbind(2) for x in (u_tilde, w, q_decayed, scores, k_to_end, chunk_decay))
    for u_chunk, w_chunk, q_chunk, scores_chunk, k_chunk, decay_chunk in zip(*per_chunk):
        u = u_chunk - w_chunk @ state  # [N, H, C, V]
        outputs.append(q_chunk @ state + scores_chunk @ u)
        state = torch.addcmul(k_chunk @ u, decay_chunk, state)
    o = torch.stack(outputs, dim=2)  # [N, H, n, C, V]

    o = o.view(batch, heads, num_chunks * chunk_size, -1)[:, :, :length]
    return o.transpose(1, 2).contiguous(), state


def delta_rule_chunked(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    beta: Tensor,
    g: Tensor | None = None,
    scale: float | None = None,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    use_qk_l2norm_in_kernel: bool = False,
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor | None]:
    """Chunk-parallel form of `delta_rule_reference` (same arguments and results), with autograd.

        S_t = exp(g_t) (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T,    o_t = S_t^T (scale * q_t)

    q, k: [B, T, H, K]; v: [B, T, H, V]; beta: [B, T, H]; g: [B, T, H] log-decay, <= 0 (a ValueError
    otherwise: every exponential this form takes is of a number <= 0), or None (DeltaNet); scale None
    means K ** -0.5; use_qk_l2norm_in_kernel: L2-normalise q and k first; initial_state: [N, H, K, V] (N = B, or the number of sequences in
    cu_seqlens [N + 1] with B == 1); chunk_size: tokens per chunk. Accumulates in float64 when an input
    is float64, else float32.

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] in the compute dtype, or None
    unless output_final_state).
    """
    if g is not None:
        check_log_decay("delta_rule_chunked", "g", g)
    q, k, v, beta, g, initial_state, out_dtype = prepare(
        q, k, v, beta, g, scale, initial_state, cu_seqlens, use_qk_l2norm_in_kernel
    )
    if g is None:
        g = beta.new_zeros(beta.shape)
    if cu_seqlens is None:
        o, final_state = _chunk_delta_rule(q, k, v, beta, g, initial_state, chunk_size)
    else:
        # Zero padding after each sequence's end leaves its final state unchanged.
        q, k, v, beta, g = (pad_packed(x, cu_seqlens) for x in (q, k, v, beta, g))
        o, final_state = _chunk_delta_rule(q, k, v, beta, g, initial_state, chunk_size)
        o = unpad_to_packed(o, cu_seqlens)
    return o.to(out_dtype), (final_state if output_final_state else None)
