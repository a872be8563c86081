#!/usr/bin/env bash
# The main job: set-up (idempotent), then the parameter-recovery demo with a plot in out/demo.png.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
./scripts/setup.sh
.venv/bin/python -m differential_dynamics.demo --out out "$@"
