#!/usr/bin/env bash
# Set up seqzoo in ./.venv: torch first (pinned, so a CPU machine gets no CUDA packages), then the
# package with its extras under constraints.txt. Idempotent: a second run with nothing changed takes
# a second.
#
#   ./install.sh                       # runtime + test, bench, hf and peers extras
#   SEQZOO_EXTRAS=test ./install.sh    # without the peer packages
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu ./install.sh   # where PyPI's torch is a CUDA build
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
venv=${SEQZOO_VENV:-.venv}
extras=${SEQZOO_EXTRAS:-test,bench,hf,peers}

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "seqzoo needs Python >= 3.10; $python is $("$python" --version 2>&1). Set PYTHON=/path/to/python3.1x." >&2
    exit 1
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"

stamp="$venv/.seqzoo-install"
fingerprint="$(cat install.sh pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1) extras=$extras"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] && "$venv/bin/python" -c 'import zoo' 2>/dev/null; then
    echo "seqzoo environment in $venv is up to date"
    exit 0
fi

pip=("$venv/bin/python" -m pip install --disable-pip-version-check --quiet)
torch_pin=$(grep -E '^torch==' constraints.txt)
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "${pip[@]}" --index-url "$TORCH_INDEX_URL" "$torch_pin"
else
    "${pip[@]}" "$torch_pin"
fi

# The peers extra (upstream packages used as parity oracles and benchmark peers) is installed on its own:
# mamba-ssm and causal-conv1d declare CUDA-only dependencies (tilelang, quack-kernels, apache-tvm-ffi)
# that pip would resolve even for an installed copy, and build on CPU only without their CUDA extensions.
# Keep these two lists in step with the peers extra in pyproject.toml; the versions come from constraints.txt.
peers_pip=(flash-linear-attention mlstm-kernels xlstm)
peers_nodeps=(mamba-ssm causal-conv1d)
pip_extras=$(tr ',' '\n' <<< "$extras" | { grep -vx 'peers' || true; } | paste -sd, -)
"${pip[@]}" --constraint constraints.txt --editable ".${pip_extras:+[$pip_extras]}"
if tr ',' '\n' <<< "$extras" | grep -qx 'peers'; then
    "${pip[@]}" --constraint constraints.txt "${peers_pip[@]}"
    # No build isolation: the build imports the torch installed above. SKIP_CUDA_BUILD leaves out the
    # CUDA extensions; FORCE_BUILD stops setup.py from looking for a prebuilt CUDA wheel to download.
    MAMBA_FORCE_BUILD=TRUE MAMBA_SKIP_CUDA_BUILD=TRUE CAUSAL_CONV1D_FORCE_BUILD=TRUE CAUSAL_CONV1D_SKIP_CUDA_BUILD=TRUE \
        "${pip[@]}" --constraint constraints.txt --no-build-isolation --no-deps "${peers_nodeps[@]}"
fi
# A CPU torch beside PyPI's torchvision (a CUDA build) cannot import torchvision, nor therefore timm, torchmetrics
# or lightning. Only then, this environment gets a start-up hook (zoo/compat_torchvision.py) that defines the two
# operator schemas torchvision expects right before it is first imported; nothing else is ever patched.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -f "$site/seqzoo_torchvision_shim.pth"
if ! "$venv/bin/python" -c 'import sys, zoo.compat_torchvision as c; sys.exit(not c.compiled_ops_load())'; then
    echo 'import zoo.compat_torchvision as _seqzoo_tv; _seqzoo_tv.install_import_hook()' > "$site/seqzoo_torchvision_shim.pth"
fi
if "$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null | grep -qi '^nvidia-'; then
    echo "install.sh: CUDA packages (nvidia-*) were installed; a dependency escaped the torch pin in constraints.txt" >&2
    exit 1
fi
echo "$fingerprint" > "$stamp"
echo "seqzoo installed in $venv ($("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
