#!/usr/bin/env bash
# The GPU check on a CUDA machine, from any directory: make sure torch sees CUDA (else install
# the book's pinned torch, whose default Linux wheel is built with CUDA), then run
# benchmarks/gpu_check.py from the repository root without installing the project.
# Usage: benchmarks/gpu_check.sh [--out FILE] [--slice-steps N] [--no-chapters] [--dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null \
    && [[ " $* " != *" --dry-run "* ]]; then
  "$PY" -m pip install --quiet -c constraints.txt torch
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" MI_UTILS_PROGRESS=0
exec "$PY" -m benchmarks.gpu_check "$@"
