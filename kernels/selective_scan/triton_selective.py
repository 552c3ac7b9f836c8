"""Mamba-1's selective scan in Triton: a sequential forward and backward in a `torch.autograd.Function`.

Per channel d (group g = d // E, E = D // G) and state n, with dt = softplus(delta + delta_bias) (bias and
softplus only when given / asked for) and a_t = exp(dt_t A):

    h_t = a_t * h_{t-1} + dt_t u_t B_t,    s_t = <C_t, h_t> + D u_t,    y_t = s_t * silu(z_t)   (or s_t)

Why sequential? The decay a_t differs per channel and state, so there is no matmul to hand a chunk to (see
chunked.py): a chunk-parallel form costs `chunk_size` times more exponentials or overflows. The recurrence
per (sequence, channel block) is a chain of elementwise ops on a [BLOCK_D, N] state held in registers;
parallelism comes from sequences x channel blocks (mamba_ssm's CUDA kernel splits the same way, and
also scans the tokens of a block in parallel across its threads).

Kernels (one program per (sequence, group, block of BLOCK_D channels of that group), on a flat grid):
  1. `_fwd_kernel`  runs over the tokens of its sequence, fusing bias, softplus, exp2(dt A log2 e), the
                    C-contraction, the D skip and the z gate; stores the state before every block of
                    `chunk_size` tokens ([chunks, D, N] float32, the only thing saved for the backward
                    beyond the inputs) and the final state.
  2. `_bwd_kernel`  walks the blocks last to first. Per block it recomputes the states from the stored
                    block-start state, writing them to a per-program scratch [chunk_size, BLOCK_D, N]
                    in global memory (small enough to stay in cache; Triton has no register arrays
                    indexed by a loop variable), and on the way the gate
                    gradient dz, dC_t (needs h_t, not the adjoint) and the dD sum. Then it runs the adjoint
                    recurrence g_t = C_t dy'_t + a_{t+1} g_{t+1} backwards (dy' = dy * silu(z)), reading
                    h_{t-1} from the scratch:
                        q_t = g_t a_t h_{t-1},   dA += q_t dt_t,   s_t = <B_t, g_t>,
                        du_t = dt_t s_t + D dy'_t,   d dt_t = <q_t, A> + u_t s_t,   dB_t = sum_d dt_t u_t g_t
                    d delta = d dt * sigmoid(delta + bias) with softplus; d initial_state = a_0 g_0.
All sums over tokens (dA, dD, d delta_bias) are per-program partials in registers, written to
[sequences, D(, N)] buffers and reduced by torch; dB and dC (sums over the channels of a group) are written
per (channel block, token) to [blocks, T, G, N] buffers and reduced by torch (no reduction when a group
fits in one block). No atomics: every result is deterministic.

Layout: a dense batch [B, T, D] is viewed as one packed row [B * T, D] with cu_seqlens = [0, T, 2T, ..],
so varlen is native: each program reads its sequence's start and end and never touches padding.

Runs on CUDA, and on CPU under TRITON_INTERPRET=1 set before this module is first imported (``triton.jit``
reads it when the kernels are defined), where each kernel has one config instead of autotuning.
Inputs float32, float16 or bfloat16 (the interpreter computes bfloat16 wrongly: test in float32/float16);
everything accumulates in float32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..triton_common.configs import block_configs
from ..triton_support import interpreting, unsupported_device, unsupported_dtype
from ..varlen import check_cu_seqlens
from ..checks import check_chunk_size, check_shape
from .checks import check_selective_scan_inputs
from .preprocess import grouped

INTERPRET = interpreting()
MAX_STATE_DIM = 256  # the state [BLOCK_D, N] lives in registers
# The most tokens between stored states: the backward's scratch holds that many states per program
# (programs x interval x BLOCK_D x N float32), so a chunk_size meant for another form (e.g. T) stays cheap.
MAX_INTERVAL = 256

# Channels per program: the interpreter uses 4 (small test shapes then span several channel blocks). On CUDA
# the forward tunes it; the backward fixes it on the host (`_bwd_block_d`), because the number of channel
# blocks sizes its partial-sum buffers, and tunes only the warps.
_INTERPRET_BLOCK_D = 4


_FWD_CONFIGS = block_configs(
    ("BLOCK_D",), [(8,), (16,), (32,), (64,)], warps=[1, 2, 4], interpreted=(_INTERPRET_BLOCK_D,)
)
_BWD_CONFIGS = block_configs((), [()], warps=[1, 2, 4, 8])


def _bwd_block_d(per_group: int, block_n: int) -> int:
    """Channels per backward program: a state tile of ~512 elements (32 channels at N = 16), at most the group."""
    if INTERPRET:
        return _INTERPRET_BLOCK_D
    return max(2, min(max(2, 512 // block_n), triton.next_power_of_2(per_group)))


_KEY = ["E", "N", "HAS_Z", "SOFTPLUS"]


def triton_unsupported(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    initial_state: Tensor | None = None,
) -> str | None:
    """Why `selective_scan_triton` cannot run this (otherwise valid) call, or None if it can."""
    named = dict(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=delta_bias, initial_state=initial_state)
    reason = unsupported_device(INTERPRET, __name__, **named) or unsupported_dtype(**named)
    if reason is not None:
        return reason
    if A.shape[1] > MAX_STATE_DIM:
        return f"it supports state sizes N <= {MAX_STATE_DIM}, got N = {A.shape[1]}"
    return None


# ---------------------------------------------------------------------------------------------------------
# Kernels. One packed row: u, delta, z, y [T, D]; B, C [T, G, N]; A [D, N]; D, delta_bias [D]; states
# [chunks, D, N], initial/final states [sequences, D, N] float32. Program pid = ((n * G) + g) * NEB + e
# handles channels g * E + e * BLOCK_D + (0..BLOCK_D) of sequence n, tokens cu_seqlens[n]..cu_seqlens[n+1].


@triton.jit
def _program_tile(cu_seqlens, chunk_offsets, G, E, N: tl.constexpr, BLOCK_N: tl.constexpr,
                  BLOCK_D: tl.constexpr):
    """The program's sequence, group, channel block and the offsets of its [BLOCK_D, BLOCK_N] tile."""
    pid = tl.program_id(0)
    NEB = tl.cdiv(E, BLOCK_D)
    i_e = pid % NEB
    i_g = (pid // NEB) % G
    i_n = pid // (NEB * G)
    bos = tl.load(cu_seqlens + i_n).to(tl.int64)
    eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    c0 = tl.load(chunk_offsets + i_n).to(tl.int64)
    o_e = i_e * BLOCK_D + tl.arange(0, BLOCK_D)
    m_d = o_e < E
    o_d = i_g * E + o_e
    o_n = tl.arange(0, BLOCK_N)
    m_n = o_n < N
    return pid, i_n, i_g, i_e, bos, eos, c0, o_d, m_d, o_n, m_n


# The per-token loads and dt are written out in each loop rather than in a helper, and sigmoid as
# 1 / (1 + exp(-x)): the interpreter's cost is mostly per call of a jit function (tl.sigmoid is one),
# and the compiled kernels are the same either way.


@triton.autotune(configs=_FWD_CONFIGS, key=_KEY)
@triton.jit
def _fwd_kernel(
    u, delta, A, B, C, Dskip, z, delta_bias, h0, y, states, ht, cu_seqlens, chunk_offsets,
    D, G, E, chunk,
    N: tl.constexpr, BLOCK_N: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr, HAS_H0: tl.constexpr, STORE_HT: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """y, the state before every chunk, the final state. Grid (sequences * G * NEB,)."""
    pid, i_n, i_g, i_e, bos, eos, c0, o_d, m_d, o_n, m_n = _program_tile(
        cu_seqlens, chunk_offsets, G, E, N, BLOCK_N, BLOCK_D)
    m_dn = m_d[:, None] & m_n[None, :]
    dn = o_d[:, None] * N + o_n[None, :]
    b_A2 = tl.load(A + dn, mask=m_dn, other=0).to(tl.float32) * 1.4426950408889634  # exp(dt A) = exp2(dt A2)
    b_h = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    if HAS_H0:
        b_h += tl.load(h0 + i_n.to(tl.int64) * D * N + dn, mask=m_dn, other=0).to(tl.float32)
    b_bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        b_bias += tl.load(delta_bias + o_d, mask=m_d, other=0).to(tl.float32)
    b_D = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        b_D += tl.load(Dskip + o_d, mask=m_d, other=0).to(tl.float32)

    n_chunks = tl.cdiv(eos - bos, chunk)
    for c in range(0, n_chunks):
        tl.store(states + (c0 + c) * D * N + dn, b_h, mask=m_dn)
        t0 = bos + c * chunk
        for i in range(0, tl.minimum(chunk, eos - t0)):
            t = t0 + i
            b_u = tl.load(u + t * D + o_d, mask=m_d, other=0).to(tl.float32)
            b_dt = tl.load(delta + t * D + o_d, mask=m_d, other=0).to(tl.float32) + b_bias
            if SOFTPLUS:
                # log(1 + exp(x)), x itself above 20 (torch's threshold); log1p(e) by Kahan's trick,
                # log(w) * e / (w - 1) with w = 1 + e rounded, and e itself where w rounds to 1
                e = tl.exp(tl.minimum(b_dt, 20.0))
                w = 1.0 + e
                lp = tl.where(w == 1.0, e, tl.log(w) * (e / tl.where(w == 1.0, 1.0, w - 1.0)))
                b_dt = tl.where(b_dt > 20.0, b_dt, lp)
            p_bc = (t * G + i_g) * N + o_n
            b_B = tl.load(B + p_bc, mask=m_n, other=0).to(tl.float32)
            b_C = tl.load(C + p_bc, mask=m_n, other=0).to(tl.float32)

            b_h = tl.exp2(b_dt[:, None] * b_A2) * b_h + (b_dt * b_u)[:, None] * b_B[None, :]
            b_y = tl.sum(b_h * b_C[None, :], axis=1) + b_D * b_u
            if HAS_Z:
                b_z = tl.load(z + t * D + o_d, mask=m_d, other=0).to(tl.float32)
                b_y = b_y * b_z / (1.0 + tl.exp(-b_z))
            tl.store(y + t * D + o_d, b_y.to(y.dtype.element_ty), mask=m_d)
    if STORE_HT:
        tl.store(ht + i_n.to(tl.int64) * D * N + dn, b_h, mask=m_dn)


@triton.autotune(configs=_BWD_CONFIGS, key=_KEY + ["BLOCK_D"])
@triton.jit
def _bwd_kernel(
    u, delta, A, B, C, Dskip, z, delta_bias, states, dy, dht, scratch,
    du, ddelta, dz, dB_part, dC_part, dA_part, dD_part, dbias_part, dh0, cu_seqlens, chunk_offsets,
    T, D, G, E, chunk, scratch_rows,
    N: tl.constexpr, BLOCK_N: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr, HAS_DY: tl.constexpr, HAS_DHT: tl.constexpr, STORE_DH0: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """Every gradient (see the module docstring). Grid (sequences * G * NEB,)."""
    pid, i_n, i_g, i_e, bos, eos, c0, o_d, m_d, o_n, m_n = _program_tile(
        cu_seqlens, chunk_offsets, G, E, N, BLOCK_N, BLOCK_D)
    m_dn = m_d[:, None] & m_n[None, :]
    dn = o_d[:, None] * N + o_n[None, :]
    b_A = tl.load(A + dn, mask=m_dn, other=0).to(tl.float32)
    b_A2 = b_A * 1.4426950408889634  # A log2(e)
    b_bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        b_bias += tl.load(delta_bias + o_d, mask=m_d, other=0).to(tl.float32)
    b_D = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        b_D += tl.load(Dskip + o_d, mask=m_d, other=0).to(tl.float32)
    # This program's scratch: the states of one chunk, [scratch_rows = min(chunk, longest sequence), BLOCK_D,
    # BLOCK_N]; every lane is written before it is read.
    p_scratch = scratch + pid.to(tl.int64) * scratch_rows * BLOCK_D * BLOCK_N \
        + tl.arange(0, BLOCK_D)[:, None] * BLOCK_N + o_n[None, :]
    # Partial dB, dC of token t: slot ((i_e * T + t) * G + g) * N + n.
    p_part = (i_e.to(tl.int64) * T * G + i_g) * N + o_n

    b_carry = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)  # dL/dh_t from after token t: a_{t+1} g_{t+1}
    if HAS_DHT:
        b_carry += tl.load(dht + i_n.to(tl.int64) * D * N + dn, mask=m_dn, other=0).to(tl.float32)
    b_dA = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    b_dD = tl.zeros([BLOCK_D], dtype=tl.float32)
    b_dbias = tl.zeros([BLOCK_D], dtype=tl.float32)

    n_chunks = tl.cdiv(eos - bos, chunk)
    for cc in range(0, n_chunks):
        c = n_chunks - 1 - cc
        t0 = bos + c * chunk
        length = tl.minimum(chunk, eos - t0)
        b_hs = tl.load(states + (c0 + c) * D * N + dn, mask=m_dn, other=0)
        tl.debug_barrier()  # the previous chunk's reads of the scratch are done before it is overwritten

        # Forward over the chunk: recompute h_t into the scratch; dz, dC_t and dD need no adjoint.
        b_h = b_hs
        for i in range(0, length):
            t = t0 + i
            b_u = tl.load(u + t * D + o_d, mask=m_d, other=0).to(tl.float32)
            b_dt = tl.load(delta + t * D + o_d, mask=m_d, other=0).to(tl.float32) + b_bias
            if SOFTPLUS:
                e = tl.exp(tl.minimum(b_dt, 20.0))
                w = 1.0 + e
                lp = tl.where(w == 1.0, e, tl.log(w) * (e / tl.where(w == 1.0, 1.0, w - 1.0)))
                b_dt = tl.where(b_dt > 20.0, b_dt, lp)
            p_bc = (t * G + i_g) * N + o_n
            b_B = tl.load(B + p_bc, mask=m_n, other=0).to(tl.float32)

            b_h = tl.exp2(b_dt[:, None] * b_A2) * b_h + (b_dt * b_u)[:, None] * b_B[None, :]
            tl.store(p_scratch + i * BLOCK_D * BLOCK_N, b_h)
            b_dy = tl.zeros([BLOCK_D], dtype=tl.float32)
            if HAS_DY:
                b_dy += tl.load(dy + t * D + o_d, mask=m_d, other=0).to(tl.float32)
            if HAS_Z:
                b_C = tl.load(C + p_bc, mask=m_n, other=0).to(tl.float32)
                b_z = tl.load(z + t * D + o_d, mask=m_d, other=0).to(tl.float32)
                b_sig = 1.0 / (1.0 + tl.exp(-b_z))
                b_s = tl.sum(b_h * b_C[None, :], axis=1) + b_D * b_u  # the output before the gate
                b_dz = b_dy * b_s * b_sig * (1.0 + b_z * (1.0 - b_sig))
                tl.store(dz + t * D + o_d, b_dz.to(dz.dtype.element_ty), mask=m_d)
                b_dy = b_dy * b_z * b_sig  # dL/d(output before the gate)
            tl.store(dC_part + p_part + t * G * N, tl.sum(b_dy[:, None] * b_h, axis=0), mask=m_n)
            if HAS_D:
                b_dD += b_dy * b_u
        tl.debug_barrier()  # the scratch is written before it is read back

        # Backward over the chunk: the adjoint g_t and every gradient that needs it.
        for j in range(0, length):
            i = length - 1 - j
            t = t0 + i
            b_u = tl.load(u + t * D + o_d, mask=m_d, other=0).to(tl.float32)
            b_x = tl.load(delta + t * D + o_d, mask=m_d, other=0).to(tl.float32) + b_bias
            b_dt = b_x
            if SOFTPLUS:
                e = tl.exp(tl.minimum(b_x, 20.0))
                w = 1.0 + e
                lp = tl.where(w == 1.0, e, tl.log(w) * (e / tl.where(w == 1.0, 1.0, w - 1.0)))
                b_dt = tl.where(b_x > 20.0, b_x, lp)
            p_bc = (t * G + i_g) * N + o_n
            b_B = tl.load(B + p_bc, mask=m_n, other=0).to(tl.float32)
            b_C = tl.load(C + p_bc, mask=m_n, other=0).to(tl.float32)
            b_dy = tl.zeros([BLOCK_D], dtype=tl.float32)
            if HAS_DY:
                b_dy += tl.load(dy + t * D + o_d, mask=m_d, other=0).to(tl.float32)
            if HAS_Z:
                b_z = tl.load(z + t * D + o_d, mask=m_d, other=0).to(tl.float32)
                b_dy = b_dy * b_z / (1.0 + tl.exp(-b_z))

            b_a = tl.exp2(b_dt[:, None] * b_A2)
            b_g = b_carry + b_dy[:, None] * b_C[None, :]  # g_t = dL/dh_t
            # h_{t-1}: the scratch (slot 0 is always written), or the chunk's start state for its first token.
            b_prev = tl.load(p_scratch + tl.maximum(i - 1, 0) * BLOCK_D * BLOCK_N)
            b_prev = tl.where(i > 0, b_prev, b_hs)
            b_q = b_g * b_a * b_prev  # dL/d(dt A)
            b_dA += b_q * b_dt[:, None]
            b_s = tl.sum(b_g * b_B[None, :], axis=1)  # dL/d(dt u)
            b_ddt = tl.sum(b_q * b_A, axis=1) + b_s * b_u
            tl.store(du + t * D + o_d, (b_dt * b_s + b_D * b_dy).to(du.dtype.element_ty), mask=m_d)
            tl.store(dB_part + p_part + t * G * N, tl.sum((b_dt * b_u)[:, None] * b_g, axis=0), mask=m_n)
            if SOFTPLUS:
                b_ddt = b_ddt / (1.0 + tl.exp(-b_x))
            b_dbias += b_ddt
            tl.store(ddelta + t * D + o_d, b_ddt.to(ddelta.dtype.element_ty), mask=m_d)
            b_carry = b_a * b_g

    r = i_n.to(tl.int64) * D
    tl.store(dA_part + r * N + dn, b_dA, mask=m_dn)
    if HAS_D:
        tl.store(dD_part + r + o_d, b_dD, mask=m_d)
    if HAS_BIAS:
        tl.store(dbias_part + r + o_d, b_dbias, mask=m_d)
    if STORE_DH0:
        tl.store(dh0 + r * N + dn, b_carry, mask=m_dn)


# ---------------------------------------------------------------------------------------------------------
# Host side.


def _layout(batch: int, length: int, cu_seqlens: Tensor | None, chunk_size: int, device):
    """(cu [N + 1], chunk_offsets [N + 1] int64 (the first stored chunk of each sequence), total chunks, the
    longest sequence) for the packed row; a dense batch is B sequences of T tokens. Varlen reads two numbers
    back from the device (the sizes of the buffers)."""
    if cu_seqlens is None:
        index = torch.int32 if (batch + 1) * length < 2**31 else torch.int64
        cu = torch.arange(batch + 1, device=device, dtype=index) * length
        per_seq = -(-length // chunk_size)
        offsets = torch.arange(batch + 1, device=device, dtype=torch.int64) * per_seq
        return cu, offsets, batch * per_seq, length
    cu = cu_seqlens.to(device=device).contiguous()
    lengths = (cu[1:] - cu[:-1]).to(torch.int64)
    counts = (lengths + chunk_size - 1).div(chunk_size, rounding_mode="floor")
    offsets = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    num_chunks, longest = torch.stack([offsets[-1], lengths.max()]).tolist()
    return cu, offsets, num_chunks, longest


def _dummy(t: Tensor | None, like: Tensor) -> Tensor:
    """`like` stands in for an absent tensor: never read (its flag is off)."""
    return like if t is None else t


class _SelectiveScanTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, initial_state, cu_seqlens, delta_softplus,
                output_final_state, chunk_size):
        batch, length, channels = u.shape
        state_dim = A.shape[1]
        groups = B.shape[2]
        per_group = channels // groups
        cu, offsets, num_chunks, longest = _layout(batch, length, cu_seqlens, chunk_size, u.device)
        num_seqs = cu.numel() - 1
        u, delta, A, B, C = (t.contiguous() for t in (u, delta, A, B, C))
        D, z, delta_bias, h0 = (None if t is None else t.contiguous() for t in (D, z, delta_bias, initial_state))
        block_n = triton.next_power_of_2(state_dim)

        y = torch.empty_like(u)
        states = torch.empty(num_chunks, channels, state_dim, device=u.device, dtype=torch.float32)
        final_state = None
        if output_final_state:
            final_state = torch.empty(num_seqs, channels, state_dim, device=u.device, dtype=torch.float32)
        if num_seqs * channels > 0:
            grid = lambda meta: (num_seqs * groups * triton.cdiv(per_group, meta["BLOCK_D"]),)  # noqa: E731
            _fwd_kernel[grid](
                u, delta, A, B, C, _dummy(D, u), _dummy(z, u), _dummy(delta_bias, u), _dummy(h0, u), y, states,
                _dummy(final_state, states), cu, offsets,
                channels, groups, per_group, chunk_size,
                N=state_dim, BLOCK_N=block_n, HAS_D=D is not None, HAS_Z=z is not None,
                HAS_BIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus), HAS_H0=h0 is not None,
                STORE_HT=final_state is not None,
            )
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, states, cu, offsets)
        ctx.softplus = bool(delta_softplus)
        ctx.chunk_size = chunk_size
        ctx.scratch_rows = max(1, min(chunk_size, longest))
        ctx.init = None if initial_state is None else (initial_state.shape, initial_state.dtype)
        ctx.set_materialize_grads(False)
        return y, final_state

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dht):
        u, delta, A, B, C, D, z, delta_bias, states, cu, offsets = ctx.saved_tensors
        length_total = u.shape[0] * u.shape[1]
        channels, state_dim, groups = u.shape[2], A.shape[1], B.shape[2]
        per_group = channels // groups
        num_seqs = cu.numel() - 1
        block_n = triton.next_power_of_2(state_dim)
        block_d = _bwd_block_d(per_group, block_n)
        blocks = triton.cdiv(per_group, block_d)
        programs = num_seqs * groups * blocks
        chunk = ctx.chunk_size
        f32 = dict(device=u.device, dtype=torch.float32)
        dy = None if dy is None else dy.contiguous()
        dht = None if dht is None else dht.contiguous()

        du, ddelta = torch.empty_like(u), torch.empty_like(delta)
        dz = None if z is None else torch.empty_like(z)
        scratch = torch.empty(programs * ctx.scratch_rows * block_d * block_n, **f32)
        dB_part = torch.empty(blocks, length_total, groups, state_dim, **f32)
        dC_part = torch.empty(blocks, length_total, groups, state_dim, **f32)
        dA_part = torch.empty(num_seqs, channels, state_dim, **f32)
        dD_part = torch.empty(num_seqs, channels, **f32) if D is not None else None
        dbias_part = torch.empty(num_seqs, channels, **f32) if delta_bias is not None else None
        dh0 = torch.empty(num_seqs, channels, state_dim, **f32) if ctx.init is not None else None
        if programs > 0:
            _bwd_kernel[(programs,)](
                u, delta, A, B, C, _dummy(D, u), _dummy(z, u), _dummy(delta_bias, u), states,
                _dummy(dy, u), _dummy(dht, states), scratch,
                du, ddelta, _dummy(dz, u), dB_part, dC_part, dA_part, _dummy(dD_part, dA_part),
                _dummy(dbias_part, dA_part), _dummy(dh0, dA_part), cu, offsets,
                length_total, channels, groups, per_group, chunk, ctx.scratch_rows,
                N=state_dim, BLOCK_N=block_n, HAS_D=D is not None, HAS_Z=z is not None,
                HAS_BIAS=delta_bias is not None, SOFTPLUS=ctx.softplus, HAS_DY=dy is not None,
                HAS_DHT=dht is not None, STORE_DH0=dh0 is not None, BLOCK_D=block_d,
            )
        else:  # no channels or no sequences: nothing ran
            for t in (du, ddelta, dz, dB_part, dC_part, dA_part, dD_part, dbias_part, dh0):
                if t is not None:
                    t.zero_()
        shape_bc = (u.shape[0], u.shape[1], groups, state_dim)
        dB = (dB_part[0] if blocks == 1 else dB_part.sum(0)).view(shape_bc).to(B.dtype)
        dC = (dC_part[0] if blocks == 1 else dC_part.sum(0)).view(shape_bc).to(C.dtype)
        dA = dA_part.sum(0).to(A.dtype)
        dD = None if D is None else dD_part.sum(0).to(D.dtype)
        dbias = None if delta_bias is None else dbias_part.sum(0).to(delta_bias.dtype)
        dinit = None if dh0 is None else dh0.to(ctx.init[1])
        return du, ddelta, dA, dB, dC, dD, dz, dbias, dinit, None, None, None, None


