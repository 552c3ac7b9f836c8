"""`attention`: validates the inputs, joins the KV cache of earlier tokens, then runs the form that `backend` names."""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_backend
from ..triton_support import load_triton_form, triton_form_unsupported
from .blockwise import attention_blockwise
from .cache import KVCache
from .checks import BACKENDS, check_attention_inputs, check_scale
from .dense import attention_dense
from .mask import MaskSpec
from .reference import attention_reference

# "auto" on CPU runs sparse masks through the dense SDPA form while T * S is at most this (a 512 x 512 block; the
# explicit mask is then 256 KiB). Measured fwd+bwd on one thread (H = 4, D = 64, float32) the two forms break even
# around T = S = 512 for BigBird, Longformer and 256-token windows (dense ~13 ms, blockwise 13-17 ms), dense wins
# below (T = 256: 3.5 vs 4-7 ms: per-tile overhead and the slack of windows in 64 x 64 tiles), blockwise wins above
# and by more as T grows (T = 1024: 51 vs 31-44 ms; T = 2048: 240-300 vs 40-200 ms), its work being linear in T.
DENSE_MAX_ELEMENTS = 512 * 512


def _triton_unsupported(q: Tensor, k: Tensor, v: Tensor) -> str | None:
    """Why the Triton form cannot run this (otherwise valid) call (`triton_attention.triton_unsupported`), or None."""
    return triton_form_unsupported(__package__, "triton_attention", q, k, v)


def auto_form(on_cuda: bool, triton_runs: bool, dense_mask: bool, packed: bool, elements: int) -> str:
    """The form "auto" takes. Dense masks (full or causal) of unpacked batches go to SDPA everywhere: on CUDA its
    flash backend is the peer our Triton kernel is measured against, on CPU its flash kernel beats the blockwise
    torch form (1.5x at T = 2048). Sparse masks and packed batches take Triton on CUDA; on CPU, SDPA on the dense
    mask while T * S <= DENSE_MAX_ELEMENTS, the blockwise torch form above."""
    if dense_mask and not packed:
        return "dense"
    if on_cuda and triton_runs:
        return "triton"
    return "dense" if elements <= DENSE_MAX_ELEMENTS else "torch"


def _resolve(backend: str, q: Tensor, k: Tensor, v: Tensor, mask: MaskSpec, packed: bool) -> str:
    """The form that runs: `auto_form` for "auto"; a forced "triton" that cannot run raises ValueError."""
    if backend == "auto":
        triton_runs = q.is_cuda and _triton_unsupported(q, k, v) is None
        return auto_form(q.is_cuda, triton_runs, mask.dense, packed, q.shape[1] * k.shape[1])
    if backend == "triton":
        reason = _triton_unsupported(q, k, v)
        if reason is not None:
            raise ValueError(f"attention: backend='triton' cannot run this call: {reason}")
    return backend


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: MaskSpec = MaskSpec(causal=True),
    scale: float | None = None,
    initial_state: KVCache | None = None,
    output_final_state: bool = False,
    cu_seqlens: Tensor | None = None,
    backend: str = "auto",
) -> tuple[Tensor, KVCache | None]:
    """Softmax attention under a mask spec, o = softmax(scale q k^T + mask) v per head.

    q: [B, T, H, D]; k: [B, S, H_kv, D]; v: [B, S, H_kv, Dv]; H % H_kv == 0 (query head h reads key/value head
    h // (H / H_kv)); one dtype for all. mask: a MaskSpec (causal, window, global tokens, BigBird layout; default
    plain causal); scale None means D ** -0.5.
    initial_state: a KVCache of earlier tokens (keys [B, S0, H_kv, D], values [B, S0, H_kv, Dv], the position of
    its first key); its keys go before k, and the T queries align bottom-right among the S0 + S keys (T <= S0 + S).
    A cache that starts after position 0 (rolled) serves only pure sliding windows.
    output_final_state: also return the KVCache after these tokens (under a pure sliding window only the last
    mask.max_left + 1 keys, as `attention_step` keeps them).
    cu_seqlens: [N + 1] packs N sequences into one row (B == 1, T == S, no initial_state, no final state).
    backend: "auto" (SDPA for full or causal masks of unpacked batches; otherwise Triton on CUDA where it applies:
    float16/bfloat16/float32; on CPU SDPA on the dense mask for T * S <= DENSE_MAX_ELEMENTS, the blockwise torch
    form above; see `auto_form`), "torch" (blockwise),
    "dense" (SDPA on the dense mask), "triton" (forced; CUDA, or CPU under TRITON_INTERPRET=1 set before the Triton
    form is first used) or "reference" (the dense oracle).

    Returns (o [B, T, H, Dv] in q's dtype, final_state: a KVCache, or None unless output_final_state).
    Rows that see no key give zeros.
    """
    op = "attention"
    check_backend(op, backend, BACKENDS)
    check_attention_inputs(op, q, k, v, mask, initial_state, output_final_state, cu_seqlens)
    check_scale(op, scale)

    keys, values = k, v
    if initial_state is not None:
        keys, values = torch.cat((initial_state.keys, k), 1), torch.cat((initial_state.values, v), 1)
    form = _resolve(backend, q, keys, values, mask, cu_seqlens is not None)
    options = dict(mask=mask, scale=scale, cu_seqlens=cu_seqlens)
    if form == "reference":
        o, _ = attention_reference(q, keys, values, **options)
    elif form == "dense":
        o, _ = attention_dense(q, keys, values, **options)
    elif form == "triton":
        o, _ = load_triton_form(__package__, "triton_attention").attention_triton(q, keys, values, **options)
    else:
        o, _ = attention_blockwise(q, keys, values, **options)

    final_state = None
    if output_final_state:
        start = 0 if initial_state is None else initial_state.start
        final_state = KVCache(keys[:, :0], values[:, :0], start).extend(keys, values, mask)
    return o, final_state
