"""Attention benchmark cases: one op per mask kind, our forms beside torch's SDPA and FlexAttention.

Each mask kind is benchmarked as its own op ("attention_causal", "attention_window", ...), so the plot
shows how each one's cost grows with T: linearly for sliding-window, Longformer and BigBird masks,
quadratically for full causal attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.kernel_suite.case import REFERENCE_MAX_LEN, Case, Inputs, Shape, anywhere, leaf, needs_cuda
from zoo import kernels
from zoo.kernels.attention import BigBirdLayout, MaskSpec, bigbird, dense_mask, longformer, sliding_window
from zoo.kernels.attention.mask import layout_for

WINDOW = 256
MASKS: dict[str, MaskSpec] = {
    "attention_causal": MaskSpec(causal=True),
    "attention_window": sliding_window(WINDOW),
    "attention_longformer": longformer(WINDOW // 2, WINDOW // 2, global_tokens=(0, 1, 2, 3), causal=False),
    "attention_bigbird": bigbird(BigBirdLayout(block_size=64, window_blocks=3, global_blocks=1, random_blocks=3)),
}
# Forms that build the T x T mask or scores: beyond this length on the CPU they need gigabytes.
DENSE_CPU_MAX_LEN = 8192


def attention_inputs(T: int, s: Shape, device, dtype) -> Inputs:
    return tuple(leaf(s.batch, T, s.heads, s.head_dim, device=device, dtype=dtype) for _ in range(3))


def _ours(op: str, spec: MaskSpec) -> list[Case]:
    def case(backend: str, unavailable, max_len=None, cpu_max_len=None) -> Case:
        def build(T, s, device, dtype):
            return attention_inputs(T, s, device, dtype), lambda x: kernels.attention(*x, mask=spec, backend=backend)[0]

        return Case(op, f"seqzoo:{backend}", build, unavailable, max_len, cpu_max_len=cpu_max_len)

    return [
        case("torch", anywhere),
        case("dense", anywhere, cpu_max_len=DENSE_CPU_MAX_LEN),
        case("reference", anywhere, REFERENCE_MAX_LEN),
        case("triton", needs_cuda),
    ]


def _sdpa(op: str, spec: MaskSpec) -> Case:
    """torch SDPA: is_causal for the causal mask (its flash backend on CUDA), else the dense boolean mask."""

    def build(T, s, device, dtype):
        mask = None if spec.dense else dense_mask(spec, T, T, device)

        def run(x):
            q, k, v = (t.transpose(1, 2) for t in x)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=spec.dense and spec.causal)
            return out.transpose(1, 2)

        return attention_inputs(T, s, device, dtype), run

    return Case(op, "torch:sdpa", build, anywhere, cpu_max_len=DENSE_CPU_MAX_LEN, upstream=True)


def _flex_mask_mod(spec: MaskSpec, T: int, device):
    """FlexAttention's mask_mod for `spec` on a length-T self-attention (the rule of mask.allowed)."""
    is_global = torch.zeros(T, dtype=torch.bool, device=device)
    is_global[[t for t in spec.global_tokens if t < T]] = True
    blocks = layout_for(spec, T, T)
    blocks = None if blocks is None else blocks.to(device)
    left, right = spec.window

    def mask_mod(b, h, q_idx, kv_idx):
        seen = kv_idx >= 0  # a tensor of the right kind that is all True
        if not spec.dense:
            seen = seen & False
            if spec.has_window:
                seen = seen | (((kv_idx >= q_idx - left) | (left < 0)) & ((kv_idx <= q_idx + right) | (right < 0)))
            if spec.global_tokens:
                seen = seen | is_global[q_idx] | is_global[kv_idx]
            if blocks is not None:
                size = spec.layout.block_size
                seen = seen | blocks[q_idx // size, kv_idx // size]
        if spec.causal:
            seen = seen & (kv_idx <= q_idx)
        return seen

    return mask_mod


def _flex(op: str, spec: MaskSpec) -> Case:
    """torch's FlexAttention (compiled) with the block mask of the same spec, 128 x 128 blocks."""

    def build(T, s, device, dtype):
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        block_mask = create_block_mask(_flex_mask_mod(spec, T, device), None, None, T, T, device=device)
        compiled = torch.compile(flex_attention, dynamic=False)

        def run(x):
            q, k, v = (t.transpose(1, 2) for t in x)
            return compiled(q, k, v, block_mask=block_mask).transpose(1, 2)

        return attention_inputs(T, s, device, dtype), run

    return Case(op, "torch:flex_attention", build, needs_cuda, upstream=True)


def attention_cases() -> list[Case]:
    """For every mask kind: our blockwise torch, dense, reference and Triton forms, SDPA and FlexAttention."""
    return [case for op, spec in MASKS.items() for case in (*_ours(op, spec), _sdpa(op, spec), _flex(op, spec))]
