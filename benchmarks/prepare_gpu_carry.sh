#!/usr/bin/env bash
# Pack .carry/ for benchmarks/gpu_check.sh on a GPU machine that has torch, pandas and pyarrow but
# no Ray and no network, within a 64 MiB transfer (the repository itself is under 1 MiB):
#   - ray.tar.xz   Ray 2.60 for CPython 3.12 on x86-64 Linux, without what raydd never uses
#                  (the Java jar, the dashboard's web client and source maps, tests) and with
#                  debug symbols stripped: 79 MB wheel -> ~30 MB
#   - wheels/      what Ray and Tune need beyond that machine's own packages (jsonschema, pydantic, ...)
#   - fashion-mnist/  the real gzipped idx files (Debian's dataset-fashion-mnist), 30 MB
#   - DatasetCondensation/  main.py, utils.py, networks.py of the original DC code, if --original-dir
#
#   bash benchmarks/prepare_gpu_carry.sh [--original-dir DIR] [--python-version 3.12]
set -euo pipefail
cd "$(dirname "$0")/.."
original="" pyver="3.12"
while [ $# -gt 0 ]; do
  case "$1" in
    --original-dir) original="$2"; shift 2 ;;
    --python-version) pyver="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
rm -rf .carry && mkdir -p .carry/wheels
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
platforms="--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
fetch() {  # wheels for the GPU machine's Python, not this one's
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
    $platforms -d "$1" "${@:2}"
}

fetch "$tmp" "ray==2.60.*"
mkdir "$tmp/ray" && (cd "$tmp/ray" && unzip -q "$tmp"/ray-*.whl)
rm -rf "$tmp/ray/ray/jars" "$tmp/ray/ray/dashboard/client/build"
find "$tmp/ray" -name "*.map" -delete
find "$tmp/ray" -type d -name tests -prune -exec rm -rf {} +
find "$tmp/ray" -type f \( -name "*.so" -o -path "*/core/src/ray/*" \) -exec strip --strip-unneeded {} + 2>/dev/null || true
tar -cf - -C "$tmp/ray" . | xz -T0 -6 > .carry/ray.tar.xz

# Ray's and Tune's needs that the GPU machine's image lacks (checked against its package list)
fetch .carry/wheels jsonschema jsonschema-specifications referencing rpds-py tensorboardX \
  pydantic pydantic-core annotated-types typing-inspection

if [ -d /usr/share/datasets/fashion-mnist ]; then
  cp -r /usr/share/datasets/fashion-mnist .carry/fashion-mnist
fi
if [ -n "$original" ]; then
  mkdir .carry/DatasetCondensation
  cp "$original"/main.py "$original"/utils.py "$original"/networks.py .carry/DatasetCondensation/
fi
du -sh .carry/* | sed 's/^/  /'
echo "total $(du -sm .carry | cut -f1) MiB in .carry/ (the transfer limit is 64 MiB with the repository)"
