#!/usr/bin/env bash
# One-shot set-up on a fresh Debian machine: system packages, .venv, torch, the package.
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}   # the CPU build; a CUDA user's own torch is kept
# Offline speech engines for the synthetic corpus and for tests; Chromium for the report's browser test;
# PostgreSQL for the MLflow tracking server of the multi-node test (tests/test_multinode.py).
APT_PACKAGES=(espeak-ng flite festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k chromium postgresql)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing system packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    if "$PYTHON" -c "import torch" >/dev/null 2>&1; then
        # Keep the torch already installed (typically a CUDA build) instead of fetching another.
        echo "setup: reusing the torch of $PYTHON ($("$PYTHON" -c 'import torch; print(torch.__version__)'))"
        "$PYTHON" -m venv --system-site-packages "$VENV"
    else
        "$PYTHON" -m venv "$VENV"
    fi
fi
pip_install() {
    # Some machines list package folders that do not exist; pip warns once per package about them.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}
"$VENV/bin/python" -c "import torch" >/dev/null 2>&1 || pip_install "$TORCH_SPEC"
pip_install -e ".[dev]"
echo "setup: done ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
