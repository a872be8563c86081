"""Rendering audio through third-party LV2 compressors headless (Debian's lv2apply from lilv-utils,
or lv2file for plugins lv2apply cannot host), for matching the model family to real compressors.

Each `LV2Compressor` maps a generic `Setting` (threshold dB, ratio, attack/release ms) onto the
plugin's own control ports and units, with makeup off, dry/wet fully wet and knee hard where the
plugin has those controls. Install the plugins with scripts/setup_plugins.sh.

    y, latency = render(PLUGINS["calf"], MODERATE, clips, fs)   # clips (N, T) float, y aligned

What each plugin's DSP is (read from its public source; docs/recovery.md, "Matching real
compressors") is in `LV2Compressor.topology`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class Setting:
    """A compressor setting in generic units."""

    name: str
    threshold_db: float
    ratio: float
    attack_ms: float
    release_ms: float


MODERATE = Setting("moderate", -20.0, 4.0, 10.0, 100.0)
HARD = Setting("hard", -24.0, 10.0, 1.0, 400.0)


def _amp(db: float) -> float:
    return 10.0 ** (db / 20.0)


@dataclass(frozen=True)
class LV2Compressor:
    key: str
    uri: str
    package: str
    topology: str                            # what its source shows, in the family's terms
    controls: Callable[[Setting], Dict[str, float]]
    host: str = "lv2apply"                   # or "lv2file"
    input_channels: int = 1                  # audio inputs the host feeds (the mono clip on each)
    lv2file_connections: Tuple[str, ...] = field(default_factory=tuple)


def _calf(s: Setting) -> Dict[str, float]:
    return {"threshold": _amp(s.threshold_db), "ratio": s.ratio, "attack": s.attack_ms, "release": s.release_ms,
            "knee": 1.0, "makeup": 1.0, "detection": 0.0, "stereo_link": 0.0, "mix": 1.0, "level_in": 1.0,
            "bypass": 0.0}


def _lsp(feedback: bool) -> Callable[[Setting], Dict[str, float]]:
    def controls(s: Setting) -> Dict[str, float]:
        return {"enabled": 1.0, "g_in": 1.0, "g_out": 1.0, "sct": 1.0 if feedback else 0.0, "scm": 0.0, "sla": 0.0,
                "scp": 1.0, "cm": 0.0, "al": _amp(s.threshold_db), "at": s.attack_ms, "rrl": 0.0,
                "rt": s.release_ms, "cr": s.ratio, "kn": 1.0, "mk": 1.0, "cdr": 0.0, "cwt": 1.0}
    return controls


def _zam(s: Setting) -> Dict[str, float]:
    return {"att": s.attack_ms, "rel": s.release_ms, "kn": 0.0, "rat": s.ratio, "thr": s.threshold_db, "mak": 0.0,
            "slew": 1.0, "sidech": 0.0}


def _x42(s: Setting) -> Dict[str, float]:
    # Ratio port ∈ [0, 1]: gain = (mean square)^(−Ratio/2), a static ratio of 1/(1 − Ratio/2) (at most
    # 2:1); the generic ratio maps to the port value giving it, clamped to the port's range.
    port_ratio = min(1.0, 2.0 * (1.0 - 1.0 / s.ratio))
    return {"enable": 1.0, "hold": 0.0, "inputgain": 0.0, "threshold": min(-10.0, max(-50.0, s.threshold_db)),
            "Ratio": port_ratio, "attack": min(0.1, max(0.001, s.attack_ms / 1000)),
            "release": min(3.0, max(0.03, s.release_ms / 1000))}


PLUGINS: Dict[str, LV2Compressor] = {p.key: p for p in [
    LV2Compressor("calf", "http://calf.sourceforge.net/plugins/Compressor", "calf-plugins",
                  "ff-rms-level-linear-smooth_branching: branching one-pole on x² (coefficient 4000/(ms·fs)), "
                  "curve in the log domain (Hermite knee = the quadratic knee), no gain smoothing",
                  _calf, input_channels=2),
    LV2Compressor("lsp", "http://lsp-plug.in/plugins/lv2/compressor_mono", "lsp-plugins-lv2",
                  "ff-peak-level-linear-smooth_branching: one-pole on |x| whose coefficient reaches −3 dB in the "
                  "given time, attack rising / release falling, curve with a quadratic (log-domain) knee",
                  _lsp(False)),
    LV2Compressor("lsp_fb", "http://lsp-plug.in/plugins/lv2/compressor_mono", "lsp-plugins-lv2",
                  "fb-peak-level-linear-smooth_branching: as lsp, side chain from the previous output sample",
                  _lsp(True)),
    LV2Compressor("zam", "urn:zamaudio:ZamComp", "zam-plugins",
                  "ff-peak-gain-log-smooth_branching: instantaneous |x| in dB, hard-knee curve, one-pole on the "
                  "gain reduction in dB, attack while it rises (poles exp(−1000/(ms·fs))); the indexed source "
                  "versions show a smooth decoupled detector, the Debian 4.1 binary measures as smooth branching",
                  _zam, host="lv2file", lv2file_connections=("1:lv2_audio_in_1", "1:lv2_sidechain_in")),
    LV2Compressor("x42", "http://gareus.org/oss/lv2/darc#mono", "x42-plugins",
                  "not in the family exactly: always-attack one-pole on threshold + x², then a decoupled release "
                  "pair (peak hold with exponential decay, a second stage following it), gain = "
                  "(20·level)^(−Ratio/2): a log-sum-exp soft knee with built-in makeup, ratio at most 2:1",
                  _x42),
]}


def _host_command(plugin: LV2Compressor, setting: Setting, src: Path, dst: Path):
    controls = plugin.controls(setting)
    if plugin.host == "lv2apply":
        cmd = ["lv2apply", "-i", str(src), "-o", str(dst)]
        for sym, val in controls.items():
            cmd += ["-c", sym, repr(float(val))]
        return cmd + [plugin.uri]
    cmd = ["lv2file", "-i", str(src), "-o", str(dst)]
    for c in plugin.lv2file_connections:
        cmd += ["-c", c]
    for sym, val in controls.items():
        cmd += ["-p", f"{sym}:{float(val)!r}"]
    return cmd + [plugin.uri]


def check_host(plugin: LV2Compressor) -> None:
    """Raises RuntimeError naming the set-up script if the host or the plugin is missing."""
    if shutil.which(plugin.host) is None:
        raise RuntimeError(f"{plugin.host} not found: run scripts/setup_plugins.sh (Debian lilv-utils, lv2file)")
    listed = subprocess.run(["lv2ls"], capture_output=True, text=True).stdout.split()
    if plugin.uri not in listed:
        raise RuntimeError(f"LV2 plugin {plugin.uri} not installed: run scripts/setup_plugins.sh "
                           f"(Debian package {plugin.package})")


def render_clip(plugin: LV2Compressor, setting: Setting, clip: np.ndarray, fs: int,
                cache_dir: Optional[Path] = None) -> np.ndarray:
    """The plugin's output (T,) float64 for a mono clip (T,), from a fresh plugin instance; cached by
    the input's bytes, the plugin and the setting."""
    import soundfile as sf

    clip32 = np.ascontiguousarray(clip, dtype=np.float32)
    key = hashlib.sha256(clip32.tobytes() + repr((plugin.uri, plugin.controls(setting), fs)).encode()).hexdigest()
    cached = cache_dir / f"{plugin.key}-{setting.name}-{key[:20]}.npy" if cache_dir else None
    if cached is not None and cached.exists():
        return np.load(cached)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        frames = np.repeat(clip32[:, None], plugin.input_channels, axis=1)
        sf.write(src, frames, fs, subtype="FLOAT")
        run = subprocess.run(_host_command(plugin, setting, src, dst), capture_output=True, text=True)
        if run.returncode != 0 or not dst.exists():
            raise RuntimeError(f"{plugin.host} failed on {plugin.uri} (exit {run.returncode}): {run.stderr.strip()}")
        y, out_fs = sf.read(dst, dtype="float64", always_2d=True)
    if out_fs != fs or y.shape[0] != clip.shape[0]:
        raise RuntimeError(f"{plugin.key}: output has {y.shape[0]} frames at {out_fs} Hz, expected "
                           f"{clip.shape[0]} at {fs}")
    y = y[:, 0].copy()
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, y)
    return y


def estimate_latency(x: np.ndarray, y: np.ndarray, max_lag: int = 4096) -> int:
    """The lag (samples) at which y best matches x scaled by a positive gain: the maximum over lags
    of Σ x_t·y_{t+L} (y = G·x delayed, G > 0, correlates most at the delay)."""
    n = x.shape[-1]
    scores = [float(np.sum(x[..., : n - lag] * y[..., lag:])) for lag in range(min(max_lag, n // 2))]
    return int(np.argmax(scores))


def render(plugin: LV2Compressor, setting: Setting, clips: np.ndarray, fs: int,
           cache_dir: Optional[Path] = None) -> Tuple[np.ndarray, int]:
    """Renders every clip (N, T); returns (outputs (N, T) float64 aligned to the input — the last L
    samples, beyond the delayed output, are zero — and the latency L in samples)."""
    check_host(plugin)
    ys = np.stack([render_clip(plugin, setting, c, fs, cache_dir) for c in clips])
    latency = estimate_latency(clips, ys)
    aligned = np.zeros_like(ys)
    aligned[:, : ys.shape[1] - latency] = ys[:, latency:]
    return aligned, latency


def default_cache() -> Path:
    return Path(os.environ.get("DD_CACHE", Path.cwd() / ".cache"))
