#!/usr/bin/env bash
# Wall time of `ddyn compress` on a 5-minute 44.1 kHz stereo file, file I/O included (criterion:
# under 2 s on one thread; the streaming processors run on the calling thread only). Makes the input
# with `ddyn probe` (a probe mix, 32-bit float WAV) and prints the best of N runs per model.
# Usage: bench/ddyn_compress.sh [build dir (default build)] [runs (default 5)]
set -euo pipefail
build=${1:-build}
runs=${2:-5}
ddyn="$build/apps/ddyn/ddyn"
[ -x "$ddyn" ] || { echo "bench: $ddyn not built (cmake --build $build --target ddyn)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$ddyn" probe mix "$work/in.wav" --duration 5min --rate 44100 --channels 2 --seed 1 --threshold -24dB
echo "input: 5 min, 44.1 kHz, stereo, float WAV ($(du -h "$work/in.wav" | cut -f1)); best of $runs runs; load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

# The best of $runs runs of "$@": "wall s (user+sys CPU s)". On a busy machine the wall time
# includes waiting for a CPU; the CPU time is what the command itself costs.
best_of() {
  local best="" best_cpu="" line real cpu
  for _ in $(seq "$runs"); do
    line=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1; } 2>&1 )
    read -r real user sys <<<"$line"
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
    if [ -z "$best" ] || awk -v a="$real" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$real; best_cpu=$cpu; fi
  done
  printf '%.3f s wall (%.3f s CPU)' "$best" "$best_cpu"
}

for args in "--model classical -t -24 -r 4 -a 10ms --release 100ms" \
            "--model classical -t -24 -r 4 --knee 6dB --lookahead 5ms --makeup auto --mix 70%" \
            "--model classical -t -24 -r 4 --gate sigmoid --sigmoid-k 2" \
            "--model limiter -t -3" \
            "--model ssl -t -20 -r 4 --release auto" \
            "--model classical -t -24 -r 4 --precision double"; do
  printf '%-82s %s\n' "ddyn compress in.wav out.wav $args" "$(best_of "$ddyn" compress "$work/in.wav" "$work/out.wav" $args --no-progress)"
done