def selective_scan_triton(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    *,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor | None]:
    """The selective scan in Triton, with Triton gradients for every input (same arguments and results as
    `selective_scan_reference`):

        dt_t = softplus(delta_t + delta_bias)    (bias and softplus only when given / asked for)
        h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t,    y_t = <C_t, h_t> + D * u_t,    y_t *= silu(z_t)

    u, delta, z: [B, T, D]; A: [D, N] (N <= 256); B, C: [B, T, N] or [B, T, G, N] (channel d reads group
    d // (D // G)); D, delta_bias: [D]; initial_state: [N_seq, D, N] (zeros when None), N_seq = B, or the
    number of sequences in cu_seqlens ([N_seq + 1], B == 1); chunk_size: tokens between the states the
    forward stores for the backward, capped at MAX_INTERVAL = 256 (memory [T / chunk_size, D, N] float32 per
    sequence, plus a backward scratch of chunk_size states per program); results do not depend on it. float32/float16/bfloat16 inputs, float32 accumulation; CUDA,
    or CPU under TRITON_INTERPRET=1.

    Returns (y [B, T, D] in u's dtype, final_state [N_seq, D, N] float32, or None unless output_final_state).
    """
    op = "selective_scan_triton"
    check_shape(op, "u", u, "B, T, D", [None] * 3)
    batch, length = u.shape[:2]
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, batch, length)
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    check_selective_scan_inputs(
        op, u, delta, A, B, C, D, z, delta_bias, initial_state,
        lead="B, T", num_states=num_states, state_name="initial_state",
        state_source="u and A" if cu_seqlens is None else "cu_seqlens, u and A",
    )
    check_chunk_size(op, chunk_size)
    reason = triton_unsupported(u, delta, A, B, C, D, z, delta_bias, initial_state)
    if reason is not None:
        raise ValueError(f"{op} cannot run this call: {reason}")
    B, C = grouped(B, 2), grouped(C, 2)  # [B, T, G, N]: an ungrouped [B, T, N] is one group
    y, final_state = _SelectiveScanTriton.apply(
        u, delta, A, B, C, D, z, delta_bias, initial_state, cu_seqlens, delta_softplus, output_final_state,
        min(chunk_size, MAX_INTERVAL),
    )
    return y, final_state
