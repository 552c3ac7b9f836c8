"""The selective scan for the CPU: a blocked scan with a hand-written backward. Memory is linear in T.

Why not matmuls inside a chunk, as in `scan`? Mamba-1's decay exp(dt_t[d] A[d, n]) differs per channel
and state, so there is no matmul to hand the work to: a chunk-parallel form either costs `chunk_size`
times more exponentials (the masked [C, C, D, N] decay matrix of every chunk) or overflows
(exp(-cumsum(dt A)) factored out of the chunk, once |dt A| summed over a chunk passes ~88 in float32).
Exact and cheapest is the recurrence itself, made fast by keeping it off the autograd tape:

- the sequence is cut into blocks of at most `chunk_size` tokens; per block, the decays a_t = exp(dt_t A)
  and inputs x_t = dt_t u_t B_t are written by three vectorised ops into [rows, L, D, N] buffers made once
  per call; the recurrence h_t = a_t h_{t-1} + x_t runs as one in-place `addcmul_` per token (no graph,
  no allocation), and the outputs <C_t, h_t> of the block are one batched matmul;
- autograd sees one Function. It saves the inputs and the state before each block ([T / L, rows, D, N]),
  nothing of size [T, D, N]. Its backward walks the blocks last to first, recomputes a block's states
  from the saved one, runs the adjoint recurrence g_t = C_t dy_t + a_{t+1} g_{t+1} the same way, and
  gets every gradient from g, a and h by vectorised products (as mamba_ssm's CUDA kernel does).
- exp(x) is computed as exp2(x log2(e)) with A pre-scaled (as that CUDA kernel does too): on CPU,
  torch's exp2 is ~3x faster than exp, at a relative error of ~|x| * 1e-7 in float32.

Padding with dt = 0 (decay 1, input 0) leaves the state unchanged, which is how varlen batches run.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..varlen import pad_packed, unpad_to_packed
from ..precision import accumulation_dtype
from .preprocess import grouped, process_delta, skip_and_gate

_LOG2_E = math.log2(math.e)
# A block's buffers hold at most this many elements (1 MiB in float32): past it, longer blocks only
# spill from the caches, while the per-token ops are already large enough to hide Python's overhead.
_BLOCK_ELEMENTS = 1 << 18


def _block_length(chunk_size: int, state: Tensor) -> int:
    """Tokens per block: chunk_size, cut so that a block [N, L, G, E, S] holds <= _BLOCK_ELEMENTS."""
    return max(1, min(chunk_size, _BLOCK_ELEMENTS // max(state.numel(), 1)))


class _BlockBuffers:
    """Per-call work space for blocks of `length` tokens: tensors [N, length, G, E, S] made once and
    refilled for every block (fresh ones per block would cost page faults and allocator churn), with
    their per-token views [N, G, E, S] made once too."""

    def __init__(self, like: Tensor, length: int, count: int) -> None:
        self.tensors = [like.new_empty(like.shape[0], length, *like.shape[1:]) for _ in range(count)]
        self.steps = [t.unbind(1) for t in self.tensors]

    def block(self, index: int, length: int) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Buffer `index` cut to a block of `length` tokens, and its per-token views."""
        return self.tensors[index][:, :length], self.steps[index][:length]


def _fill_block(a: Tensor, x: Tensor, dt: Tensor, A2: Tensor, dt_u: Tensor, B: Tensor) -> None:
    """Write one block's decays a = exp(dt A) = exp2(dt A log2(e)) and inputs x = dt u B into a and x
    ([N, L, G, E, S]); dt, dt_u: [N, L, G, E]; A2 = A log2(e): [G, E, S]; B: [N, L, G, S].
    exp2 is ~3x faster than exp on CPU."""
    torch.mul(dt[..., None], A2, out=a)
    torch.exp2(a, out=a)
    torch.mul(dt_u[..., None], B[..., None, :], out=x)


