#!/usr/bin/env bash
# On the lent GPU machine: install the wheels fetch_wheels.sh put in .whl/, then take the
# serving issue's GPU figures (P50/P99 at 10, 50 and 100 requests/s, 512-token inputs) for the
# Pythia-410m and 1.4b shapes, one bench_serving.py run each, sized to fit one 10-minute call.
# One device call, carrying .whl (the working tree and the wheels just fit in 64 MiB):
#   run(command="bash bench/device/gpu_serving.sh", carry=[".whl"], timeout_s=600)
# Results: $OUT/serving-SHAPE.json and .log. A local rehearsal without a GPU or wheels:
#   WHEELS= PYTHON=.venv/bin/python DEVICE=cpu SHAPES=tiny RATES=5,10 bash bench/device/gpu_serving.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-/tmp/abkit-gpu-serving}
mkdir -p "$OUT"
WHEELS=${WHEELS-.whl}  # empty: use the packages $PYTHON has
if [ -n "$WHEELS" ]; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
  export PYTHONPATH=/tmp/site:.
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
DEVICE=${DEVICE:-cuda}
"$PYTHON" - "$DEVICE" <<'PY'
import sys

import torch

import abkit.serving.app  # fastapi, pydantic, the scorer
import abkit.events  # SQLAlchemy, polars

if sys.argv[1] == "cuda":
    assert torch.cuda.is_available(), "no CUDA device"
    print(torch.__version__, torch.cuda.get_device_name(0))
PY
for shape in ${SHAPES:-pythia-410m pythia-1.4b}; do
  # A shape's run builds its random-init model (about a minute for 1.4b), then 2 rounds of
  # low-load and saturation measurements and the open-loop rates, 20 s each.
  timeout "${SHAPE_TIMEOUT_S:-270}" "$PYTHON" bench/bench_serving.py --device "$DEVICE" --shape "$shape" \
    --input-tokens 512 --rates "${RATES:-10,50,100}" --rate-duration "${RATE_DURATION_S:-20}" \
    --rounds 2 --latency-requests 100 --saturation-duration 8 --out "$OUT/serving-$shape.json" 2>&1 |
    grep -v -E "Loading weights|Writing model shards" | tee "$OUT/serving-$shape.log" || echo "$shape: exit ${PIPESTATUS[0]}"
done
