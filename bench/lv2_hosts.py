"""How much faster than real time the LV2 plugins run in real hosts, on one core.

Writes a long stereo 44.1 kHz float WAV of seeded program (tones and noise whose level steps every
0.25 s), then times lv2file (at several block sizes) and lv2apply (one frame per run()) on it with
each stereo plugin and with the null test plugin (which only copies: the host's own cost of reading,
writing and calling run()). The plugin's cost is a run's CPU time (user + system, of the host
process) minus the null plugin's at the same block size; each time is the fastest of --repeats runs
(other work on the machine only ever adds time). CPU time rather than wall time: on a shared
machine the wall time also counts the time other processes had the CPU. The host is pinned to one
CPU (taskset). Results: docs/reference/lv2.md (Speed).

    .venv/bin/python bench/lv2_hosts.py [--build build] [--minutes 5] [--repeats 3]

Needs a build with DD_LV2 and DD_TESTS (the null plugin is a test plugin).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

FS = 44100
PLUGINS = ["compressor-stereo", "limiter-stereo", "ssl-bus"]
NULL = "urn:differential-dynamics:test:null"


def program(seconds: float, seed: int = 0) -> np.ndarray:
    """(time, 2) float32: tones and noise at levels stepping between -40 and -3 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    t = np.arange(n) / FS
    levels = np.array([-30, -6, -18, -3, -40, -10], float)
    envelope = 10 ** (levels[(t / 0.25).astype(int) % len(levels)] / 20)
    left = envelope * (0.7 * np.sin(2 * np.pi * 220 * t) + 0.3 * rng.standard_normal(n))
    right = envelope * (0.5 * np.sin(2 * np.pi * 330 * t + 1) + 0.3 * rng.standard_normal(n))
    return np.clip(np.stack([left, right], axis=1), -0.99, 0.99).astype(np.float32)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fastest(cmd, env, repeats: int):
    """(CPU seconds, wall seconds) of the fastest of `repeats` runs."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        cpu, start = cpu_seconds(), time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, (cpu_seconds() - cpu, time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.environ.get("DD_BUILD_DIR", "build"))
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--blocks", default="64,512,4096", help="lv2file block sizes")
    parser.add_argument("--no-lv2apply", action="store_true")
    args = parser.parse_args()
    build = Path(args.build).resolve()
    lv2_path = f"{build / 'lv2'}{os.pathsep}{build / 'lv2-test-plugins'}"
    env = dict(os.environ, LV2_PATH=lv2_path)
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="dd_lv2_bench_") as d:
        src, out = Path(d) / "in.wav", Path(d) / "out.wav"
        sf.write(str(src), program(seconds), FS, subtype="FLOAT")
        runs = [("lv2file", b, ["lv2file", "--ignore-clipping", "-b", str(b), "-i", str(src), "-o", str(out)])
                for b in map(int, filter(None, args.blocks.split(",")))]
        if not args.no_lv2apply:
            runs.append(("lv2apply", 1, ["lv2apply", "-i", str(src), "-o", str(out)]))
        print(f"stereo 44.1 kHz float WAV, {args.minutes:g} min; fastest of {args.repeats}; one CPU"
              f"{' (taskset -c 0)' if pin else ''}\n")
        print("| host | block | plugin | CPU s (wall s) | null plugin CPU s (wall s) | plugin CPU s | "
              "ns per stereo frame | × real time |")
        print("|---|---|---|---|---|---|---|---|")
        for host, block, cmd in runs:
            null_cpu, null_wall = fastest(pin + cmd + [NULL], env, args.repeats)
            for name in PLUGINS:
                cpu, wall = fastest(pin + cmd + ["urn:differential-dynamics:" + name], env, args.repeats)
                cost = max(cpu - null_cpu, 1e-9)
                print(f"| {host} | {block} | {name} | {cpu:.2f} ({wall:.2f}) | {null_cpu:.2f} ({null_wall:.2f}) | "
                      f"{cost:.2f} | {cost / (seconds * FS) * 1e9:.1f} | {seconds / cost:.0f} |", flush=True)


if __name__ == "__main__":
    main()
