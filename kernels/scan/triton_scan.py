"""The scan in Triton: chunk-parallel forward and backward kernels in a `torch.autograd.Function`.

    S_t = exp(g_t) * S_{t-1} + k_t v_t^T,    o_t = S_t^T (scale * q_t)

The math per chunk of C tokens, with b_i the cumulative log decay inside the chunk (inclusive),
L the chunk's last token and S_0 the state before the chunk (q already scaled):

    o_i   = sum_{j <= i} exp(b_i - b_j) (q_i . k_j) v_j + exp(b_i) S_0^T q_i
    S_end = exp(b_L) S_0 + sum_j exp(b_L - b_j) k_j v_j^T

Forward kernels (the shared building blocks of kernels/triton_common):
  1. `cumsum.chunk_local_cumsum`     b = within-chunk cumulative sum of g (float32).
  2. `chunk_state.chunk_states`      the state at every chunk start, and the final state.
  3. `chunk_output.chunk_output`     the intra-chunk masked term plus the inter-chunk term from the chunk-start state.

Backward (the chunk-start states are recomputed by kernel 2, not stored by the forward):
  4. `chunk_state.chunk_state_grads` reverse pass over chunks: dS_start = exp(b_L) dS_end + sum_i exp(b_i) q_i dO_i^T;
                                     dS_end of every chunk and d initial_state.
  5. `_dv_kernel`                    dV = (A o D)^T dO + diag(exp(b_L - b)) K dS_end, with A = Q K^T and
                                     D_ij = exp(b_i - b_j) for j <= i, else 0.
  6. `_dqk_kernel`                   dQ = (dP o D) K + diag(exp(b)) dO S_0^T, with dP = dO V^T,
                                     dK = (dP o D)^T Q + diag(exp(b_L - b)) V dS_end^T, and the chunk's dg (below).

The decay gradient. Inside a chunk every term of o_i carries exp(+b_i) and every term holding k_j carries
exp(-b_j); b_L also scales all of S_end. Taking the b_i as independent variables:

    dL/db_i = q_i . dq_i - k_i . dk_i + [i == L] <dS_end, S_end>

and b_i = sum_{u <= i, u in chunk} g_u, so dg_t = sum_{u >= t in chunk} dL/db_u + <dS_end, S_end>
(a reverse cumsum inside the chunk; the earlier chunks see g_t only through their state gradient, which
the reverse pass carries). <dS_end, S_end> = exp(b_L) <dS_end, S_0> + sum_j k_j . (exp(b_L - b_j) dS_end v_j),
the second sum being the inter-chunk part of k . dk, so a chunk needs no state but its own S_0.
Every term is a sum over K, so each K-block program writes its partial dg and the host sums the blocks.

Varlen is native (`layout.chunk_layout`): every kernel works on a list of chunks (sequence, chunk within the
sequence) and masks by the end of its sequence; no padding copies.

Runs on CUDA, and on CPU under TRITON_INTERPRET=1 (set before this module is imported: `triton.jit`
reads it when the kernels are defined), where every kernel has a single config instead of autotuning.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..checks import check_log_decay, check_shape
from ..triton_common.chunk_output import CHUNK_CONFIGS, CHUNK_KEY, chunk_output
from ..triton_common.chunk_state import chunk_state_grads, chunk_states
from ..triton_common.configs import dot_precision
from ..triton_common.cumsum import chunk_local_cumsum
from ..triton_common.layout import ChunkLayout, chunk_layout, pack_tokens
from ..triton_common.prologue import chunk_tokens
from ..triton_support import interpreting, unsupported_chunk_size, unsupported_device, unsupported_dtype
from ..varlen import check_cu_seqlens
from .checks import check_scan_inputs

INTERPRET = interpreting()
# The dg of every K-block goes to its own slot: as many slots as the smallest BK of the configs needs.
MIN_BK = min(config.kwargs["BK"] for config in CHUNK_CONFIGS)


def triton_unsupported(
    q: Tensor, k: Tensor, v: Tensor, g: Tensor, initial_state: Tensor | None = None, chunk_size: int = 64
) -> str | None:
    """Why the scan's Triton forms (this one and triton_gla) cannot run this (otherwise valid) call, or None."""
    tensors = dict(q=q, k=k, v=v, g=g, initial_state=initial_state)
    return (
        unsupported_device(INTERPRET, "zoo.kernels.scan's Triton modules", **tensors)
        or unsupported_dtype(**tensors)
        or unsupported_chunk_size(chunk_size)
    )


# ---------------------------------------------------------------------------------------------------------
# Backward kernels. Layout: one packed row, q, k [T, H, K], v [T, H, V], g [T, H]: token t of head h starts
# at (t * H + h) * K. States [chunks or N, H, K, V] float32. A chunk program finds its tokens with
# `prologue.chunk_tokens`: t0 + i, valid below eos.


