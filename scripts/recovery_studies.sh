#!/usr/bin/env bash
# The recovery studies of docs/recovery.md (long: tens of minutes on two cores). Results, summaries and
# histograms go to out/studies/<name>/; a study that was interrupted resumes where it stopped.
# Usage: scripts/recovery_studies.sh [--workers N | --scheduler ADDRESS] [study ...]
#   studies: compressor-probes compressor-recordings ssl-fb0 ssl-fb ssl-panel   (default: all)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cluster=(--workers 2)
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workers|--scheduler) cluster=("$1" "$2"); shift 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(compressor-probes compressor-recordings ssl-fb0 ssl-fb ssl-panel)
study() { .venv/bin/python -m differential_dynamics.fit study "out/studies/$1" "${@:2}" "${cluster[@]}" --quiet \
            > "out/studies/$1.log" 2>&1 && echo "recovery_studies: $1 done (out/studies/$1/summary.json)"; }
mkdir -p out/studies
classical=(--model compressor --n 100 --ratio continuous --clip-seconds 2 --clips 4,0,2 --seed 0)
ssl=(--model ssl --n 20 --clip-seconds 3 --clips 4,0,2 --identify)
for name in "${names[@]}"; do
  case "$name" in
    compressor-probes) study "$name" "${classical[@]}" ;;
    compressor-recordings)
      ./scripts/fetch_audio.sh >/dev/null
      study "$name" "${classical[@]}" --source recordings --recordings .cache/audio/music ;;
    ssl-fb0) study "$name" "${ssl[@]}" --feedback 0 --seed 10 ;;
    ssl-fb) study "$name" "${ssl[@]}" --seed 11 ;;
    ssl-panel) study "$name" "${ssl[@]}" --ssl-theta panel --seed 12 ;;
    *) echo "recovery_studies: unknown study $name" >&2; exit 1 ;;
  esac
done
