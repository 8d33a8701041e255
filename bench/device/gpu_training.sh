#!/usr/bin/env bash
# On the lent GPU machine: issue 19's GPU figures for training, in one device call. Adapts a
# randomly initialised Pythia-410m-shaped model through abkit's accelerate path for a few
# hundred steps at 2,048 tokens and reports tokens/s and model FLOPs utilisation (goal on an
# H100/H200: MFU >= 40%). The machine's image has torch, transformers, accelerate, tokenizers
# and tqdm, all that abkit.training needs, so no wheels travel with it:
#   run(command="bash bench/device/gpu_training.sh", timeout_s=600)
# Results: $OUT/training-SHAPE.json and .log. A rehearsal on a CPU with a tiny shape (about a minute):
#   PYTHON=.venv/bin/python DEVICE=cpu SHAPES=tiny CONTEXT=128 BATCH=4 ACCUMULATION=1 STEPS=30 WARMUP_STEPS=10 \
#     bash bench/device/gpu_training.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-/tmp/abkit-gpu-training}
mkdir -p "$OUT"
export PYTHONPATH=. PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
DEVICE=${DEVICE:-cuda}
"$PYTHON" - "$DEVICE" <<'PY'
import sys

import accelerate
import torch
import transformers

if sys.argv[1] == "cuda":
    assert torch.cuda.is_available(), "no CUDA device"
    print(torch.__version__, transformers.__version__, accelerate.__version__, torch.cuda.get_device_name(0))
PY
for shape in ${SHAPES:-pythia-410m}; do
  # 200 steps of 16 x 2 sequences of 2,048 tokens (65,536 tokens a step); steps 20-200 timed.
  timeout "${SHAPE_TIMEOUT_S:-480}" "$PYTHON" bench/bench_training_gpu.py --device "$DEVICE" --shape "$shape" \
    --context "${CONTEXT:-2048}" --batch "${BATCH:-16}" --accumulation "${ACCUMULATION:-2}" \
    --steps "${STEPS:-200}" --warmup-steps "${WARMUP_STEPS:-20}" --out "$OUT/training-$shape.json" 2>&1 |
    tee "$OUT/training-$shape.log" || echo "$shape: exit ${PIPESTATUS[0]}"
done
