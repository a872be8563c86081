#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian 12 machine: Debian packages (as root), the C++ build, and the
# .venv/ (from /usr/bin/python3 with system site-packages) in which `differential_dynamics` imports.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

packages=(build-essential cmake python3 python3-dev python3-venv python3-torch python3-numpy python3-pytest
          python3-scipy python3-matplotlib python3-pybind11 pybind11-dev python3-setuptools python3-wheel
          libgtest-dev libbenchmark-dev libtbb-dev libxsimd-dev libsndfile1-dev libcli11-dev nlohmann-json3-dev
          pkg-config lv2-dev liblilv-dev lilv-utils lv2file sordi
          python3-soundfile python3-distributed python3-tqdm python3-pytest-xdist python3-hypothesis)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

build_dir=${DD_BUILD_DIR:-build}
# DD_CMAKE_ARGS: extra CMake arguments (development: fewer kernel instruction sets). Compiles go
# through ccache, so that the packaging tests' and pip's builds of the same sources reuse these objects.
export CCACHE_BASEDIR="$repo"
cmake -S . -B "$build_dir" -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_BUILD_TYPE=Release -DDD_TESTS=ON -DDD_PYTHON=ON -DPython_EXECUTABLE=/usr/bin/python3 -DDD_DDYN_PYTHON="$repo/.venv/bin/python" ${DD_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j"$(nproc)"

if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
# The package as assembled in the build tree (links to python/differential_dynamics/ and the freshly
# built _core module) on the venv's path: edits to the Python sources take effect at once.
site=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$repo/$build_dir/python" > "$site/differential_dynamics.pth"
.venv/bin/python -c "import differential_dynamics" 
echo "setup: ok (.venv/bin/python -c 'import differential_dynamics' works)"
