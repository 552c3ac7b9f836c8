"""The kernel benchmark cases: for each op, our forms (chunked torch, reference loop, Triton) and the
peer libraries' forms.

A case builds random inputs for a length T and returns the leaf tensors and a function computing
the op's output from them; the benchmark times output + backward of a random upstream gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from benchmarks.kernel_suite import peer_cases
from benchmarks.kernel_suite.attention_cases import attention_cases
from benchmarks.kernel_suite.case import REFERENCE_MAX_LEN, Case, Inputs, Shape, anywhere, leaf, needs_cuda
from zoo import kernels

Builder = Callable[[int, Shape, torch.device, torch.dtype], Inputs]
Runner = Callable[[Inputs, str], torch.Tensor]


def _decay(t: torch.Tensor) -> torch.Tensor:
    """log decays around log(0.98): slow enough that the state carries information far."""
    return F.logsigmoid(t + 4.0)


def scan_inputs(T: int, s: Shape, device, dtype) -> Inputs:
    q, k, v = (leaf(s.batch, T, s.heads, s.head_dim, device=device, dtype=dtype) for _ in range(3))
    return q, k, v, leaf(s.batch, T, s.heads, device=device, dtype=torch.float32, fill=_decay)


def gla_inputs(T: int, s: Shape, device, dtype) -> Inputs:
    q, k, v = (leaf(s.batch, T, s.heads, s.head_dim, device=device, dtype=dtype) for _ in range(3))
    return q, k, v, leaf(s.batch, T, s.heads, s.head_dim, device=device, dtype=torch.float32, fill=_decay)


def ssd_inputs(T: int, s: Shape, device, dtype) -> Inputs:
    """x [B,T,H,P], dt [B,T,H] (before softplus), A [H], B and C [B,T,1,N] with N = P = head_dim."""
    x = leaf(s.batch, T, s.heads, s.head_dim, device=device, dtype=dtype)
    dt = leaf(s.batch, T, s.heads, device=device, dtype=torch.float32, fill=lambda t: t - 3.0)
    A = leaf(s.heads, device=device, dtype=torch.float32, fill=lambda t: -torch.rand_like(t) - 0.5)
    B, C = (leaf(s.batch, T, 1, s.head_dim, device=device, dtype=dtype) for _ in range(2))
    return x, dt, A, B, C


def mlstm_inputs(T: int, s: Shape, device, dtype) -> Inputs:
    """q, k, v [B,T,H,D] and pre-activation input/forget gates [B,T,H]."""
    q, k, v = (leaf(s.batch, T, s.heads, s.head_dim, device=device, dtype=dtype) for _ in range(3))
    i = leaf(s.batch, T, s.heads, device=device, dtype=torch.float32)
    f = leaf(s.batch, T, s.heads, device=device, dtype=torch.float32, fill=lambda t: t + 3.0)
    return q, k, v, i, f


def selective_scan_inputs(T: int, s: Shape, device, dtype) -> Inputs:
    """u, delta [B,T,D] with D = heads * head_dim channels, A [D,N], B and C [B,T,N], D skip [D]."""
    channels = s.heads * s.head_dim
    u = leaf(s.batch, T, channels, device=device, dtype=dtype)
    delta = leaf(s.batch, T, channels, device=device, dtype=torch.float32, fill=lambda t: t - 3.0)
    A = leaf(channels, s.d_state, device=device, dtype=torch.float32, fill=lambda t: -torch.rand_like(t) - 0.5)
    B, C = (leaf(s.batch, T, s.d_state, device=device, dtype=dtype) for _ in range(2))
    return u, delta, A, B, C, leaf(channels, device=device, dtype=torch.float32)


def delta_rule_inputs(T: int, s: Shape, device, dtype) -> Inputs:
    """q, k, v [B,T,H,D] (q and k L2-normalised inside the op), beta in (0, 1) [B,T,H]."""
    q, k, v = (leaf(s.batch, T, s.heads, s.head_dim, device=device, dtype=dtype) for _ in range(3))
    return q, k, v, leaf(s.batch, T, s.heads, device=device, dtype=dtype, fill=torch.sigmoid)


def gated_delta_rule_inputs(T: int, s: Shape, device, dtype) -> Inputs:
    """The delta rule's inputs and a log-decay g [B,T,H] (float32, as fla keeps it)."""
    return (*delta_rule_inputs(T, s, device, dtype), leaf(s.batch, T, s.heads, device=device, dtype=torch.float32,
                                                        fill=_decay))


