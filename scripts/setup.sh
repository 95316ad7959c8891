#!/usr/bin/env bash
# One-shot set-up on a fresh Debian machine: system packages, .venv, torch, the package.
# Idempotent: each step is skipped when its result is already there. Without root and without
# password-less sudo, the system packages are skipped with a line saying what will not work.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}   # the CPU build; a CUDA user's own torch is kept
EXTRAS=${EXTRAS:-dev,synth}               # the tests' peers and the synthetic corpus's engines; "" for the base only
# Offline speech engines for the synthetic corpus and for tests; Chromium for the report's and the MLflow
# UI's browser tests; PostgreSQL for the MLflow tracking server of the multi-node test (tests/test_multinode.py).
APT_PACKAGES=(espeak-ng flite festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k chromium postgresql)

# What each missing package takes away, for the line printed when they cannot be installed.
without() {
    case "$1" in
        espeak-ng|flite|festival*) echo "synthetic-corpus voices" ;;
        chromium) echo "browser tests" ;;
        postgresql) echo "the multi-node test" ;;
    esac
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
    if [ -z "$SUDO" ] || sudo -n true >/dev/null 2>&1; then
        echo "setup: installing system packages: ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        lost=$(for pkg in "${missing[@]}"; do without "$pkg"; done | sort -u | paste -sd, - | sed 's/,/, /g')
        echo "setup: no root and no sudo: skipping system packages ${missing[*]} (without them: $lost; training, sweeps and reports on a real corpus need none of them)"
    fi
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
pip_install -e ".${EXTRAS:+[$EXTRAS]}"
# The real-speech check's recordings (beckett.wav and LibriSpeech's ls_test.flac, smolwhisper/data/real_speech.py):
# the files only, without the packages' ONNX runtime, MLX or librosa, which nothing here uses.
pip_install --no-deps "useful-moonshine-onnx==20251121" "whisper-mps==0.0.10"
echo "setup: done ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