@triton.autotune(configs=CHUNK_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _dv_kernel(
    q, k, do, gc, dh, dv, cu_seqlens, chunk_indices, scale, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
):
    """dV = scale * (K Q^T o D^T) dO + diag(exp(b_L - b)) K dS_end for one chunk. Grid (V/BV, chunks, H)."""
    i_v = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    o_i = tl.arange(0, BT)
    o_t = t0 + o_i
    m_t = o_t < eos
    r_k = (o_t * H + i_h) * K
    r_v = (o_t * H + i_h) * V
    o_v = i_v * BV + tl.arange(0, BV)
    m_v = o_v < V
    m_tv = m_t[:, None] & m_v[None, :]
    p_dh = dh + (i_c.to(tl.int64) * H + i_h) * K * V

    b_dv = tl.zeros([BT, BV], dtype=tl.float32)  # K dS_end
    b_at = tl.zeros([BT, BT], dtype=tl.float32)  # [j, i] = k_j . q_i
    for i_k in range(0, tl.cdiv(K, BK)):
        o_k = i_k * BK + tl.arange(0, BK)
        m_k = o_k < K
        b_k = tl.load(k + r_k[:, None] + o_k[None, :], mask=m_t[:, None] & m_k[None, :], other=0)
        b_qt = tl.load(q + r_k[None, :] + o_k[:, None], mask=m_k[:, None] & m_t[None, :], other=0)
        b_dh = tl.load(p_dh + o_k[:, None] * V + o_v[None, :], mask=m_k[:, None] & m_v[None, :], other=0)
        b_at += tl.dot(b_k, b_qt, input_precision=DOT)
        b_dv += tl.dot(b_k, b_dh.to(b_k.dtype), input_precision=DOT)

    b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)
    b_last = tl.load(gc + (tl.minimum(t0 + BT, eos) - 1) * H + i_h)
    b_dv = b_dv * tl.where(m_t, tl.exp(b_last - b_b), 0)[:, None]
    causal = (o_i[:, None] <= o_i[None, :]) & m_t[None, :]
    b_at = b_at * tl.exp(tl.where(causal, b_b[None, :] - b_b[:, None], float("-inf"))) * scale
    b_do = tl.load(do + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
    b_dv += tl.dot(b_at.to(b_do.dtype), b_do, input_precision=DOT)
    tl.store(dv + r_v[:, None] + o_v[None, :], b_dv, mask=m_tv)


@triton.autotune(configs=CHUNK_CONFIGS, key=CHUNK_KEY)
@triton.jit
def _dqk_kernel(
    q, k, v, do, gc, h, dh, dq, dk, dg, cu_seqlens, chunk_indices, scale, T, H,
    K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT: tl.constexpr,
    PARTS: tl.constexpr,
):
    """dq, dk for one chunk and K-block, and that block's share of dg (into dg[i_k], one of PARTS slots:
    the K-blocks of the smallest BK; the block-0 program zeroes the slots its config leaves unused, so
    the result never depends on which configs ran before, autotuning included). Grid (K/BK, chunks, H)."""
    i_k = tl.program_id(0)
    i_c = tl.program_id(1)
    i_h = tl.program_id(2)
    t0, eos = chunk_tokens(cu_seqlens, chunk_indices, i_c, BT)
    o_i = tl.arange(0, BT)
    o_t = t0 + o_i
    m_t = o_t < eos
    r_k = (o_t * H + i_h) * K
    r_v = (o_t * H + i_h) * V
    o_k = i_k * BK + tl.arange(0, BK)
    m_k = o_k < K
    m_tk = m_t[:, None] & m_k[None, :]
    p_state = (i_c.to(tl.int64) * H + i_h) * K * V

    b_dp = tl.zeros([BT, BT], dtype=tl.float32)  # [i, j] = dO_i . v_j
    b_dq = tl.zeros([BT, BK], dtype=tl.float32)  # dO S_0^T
    b_dk = tl.zeros([BT, BK], dtype=tl.float32)  # V dS_end^T
    b_hdh = tl.zeros([BK], dtype=tl.float32)  # <S_0, dS_end> over this K-block, per key channel
    for i_v in range(0, tl.cdiv(V, BV)):
        o_v = i_v * BV + tl.arange(0, BV)
        m_v = o_v < V
        m_tv = m_t[:, None] & m_v[None, :]
        m_vk = m_v[:, None] & m_k[None, :]
        b_ht = tl.load(h + p_state + o_k[None, :] * V + o_v[:, None], mask=m_vk, other=0)  # S_0^T [BV, BK]
        b_dht = tl.load(dh + p_state + o_k[None, :] * V + o_v[:, None], mask=m_vk, other=0)  # dS_end^T
        b_do = tl.load(do + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
        b_v = tl.load(v + r_v[:, None] + o_v[None, :], mask=m_tv, other=0)
        b_dp += tl.dot(b_do, tl.trans(b_v), input_precision=DOT)
        b_dq += tl.dot(b_do, b_ht.to(b_do.dtype), input_precision=DOT)
        b_dk += tl.dot(b_v, b_dht.to(b_v.dtype), input_precision=DOT)
        b_hdh += tl.sum(b_ht * b_dht, axis=0)

    b_q = tl.load(q + r_k[:, None] + o_k[None, :], mask=m_tk, other=0)
    b_k = tl.load(k + r_k[:, None] + o_k[None, :], mask=m_tk, other=0)
    b_b = tl.load(gc + o_t * H + i_h, mask=m_t, other=0)
    b_last = tl.load(gc + (tl.minimum(t0 + BT, eos) - 1) * H + i_h)
    causal = (o_i[:, None] >= o_i[None, :]) & m_t[:, None]
    b_ds = b_dp * tl.exp(tl.where(causal, b_b[:, None] - b_b[None, :], float("-inf")))
    b_ds = b_ds.to(b_q.dtype)

    b_dq = (b_dq * tl.exp(b_b)[:, None] + tl.dot(b_ds, b_k, input_precision=DOT)) * scale
    b_dk_inter = b_dk * tl.where(m_t, tl.exp(b_last - b_b), 0)[:, None]
    b_dk = b_dk_inter + tl.dot(tl.trans(b_ds), b_q, input_precision=DOT) * scale

    # dg_t = sum_{u >= t in chunk} (q_u . dq_u - k_u . dk_u) + <dS_end, S_end>: this K-block's share.
    b_q = b_q.to(tl.float32)
    b_k = b_k.to(tl.float32)
    b_db = tl.sum(b_q * b_dq - b_k * b_dk, axis=1)
    b_end = tl.exp(b_last) * tl.sum(b_hdh, axis=0) + tl.sum(tl.sum(b_k * b_dk_inter, axis=1), axis=0)
    b_dg = tl.sum(b_db, axis=0) - tl.cumsum(b_db, axis=0) + b_db + b_end

    tl.store(dq + r_k[:, None] + o_k[None, :], b_dq, mask=m_tk)
    tl.store(dk + r_k[:, None] + o_k[None, :], b_dk, mask=m_tk)
    part = (i_k.to(tl.int64) * 0 + T) * H  # int64 stride between the dg slots
    tl.store(dg + i_k * part + o_t * H + i_h, b_dg, mask=m_t)
    if i_k == 0:
        for i_p in range(tl.cdiv(K, BK), PARTS):
            tl.store(dg + i_p * part + o_t * H + i_h, tl.zeros([BT], dtype=tl.float32), mask=m_t)


# ---------------------------------------------------------------------------------------------------------
# Host side


class _ScanTriton(torch.autograd.Function):
    """On one packed row: q, k [T, H, K], v [T, H, V] (one dtype), g [T, H], h0 [N, H, K, V] or None."""

    @staticmethod
    def forward(ctx, q, k, v, g, h0, scale, layout: ChunkLayout, chunk_size, output_final_state):
        gc = chunk_local_cumsum(g, layout, chunk_size)
        h, ht = chunk_states(k, v, gc, h0, layout, chunk_size, store_final=output_final_state)
        o = chunk_output(q, k, v, gc, h, layout, scale, chunk_size)
        ctx.save_for_backward(q, k, v, gc, h0)
        ctx.layout, ctx.scale, ctx.chunk_size, ctx.g_dtype = layout, scale, chunk_size, g.dtype
        return o, ht

    @staticmethod
    def backward(ctx, do, dht):
        q, k, v, gc, h0 = ctx.saved_tensors
        layout, scale, chunk_size = ctx.layout, ctx.scale, ctx.chunk_size
        length, heads, key_dim = q.shape
        value_dim = v.shape[-1]
        dot = dot_precision(q.dtype)
        do = torch.zeros_like(v) if do is None else do.to(v.dtype).contiguous()
        dht = None if dht is None else dht.float().contiguous()

        # The chunk-start states again (recomputed rather than kept from the forward: [NT, H, K, V] float32).
        h, _ = chunk_states(k, v, gc, h0, layout, chunk_size, store_final=False)
        dh, dh0 = chunk_state_grads(
            q, do, gc, dht, layout, scale, chunk_size, initial_shape=None if h0 is None else h0.shape
        )
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        # One partial dg per K-block (as many slots as the smallest BK of the configs needs), summed below.
        parts = triton.cdiv(key_dim, MIN_BK)
        dg_parts = torch.empty(parts, length, heads, device=q.device, dtype=torch.float32)
        if layout.num_chunks:
            chunks = (layout.cu_seqlens, layout.chunk_indices)
            grid = lambda meta: (triton.cdiv(value_dim, meta["BV"]), layout.num_chunks, heads)  # noqa: E731
            _dv_kernel[grid](
                q, k, do, gc, dh, dv, *chunks, scale, heads, K=key_dim, V=value_dim, BT=chunk_size, DOT=dot,
            )
            grid = lambda meta: (triton.cdiv(key_dim, meta["BK"]), layout.num_chunks, heads)  # noqa: E731
            _dqk_kernel[grid](
                q, k, v, do, gc, h, dh, dq, dk, dg_parts, *chunks, scale, length, heads,
                K=key_dim, V=value_dim, BT=chunk_size, DOT=dot, PARTS=parts,
            )
        dg = dg_parts.sum(0).to(ctx.g_dtype)
        dh0 = None if h0 is None else dh0.to(h0.dtype)
        return dq, dk, dv, dg, dh0, None, None, None, None


def scan_triton(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    *,
    scale: float | None = None,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor | None]:
    """Triton form of `scan_reference` (same arguments and results), forward and backward in Triton:

        S_t = exp(g_t) * S_{t-1} + k_t v_t^T,    o_t = S_t^T (scale * q_t)

    q, k: [B, T, H, K]; v: [B, T, H, V]; g: [B, T, H] log-decay, <= 0 (a ValueError otherwise: every
    exponential the kernels take is of a number <= 0); scale None means K ** -0.5;
    initial_state: [N, H, K, V] (N = B, or the number of sequences in cu_seqlens [N + 1] with B == 1);
    chunk_size: tokens per chunk, a power of two >= 16. q, k, v: float16, bfloat16 or float32 (cast to
    one common dtype; float32 matmuls run in full float32, not TF32); matmuls accumulate in float32, and
    the states and decays are float32. Gradients flow to q, k, v, g and initial_state (and from a
    gradient on the final state), in their dtypes. Varlen runs inside the kernels (no padding); reading
    the chunk count of cu_seqlens costs one device sync.

    Returns (o [B, T, H, V] in q's dtype, final_state [N, H, K, V] float32, or None unless
    output_final_state). Tensors must be on CUDA, or on CPU with TRITON_INTERPRET=1 set before import.
    """
    return run_chunked_scan(
        "scan_triton", _ScanTriton, q, k, v, g, per_channel=False,
        scale=scale, initial_state=initial_state, output_final_state=output_final_state,
        cu_seqlens=cu_seqlens, chunk_size=chunk_size,
    )


def run_chunked_scan(
    name: str,
    function: type[torch.autograd.Function],
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    *,
    per_channel: bool,
    scale: float | None,
    initial_state: Tensor | None,
    output_final_state: bool,
    cu_seqlens: Tensor | None,
    chunk_size: int,
) -> tuple[Tensor, Tensor | None]:
    """Validate a call of a scan Triton form, pack the inputs as one row of tokens with its chunk layout, and
    run `function` (an autograd Function taking `(q, k, v, g, h0, scale, layout, chunk_size, output_final_state)`
    on packed `[B*T, H, *]` tensors). Shared by scan_triton and scan_triton_gla, whose g is [B, T, H]
    (per_channel False) or [B, T, H, K]."""
    check_shape(name, "q", q, "B, T, H, K", [None] * 4)
    batch, length, heads, key_dim = q.shape
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    check_scan_inputs(
        name, q, k, v, g, initial_state,
        lead="B, T", num_states=num_states, state_name="initial_state", state_source="q and v",
    )
    if (g.ndim == q.ndim) != per_channel:
        hint = "a decay per key channel (a scalar per head: scan_triton)" if per_channel else (
            "a scalar decay per head (per key channel: scan_triton_gla)"
        )
        raise ValueError(f"{name}: g has shape {tuple(g.shape)}, but these kernels take {hint}")
    reason = triton_unsupported(q, k, v, g, initial_state, chunk_size)
    if reason is not None:
        raise ValueError(f"{name} cannot run this call: {reason}")
    check_log_decay(name, "g", g)
    scale = key_dim**-0.5 if scale is None else float(scale)
    dtype = torch.promote_types(torch.promote_types(q.dtype, k.dtype), v.dtype)
    layout = chunk_layout(cu_seqlens, batch, length, chunk_size, q.device)
    h0 = None if initial_state is None else initial_state.contiguous()
    o, final_state = function.apply(
        pack_tokens(q, dtype), pack_tokens(k, dtype), pack_tokens(v, dtype), pack_tokens(g, g.dtype), h0,
        scale, layout, chunk_size, output_final_state,
    )
    return o.view(batch, length, heads, v.shape[-1]).to(q.dtype), final_state
