#!/usr/bin/env bash
# GPU figures in a few minutes: `packaging/bench_cuda.sh [OUT_DIR]` on a machine with CUDA.
# Uses $SGIM_PYTHON (default: python3) with torch already installed; what else the bench needs
# (open_clip_torch, platformdirs, safetensors, soundfile) comes from $SGIM_WHEELS when that folder
# holds wheels (`pip download open_clip_torch platformdirs soundfile -d wheels/`), else from pip.
# Prints JSON lines (docs/speed.md explains the keys) and keeps them in OUT_DIR/bench-cuda.jsonl.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/out}"
py="${SGIM_PYTHON:-python3}"
mkdir -p "$out"
missing=$("$py" - <<'PY'
import importlib.util
names = {"open_clip": "open_clip_torch", "platformdirs": "platformdirs", "safetensors": "safetensors",
         "soundfile": "soundfile", "ftfy": "ftfy"}
print(" ".join(pkg for mod, pkg in names.items() if importlib.util.find_spec(mod) is None))
PY
)
if [ -n "$missing" ]; then
  if [ -n "${SGIM_WHEELS:-}" ]; then
    "$py" -m pip install -q --no-index --find-links "$SGIM_WHEELS" $missing
  else
    "$py" -m pip install -q $missing
  fi
fi
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this script measures the GPU')"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
weights="$out/bench-weights"
{
  # A default 300-step edit, timed step by step, for each mode at 256 and 1024 px; the original's
  # computation for 20 steps (its per-step cost does not change along the edit).
  "$py" -m sgim_desktop bench --device cuda --size 256 1024 --steps 300 --original-steps 20 \
        --mode exact fast original --weights-dir "$weights" --json
} | tee "$out/bench-cuda.jsonl"