def slstm_inputs(T: int, s: Shape, device, dtype) -> Inputs:
    """Gate pre-activations x [B,T,H,4*D] (gates i, f, z, o), recurrent weights R [H,D,4*D] ~ N(0, 1/D), bias [H,4*D]."""
    x = leaf(s.batch, T, s.heads, 4 * s.head_dim, device=device, dtype=dtype)
    R = leaf(s.heads, s.head_dim, 4 * s.head_dim, device=device, dtype=dtype, fill=lambda t: t * s.head_dim**-0.5)
    return x, R, leaf(s.heads, 4 * s.head_dim, device=device, dtype=dtype)


def short_conv_inputs(T: int, s: Shape, device, dtype) -> Inputs:
    channels = s.heads * s.head_dim
    return leaf(s.batch, T, channels, device=device, dtype=dtype), leaf(channels, 4, device=device, dtype=dtype)


_RUNNERS: dict[str, tuple[Builder, Runner]] = {
    "scan": (scan_inputs, lambda x, b: kernels.scan(*x, backend=b)[0]),
    "gla": (gla_inputs, lambda x, b: kernels.scan(*x, backend=b)[0]),
    "ssd": (ssd_inputs, lambda x, b: kernels.ssd_scan(*x, dt_softplus=True, backend=b)[0]),
    "mlstm": (mlstm_inputs, lambda x, b: kernels.mlstm_scan(*x, backend=b)[0]),
    "selective_scan": (
        selective_scan_inputs,
        lambda x, b: kernels.selective_scan(*x[:5], x[5], delta_softplus=True, backend=b)[0],
    ),
    "delta_rule": (
        delta_rule_inputs,
        lambda x, b: kernels.delta_rule(*x[:3], beta=x[3], use_qk_l2norm_in_kernel=True, backend=b)[0],
    ),
    "gated_delta_rule": (
        gated_delta_rule_inputs,
        lambda x, b: kernels.delta_rule(*x[:3], beta=x[3], g=x[4], use_qk_l2norm_in_kernel=True, backend=b)[0],
    ),
    "slstm": (slstm_inputs, lambda x, b: kernels.slstm(*x, backend=b)[0]),
    "short_conv": (short_conv_inputs, lambda x, b: kernels.short_conv(x[0], x[1], activation="silu", backend=b)[0]),
}


# Ops whose torch form is itself a loop over time (the sLSTM recurrence is sequential): like the reference
# loops, timed without the memory profile, whose per-op events would cost gigabytes at long T.
_SEQUENTIAL_TORCH_FORMS = {"slstm"}


def _ours(op: str) -> list[Case]:
    """Our chunked torch form, the reference loop (up to REFERENCE_MAX_LEN) and the Triton form (CUDA)."""
    make_inputs, run = _RUNNERS[op]

    def case(backend: str, unavailable, max_len=None) -> Case:
        def build(T, s, device, dtype):
            return make_inputs(T, s, device, dtype), lambda x: run(x, backend)

        loops = backend == "reference" or (backend == "torch" and op in _SEQUENTIAL_TORCH_FORMS)
        return Case(op, f"seqzoo:{backend}", build, unavailable, max_len, profile_memory=not loops)

    return [case("torch", anywhere), case("reference", anywhere, REFERENCE_MAX_LEN), case("triton", needs_cuda)]


def kernel_cases() -> list[Case]:
    """All cases, ours first, then the peers (each peer case says when its library is missing)."""
    return [
        *_ours("scan"),
        *peer_cases.scan_cases(scan_inputs),
        *_ours("gla"),
        *peer_cases.gla_cases(gla_inputs),
        *_ours("ssd"),
        *peer_cases.ssd_cases(ssd_inputs),
        *_ours("mlstm"),
        *peer_cases.mlstm_cases(mlstm_inputs),
        *_ours("selective_scan"),
        *peer_cases.selective_scan_cases(selective_scan_inputs),
        *_ours("delta_rule"),
        *peer_cases.delta_rule_cases(delta_rule_inputs, gated=False),
        *_ours("gated_delta_rule"),
        *peer_cases.delta_rule_cases(gated_delta_rule_inputs, gated=True),
        *_ours("slstm"),
        *peer_cases.slstm_cases(slstm_inputs),
        *_ours("short_conv"),
        *peer_cases.short_conv_cases(short_conv_inputs),
        *attention_cases(),
    ]
