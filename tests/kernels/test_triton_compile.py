"""Every Triton kernel compiles for an H100 (sm_90) with the installed triton, without a GPU
(tests/kernels/triton_compile.py, one autotuning config per kernel): the interpreter accepts code that the
compiler rejects. A subprocess, since the kernels of this process are defined for the interpreter. Every config,
or another triton: run the script itself (its docstring)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")

# The kernels of every op (their module and name, as the script prints them).
KERNELS = {
    "scan": ("cumsum.chunk_local_cumsum_kernel", "chunk_state.chunk_state_fwd_kernel",
             "chunk_state.chunk_state_bwd_kernel", "chunk_output.chunk_output_kernel", "triton_scan._dv_kernel",
             "triton_scan._dqk_kernel"),
    "gla": ("triton_gla._intra_kernel", "triton_gla._output_kernel", "triton_gla._da_kernel", "triton_gla._dv_kernel",
            "triton_gla._intra_bwd_kernel", "triton_gla._dqkg_kernel"),
    "mlstm": ("triton_mlstm_fwd._state_fwd_kernel", "triton_mlstm_fwd._output_kernel",
              "triton_mlstm_bwd._bwd_prep_kernel", "triton_mlstm_bwd._dm_scan_kernel",
              "triton_mlstm_bwd._state_bwd_kernel", "triton_mlstm_bwd._dv_kernel", "triton_mlstm_bwd._dqk_kernel",
              "triton_mlstm_bwd._dgate_kernel"),
    "delta_rule": ("triton_delta_fwd._wy_kernel", "triton_delta_fwd._state_fwd_kernel",
                   "triton_delta_bwd._state_bwd_kernel", "triton_delta_bwd._grad_kernel"),
    "selective_scan": ("triton_selective._fwd_kernel", "triton_selective._bwd_kernel"),
    "short_conv": ("triton_conv._fwd_kernel", "triton_conv._final_state_kernel", "triton_conv._bwd_kernel",
                   "triton_conv._dinit_kernel"),
    "attention": ("triton_attention_fwd._fwd_kernel", "triton_attention_bwd._delta_kernel",
                  "triton_attention_bwd._dkdv_kernel", "triton_attention_bwd._dq_kernel"),
    "slstm": ("triton_slstm_register._fwd_kernel", "triton_slstm_register._bwd_kernel",
              "triton_slstm_tiled._fwd_tiled_kernel", "triton_slstm_tiled._bwd_tiled_kernel"),
}


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the kernel tests compile the kernels")
def test_every_kernel_compiles_for_sm90():
    env = {name: value for name, value in os.environ.items() if name != "TRITON_INTERPRET"}
    script = Path(__file__).with_name("triton_compile.py")
    result = subprocess.run(
        [sys.executable, str(script), "--configs", "first"], env=env, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert result.stdout.rstrip().endswith("all compiled"), result.stdout[-4000:]
    for op, names in KERNELS.items():
        for name in names:
            assert f"ok {name} [" in result.stdout, f"{op}: {name} was not compiled\n{result.stdout[-4000:]}"
