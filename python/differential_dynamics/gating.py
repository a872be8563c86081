"""Gating variants compared: the classical compressor with the hard attack/release gate, with the
sigmoid gate at several sharpnesses k, and the SSL bus compressor, on the standard signals or an
audio file. Reports the gain RMSE in dB of each variant against the hard gate (over the active
samples) and its attack/release flip rate, and draws the gain traces with the input level and the
threshold.

    .venv/bin/python -m differential_dynamics.gating --out out/gating.png
    .venv/bin/python -m differential_dynamics.gating --file song.flac --seconds 20 --threshold -24

As k grows the sigmoid gate tends to the hard one (its 10 %→90 % transition spans 4.39/k dB), so
its RMSE falls; the SSL compressor is another model (peak detector, RC side chain), shown for scale.
Reference: docs/reference/modules.md#gating-comparison.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from . import metrics, probes
from .functional import avg, ms2coef
from .modules import LEVEL_FLOOR, Compressor, SSLCompressor, as_audio

__all__ = ["GateComparison", "compare_gates", "compare_on_signals", "format_table", "plot_comparison", "main",
           "DEFAULT_SIGNALS", "DEFAULT_KS"]

#: The signals of the default comparison (classic signals of differential_dynamics.probes).
DEFAULT_SIGNALS = ("composite_program", "burst", "am_tone", "am_noise")
#: Sigmoid gate sharpnesses (1/dB) of the default comparison.
DEFAULT_KS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass
class GateComparison:
    """One signal's traces (channel 0 of the first batch item; linked gains are one for all
    channels) and the table entries."""
    name: str
    sample_rate: float
    threshold_db: float
    level_db: np.ndarray                        # the classical detector's level, dB
    gains_db: Dict[str, np.ndarray]             # variant → gain in dB ("hard", "sigmoid k=…", "ssl")
    rmse_db: Dict[str, float] = field(default_factory=dict)       # against "hard", active samples
    flips_per_s: Dict[str, float] = field(default_factory=dict)   # attack/release flips per second
    settings: str = ""                          # the compressor's settings, as text


def _variant_name(k: float) -> str:
    return f"sigmoid k={k:g}"


def compare_gates(x, *, name: str = "signal", sample_rate: float = 44100.0, threshold_db: float = -20.0,
                  ratio: float = 4.0, attack_ms: float = 10.0, release_ms: float = 100.0, knee_db: float = 0.0,
                  ks: Sequence[float] = DEFAULT_KS, ssl: bool = True, ssl_release_ms="auto",
                  ssl_attack_ms: Optional[float] = None) -> GateComparison:
    """Runs the variants on audio x ((time,), (channels, time) or (batch, channels, time)) with the
    same threshold, ratio, attack, release and knee, channels linked by their max.

    The SSL compressor takes attack_ms (or ssl_attack_ms) within its panel's 0.1 … 30 ms and
    ssl_release_ms ("auto" or 100 … 1200 ms)."""
    audio, _, _ = as_audio(x)
    if not ks:
        raise ValueError("ks: give at least one sigmoid sharpness")
    if any(not (float(k) > 0) for k in ks):
        raise ValueError(f"ks: every k must be > 0 (1/dB), got {list(ks)}")
    knobs = dict(threshold_db=threshold_db, ratio=ratio, attack_ms=attack_ms, release_ms=release_ms, knee_db=knee_db,
                 sample_rate=sample_rate)
    variants: Dict[str, torch.nn.Module] = {"hard": Compressor(**knobs)}
    for k in ks:
        variants[_variant_name(float(k))] = Compressor(**knobs, gate="sigmoid", k=float(k))
    if ssl:
        variants["ssl"] = SSLCompressor(threshold_db, ratio, attack_ms=ssl_attack_ms or min(max(attack_ms, 0.1), 30.0),
                                        release_ms=ssl_release_ms, knee_db=knee_db, sample_rate=sample_rate)
    gains = {}
    with torch.no_grad():
        for label, module in variants.items():
            _, g = module(audio, return_gain=True)
            gains[label] = (20 * torch.log10(g[0, 0].to(torch.float64).clamp_min(LEVEL_FLOOR))).numpy()
        first = audio[0].abs().to(torch.float64)
        level = avg(first, float(ms2coef(20.0, sample_rate))).clamp_min(LEVEL_FLOOR).amax(dim=0)
    level_db = (20 * torch.log10(level)).numpy()
    text = (f"threshold {threshold_db:g} dB, ratio {ratio:g}:1, attack {attack_ms:g} ms, release {release_ms:g} ms, "
            f"knee {knee_db:g} dB, channels linked (max)")
    if ssl:
        ssl_release = ssl_release_ms if isinstance(ssl_release_ms, str) else f"{ssl_release_ms:g} ms"
        text += f"; SSL: attack {variants['ssl'].attack_ms:g} ms, release {ssl_release}"
    result = GateComparison(name, float(sample_rate), float(threshold_db), level_db, gains, settings=text)
    for label, g in gains.items():
        result.rmse_db[label] = metrics.gain_rmse_db(g, gains["hard"], level_db)
        result.flips_per_s[label] = float(metrics.flip_rate(g, sample_rate))
    return result


def compare_on_signals(signals: Sequence[str] = DEFAULT_SIGNALS, *, seconds: float = 4.0, seed: int = 1,
                       sample_rate: float = 44100.0, **settings) -> List[GateComparison]:
    """compare_gates on seeded signals of differential_dynamics.probes (identification probes are
    rendered on their sign-noise carrier; threshold_db aims them)."""
    out = []
    threshold = settings.get("threshold_db", -20.0)
    for s in signals:
        x = probes.probe_audio(s, seed, sample_rate, seconds=seconds, threshold_db=min(0.0, max(-80.0, threshold)))
        out.append(compare_gates(x, name=s, sample_rate=sample_rate, **settings))
    return out


def format_table(results: Sequence[GateComparison]) -> str:
    """Gain RMSE in dB against the hard gate (rows: variants, columns: signals), then flips per
    second, as aligned text."""
    variants = list(results[0].gains_db)
    width = max(12, *(len(r.name) for r in results)) + 2
    lines = []
    tables = (("gain RMSE vs hard gate (dB)", "rmse_db"), ("attack/release flips per second", "flips_per_s"))
    for title, table in tables:
        lines.append(title)
        lines.append("variant".ljust(14) + "".join(r.name.rjust(width) for r in results))
        for v in variants:
            cells = "".join(f"{getattr(r, table)[v]:.3f}".rjust(width) for r in results)
            lines.append(v.ljust(14) + cells)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _decimate(v: np.ndarray, points: int) -> np.ndarray:
    """At most `points` values: means over equal buckets (a trace of millions of samples would draw
    as a solid band)."""
    if v.size <= points:
        return v
    size = int(math.ceil(v.size / points))
    pad = (-v.size) % size
    padded = np.concatenate([v, np.full(pad, v[-1])])
    return padded.reshape(-1, size).mean(axis=1)


def plot_comparison(results: Sequence[GateComparison], path: str, *, max_points: int = 4000) -> str:
    """Writes a PNG: per signal, the input level with the threshold (top) and every variant's gain
    in dB (bottom, with its RMSE against the hard gate in the legend). Returns the path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    fig = plt.figure(figsize=(13, 4.4 * n + 0.8))
    heading, *panels = fig.subfigures(n + 1, 1, height_ratios=[0.8] + [4.4] * n)
    heading.text(0.07, 0.62, "Gating variants of one compressor: hard gate, sigmoid gate (k in 1/dB), SSL bus "
                 "compressor", fontsize=13, va="center")
    heading.text(0.07, 0.18, results[0].settings, fontsize=9.5, va="center", color="0.25")
    variants = list(results[0].gains_db)
    sigmoid = [v for v in variants if v.startswith("sigmoid")]
    cmap = plt.get_cmap("viridis")
    colours = {"hard": "black", "ssl": "tab:red"}
    for i, v in enumerate(sigmoid):  # light (soft gate) to dark (near the hard gate)
        colours[v] = cmap(0.9 - 0.8 * i / max(1, len(sigmoid) - 1))
    for panel, r in zip(panels, results):
        top, bottom = panel.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.7], "hspace": 0.06})
        panel.subplots_adjust(left=0.07, right=0.76, top=0.9, bottom=0.13)
        t = _decimate(np.arange(r.level_db.size) / r.sample_rate, max_points)
        top.plot(t, _decimate(r.level_db, max_points), color="0.3", lw=1.0, label="input level\n(20 ms detector)")
        top.axhline(r.threshold_db, color="tab:blue", ls="--", lw=1.3, label=f"threshold {r.threshold_db:g} dB")
        top.set_ylabel("level (dB)")
        top.set_title(r.name, loc="left", fontsize=12, fontweight="bold")
        top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, frameon=False)
        top.grid(alpha=0.3)
        top.set_ylim(max(-80.0, float(np.percentile(r.level_db, 1)) - 5), max(3.0, float(r.level_db.max()) + 3))
        for v in variants:
            style = dict(lw=1.8 if v == "hard" else 1.1, ls="-." if v == "ssl" else "-", color=colours[v],
                         zorder=3 if v == "hard" else 2)
            label = "hard gate" if v == "hard" else f"{v}: {r.rmse_db[v]:.2f} dB"
            bottom.plot(t, _decimate(r.gains_db[v], max_points), label=label, **style)
        bottom.set_ylabel("gain (dB)")
        bottom.set_xlabel("time (s)")
        bottom.grid(alpha=0.3)
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, frameon=False,
                      title="gain RMSE vs hard gate", title_fontsize=8.5)
        low = min(float(g.min()) for g in r.gains_db.values())
        bottom.set_ylim(min(-1.0, low - 1.0), 0.8)
        bottom.set_xlim(t[0], t[-1])
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _read_audio(path: str):
    import soundfile
    try:
        data, rate = soundfile.read(path, dtype="float64", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError if hasattr(soundfile, "LibsndfileError") else RuntimeError) as e:
        raise ValueError(f"file: cannot read {path!r} as audio ({e})") from None
    if data.shape[0] == 0:
        raise ValueError(f"file: {path!r} has no samples")
    return torch.from_numpy(np.ascontiguousarray(data.T)), float(rate)  # (channels, time)