def _scan_in_place(a_steps: tuple[Tensor, ...], x_steps: tuple[Tensor, ...], h: Tensor) -> None:
    """x_i <- a_i * x_{i-1} + x_i for i = 0, 1, ..., with x_{-1} = h: the inputs become the states.
    a_steps, x_steps: one block's per-token views [N, G, E, S]."""
    prev = h
    for a_i, x_i in zip(a_steps, x_steps):
        x_i.addcmul_(a_i, prev)
        prev = x_i


def _adjoint_in_place(a_steps: tuple[Tensor, ...], g_steps: tuple[Tensor, ...], carry: Tensor) -> Tensor:
    """g_i <- g_i + a_{i+1} * g_{i+1}, last to first, with `carry` (the gradient reaching the block's last
    state from after the block) added to the last. Returns a_0 * g_0, the gradient reaching the state
    before the block."""
    g_steps[-1].add_(carry)
    for a_next, g_i, g_next in zip(a_steps[:0:-1], g_steps[-2::-1], g_steps[:0:-1]):
        g_i.addcmul_(a_next, g_next)
    return a_steps[0] * g_steps[0]


def _contract_state(v: Tensor, h: Tensor) -> Tensor:
    """sum_S v * h: v [N, L, G, S], h [N, L, G, E, S] -> [N, L, G, E] (one batched matmul)."""
    return (v[..., None, :] @ h.mT).squeeze(-2)


def _contract_channels(v: Tensor, h: Tensor) -> Tensor:
    """sum_E v * h: v [N, L, G, E], h [N, L, G, E, S] -> [N, L, G, S] (one batched matmul)."""
    return (v[..., None, :] @ h).squeeze(-2)


