#!/usr/bin/env bash
# Benchmarks (docs/benchmarks.md): builds dd_bench (Release) and the Python module, runs the C++
# suite (Google Benchmark, JSON to out/bench/cxx.json), then the Python/torch benchmark
# (out/bench/python.json), then prints the markdown summary with the ratios (out/bench/summary.md).
#
#   scripts/bench.sh                 full run (~4–5 minutes on the 2-core machine)
#   scripts/bench.sh --quick         short timings, for checking that everything runs (~1–2 minutes)
#   scripts/bench.sh --update-doc    also rewrite the generated block of docs/benchmarks.md
#   scripts/bench.sh --no-python     C++ only
#   scripts/bench.sh -- ARGS...      extra dd_bench arguments, e.g. -- --benchmark_filter=compexp_gain/
#
# Environment: DD_BUILD_DIR (default build), DD_BENCH_MIN_TIME (s per benchmark repetition),
# DD_BENCH_REPETITIONS (the summary takes the fastest), DD_BENCH_SSL=OFF to skip the SSL processor.
#
# The machine is shared and noisy: a burst of other work slows whatever runs during it. So the
# repetitions of all benchmarks run in random order (Google Benchmark's random interleaving), each
# kernel and the scalar reference it is compared with meet the same bursts in expectation, and the
# summary takes each benchmark's fastest repetition (noise only ever adds time). The Python timing
# does the same over its calls.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

quick=0 update_doc=0 python=1 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --update-doc) update_doc=1 ;;
    --no-python) python=0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done

if [ $quick -eq 1 ]; then
  min_time=${DD_BENCH_MIN_TIME:-0.05} reps=${DD_BENCH_REPETITIONS:-1} py_args=(--repeats 2 --min-time 0.05)
else
  min_time=${DD_BENCH_MIN_TIME:-0.1} reps=${DD_BENCH_REPETITIONS:-5} py_args=(--repeats 7 --min-time 0.3)
fi

build_dir=${DD_BUILD_DIR:-build}
if [ $python -eq 1 ] && [ ! -x .venv/bin/python ]; then
  ./scripts/setup.sh   # packages, first build and the .venv
fi
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DDD_BENCH=ON -DDD_BENCH_SSL="${DD_BENCH_SSL:-ON}")
targets=(dd_bench)
if [ $python -eq 1 ]; then
  # The Python module is rebuilt too (into python/differential_dynamics/), so both halves time the same kernels.
  cmake_args+=(-DDD_PYTHON=ON -DPython_EXECUTABLE=/usr/bin/python3)
  targets+=(_core)
fi
cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]}"

out=out/bench
mkdir -p "$out"
cxx_args="--benchmark_min_time=$min_time --benchmark_repetitions=$reps --benchmark_enable_random_interleaving=true"
# Every repetition goes to the JSON (the summary takes the minimum); the console shows the aggregates.
cxx_args="$cxx_args --benchmark_display_aggregates_only=true"
if [ ${#extra[@]} -gt 0 ]; then cxx_args="$cxx_args ${extra[*]}"; fi

# What the numbers belong to: commit (and whether the tree had uncommitted changes), machine, date,
# and the load average before and after (the machine is shared: a high load explains odd numbers).
dirty=false
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then dirty=true; fi
commit=$(git rev-parse --short HEAD)
date=$(date -u +%Y-%m-%dT%H:%MZ)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
benchmark_version=$(dpkg-query -W -f='${Version}' libbenchmark-dev 2>/dev/null || echo "?")
write_meta() {
  cat > "$out/meta.json" <<EOF
{"commit": "$commit", "dirty": $dirty, "date": "$date", "cpu": "$cpu", "benchmark_version": "$benchmark_version",
 "cxx_args": "$cxx_args", "load_before": "$load_before", "load_after": "${1:-}"}
EOF
}
write_meta

echo "== C++ (dd_bench $cxx_args)"
# shellcheck disable=SC2086
"$build_dir/bench/dd_bench" $cxx_args --benchmark_out="$out/cxx.json" --benchmark_out_format=json

summary_args=("$out/cxx.json" --meta "$out/meta.json")
if [ $python -eq 1 ]; then
  echo "== Python (bench/bench_python.py ${py_args[*]})"
  .venv/bin/python bench/bench_python.py "${py_args[@]}" --json "$out/python.json"
  summary_args+=(--python "$out/python.json")
fi

write_meta "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== Summary (also in $out/summary.md)"
python3 bench/summarize.py "${summary_args[@]}" | tee "$out/summary.md"
if [ $update_doc -eq 1 ]; then
  python3 bench/summarize.py "${summary_args[@]}" --update-doc docs/benchmarks.md
fi
