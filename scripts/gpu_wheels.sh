#!/usr/bin/env bash
# Everything bench/gpu_check.sh needs on an offline GPU node, fetched here into gpu_bundle/ (ignored by
# git, copied along with the checkout): the wheels of what the check imports beyond the node's own
# python3 and torch (Python 3.12, manylinux x86-64, binary only), and a few dozen real utterances made
# here by the synthetic corpus's speech engines, for the learnable bf16-vs-fp32 check.
#
#   bash scripts/gpu_wheels.sh [OUT_DIR]        # make gpu-wheels; OUT_DIR defaults to gpu_bundle
#
# Versions are the ones this project is tested with. Dependencies are listed, not resolved, so that
# pip does not fetch numpy or torch, which the node already has.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/gpu_bundle}
PY=${PY:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
PYTHON_VERSION=${GPU_PYTHON_VERSION:-3.12}
WHEELS=(
  soundfile==0.14.0 cffi==2.1.1 pycparser==3.12  # audio.py
  soxr==1.1.0  # audio.py
  jiwer==4.0.0 click==8.5.1 rapidfuzz==3.14.6  # inference/metrics.py
  whisper-normalizer==0.1.15 regex==2026.12.2 more-itertools==11.2.1  # inference/metrics.py
  liger-kernel==0.8.5  # model.liger (its torch and triton are the node's)
)

mkdir -p "$OUT/wheels"
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version "$PYTHON_VERSION" --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  --platform any --dest "$OUT/wheels" "${WHEELS[@]}"

if [ ! -f "$OUT/corpus/train.jsonl" ]; then
  PYTHONPATH="$ROOT" "$PY" - "$OUT/corpus" <<'PYTHON'
import sys

from smolwhisper.data.synth import SynthConfig, synthesize_corpus

# About 50 utterances of 2-5 s from every installed engine: a task with something to learn.
synthesize_corpus(SynthConfig(hours=0.045, seed=27), sys.argv[1], progress=False)
PYTHON
fi
du -sh "$OUT/wheels" "$OUT/corpus"
echo "gpu_bundle: $(ls "$OUT/wheels" | wc -l) wheels and $(wc -l < "$OUT/corpus/train.jsonl") training utterances in $OUT"
