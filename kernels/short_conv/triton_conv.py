"""Causal depthwise conv1d (+ optional SiLU) in Triton: forward and backward kernels in a `torch.autograd.Function`.

For a sequence x_0..x_{L-1} with its W-1 previous inputs h_{-(W-1)}..h_{-1} (its ``initial_state`` row,
oldest first, or zeros) and the history h_r = x_r for r >= 0:

    z_r = sum_{i<W} w_i h_{r-(W-1)+i} + b,    y_r = act(z_r),    final = (h_{L-(W-1)}, .., h_{L-1})

so tap i of token r reads the input (W-1-i) tokens back, and column c of the initial state when
r - (W-1) + i < 0, c = r + i. With dz_r = dy_r act'(z_r) the gradients are

    dx_p     = sum_k w_{W-1-k} dz_{p+k}   (p + k inside the sequence)   + dfinal_{p-L+(W-1)}  (last W-1 tokens)
    dinit_c  = sum_{i<=c} w_i dz_{c-i}    (0 <= c-i < L)                + dfinal_{c-L}        (c >= L)
    dw_i     = sum_r dz_r h_{r-(W-1)+i},   db = sum_r dz_r

Kernels (all accumulate in float32; y, the final state and the gradients are stored in their tensors' dtypes):
  1. `_fwd_kernel`         y, one program per (T-block, D-block, batch row).
  2. `_final_state_kernel` the last W-1 inputs of each sequence, falling back into its initial state.
  3. `_bwd_kernel`         dx and per-block partial sums of dw and db, one program per (T-block, D-block, row).
                           dz is recomputed (no activation is saved): W^2 loads per token with SiLU, all of
                           them from the W + (W-1) neighbouring tokens, so mostly cache hits.
  4. `_dinit_kernel`       d initial_state, one program per (sequence, D-block).
The partial sums of dw and db are written to a float32 buffer [blocks, W, D] and summed by torch, so the
weight gradients are deterministic (no atomics). The backward kernel keeps its T-block fixed while autotuning,
so that every config writes the same partial slots.

Varlen is native: a packed row carries a per-token sequence index (built once with ``repeat_interleave``)
and each token reads its sequence's start, end and initial-state row through it; no padding copies.

Runs on CUDA, and on CPU under TRITON_INTERPRET=1 set before this module is first imported (``triton.jit``
reads it when the kernels are defined), where every kernel has one config instead of autotuning.
Inputs float32, float16 or bfloat16 (the interpreter computes bfloat16 wrongly: test in float32/float16).
"""

from __future__ import annotations


import torch
import triton
import triton.language as tl
from torch import Tensor

from ..triton_common.configs import block_configs
from ..triton_support import interpreting, unsupported_device, unsupported_dtype


INTERPRET = interpreting()
MAX_WIDTH = 8  # taps are unrolled (W^2 tile loads with SiLU in the backward): keep W small
ACTIVATIONS = (None, "silu")

# The backward's T-block is fixed (see the module docstring); the forward tunes it.
BWD_BLOCK_T = 64


_FWD_CONFIGS = block_configs(
    ("BLOCK_T", "BLOCK_D"), [(32, 128), (64, 64), (64, 128), (128, 64), (128, 128)], warps=[4, 8], interpreted=(64, 32)
)
_BWD_CONFIGS = block_configs(("BLOCK_D",), [(32,), (64,), (128,)], warps=[4, 8])
_SMALL_CONFIGS = block_configs(("BLOCK_D",), [(64,), (128,), (256,)], warps=[2, 4])
_KEY = ["D", "W", "SILU"]


def triton_unsupported(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    initial_state: Tensor | None = None,
) -> str | None:
    """Why `short_conv_triton` cannot run this (otherwise valid) call, or None if it can."""
    named = dict(x=x, weight=weight, bias=bias, initial_state=initial_state)
    reason = unsupported_device(INTERPRET, __name__, **named) or unsupported_dtype(**named)
    width = weight.shape[-1]
    if reason is None and not 1 <= width <= MAX_WIDTH:
        reason = f"it supports widths 1 to {MAX_WIDTH}, got W = {width}"
    return reason


# ---------------------------------------------------------------------------------------------------------
# Kernels. x, y, dy, dx: [B, T, D] contiguous (a packed batch is B == 1 with seq_idx/cu_seqlens); weight
# [D, W]; initial/final states [N, D, W-1]. Each token carries its sequence n, start s and end e (dense:
# n = row, s = 0, e = T), and positions are relative to s.


