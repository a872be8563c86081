#!/usr/bin/env python3
"""Times differential_dynamics.compexp_gain through the torch API, the way users call it.

Run with the project's venv (the system python3 has no torch):

    .venv/bin/python bench/bench_python.py                 # the table of docs/benchmarks.md
    .venv/bin/python bench/bench_python.py --json out/bench/python.json
    .venv/bin/python bench/bench_python.py --torchcomp     # also time torchcomp, if importable

What is timed (wall clock, per call, ns per sample = time / (B·T)):
  fwd     y = dd.compexp_gain(x_rms, ct, cr, et, er, at, rt) with x_rms, ct, cr, at, rt requiring grad
          (the forward of a training step: output allocation, argument checks, autograd bookkeeping).
  fwdbwd  the forward above, then torch.autograd.grad(y.sum(), [x_rms, ct, cr, at, rt]).
ct, cr, at, rt are (B,) tensors requiring grad (one parameter set per row); et, er are (B,) tensors
without grad, so their gradients are not computed (as in the C++ benchmark). Threads: both
dd.set_num_threads(n) and torch.set_num_threads(n). Each figure is the fastest of at least
--repeats calls (and at least --min-time seconds), after one warm-up call, as the C++ summary takes
the fastest repetition (the machine is shared; other work only ever adds time). The median is kept
in the JSON beside it.

The inputs follow bench/bench_kernels.cpp: Gaussian noise under random dB steps (U(−80, 0) dB held
10…400 ms), x_rms = avg(|audio|, 20 ms) floored at 1e-7; CT = −24 dB, CR = 4, ET = −60 dB, ER = 0.5,
at = ms2coef(5 ms), rt = ms2coef(120 ms), fs = 44100.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time

import numpy as np
import torch

import differential_dynamics as dd

FS = 44100.0
SHAPES = ["1x480000", "8x480000", "64x48000", "256x16384"]
DTYPES = {"f32": torch.float32, "f64": torch.float64}


def ms2coef(ms: float) -> float:
    return 1.0 - math.exp(-2200.0 / (ms * FS))


def make_x_rms(rows: int, cols: int, seed: int = 0x5EED) -> torch.Tensor:
    """float64 (rows, cols) detector level: noise under random dB steps, avg(|x|, 20 ms), ≥ 1e-7."""
    rng = np.random.default_rng(seed)
    audio = np.empty((rows, cols))
    for b in range(rows):
        lengths, levels, total = [], [], 0
        while total < cols:
            n = max(1, int(rng.uniform(0.010, 0.400) * FS))
            lengths.append(n)
            levels.append(rng.uniform(-80.0, 0.0))
            total += n
        env = np.repeat(0.5 * 10.0 ** (np.asarray(levels) / 20.0), lengths)[:cols]
        audio[b] = env * rng.standard_normal(cols)
    with torch.no_grad():
        x = dd.avg(torch.from_numpy(np.abs(audio)), ms2coef(20.0))
    return x.clamp_min(1e-7)


def time_call(fn, repeats: int, min_time: float) -> list:
    fn()  # warm-up (and numba JIT for torchcomp)
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def bench_one(module, x64: torch.Tensor, dtype: torch.dtype, mode: str, repeats: int, min_time: float) -> list:
    rows = x64.shape[0]
    x_rms = x64.to(dtype, copy=True).requires_grad_(True)

    def row(value, grad):
        return torch.full((rows,), value, dtype=dtype, requires_grad=grad)

    ct, cr = row(-24.0, True), row(4.0, True)
    et, er = row(-60.0, False), row(0.5, False)
    at, rt = row(ms2coef(5.0), True), row(ms2coef(120.0), True)
    wrt = [x_rms, ct, cr, at, rt]

    if mode == "fwd":
        def fn():
            return module.compexp_gain(x_rms, ct, cr, et, er, at, rt)
    else:
        def fn():
            y = module.compexp_gain(x_rms, ct, cr, et, er, at, rt)
            return torch.autograd.grad(y.sum(), wrt)
    return time_call(fn, repeats, min_time)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated BxT (default: %(default)s)")
    ap.add_argument("--dtypes", default="f32,f64", help="comma-separated f32,f64 (default: %(default)s)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default: %(default)s)")
    ap.add_argument("--modes", default="fwd,fwdbwd", help="comma-separated fwd,fwdbwd (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=5, help="minimum timed calls per figure (default: %(default)s)")
    ap.add_argument("--min-time", type=float, default=0.3, help="minimum seconds per figure (default: %(default)s)")
    ap.add_argument("--torchcomp", action="store_true", help="also time torchcomp.compexp_gain if importable")
    ap.add_argument("--json", help="write the results as JSON to this path")
    args = ap.parse_args()

    impls = [("dd", dd)]
    if args.torchcomp:
        try:
            import torchcomp  # noqa: PLC0415
            impls.append(("torchcomp", torchcomp))
        except ImportError as e:
            print(f"torchcomp not importable ({e}): skipped", file=sys.stderr)

    shapes = [tuple(int(v) for v in s.lower().split("x")) for s in args.shapes.split(",")]
    dtypes = args.dtypes.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    modes = args.modes.split(",")

    results = []
    header = f"{'impl':<10} {'shape':>10} {'dtype':>5} {'threads':>7} {'mode':>7} {'ns/sample':>10} {'median':>8} {'calls':>5}"
    print(header)
    print("-" * len(header))
    for rows, cols in shapes:
        x64 = make_x_rms(rows, cols)
        for dname in dtypes:
            for n in threads:
                dd.set_num_threads(n)
                torch.set_num_threads(n)
                for iname, module in impls:
                    for mode in modes:
                        times = bench_one(module, x64, DTYPES[dname], mode, args.repeats, args.min_time)
                        scale = 1e9 / (rows * cols)
                        fastest = min(times) * scale
                        r = dict(impl=iname, shape=f"{rows}x{cols}", dtype=dname, threads=n, mode=mode,
                                 ns_per_sample=fastest, median_ns_per_sample=statistics.median(times) * scale,
                                 calls=len(times))
                        results.append(r)
                        print(f"{iname:<10} {r['shape']:>10} {dname:>5} {n:>7} {mode:>7} {fastest:>10.2f} "
                              f"{r['median_ns_per_sample']:>8.2f} {len(times):>5}", flush=True)
    dd.set_num_threads(0)

    if args.json:
        context = dict(python=platform.python_version(), torch=torch.__version__, numpy=np.__version__,
                       dd=getattr(dd, "__version__", "?"), repeats=args.repeats, min_time=args.min_time,
                       statistic="fastest")
        with open(args.json, "w") as f:
            json.dump(dict(context=context, results=results), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