def _floats(text: str, name: str) -> List[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"{name}: expected numbers separated by commas, got {text!r}") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m differential_dynamics.gating",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", help="a WAV/FLAC/… file instead of the standard signals")
    parser.add_argument("--signals", default=",".join(DEFAULT_SIGNALS),
                        help="comma-separated signal names, or 'classic' for all of "
                        f"{', '.join(probes.CLASSIC_SIGNALS)}")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each signal (of the file: the first S s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample-rate", type=float, default=44100.0, help="of the standard signals (Hz)")
    parser.add_argument("--threshold", type=float, default=-20.0, help="dB")
    parser.add_argument("--ratio", type=float, default=4.0)
    parser.add_argument("--attack", type=float, default=10.0, help="ms")
    parser.add_argument("--release", type=float, default=100.0, help="ms")
    parser.add_argument("--knee", type=float, default=0.0, help="dB")
    parser.add_argument("--k", default=",".join(f"{k:g}" for k in DEFAULT_KS), help="sigmoid sharpnesses (1/dB)")
    parser.add_argument("--no-ssl", action="store_true", help="leave the SSL compressor out")
    parser.add_argument("--out", default="out/gating.png", help="PNG path")
    args = parser.parse_args(argv)
    settings = dict(threshold_db=args.threshold, ratio=args.ratio, attack_ms=args.attack, release_ms=args.release,
                    knee_db=args.knee, ks=_floats(args.k, "--k"), ssl=not args.no_ssl)
    try:
        if args.file:
            x, rate = _read_audio(args.file)
            if args.seconds:
                x = x[:, :max(1, int(args.seconds * rate))]
            results = [compare_gates(x, name=os.path.basename(args.file), sample_rate=rate, **settings)]
        else:
            names = probes.CLASSIC_SIGNALS if args.signals == "classic" else [s for s in args.signals.split(",") if s]
            results = compare_on_signals(names, seconds=args.seconds, seed=args.seed, sample_rate=args.sample_rate,
                                         **settings)
        sys.stdout.write(format_table(results))
        path = plot_comparison(results, args.out)
    except (ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