@triton.jit
def _history(x, h0, row, n, s, rel, o_d, m_t, m_d, D, WM1: tl.constexpr, HAS_H0: tl.constexpr):
    """[len(rel), BLOCK_D] float32 tile of h_rel for tokens of sequences n starting at s (row offset `row`):
    x at s + rel for rel >= 0, initial-state column rel + W-1 for rel < 0 (zeros without one)."""
    from_x = rel >= 0
    p_x = x + row + (s + rel).to(tl.int64)[:, None] * D + o_d[None, :]
    b_h = tl.load(p_x, mask=(m_t & from_x)[:, None] & m_d[None, :], other=0).to(tl.float32)
    if HAS_H0:
        col = rel + WM1
        p_h0 = h0 + (n.to(tl.int64) * D)[:, None] * WM1 + o_d[None, :] * WM1 + col[:, None]
        m_h0 = (m_t & (rel < 0) & (col >= 0))[:, None] & m_d[None, :]
        b_h += tl.load(p_h0, mask=m_h0, other=0).to(tl.float32)
    return b_h


@triton.jit
def _preact(x, h0, w, b, row, n, s, rel, o_d, m_t, m_d, D, W: tl.constexpr, HAS_BIAS: tl.constexpr,
            HAS_H0: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """z_rel = sum_i w_i h_{rel-(W-1)+i} + b, float32 [BLOCK_R = len(rel), BLOCK_D]."""
    b_z = tl.zeros([BLOCK_R, BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        b_z += tl.load(b + o_d, mask=m_d, other=0).to(tl.float32)[None, :]
    for i in tl.static_range(W):
        b_w = tl.load(w + o_d * W + i, mask=m_d, other=0).to(tl.float32)
        b_h = _history(x, h0, row, n, s, rel - (W - 1) + i, o_d, m_t, m_d, D, W - 1, HAS_H0)
        b_z += b_w[None, :] * b_h
    return b_z


@triton.jit
def _token_sequences(seq_idx, cu_seqlens, o_t, m_t, i_b, T, D, VARLEN: tl.constexpr, BLOCK_T: tl.constexpr):
    """Per token of the block: sequence n, start s, end e, and the row offset of its batch row."""
    if VARLEN:
        n = tl.load(seq_idx + o_t, mask=m_t, other=0)
        s = tl.load(cu_seqlens + n, mask=m_t, other=0)
        e = tl.load(cu_seqlens + n + 1, mask=m_t, other=0)
        row = tl.zeros([], dtype=tl.int64)
    else:
        n = tl.zeros([BLOCK_T], dtype=tl.int32) + i_b
        s = tl.zeros([BLOCK_T], dtype=tl.int32)
        e = tl.zeros([BLOCK_T], dtype=tl.int32) + T
        row = i_b.to(tl.int64) * T * D
    return n, s, e, row


@triton.autotune(configs=_FWD_CONFIGS, key=_KEY)
@triton.jit
def _fwd_kernel(
    x, w, b, h0, y, seq_idx, cu_seqlens, T, D,
    W: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_H0: tl.constexpr, SILU: tl.constexpr, VARLEN: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """y = act(z). Grid (T / BLOCK_T, D / BLOCK_D, B)."""
    i_t = tl.program_id(0)
    i_d = tl.program_id(1)
    i_b = tl.program_id(2)
    o_t = i_t * BLOCK_T + tl.arange(0, BLOCK_T)
    o_d = i_d * BLOCK_D + tl.arange(0, BLOCK_D)
    m_t = o_t < T
    m_d = o_d < D
    n, s, e, row = _token_sequences(seq_idx, cu_seqlens, o_t, m_t, i_b, T, D, VARLEN, BLOCK_T)
    b_z = _preact(x, h0, w, b, row, n, s, o_t - s, o_d, m_t, m_d, D, W, HAS_BIAS, HAS_H0, BLOCK_T, BLOCK_D)
    if SILU:
        b_z = b_z * tl.sigmoid(b_z)
    p_y = y + row + o_t.to(tl.int64)[:, None] * D + o_d[None, :]
    tl.store(p_y, b_z.to(y.dtype.element_ty), mask=m_t[:, None] & m_d[None, :])


@triton.jit
def _sequence_bounds(cu_seqlens, i_n, T, D, VARLEN: tl.constexpr):
    """Start, length and row offset of sequence i_n (dense: row i_n)."""
    if VARLEN:
        s = tl.load(cu_seqlens + i_n)
        length = tl.load(cu_seqlens + i_n + 1) - s
        row = tl.zeros([], dtype=tl.int64)
    else:
        s = tl.zeros([], dtype=tl.int32)
        length = tl.zeros([], dtype=tl.int32) + T
        row = i_n.to(tl.int64) * T * D
    return s, length, row


@triton.autotune(configs=_SMALL_CONFIGS, key=_KEY)
@triton.jit
def _final_state_kernel(
    x, h0, ht, cu_seqlens, T, D,
    W: tl.constexpr, BLOCK_W: tl.constexpr, HAS_H0: tl.constexpr, VARLEN: tl.constexpr, SILU: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """ht[n, :, j] = h_{L-(W-1)+j} of sequence n. Grid (N, D / BLOCK_D)."""
    i_n = tl.program_id(0)
    i_d = tl.program_id(1)
    o_j = tl.arange(0, BLOCK_W)
    o_d = i_d * BLOCK_D + tl.arange(0, BLOCK_D)
    m_j = o_j < W - 1
    m_d = o_d < D
    s, length, row = _sequence_bounds(cu_seqlens, i_n, T, D, VARLEN)
    n_j = tl.zeros([BLOCK_W], dtype=tl.int32) + i_n
    s_j = tl.zeros([BLOCK_W], dtype=tl.int32) + s
    b_h = _history(x, h0, row, n_j, s_j, length - (W - 1) + o_j, o_d, m_j, m_d, D, W - 1, HAS_H0)
    p_ht = ht + i_n.to(tl.int64) * D * (W - 1) + o_d[None, :] * (W - 1) + o_j[:, None]
    tl.store(p_ht, b_h.to(ht.dtype.element_ty), mask=m_j[:, None] & m_d[None, :])


@triton.jit
def _dz(x, h0, w, b, dy, row, n, s, rel, valid, o_d, m_d, D, W: tl.constexpr, HAS_BIAS: tl.constexpr,
        HAS_H0: tl.constexpr, SILU: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """dz_rel = dy_rel act'(z_rel) for the tokens `valid`, zeros elsewhere; float32 [BLOCK_R = len(rel), BLOCK_D]."""
    p_dy = dy + row + (s + rel).to(tl.int64)[:, None] * D + o_d[None, :]
    b_dz = tl.load(p_dy, mask=valid[:, None] & m_d[None, :], other=0).to(tl.float32)
    if SILU:
        b_z = _preact(x, h0, w, b, row, n, s, rel, o_d, valid, m_d, D, W, HAS_BIAS, HAS_H0, BLOCK_R, BLOCK_D)
        b_sig = tl.sigmoid(b_z)
        b_dz = b_dz * b_sig * (1 + b_z * (1 - b_sig))
    return b_dz


@triton.autotune(configs=_BWD_CONFIGS, key=_KEY)
@triton.jit
def _bwd_kernel(
    x, w, b, h0, dy, dht, dx, dw_part, db_part, seq_idx, cu_seqlens, T, D,
    W: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_H0: tl.constexpr, HAS_DHT: tl.constexpr, SILU: tl.constexpr,
    VARLEN: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """dx, and the block's partial dw [W, D] and db [D] into slot (row, T-block). Grid (T / BLOCK_T, D / BLOCK_D, B)."""
    i_t = tl.program_id(0)
    i_d = tl.program_id(1)
    i_b = tl.program_id(2)
    o_t = i_t * BLOCK_T + tl.arange(0, BLOCK_T)
    o_d = i_d * BLOCK_D + tl.arange(0, BLOCK_D)
    m_t = o_t < T
    m_d = o_d < D
    n, s, e, row = _token_sequences(seq_idx, cu_seqlens, o_t, m_t, i_b, T, D, VARLEN, BLOCK_T)
    rel = o_t - s
    length = e - s

    # Tokens p + k (k = 0..W-1) of the same sequence read x_p through tap W-1-k.
    b_dx = tl.zeros([BLOCK_T, BLOCK_D], dtype=tl.float32)
    for k in tl.static_range(W):
        b_dz = _dz(x, h0, w, b, dy, row, n, s, rel + k, m_t & (rel + k < length), o_d, m_d, D,
                   W, HAS_BIAS, HAS_H0, SILU, BLOCK_T, BLOCK_D)
        b_w = tl.load(w + o_d * W + (W - 1 - k), mask=m_d, other=0).to(tl.float32)
        b_dx += b_w[None, :] * b_dz
        if k == 0:
            slot = i_b.to(tl.int64) * tl.num_programs(0) + i_t
            if HAS_BIAS:
                tl.store(db_part + slot * D + o_d, tl.sum(b_dz, axis=0), mask=m_d)
            for i in tl.static_range(W):
                b_h = _history(x, h0, row, n, s, rel - (W - 1) + i, o_d, m_t, m_d, D, W - 1, HAS_H0)
                tl.store(dw_part + (slot * W + i) * D + o_d, tl.sum(b_dz * b_h, axis=0), mask=m_d)
    if HAS_DHT:
        # The last W-1 tokens of a sequence are final-state columns j = rel - L + (W-1).
        col = rel - length + (W - 1)
        p_dht = dht + (n.to(tl.int64) * D)[:, None] * (W - 1) + o_d[None, :] * (W - 1) + col[:, None]
        b_dx += tl.load(p_dht, mask=(m_t & (col >= 0))[:, None] & m_d[None, :], other=0).to(tl.float32)
    p_dx = dx + row + o_t.to(tl.int64)[:, None] * D + o_d[None, :]
    tl.store(p_dx, b_dx.to(dx.dtype.element_ty), mask=m_t[:, None] & m_d[None, :])


@triton.autotune(configs=_SMALL_CONFIGS, key=_KEY)
@triton.jit
def _dinit_kernel(
    x, w, b, h0, dy, dht, dh0, cu_seqlens, T, D,
    W: tl.constexpr, BLOCK_W: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_DHT: tl.constexpr, SILU: tl.constexpr,
    VARLEN: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """dh0[n, :, c] = sum_{i<=c} w_i dz_{c-i} + dht[n, :, c-L]. Grid (N, D / BLOCK_D)."""
    i_n = tl.program_id(0)
    i_d = tl.program_id(1)
    o_c = tl.arange(0, BLOCK_W)
    o_d = i_d * BLOCK_D + tl.arange(0, BLOCK_D)
    m_c = o_c < W - 1
    m_d = o_d < D
    s, length, row = _sequence_bounds(cu_seqlens, i_n, T, D, VARLEN)
    n_c = tl.zeros([BLOCK_W], dtype=tl.int32) + i_n
    s_c = tl.zeros([BLOCK_W], dtype=tl.int32) + s

    b_dh0 = tl.zeros([BLOCK_W, BLOCK_D], dtype=tl.float32)
    for i in tl.static_range(W):
        rel = o_c - i
        b_dz = _dz(x, h0, w, b, dy, row, n_c, s_c, rel, m_c & (rel >= 0) & (rel < length), o_d, m_d, D,
                   W, HAS_BIAS, True, SILU, BLOCK_W, BLOCK_D)
        b_w = tl.load(w + o_d * W + i, mask=m_d, other=0).to(tl.float32)
        b_dh0 += b_w[None, :] * b_dz
    if HAS_DHT:
        col = o_c - length
        p_dht = dht + i_n.to(tl.int64) * D * (W - 1) + o_d[None, :] * (W - 1) + col[:, None]
        b_dh0 += tl.load(p_dht, mask=(m_c & (col >= 0))[:, None] & m_d[None, :], other=0).to(tl.float32)
    p_dh0 = dh0 + i_n.to(tl.int64) * D * (W - 1) + o_d[None, :] * (W - 1) + o_c[:, None]
    tl.store(p_dh0, b_dh0.to(dh0.dtype.element_ty), mask=m_c[:, None] & m_d[None, :])


# ---------------------------------------------------------------------------------------------------------
# Host side.


def _grid_t(block_t: int | None, length: int, dim: int, rows: int):
    if block_t is None:
        return lambda meta: (triton.cdiv(length, meta["BLOCK_T"]), triton.cdiv(dim, meta["BLOCK_D"]), rows)
    return lambda meta: (triton.cdiv(length, block_t), triton.cdiv(dim, meta["BLOCK_D"]), rows)


def _grid_n(num_seqs: int, dim: int):
    return lambda meta: (num_seqs, triton.cdiv(dim, meta["BLOCK_D"]))


class _ShortConvTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, initial_state, cu_seqlens, activation, output_final_state):
        batch, length, dim = x.shape
        width = weight.shape[1]
        x = x.contiguous()
        weight = weight.contiguous()
        bias = None if bias is None else bias.contiguous()
        h0 = None if initial_state is None or width == 1 else initial_state.contiguous()
        varlen = cu_seqlens is not None
        if varlen:
            num_seqs = cu_seqlens.numel() - 1
            cu = cu_seqlens.to(device=x.device, dtype=torch.int32).contiguous()
            seq_idx = torch.repeat_interleave(
                torch.arange(num_seqs, device=x.device, dtype=torch.int32), cu[1:] - cu[:-1], output_size=length
            )
        else:
            num_seqs, cu, seq_idx = batch, None, None
        silu = activation == "silu"
        flags = dict(W=width, SILU=silu)
        dummy = x  # stands in for absent tensors; never read (their flags are off)

        y = torch.empty_like(x)
        if x.numel() > 0:
            _fwd_kernel[_grid_t(None, length, dim, batch)](
                x, weight, dummy if bias is None else bias, dummy if h0 is None else h0, y,
                dummy if seq_idx is None else seq_idx, dummy if cu is None else cu, length, dim,
                HAS_BIAS=bias is not None, HAS_H0=h0 is not None, VARLEN=varlen, **flags,
            )
        final_state = None
        if output_final_state:
            final_state = x.new_empty(num_seqs, dim, width - 1)
            if final_state.numel() > 0:
                _final_state_kernel[_grid_n(num_seqs, dim)](
                    x, dummy if h0 is None else h0, final_state, dummy if cu is None else cu, length, dim,
                    BLOCK_W=triton.next_power_of_2(width - 1), HAS_H0=h0 is not None, VARLEN=varlen, **flags,
                )
        ctx.save_for_backward(x, weight, bias, h0, cu, seq_idx)
        ctx.silu = silu
        ctx.init_shape = None if initial_state is None else initial_state.shape
        ctx.init_dtype = None if initial_state is None else initial_state.dtype
        ctx.set_materialize_grads(False)
        return y, final_state

    @staticmethod
    def backward(ctx, dy, dht):
        x, weight, bias, h0, cu, seq_idx = ctx.saved_tensors
        batch, length, dim = x.shape
        width = weight.shape[1]
        varlen = cu is not None
        num_seqs = cu.numel() - 1 if varlen else batch
        dy = torch.zeros_like(x) if dy is None else dy.contiguous()
        dht = None if dht is None or width == 1 else dht.contiguous()
        dummy = x
        flags = dict(W=width, SILU=ctx.silu, HAS_BIAS=bias is not None, VARLEN=varlen)
        common = (dummy if seq_idx is None else seq_idx, dummy if cu is None else cu, length, dim)

        dx = torch.empty_like(x)
        num_blocks = batch * triton.cdiv(length, BWD_BLOCK_T)
        dw_part = torch.empty(num_blocks, width, dim, device=x.device, dtype=torch.float32)
        db_part = torch.empty(num_blocks, dim, device=x.device, dtype=torch.float32)
        if x.numel() > 0:
            _bwd_kernel[_grid_t(BWD_BLOCK_T, length, dim, batch)](
                x, weight, dummy if bias is None else bias, dummy if h0 is None else h0, dy,
                dummy if dht is None else dht, dx, dw_part, db_part, *common,
                HAS_H0=h0 is not None, HAS_DHT=dht is not None, BLOCK_T=BWD_BLOCK_T, **flags,
            )
        dweight = dw_part.sum(0).t().to(weight.dtype)
        dbias = None if bias is None else db_part.sum(0).to(bias.dtype)

        dinit = None
        if ctx.init_shape is not None and ctx.needs_input_grad[3]:
            dinit = torch.zeros(ctx.init_shape, device=x.device, dtype=ctx.init_dtype)
            if dinit.numel() > 0:
                _dinit_kernel[_grid_n(num_seqs, dim)](
                    x, weight, dummy if bias is None else bias, h0, dy, dummy if dht is None else dht, dinit,
                    dummy if cu is None else cu, length, dim,
                    BLOCK_W=triton.next_power_of_2(width - 1), HAS_DHT=dht is not None, **flags,
                )
        return dx, dweight, dbias, dinit, None, None, None


def short_conv_triton(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    activation: str | None = None,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Causal depthwise conv1d (+ optional SiLU) in Triton, with Triton gradients for every input.

    Args:
        x: [B, T, D] float32/float16/bfloat16 inputs; with ``cu_seqlens``, B == 1 and the sequences are
            packed along T. CUDA, or CPU under TRITON_INTERPRET=1.
        weight: [D, W] filter, 1 <= W <= 8; ``weight[:, -1]`` multiplies the current token.
        bias: [D] or None.
        activation: None or "silu".
        initial_state: [N, D, W-1], the W-1 inputs before each sequence, oldest first; None means zeros.
        output_final_state: also return the last W-1 inputs of each sequence.
        cu_seqlens: [N+1] int offsets of the packed sequences in T, or None.

    Returns:
        y: [B, T, D] in x's dtype.
        final_state: [N, D, W-1] in x's dtype, or None.
    """
    reason = triton_unsupported(x, weight, bias, initial_state)
    if reason is not None:
        raise ValueError(f"short_conv_triton cannot run this call: {reason}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return _ShortConvTriton.apply(x, weight, bias, initial_state, cu_seqlens, activation, output_final_state)
