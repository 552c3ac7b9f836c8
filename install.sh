#!/usr/bin/env bash
# Set up seqzoo in ./.venv: torch first (pinned, so a CPU machine gets no CUDA packages), then the
# package with its extras under constraints.txt. Idempotent: a second run with nothing changed takes
# a second.
#
#   ./install.sh                       # runtime + test extras
#   SEQZOO_EXTRAS=test,bench ./install.sh
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu ./install.sh   # where PyPI's torch is a CUDA build
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
venv=${SEQZOO_VENV:-.venv}
extras=${SEQZOO_EXTRAS:-test,bench}

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "seqzoo needs Python >= 3.10; $python is $("$python" --version 2>&1). Set PYTHON=/path/to/python3.1x." >&2
    exit 1
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"

stamp="$venv/.seqzoo-install"
fingerprint="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1) extras=$extras"
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
"${pip[@]}" --constraint constraints.txt --editable ".[$extras]"
echo "$fingerprint" > "$stamp"
echo "seqzoo installed in $venv ($("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
