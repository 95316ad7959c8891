#!/usr/bin/env bash
# The GPU check on a node as it is: no network, its own python3 and torch, nothing installed system-wide.
# The wheels in gpu_bundle/ (made elsewhere by scripts/gpu_wheels.sh and copied with the checkout) go
# into a scratch directory with `pip install --no-index`; no Ray, no MLflow, no apt.
#
#   bash bench/gpu_check.sh OUT_DIR [bench/gpu_check.py options, e.g. --only speed]
#
# Writes OUT_DIR/gpu_check.json and OUT_DIR/gpu_check.md (one table) and prints the table.
# Exit status: 0 every check passed, 1 a check failed, 2 the check cannot run here (no CUDA, no bundle).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: bash bench/gpu_check.sh OUT_DIR [gpu_check.py options]}
shift
BUNDLE=${GPU_BUNDLE:-$ROOT/gpu_bundle}
PYTHON=${PYTHON:-python3}

if ! compgen -G "$BUNDLE/wheels/*.whl" > /dev/null; then
  echo "gpu_check: no wheels in $BUNDLE/wheels; run 'make gpu-wheels' (scripts/gpu_wheels.sh) on a machine" \
       "with network and copy gpu_bundle/ along with the checkout" >&2
  exit 2
fi
mkdir -p "$OUT"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

# --no-deps: what the wheels need beyond each other (numpy, torch, triton) is the node's own.
if "$PYTHON" -m pip --version > /dev/null 2>&1; then
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-index --no-deps --no-compile \
    --find-links "$BUNDLE/wheels" --target "$SCRATCH/site" "$BUNDLE"/wheels/*.whl || exit 2
else  # a python without pip: a wheel of these kinds is a zip to unpack on the path
  "$PYTHON" - "$SCRATCH/site" "$BUNDLE"/wheels/*.whl <<'PYTHON' || exit 2
import sys, zipfile
for wheel in sys.argv[2:]:
    zipfile.ZipFile(wheel).extractall(sys.argv[1])
PYTHON
fi
ls -d "$SCRATCH"/site/*.dist-info | xargs -n1 basename > "$OUT/installed.txt"
echo "gpu_check: $(wc -l < "$OUT/installed.txt") wheels from $BUNDLE/wheels installed into a scratch directory"

if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: $("$PYTHON" -c 'import torch; print("torch", torch.__version__)' 2>&1) sees no CUDA GPU;" \
       "this check runs on a GPU node (python bench/gpu_check.py --cpu checks it on a CPU)" >&2
  exit 2
fi
cd "$ROOT"
PYTHONPATH="$SCRATCH/site:$ROOT" TOKENIZERS_PARALLELISM=false \
  "$PYTHON" bench/gpu_check.py --out "$OUT" --corpus "$BUNDLE/corpus" "$@"
