#!/usr/bin/env bash
# Every GPU check of raydd in one run: see benchmarks/gpu_check.py for the stages.
#
#   bash benchmarks/gpu_check.sh            # on a GPU machine (budget 8.5 minutes on one H200)
#   bash benchmarks/gpu_check.sh --dry      # every stage at toy size on CPU, under a minute (CI)
#
# A machine without network gets what it lacks from .carry/ (benchmarks/prepare_gpu_carry.sh):
# Ray stripped of what raydd does not use, the wheels Ray needs beyond the machine's own packages,
# real Fashion-MNIST and a checkout of the original DC code. Nothing there is installed for good:
# Ray and its wheels go to a temporary directory on PYTHONPATH, and only where no Ray is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3)}
[ -x .venv/bin/python ] && PY=.venv/bin/python

if [ -f .carry/ray.tar.xz ] && ! "$PY" -c "import ray" 2> /dev/null; then
  site=$(mktemp -d /tmp/raydd-site-XXXXXX)
  tar -xJf .carry/ray.tar.xz -C "$site"
  if compgen -G ".carry/wheels/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$site" .carry/wheels/*.whl
  fi
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
exec "$PY" benchmarks/gpu_check.py "$@"
