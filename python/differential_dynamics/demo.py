"""Parameter recovery demo: hide a compressor θ = (threshold, ratio, attack, release), render its gain
on seeded test audio, and recover θ from scratch by gradient descent through the library's exact
gradients. Run: .venv/bin/python -m differential_dynamics.demo [--plot out/demo.png]
"""
from __future__ import annotations

import argparse
import math
import os
import time

import torch

import differential_dynamics as dd
from differential_dynamics.signals import level_steps

FS = 44100.0
DETECTOR_MS = 20.0


def detector(x: torch.Tensor) -> torch.Tensor:
    """SPEC §2.8: avg(|x|, ms2coef(20 ms)), floored at 1e-7."""
    return dd.avg(x.abs(), float(dd.ms2coef(DETECTOR_MS, FS))).clamp_min(1e-7)


class CompressorParams(torch.nn.Module):
    """Unconstrained parameterisation: every iterate is a valid compressor."""

    def __init__(self, thresh_db=-10.0, ratio=2.0, attack_ms=20.0, release_ms=200.0):
        super().__init__()
        # Threshold in units of 10 dB so that one Adam step moves every parameter by a similar amount.
        self.thresh_10db = torch.nn.Parameter(torch.tensor(float(thresh_db) / 10, dtype=torch.float64))
        self.ratio_raw = torch.nn.Parameter(torch.tensor(math.log(math.expm1(ratio - 1)), dtype=torch.float64))
        self.log_attack = torch.nn.Parameter(torch.tensor(math.log(attack_ms), dtype=torch.float64))
        self.log_release = torch.nn.Parameter(torch.tensor(math.log(release_ms), dtype=torch.float64))

    def values(self):
        return (10 * self.thresh_10db, 1 + torch.nn.functional.softplus(self.ratio_raw), torch.exp(self.log_attack),
                torch.exp(self.log_release))

    def gain(self, x_rms: torch.Tensor) -> torch.Tensor:
        ct, cr, a_ms, r_ms = self.values()
        return dd.compexp_gain(x_rms, ct, cr, -1000.0, 1.0, dd.ms2coef(a_ms, FS), dd.ms2coef(r_ms, FS))


def gain_rmse_db(student: torch.Tensor, target: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    d = 20 * torch.log10(student) - 20 * torch.log10(target)
    return torch.sqrt((d[active] ** 2).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each training clip")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--plot", default=None, help="write a PNG of the gain traces here")
    args = ap.parse_args(argv)

    truth = dict(thresh_db=-27.0, ratio=5.0, attack_ms=8.0, release_ms=150.0)
    T = int(args.seconds * FS)
    x_train = level_steps(args.clips, T, seed=args.seed)
    x_test = level_steps(2, T, seed=args.seed + 1000)
    with torch.no_grad():
        hidden = CompressorParams(**truth)
        rms_train, rms_test = detector(x_train), detector(x_test)
        target_train, target_test = hidden.gain(rms_train), hidden.gain(rms_test)
    active_train, active_test = rms_train > 1e-5, rms_test > 1e-5  # detector above −100 dB

    model = CompressorParams()  # generic start: −10 dB, 2:1, 20 ms, 200 ms
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.iterations, eta_min=1e-3)
    print(f"differential_dynamics demo: recovering a hidden compressor from {args.clips} x {args.seconds:.1f} s "
          f"of seeded audio at {FS:.0f} Hz ({args.clips * T} samples per step)")
    start = time.perf_counter()
    for it in range(args.iterations):
        opt.zero_grad()
        loss = gain_rmse_db(model.gain(rms_train), target_train, active_train)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if it % 50 == 0 or it == args.iterations - 1:
            ct, cr, a, r = (float(v) for v in model.values())
            print(f"  iter {it:4d}  train gain RMSE {loss.item():8.4f} dB   CT {ct:7.2f} dB  CR {cr:5.2f}  "
                  f"attack {a:6.2f} ms  release {r:7.2f} ms", flush=True)
    elapsed = time.perf_counter() - start

    with torch.no_grad():
        test_rmse = gain_rmse_db(model.gain(rms_test), target_test, active_test).item()
    recovered = dict(zip(("thresh_db", "ratio", "attack_ms", "release_ms"), (float(v) for v in model.values())))
    print("\nparameter      true   recovered   error")
    units = dict(thresh_db="dB", ratio=":1", attack_ms="ms", release_ms="ms")
    for k, v in truth.items():
        err = recovered[k] - v
        rel = f"{100 * err / v:+.2f} %" if k != "thresh_db" else f"{err:+.3f} dB"
        print(f"{k:12s} {v:7.2f} {recovered[k]:10.3f}   {rel}  ({units[k]})")
    print(f"\nheld-out gain RMSE: {test_rmse:.4f} dB   iterations: {args.iterations}   wall time: {elapsed:.1f} s")

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
        with torch.no_grad():
            student = model.gain(rms_test)
        n = min(T, int(1.0 * FS))
        t = torch.arange(n) / FS
        fig, ax = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
        ax[0].plot(t, 20 * torch.log10(rms_test[0, :n]), lw=0.8, label="detector level (dB)")
        ax[0].axhline(truth["thresh_db"], color="k", ls="--", lw=0.8, label="true threshold")
        ax[0].legend(loc="lower right")
        ax[1].plot(t, 20 * torch.log10(target_test[0, :n]), lw=1.5, label="hidden compressor")
        ax[1].plot(t, 20 * torch.log10(student[0, :n]), lw=0.8, ls="--", label="recovered")
        ax[1].set_xlabel("time (s)")
        ax[1].set_ylabel("gain (dB)")
        ax[1].legend(loc="lower right")
        fig.suptitle(f"Parameter recovery: held-out gain RMSE {test_rmse:.3f} dB")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
