"""Triton building blocks the chunked scan kernels share (scan, GLA, mLSTM, delta rule), with public names, as
flash-linear-attention's `fla/ops/common/` and `fla/ops/utils/`:

- `configs`        autotuning configs (one config under the interpreter) and the float32 dot precision;
- `layout`         the chunk layout of a packed row of tokens (host side) and the packing of [B, T, ...] inputs;
- `prologue`       the first lines of every program: its chunk's tokens, or its sequence's chunks;
- `cumsum`         the within-chunk cumulative sum of a log-decay (per head or per key channel, optionally
                   of logsigmoid(f), optionally summed in float64);
- `chunk_state`    the pass over the chunks that carries a decayed state forward (the state before every
                   chunk) and its gradient backward, for a decay per head or per key channel;
- `chunk_output`   o = scale [(Q K^T o D) V + diag(exp(b)) Q S_0] for a decay per head.

Importing this package defines no kernel: each module does when it is first imported, which must happen after
TRITON_INTERPRET is settled (`triton.jit` reads it then).
"""
