"""Plot a file before and after compression and the gain ddyn applied (a PNG), e.g.

    ddyn compress in.ogg out.wav --model ssl -t -24 --makeup auto --gain-out gain.wav
    .venv/bin/python scripts/plot_compression.py in.ogg out.wav gain.wav picture.png [--start 20 --seconds 15]

The audio is shown as its level (RMS of the channels' mean over 20 ms windows, dBFS), the gain (dB,
before makeup) as written by --gain-out."""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import soundfile  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("input", "output", "gain", "png"):
        ap.add_argument(name)
    ap.add_argument("--start", type=float, default=0.0, help="seconds")
    ap.add_argument("--seconds", type=float, default=None, help="length shown (default: to the end)")
    ap.add_argument("--title", default=None)
    a = ap.parse_args()
    signals = {}
    for name in ("input", "output", "gain"):
        data, fs = soundfile.read(getattr(a, name), always_2d=True)
        signals[name] = (data.mean(axis=1), fs)
    fs = signals["input"][1]
    if any(f != fs for _, f in signals.values()):
        raise SystemExit("input, output and gain must have one sample rate")
    i0 = int(a.start * fs)
    i1 = len(signals["input"][0]) if a.seconds is None else i0 + int(a.seconds * fs)
    x, y, g = (signals[n][0][i0:i1] for n in ("input", "output", "gain"))
    t = a.start + np.arange(len(x)) / fs
    def level_db(s):  # RMS over 20 ms windows
        w = max(1, int(0.02 * fs))
        n = len(s) // w
        return 10 * np.log10(np.maximum((s[: n * w].reshape(n, w) ** 2).mean(axis=1), 1e-12)), w

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for s, style in ((x, dict(color="0.5", label="input")), (y[: len(t)], dict(color="C0", label="output"))):
        lv, w = level_db(s)
        ax1.plot(t[::w][: len(lv)], lv, lw=0.7, **style)
    ax1.set_ylabel("level (dBFS, 20 ms RMS)")
    ax1.legend(loc="upper right")
    ax2.plot(t, g[: len(t)], lw=0.8, color="C3")
    ax2.set_ylabel("gain (dB)")
    ax2.set_xlabel("time (s)")
    if a.title:
        ax1.set_title(a.title)
    fig.tight_layout()
    fig.savefig(a.png, dpi=110)
    print(a.png)


if __name__ == "__main__":
    main()
