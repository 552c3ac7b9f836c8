#!/usr/bin/env bash
# The GPU check (`make gpu-check`), for a CUDA machine that reaches no package index: run from anywhere in the
# source tree, with the wheels of `make gpu-wheels` in .whl/ and $OUT the folder whose files come back
# (README.md, Development, gives the device call). Sized for under 8 minutes on one H200.
#   1. installs the carried wheels into /tmp/site and seqzoo itself from this tree (editable, no dependencies);
#   2. environment.json: the machine, the versions that matter, which peers load there and why the others don't;
#   3. pytest.log, pytest.xml: every Triton kernel's tests (tests/kernels, compiled for the GPU: float32, float16
#      and bfloat16) and the kernel-level peer parity tests (tests/peers), with the measured errors in the XML;
#   4. kernels-<gpu>-bfloat16-gpu-check.{json,png}: every op's forms beside its peers (fla, mamba_ssm, mlstm_kernels,
#      SDPA, FlexAttention) at T = 1024, 4096, 16384, forward + backward, in the time the tests left;
#   check.log: all the rest it printed. Exit status: the tests', else the benchmark's.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-check}
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 COLUMNS=160
# The peer parity tests whose kernels run on CUDA here (the others compare pure-torch forms on the CPU).
PEER_TESTS=()
for name in installed scan_parity gla_parity ssd_parity selective_scan_parity mlstm_parity delta_rule_parity \
            delta_rule_chunk_parity deltanet_parity based_parity mamba2_parity; do
    PEER_TESTS+=("tests/peers/test_$name.py")
done

check() {
    echo "== 1. install: .whl/ into /tmp/site, seqzoo from $(pwd)"
    if ! compgen -G ".whl/*.whl" >/dev/null; then
        echo "no wheels in .whl/: run 'make gpu-wheels' on the machine that prepares the call, and carry .whl"
        return 2
    fi
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "the carried wheels did not install"; return 2; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    "$python" -m pip install -q --no-index --no-deps --no-build-isolation --editable . \
        || { echo "seqzoo did not install from the source tree (pip install --no-deps -e .)"; return 2; }

    echo "== 2. environment -> environment.json"
    "$python" -m benchmarks.gpu.environment "$OUT/environment.json" || { echo "seqzoo does not import here"; return 2; }

    echo "== 3. tests/kernels and the kernel-level tests/peers on CUDA -> pytest.log, pytest.xml"
    local started=$SECONDS tests=0 bench=0
    timeout 240 "$python" -m pytest -n 12 --timeout 180 -p no:cacheprovider -ra --junitxml "$OUT/pytest.xml" \
        tests/kernels "${PEER_TESTS[@]}" >"$OUT/pytest.log" 2>&1 || tests=$?
    tail -n 30 "$OUT/pytest.log"
    echo "tests: exit $tests after $((SECONDS - started)) s$([ "$tests" = 124 ] && echo ' (stopped at 240 s)')"

    # The benchmark takes the time the tests left: it starts no measurement after 400 s of the check, and is
    # stopped 60 s after that (a first call that compiles can take a while), so the whole stays under 8 minutes.
    # Left out: the Python loops over time (our reference forms, mamba_ssm's selective_scan_ref, xlstm's vanilla
    # cell), which the CPU results cover, and xlstm's CUDA cell, which nvcc compiles at its first call (minutes).
    local budget=$((400 - SECONDS)); [ "$budget" -lt 60 ] && budget=60
    echo "== 4. kernel benchmark, bfloat16, T = 1024 4096 16384, ${budget} s budget -> kernels-*-gpu-check.{json,png}"
    started=$SECONDS
    timeout $((budget + 60)) "$python" -m benchmarks.kernels --device cuda --dtype bfloat16 --lengths 1024 4096 16384 \
        --skip-impls seqzoo:reference mamba_ssm:selective_scan_ref xlstm:vanilla xlstm:cuda \
        --min-seconds 0.1 --budget-seconds "$budget" --out "$OUT" --tag gpu-check || bench=$?
    echo "benchmark: exit $bench after $((SECONDS - started)) s"
    [ "$tests" = 0 ] && return "$bench" || return "$tests"
}

mkdir -p "$OUT"
check 2>&1 | tee "$OUT/check.log"
status=${PIPESTATUS[0]}
echo "gpu check: exit $status; files in $OUT: $(ls "$OUT" | tr '\n' ' ')" | tee -a "$OUT/check.log"
exit "$status"
