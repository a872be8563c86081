#!/usr/bin/env bash
# The C++ test suite under AddressSanitizer and UndefinedBehaviorSanitizer: a Debug build with
# -DDD_SANITIZE=ON in build-asan/ (every finding is fatal), then CTest once at every SIMD level this
# CPU runs (DD_SIMD=baseline, avx2, avx512). Covers the library's GoogleTest suite (dd_tests: every
# processor, derivatives, streaming, audio, probes, metrics, family, errors), the SIMD math tests,
# the ddyn command-line tests (the instrumented ddyn binary) and, when the
# LV2 SDK is installed, the LV2 bundle's install and schema validation. Left out, by CTest label:
#   package       configures and builds its own, uninstrumented, copies of the library
#                 (./scripts/test.sh runs it);
#   no_sanitizer  loads the instrumented plugin into hosts built without the sanitizer (lv2apply,
#                 lv2file, Python), which the ASan runtime refuses; and the kernel symbol checks,
#                 which hold for optimised kernels only (the Release build runs them).
# The Python package is not built here (DD_PYTHON=OFF): its extension would need the ASan runtime
# preloaded into the Python interpreter.
#
# Environment: DD_ASAN_BUILD_DIR (default build-asan), DD_CMAKE_ARGS (extra CMake arguments, e.g.
# -DCMAKE_CXX_COMPILER_LAUNCHER=ccache "-DDD_KERNEL_LEVELS_ONLY=baseline;avx2"), DD_JOBS (parallel
# build and test jobs, default: the number of CPUs).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
build_dir=${DD_ASAN_BUILD_DIR:-build-asan}
jobs=${DD_JOBS:-$(nproc)}

# Only the kernel levels this CPU runs: the sanitizer build's kernels are unoptimised, so their objects
# share out-of-line inline functions across levels, and the copy the linker keeps must run here.
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
levels_built="baseline"
has avx2 fma bmi1 bmi2 f16c movbe && levels_built+=";avx2"
has avx512f avx512bw avx512cd avx512dq avx512vl && [[ $levels_built == *avx2 ]] && levels_built+=";avx512"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DDD_SANITIZE=ON -DDD_PYTHON=OFF -DDD_BENCH=OFF \
      -DDD_TESTS=ON "-DDD_KERNEL_LEVELS_ONLY=$levels_built" ${DD_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j"$jobs"

# halt_on_error: the first report ends the test (UBSan too; the build also says
# -fno-sanitize-recover=all); detect_leaks: LeakSanitizer reports leaks at exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

levels=()
for level in avx512 avx2 baseline; do
  if "$build_dir/tests/cpp/dd_cpu_supports" "$level" >/dev/null; then levels+=("$level"); fi
done
echo "test_sanitizers: SIMD levels on this CPU: ${levels[*]}"
for level in "${levels[@]}"; do
  echo "== C++ tests under ASan/UBSan, DD_SIMD=$level"
  DD_SIMD=$level ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" -LE "package|no_sanitizer"
done
