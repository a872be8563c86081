#!/usr/bin/env bash
# The Python package as users install it: `pip install --no-build-isolation .` into a fresh venv
# (from /usr/bin/python3 with --system-site-packages: Debian's torch, numpy, pytest), then the
# Python tests against the installed package (DD_TEST_INSTALLED=1). Fails if the install writes
# anything into the source tree. Slow: builds the extension module from scratch (every kernel
# instruction set unless DD_CMAKE_ARGS says otherwise, e.g. a compiler launcher such as ccache).
#
#   scripts/test_pip_install.sh [pytest arguments]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/dd-pip-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
snapshot() { git -C "$repo" status --porcelain --ignored; }
before=$(snapshot)

/usr/bin/python3 -m venv --system-site-packages "$work/venv"
py="$work/venv/bin/python"
# A fresh build folder for this venv (setup.py's default would be kept in the temporary directory).
# Through ccache (installed by setup.sh): the objects the build tree compiled are reused.
export CCACHE_BASEDIR="$repo" DD_CMAKE_ARGS="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache ${DD_CMAKE_ARGS:-}"
DD_PIP_BUILD_DIR="$work/build" "$py" -m pip install --no-build-isolation --no-input --disable-pip-version-check .

after=$(snapshot)
if [ "$before" != "$after" ]; then
  echo "test_pip_install: pip install changed the source tree:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi

# Installed in the venv (not linked to the checkout), with the module and without the C++ sources.
(cd "$work" && "$py" - "$repo" <<'PY'
import importlib.metadata, os, sys
import differential_dynamics as dd
repo = os.path.realpath(sys.argv[1])
where = os.path.realpath(os.path.dirname(dd.__file__))
assert where.startswith(os.path.realpath(sys.prefix)), f"imported from {where}, not from the venv {sys.prefix}"
assert os.path.commonpath([where, repo]) != repo, f"imported from the checkout: {where}"
assert not os.path.exists(os.path.join(where, "_bindings")), "_bindings/ was installed"
version = importlib.metadata.version("differential_dynamics")
assert dd.__version__ == version, (dd.__version__, version)
print(f"installed differential_dynamics {version} in {where} (SIMD level {dd.simd_level()})")
PY
)

DD_TEST_INSTALLED=1 "$py" -m pytest tests/python -q -n auto -p no:cacheprovider "$@"
