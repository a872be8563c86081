#!/usr/bin/env bash
# The full test suite: set-up (idempotent), C++ tests (CTest/GoogleTest), Python tests (pytest).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
./scripts/setup.sh
build_dir=${DD_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j2
.venv/bin/python -m pytest tests/python -q