class _BlockedSelectiveScan(torch.autograd.Function):
    """(u, dt, A, B, C, h0, chunk_size) -> (y, final state): the recurrence and <C_t, h_t>, no skip or gate.

    u, dt: [N, T, G, E] (dt processed; channel d = g * E + e); A: [G, E, S]; B, C: [N, T, G, S];
    h0: [N, G, E, S]. Returns y [N, T, G, E] and the final state [N, G, E, S].
    """

    @staticmethod
    def forward(ctx, u, dt, A, B, C, h0, chunk_size):
        length, chunk_size = u.shape[1], _block_length(chunk_size, h0)
        num_blocks = -(-length // chunk_size)
        y = u.new_empty(u.shape)
        starts = h0.new_empty(num_blocks + 1, *h0.shape)  # the state before each block, and the final one
        starts[0] = h0
        A2, dt_u = A * _LOG2_E, dt * u
        buffers = _BlockBuffers(h0, min(chunk_size, length), 2)
        for k in range(num_blocks):
            block = slice(k * chunk_size, (k + 1) * chunk_size)
            size = min(chunk_size, length - k * chunk_size)
            (a, a_steps), (h, h_steps) = buffers.block(0, size), buffers.block(1, size)
            _fill_block(a, h, dt[:, block], A2, dt_u[:, block], B[:, block])
            _scan_in_place(a_steps, h_steps, starts[k])
            y[:, block] = _contract_state(C[:, block], h)
            starts[k + 1] = h_steps[-1]
        ctx.chunk_size = chunk_size
        ctx.save_for_backward(u, dt, A, B, C, starts[:-1])
        return y, starts[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dh_final):
        u, dt, A, B, C, starts = ctx.saved_tensors
        chunk_size, length = ctx.chunk_size, u.shape[1]
        du, ddt, dB, dC = (torch.empty_like(t) for t in (u, dt, B, C))
        dA = torch.zeros_like(A)
        A2, dt_u = A * _LOG2_E, dt * u
        ones = A.new_ones(A.shape[-1])
        buffers = _BlockBuffers(dh_final, min(chunk_size, length), 4)
        carry = dh_final
        for k in range(starts.shape[0] - 1, -1, -1):
            block = slice(k * chunk_size, (k + 1) * chunk_size)
            size = min(chunk_size, length - k * chunk_size)
            (a, a_steps), (h, h_steps), (g, g_steps), (q, _) = (buffers.block(i, size) for i in range(4))
            dt_k, dt_u_k, B_k, C_k, dy_k = dt[:, block], dt_u[:, block], B[:, block], C[:, block], dy[:, block]

            _fill_block(a, h, dt_k, A2, dt_u_k, B_k)
            _scan_in_place(a_steps, h_steps, starts[k])  # recompute the states h_t
            dC[:, block] = _contract_channels(dy_k, h)

            torch.mul(dy_k[..., None], C_k[..., None, :], out=g)  # dL/dh_t through y_t
            carry = _adjoint_in_place(a_steps, g_steps, carry)  # ... and through h_{t+1}

            torch.mul(g, a, out=q)  # dL/d(dt_t A) = g_t * a_t * h_{t-1}
            q[:, 1:] *= h[:, :-1]
            q[:, 0] *= starts[k]
            dA += torch.mul(q, dt_k[..., None], out=a).sum((0, 1))
            d_dt_u = _contract_state(B_k, g)  # dL/d(dt_t u_t)
            dB[:, block] = _contract_channels(dt_u_k, g)
            du[:, block] = d_dt_u * dt_k
            ddt[:, block] = (torch.mul(q, A, out=a) @ ones).addcmul_(d_dt_u, u[:, block])
        return du, ddt, dA, dB, dC, carry, None


def selective_scan_chunked(
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
    """Blocked form of `selective_scan_reference` (same arguments and results), with autograd.

        h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t,    y_t = <C_t, h_t> + D * u_t,    y_t *= silu(z_t)

    with dt = softplus(delta + delta_bias) (bias and softplus only when given / asked for).
    u, delta, z: [B, T, D]; A: [D, N]; B, C: [B, T, N] or [B, T, G, N] (channel d reads group d // (D // G));
    D, delta_bias: [D]; initial_state: [N_seq, D, N] (N_seq = B, or the number of sequences in
    cu_seqlens [N_seq + 1] with B == 1); chunk_size: the most tokens per block (fewer when B * D * N is
    large, so that a block's [B, L, D, N] work tensors stay within 2**18 elements). Accumulates in
    float64 when an input is float64, else float32. Not twice differentiable.

    Returns (y [B, T, D] in u's dtype, final_state [N_seq, D, N] in the compute dtype, or None unless
    output_final_state).
    """
    dtype = accumulation_dtype(u, delta, A, B, C, D, z, delta_bias, initial_state)
    batch, length, channels = u.shape
    state_dim = A.shape[1]
    x = u.to(dtype)
    dt = process_delta(delta.to(dtype), delta_bias, delta_softplus)
    B, C = (grouped(t.to(dtype), 2) for t in (B, C))  # [B, T, G, N]
    groups = B.shape[2]
    per_group = channels // groups
    num_states = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    if initial_state is None:
        initial_state = x.new_zeros(num_states, channels, state_dim)
    h0 = initial_state.to(dtype).reshape(num_states, groups, per_group, state_dim)

    xs, dts, Bs, Cs = x, dt, B, C
    if cu_seqlens is not None:
        # dt = 0 after each sequence's end (decay 1, no input) leaves its final state unchanged.
        xs, dts, Bs, Cs = (pad_packed(t, cu_seqlens) for t in (x, dt, B, C))
    rows, padded_length = xs.shape[:2]
    xs, dts = (t.reshape(rows, padded_length, groups, per_group).contiguous() for t in (xs, dts))
    y, final_state = _BlockedSelectiveScan.apply(
        xs, dts, A.to(dtype).reshape(groups, per_group, state_dim), Bs.contiguous(), Cs.contiguous(),
        h0.contiguous(), chunk_size,
    )
    y = y.reshape(rows, padded_length, channels)
    if cu_seqlens is not None:
        y = unpad_to_packed(y, cu_seqlens)
    y = skip_and_gate(y, x, D, z)
    final_state = final_state.reshape(num_states, channels, state_dim) if output_final_state else None
    return y.to(u.dtype), final_state
