#!/usr/bin/env bash
# The full test suite: set-up (idempotent), then the C++ tests (CTest/GoogleTest) and the Python tests
# (pytest) once at every SIMD level this CPU runs (DD_SIMD=baseline, avx2, avx512): one build carries
# kernels for each, and every one of them must pass everything.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
./scripts/setup.sh
build_dir=${DD_BUILD_DIR:-build}
export CCACHE_BASEDIR="$repo"  # the packaging tests build the library again, through ccache
levels=()
for level in avx512 avx2 baseline; do
  if "$build_dir/tests/cpp/dd_cpu_supports" "$level" >/dev/null; then levels+=("$level"); fi
done
echo "test: SIMD levels on this CPU: ${levels[*]}"
# The packaging tests (label "package": projects that build against the installed package and
# through add_subdirectory) build libraries of their own: once is enough.
echo "== packaging tests"
ctest --test-dir "$build_dir" --output-on-failure -j2 -L package
for level in "${levels[@]}"; do
  echo "== C++ tests, DD_SIMD=$level"
  DD_SIMD=$level ctest --test-dir "$build_dir" --output-on-failure -j2 -LE package
  echo "== Python tests, DD_SIMD=$level"
  DD_SIMD=$level .venv/bin/python -m pytest tests/python -q -n auto  # pytest-xdist: one worker per CPU
done
