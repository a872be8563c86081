"""Builds the extension module differential_dynamics._core with CMake for `pip install .`
(pyproject.toml; setuptools backend, since Debian 12 packages neither scikit-build-core nor
meson-python). Use `pip install --no-build-isolation .` to build with the system's setuptools,
wheel and pybind11.

Everything is built outside the source tree: setuptools' build folder (and CMake's build in its
build_temp) is DD_PIP_BUILD_DIR if set, else a folder in the system's temporary directory named
after the checkout and the interpreter, kept between installs so that a re-install rebuilds only
what changed. The CMake build is the project's Release build of the target _core (-DDD_PYTHON=ON
-DDD_TESTS=OFF -DDD_BENCH=OFF); DD_CMAKE_ARGS adds CMake arguments (e.g. a compiler launcher).
"""
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def project_version() -> str:
    """The version in CMakeLists.txt's project() (the one source of the version number)."""
    text = (ROOT / "CMakeLists.txt").read_text()
    match = re.search(r"project\(\s*differential_dynamics\s+VERSION\s+([0-9][0-9.]*)", text)
    if not match:
        raise RuntimeError("setup.py: no project(differential_dynamics VERSION ...) in CMakeLists.txt")
    return match.group(1)


def build_base() -> Path:
    if os.environ.get("DD_PIP_BUILD_DIR"):
        return Path(os.environ["DD_PIP_BUILD_DIR"]).resolve()
    key = hashlib.sha1(f"{ROOT}\n{sys.executable}".encode()).hexdigest()[:12]
    user = getattr(os, "getuid", lambda: "user")()
    return Path(tempfile.gettempdir()) / f"differential_dynamics-build-{user}-{key}"


class CMakeBuild(build_ext):
    """Builds each extension as a CMake target and copies the module to where setuptools wants it."""

    def build_extension(self, ext: Extension) -> None:
        target = ext.name.rsplit(".", 1)[-1]
        cmake_build = Path(self.build_temp).resolve() / "cmake"
        package_dir = cmake_build / "python"
        args = [
            "-DCMAKE_BUILD_TYPE=" + ("Debug" if self.debug else "Release"),
            "-DDD_PYTHON=ON", "-DDD_TESTS=OFF", "-DDD_BENCH=OFF", "-DDD_INSTALL=OFF",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-DDD_PYTHON_BUILD_DIR={package_dir}",
        ]
        try:  # the pybind11 that this interpreter imports (Debian: python3-pybind11)
            import pybind11
            args.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        except ImportError:
            pass  # CMake looks for pybind11's package itself (Debian: pybind11-dev)
        args += shlex.split(os.environ.get("DD_CMAKE_ARGS", ""))
        jobs = self.parallel or os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or os.cpu_count() or 1
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(cmake_build), *args], check=True)
        subprocess.run(["cmake", "--build", str(cmake_build), "--target", target, "--parallel", str(jobs)],
                       check=True)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        built = package_dir / "differential_dynamics" / (target + suffix)
        if not built.exists():
            raise RuntimeError(f"setup.py: CMake did not produce {built}")
        destination = Path(self.get_ext_fullpath(ext.name))
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, destination)


base = build_base()
base.mkdir(parents=True, exist_ok=True)
setup(
    version=project_version(),
    ext_modules=[Extension("differential_dynamics._core", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    # setuptools' defaults would write build/ into the checkout and the egg-info into python/.
    options={"build": {"build_base": str(base)}, "egg_info": {"egg_base": str(base)}},
)
