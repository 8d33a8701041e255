#!/usr/bin/env bash
# Here (with the package registries): download into .whl/ the Python 3.12 wheels that the lent
# GPU machine's image lacks for bench/bench_serving.py, at the versions this tree's .venv runs.
# Its image has torch, transformers, tokenizers, numpy, httpx, prometheus-client, psutil and
# uvloop (../.library/device/KINDS.md); these come to about 60 MiB, 51 MiB of it polars'
# runtime, which leaves about 1 MiB of the 64 MiB a device call may carry (docs/serving.md).
#   bash bench/device/fetch_wheels.sh && du -sh .whl
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
PACKAGES=(fastapi starlette pydantic pydantic_core annotated-types annotated-doc typing-inspection typing_extensions
  opentelemetry-api uvicorn httptools SQLAlchemy polars polars-runtime-32)
mapfile -t PINNED < <(.venv/bin/python - "${PACKAGES[@]}" <<'PY'
import sys
from importlib.metadata import version

for name in sys.argv[1:]:
    print(f"{name}=={version(name)}")
PY
)
rm -rf .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${PINNED[@]}"
ls .whl
