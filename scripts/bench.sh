#!/usr/bin/env bash
# Benchmarks (docs/benchmarks.md): builds dd_bench (Release, the default portable build: kernels for
# every instruction set, dispatched at run time) and the Python module, runs the C++ suite (Google
# Benchmark, JSON to out/bench/cxx.json), then the Python/torch timing of compexp_gain
# (out/bench/python.json), then prints the markdown summary (out/bench/summary.md).
#
#   scripts/bench.sh                 full run (several minutes on a 2-core machine)
#   scripts/bench.sh --quick         short timings, to check that everything runs
#   scripts/bench.sh --update-doc    also rewrite the generated block of docs/benchmarks.md
#   scripts/bench.sh --no-python     C++ only
#   scripts/bench.sh -- ARGS...      extra dd_bench arguments, e.g. -- --benchmark_filter=compexp_gain/
#
# Environment: DD_BUILD_DIR (default build), DD_BENCH_MIN_TIME (s per benchmark repetition),
# DD_BENCH_REPETITIONS (the summary takes the fastest).
#
# Run it on a quiet machine (the load average is recorded before and after). The repetitions of all
# benchmarks run in random order (Google Benchmark's random interleaving), so a burst of other work
# meets every benchmark alike in expectation, and the summary takes each benchmark's fastest
# repetition (other work only ever adds time); the acceptance ratio is measured within one paired
# benchmark (bench_kernels.cpp, timed_pair).
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
  min_time=${DD_BENCH_MIN_TIME:-0.05} reps=${DD_BENCH_REPETITIONS:-1} py_args=(--threads 1 --repeats 2 --min-time 0.05)
else
  min_time=${DD_BENCH_MIN_TIME:-0.1} reps=${DD_BENCH_REPETITIONS:-5} py_args=(--threads 1 --repeats 7 --min-time 0.3)
fi

build_dir=${DD_BUILD_DIR:-build}
if [ $python -eq 1 ] && [ ! -x .venv/bin/python ]; then
  ./scripts/setup.sh   # packages, first build and the .venv
fi
# The default build: no -march=native, kernels for every instruction set (the summary records both).
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DDD_BENCH=ON -DDD_NATIVE=OFF -DDD_KERNEL_LEVELS_ONLY=)
targets=(dd_bench)
if [ $python -eq 1 ]; then
  # The Python module is rebuilt too (into $build_dir/python/), so both halves time the same kernels.
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
  PYTHONPATH="$repo/$build_dir/python" .venv/bin/python bench/bench_python.py "${py_args[@]}" --json "$out/python.json"
  summary_args+=(--python "$out/python.json")
fi

write_meta "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== Summary (also in $out/summary.md)"
python3 bench/summarize.py "${summary_args[@]}" | tee "$out/summary.md"
if [ $update_doc -eq 1 ]; then
  python3 bench/summarize.py "${summary_args[@]}" --update-doc docs/benchmarks.md
fi
