"""The installed LV2 bundle in real hosts: lv2apply (lilv-utils; one frame per run()), lv2file
(block size -b) and dd_lv2_host (tests/lv2/lv2_host.cpp, a lilv host: control changes at exact
frames, random block lengths, in place, unconnected side-chain ports). Each output is compared with
the library's result for the same settings (differential_dynamics.audio), bit for bit in float32.

Run by CTest (test lv2_hosts), which installs the bundle first and sets DD_LV2_PATH (the installed
bundle's directory), DD_LV2_TEST_PATH (the test plugins), DD_LV2_HOST and DD_RUN_PROBE. For a
sanitizer build of the plugins, DD_LV2_HOST_PRELOAD names the sanitizer runtime the hosts preload
(docs/reference/lv2.md); the run probe cannot share a process with it, so its tests are skipped then.
Reference: docs/reference/lv2.md.
"""
from __future__ import annotations

import functools
import json
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import pytest
import soundfile as sf

from differential_dynamics import audio

_ENV = ("DD_LV2_PATH", "DD_LV2_TEST_PATH", "DD_LV2_HOST", "DD_RUN_PROBE")
_missing = [name for name in _ENV if not os.environ.get(name)]
if _missing:
    raise RuntimeError(f"{', '.join(_missing)} not set: run these tests through CTest (ctest -R lv2_hosts)")
for _tool, _package in (("lv2apply", "lilv-utils"), ("lv2file", "lv2file")):
    if not shutil.which(_tool):
        raise RuntimeError(f"{_tool} not found: apt-get install {_package} (scripts/setup.sh installs it)")

FS = 44100
URI = "urn:differential-dynamics:"
HOST_ENV = dict(os.environ, LV2_PATH=os.environ["DD_LV2_PATH"] + os.pathsep + os.environ["DD_LV2_TEST_PATH"])
SANITIZER_RUNTIME = os.environ.get("DD_LV2_HOST_PRELOAD", "")
if SANITIZER_RUNTIME:
    HOST_ENV.update(LD_PRELOAD=SANITIZER_RUNTIME, ASAN_OPTIONS="detect_leaks=0")
GLIDE_MS = 20.0  # plugins/lv2/dd_lv2.cpp: glide_ms
MAX_BLOCK = 1024  # plugins/lv2/dd_lv2.cpp: max_block (longer host blocks are processed in pieces)
FLT_MIN = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class Plugin:
    model: str  # the differential_dynamics.audio model
    channels: int
    key: bool  # has side-chain key ports (and the "sidechain" toggle)
    controls: Sequence[str]  # the control input ports, in port order


CLASSICAL = ("threshold", "ratio", "knee", "attack", "release", "detector", "makeup", "auto_makeup", "mix", "lookahead")
PLUGINS: Dict[str, Plugin] = {
    "compressor-mono": Plugin("classical", 1, False, CLASSICAL),
    "compressor-stereo": Plugin("classical", 2, False, CLASSICAL + ("link",)),
    "compressor-stereo-sidechain": Plugin("classical", 2, True, CLASSICAL + ("link", "sidechain")),
    "limiter-stereo": Plugin("limiter", 2, False, ("threshold", "attack", "release", "makeup", "mix", "lookahead", "link")),
    "ssl-bus": Plugin("ssl", 2, False, ("threshold", "ratio", "attack", "release", "auto_release", "makeup", "mix")),
    "ssl-bus-sidechain": Plugin("ssl", 2, True,
                                ("threshold", "ratio", "attack", "release", "auto_release", "makeup", "mix", "sidechain")),
}

# Settings that move every control of a model away from its default (varied), and a second set
# (other) with the remaining choices: auto makeup, other detector/link, positions between switches.
SETTINGS = {
    "classical": {
        "varied": dict(threshold=-30, ratio=6, knee=6, attack=3, release=150, detector=1, makeup=4, mix=0.75,
                       lookahead=5, link=2),
        "other": dict(threshold=-20, ratio=2.5, attack=0.5, release=40, auto_makeup=1, lookahead=1.5, link=0),
    },
    "limiter": {
        "varied": dict(threshold=-9, attack=0.5, release=80, makeup=3, mix=0.9, lookahead=2, link=0),
        "other": dict(threshold=-3, attack=0.05, release=1000, lookahead=0.7, link=2),
    },
    "ssl": {
        "varied": dict(threshold=-25, ratio=10, attack=3, release=0.6, auto_release=0, makeup=5, mix=0.8),
        "other": dict(threshold=-15, ratio=3, attack=2, release=0.45, auto_release=0),
    },
}


# ------------------------------------------------------------------------------------------------
# Signals and files


def program(seconds: float = 1.0, channels: int = 2, seed: int = 0, fs: int = FS) -> np.ndarray:
    """Tones and noise whose level steps between -40 and -3 dBFS every 0.25 s (attack and release
    both at work), different in each channel; (channels, time) float32 within ±0.99."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    levels = np.array([-30, -6, -18, -3, -40, -10], float)
    envelope = 10 ** (levels[(t / 0.25).astype(int) % len(levels)] / 20)
    rows = []
    for c in range(channels):
        tone = np.sin(2 * np.pi * (220 + 110 * c) * t + c)
        rows.append(envelope * (0.7 * tone + 0.3 * rng.standard_normal(t.size)) * (1 - 0.2 * c))
    return np.clip(np.array(rows), -0.99, 0.99).astype(np.float32)


def key_signal(samples: int, channels: int = 2, seed: int = 1, fs: int = FS) -> np.ndarray:
    """30 ms noise bursts every 200 ms at about -6 dBFS: a side-chain key unlike the program."""
    rng = np.random.default_rng(seed)
    gate = (np.arange(samples) % int(0.2 * fs)) < int(0.03 * fs)
    return np.clip(0.5 * gate * rng.standard_normal((channels, samples)), -0.99, 0.99).astype(np.float32)


@pytest.fixture()
def workdir():
    with tempfile.TemporaryDirectory(prefix="dd_lv2_") as d:
        yield Path(d)


def write(path: Path, x: np.ndarray, fs: int = FS) -> Path:
    sf.write(str(path), np.ascontiguousarray(x.T), fs, subtype="FLOAT")
    return path


def read(path: Path) -> np.ndarray:
    y, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(y.T)


def run(cmd, env=None, **kwargs) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], env=env or HOST_ENV, capture_output=True, text=True, **kwargs)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}\n{r.stdout}\n{r.stderr}"
    return r


# ------------------------------------------------------------------------------------------------
# Hosts


def host_input(name: str, x: np.ndarray, key: Optional[np.ndarray]) -> np.ndarray:
    """The file a host reads: the program, then the key for plugins with side-chain ports."""
    if name in PLUGINS and PLUGINS[name].key:
        assert key is not None, "plugins with key ports take a key in lv2apply and lv2file"
        return np.concatenate([x, key])
    return x


def lv2apply(name, x, controls, workdir, key=None, fs=FS, env=None) -> np.ndarray:
    src, out = write(workdir / "in.wav", host_input(name, x, key), fs), workdir / "out.wav"
    args = [a for sym, v in controls.items() for a in ("-c", sym, repr(float(v)))]
    run(["lv2apply", "-i", src, "-o", out, *args, URI + name], env=env)
    return read(out)


def lv2file(name, x, controls, block, workdir, key=None, fs=FS, env=None) -> np.ndarray:
    src, out = write(workdir / "in.wav", host_input(name, x, key), fs), workdir / "out.wav"
    args = [a for sym, v in controls.items() for a in ("-p", f"{sym}:{float(v)!r}")]
    run(["lv2file", "--ignore-clipping", "-b", block, "-i", src, "-o", out, *args, URI + name], env=env)
    return read(out)


def dd_host(name, x, workdir, sets=None, at=(), block=None, random_blocks=None, in_place=False, key=None, fs=FS,
            env=None):
    """dd_lv2_host run: returns (output, latency or None). Without a key, a plugin's side-chain
    ports stay unconnected (NULL, as lv2:connectionOptional allows)."""
    src, out = write(workdir / "in.wav", x if key is None else np.concatenate([x, key]), fs), workdir / "out.wav"
    cmd = [os.environ["DD_LV2_HOST"], "run", URI + name, src, out]
    cmd += [a for sym, v in (sets or {}).items() for a in ("--set", f"{sym}={float(v)!r}")]
    cmd += [a for frame, sym, v in at for a in ("--at", f"{frame}:{sym}={float(v)!r}")]
    cmd += ["--block", block] if block else []
    cmd += ["--random-blocks", random_blocks] if random_blocks else []
    cmd += ["--in-place"] if in_place else []
    r = run(cmd, env=env)
    latency = [int(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("latency ")]
    return read(out), (latency[0] if latency else None)


@functools.lru_cache(maxsize=None)
def ports(name: str):
    r = run([os.environ["DD_LV2_HOST"], "ports", URI + name])
    return json.loads(r.stdout)


# ------------------------------------------------------------------------------------------------
# The library's result for a plugin's control values (the mapping of docs/reference/lv2.md)


def control_values(name: str, controls: dict) -> dict:
    """What the plugin reads: each value as the host stores it (float32), clamped to the port's
    range from the .ttl; NaN is the default."""
    values = {}
    for port in ports(name):
        if port["type"] != "control" or port["direction"] != "input":
            continue
        raw = np.float32(controls.get(port["symbol"], port["default"]))
        values[port["symbol"]] = (float(port["default"]) if np.isnan(raw)
                                  else min(max(float(raw), port["minimum"]), port["maximum"]))
    return values


def panel_position(value: float, positions) -> float:
    """The front-panel position a float port value stands for (its float rounding), else the value."""
    return next((p for p in positions if np.float32(p) == np.float32(value)), value)


def settings(name: str, controls: dict):
    """(model, settings for differential_dynamics.audio, whether the key is read)."""
    plugin, v = PLUGINS[name], control_values(name, controls)
    nearest = lambda value: int(math.floor(value + 0.5))  # noqa: E731  (std::lround for values >= 0)
    s = dict(makeup_db=v["makeup"], mix=v["mix"], link=("none", "max", "mean")[nearest(v.get("link", 1))],
             lookahead_ms=v.get("lookahead", 0.0))
    if plugin.model == "classical":
        s.update(threshold_db=v["threshold"], ratio=v["ratio"], knee_db=v["knee"], attack_ms=v["attack"],
                 release_ms=v["release"], detector="peak" if nearest(v["detector"]) == 1 else "rms")
        if v["auto_makeup"] > 0:
            s["makeup_db"] = "auto"
    elif plugin.model == "limiter":
        s.update(threshold_db=v["threshold"], attack_ms=v["attack"], release_ms=v["release"])
    else:
        s.update(threshold_db=v["threshold"], ratio=v["ratio"], link="max",
                 attack_ms=panel_position(v["attack"], (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)),
                 release_ms="auto" if v["auto_release"] > 0 else
                 1000.0 * panel_position(v["release"], (0.1, 0.3, 0.6, 1.2)))
    return plugin.model, s, plugin.key and v.get("sidechain", 1.0) > 0


def reference(name, x, controls, key=None, fs=FS) -> np.ndarray:
    model, s, keyed = settings(name, controls)
    return audio.process(x, model, fs=fs, sidechain=key if keyed else None, **s)


def assert_bits_equal(y: np.ndarray, expected: np.ndarray, what: str):
    assert y.shape == expected.shape, f"{what}: shape {y.shape}, expected {expected.shape}"
    differ = np.flatnonzero((y != expected).any(axis=0))
    assert differ.size == 0, (f"{what}: {differ.size} samples differ, first at {differ[0]}, max |diff| "
                              f"{np.abs(y - expected).max():.3g}")


# ------------------------------------------------------------------------------------------------
# Ports


def test_ports_are_the_documented_ones():
    for name, plugin in PLUGINS.items():
        p = ports(name)
        audio_in = [q["symbol"] for q in p if q["type"] == "audio" and q["direction"] == "input" and not q["side_chain"]]
        keys = [q["symbol"] for q in p if q["side_chain"]]
        outs = [q["symbol"] for q in p if q["type"] == "audio" and q["direction"] == "output"]
        controls = [q["symbol"] for q in p if q["type"] == "control" and q["direction"] == "input"]
        latency = [q["symbol"] for q in p if q["latency"]]
        lr = ["in_l", "in_r"] if plugin.channels == 2 else ["in"]
        assert audio_in == lr and outs == [s.replace("in", "out") for s in lr], name
        assert keys == (["key_l", "key_r"] if plugin.key else []), name
        assert controls == list(plugin.controls), name
        assert latency == ([] if plugin.model == "ssl" else ["latency"]), name
        for q in p:
            if q["type"] == "control" and q["direction"] == "input":
                assert q["minimum"] <= q["default"] <= q["maximum"], (name, q)


@pytest.mark.parametrize("name", PLUGINS)
def test_defaults_are_the_library_defaults(name, workdir):
    """The ports' defaults are the library's default settings (rounded to float32, the ports' type:
    the limiter's 0.1 ms attack is 0.100000001 ms in a port), and with no control set the plugin is
    the library's processor with them."""
    plugin = PLUGINS[name]
    model, s, _ = settings(name, {})
    library = audio._core.audio_settings_defaults(model)
    for field, value in s.items():
        if field == "release_ms" and value == "auto":
            assert library["auto_release"], name
        elif isinstance(value, str):
            assert value == library[field], (name, field)
        else:
            assert np.float32(value) == np.float32(library[field]), (name, field, value, library[field])
    x = program(channels=plugin.channels)
    key = key_signal(x.shape[1]) if plugin.key else None
    assert_bits_equal(lv2apply(name, x, {}, workdir, key=key), reference(name, x, {}, key=key), name)


# ------------------------------------------------------------------------------------------------
# Bit for bit against the library, in both hosts, at several host block sizes


@pytest.mark.parametrize("which", ["varied", "other"])
@pytest.mark.parametrize("name", PLUGINS)
def test_hosts_equal_the_library(name, which, workdir):
    plugin = PLUGINS[name]
    controls = dict(SETTINGS[plugin.model][which])
    if plugin.channels == 1:
        controls.pop("link", None)
    x = program(channels=plugin.channels, seed={"varied": 0, "other": 1}[which])
    key = key_signal(x.shape[1]) if plugin.key else None
    expected = reference(name, x, controls, key=key)
    assert not np.array_equal(expected, reference(name, x, {}, key=key)), "the settings must matter"
    assert_bits_equal(lv2apply(name, x, controls, workdir, key=key), expected, f"lv2apply {name} {which}")
    for block in (1, 7, 100, 512, 1500):  # 1500 > max_block: processed in pieces
        assert_bits_equal(lv2file(name, x, controls, block, workdir, key=key), expected,
                          f"lv2file -b {block} {name} {which}")


@pytest.mark.parametrize("name", ["compressor-stereo-sidechain", "limiter-stereo", "ssl-bus"])
def test_random_blocks_and_in_place(name, workdir):
    plugin = PLUGINS[name]
    controls = SETTINGS[plugin.model]["varied"]
    x = program()
    key = key_signal(x.shape[1]) if plugin.key else None
    expected = reference(name, x, controls, key=key)
    for seed, longest in ((1, 3), (2, 300), (3, 5000)):
        y, _ = dd_host(name, x, workdir, sets=controls, random_blocks=f"{seed}:{longest}", key=key)
        assert_bits_equal(y, expected, f"random blocks 1..{longest}")
    y, _ = dd_host(name, x, workdir, sets=controls, block=333, in_place=True, key=key)
    assert_bits_equal(y, expected, "in place")


@pytest.mark.parametrize("name", ["compressor-stereo-sidechain", "ssl-bus-sidechain"])
def test_side_chain_key(name, workdir):
    """The key drives the gain; with the key ports unconnected or the toggle off, the input does."""
    x = program()
    key = key_signal(x.shape[1])
    controls = SETTINGS[PLUGINS[name].model]["varied"]
    keyed = reference(name, x, controls, key=key)
    unkeyed = reference(name, x, dict(controls, sidechain=0), key=key)
    assert not np.array_equal(keyed, unkeyed)
    y, _ = dd_host(name, x, workdir, sets=controls)  # key ports unconnected (NULL)
    assert_bits_equal(y, unkeyed, "key ports unconnected")
    assert_bits_equal(lv2apply(name, x, dict(controls, sidechain=0), workdir, key=key), unkeyed, "sidechain off")
    assert_bits_equal(lv2apply(name, x, controls, workdir, key=key), keyed, "sidechain on")


@pytest.mark.parametrize("fs", [22050, 48000, 96000])
def test_sample_rates(fs, workdir):
    x = program(seconds=0.5, fs=fs)
    for name in ("compressor-stereo", "limiter-stereo", "ssl-bus"):
        controls = SETTINGS[PLUGINS[name].model]["varied"]
        assert_bits_equal(lv2apply(name, x, controls, workdir, fs=fs), reference(name, x, controls, fs=fs),
                          f"{name} at {fs} Hz")


def test_a_rate_the_ranges_do_not_fit_is_refused(workdir):
    """At 1 kHz the limiter's shortest attack (0.05 ms) has a coefficient that rounds to 1: the plugin
    refuses to instantiate (the host reports it) instead of failing later inside run()."""
    x = program(seconds=0.1, fs=1000)
    src = write(workdir / "in.wav", x, 1000)
    r = subprocess.run([os.environ["DD_LV2_HOST"], "run", URI + "limiter-stereo", src, workdir / "out.wav"],
                       env=HOST_ENV, capture_output=True, text=True)
    assert r.returncode == 1 and "refused to instantiate" in r.stderr and "attack_ms" in r.stderr, r.stderr
    dd_host("compressor-stereo", x, workdir, fs=1000)  # its ranges fit: it runs


# ------------------------------------------------------------------------------------------------
# Latency, control values out of range, non-finite and subnormal input


@pytest.mark.parametrize("name,lookahead_ms,samples", [("compressor-stereo", 5.0, 221), ("compressor-mono", 20.0, 882),
                                                       ("limiter-stereo", 2.0, 88), ("limiter-stereo", 0.0, 0)])
def test_latency_is_reported_and_is_the_delay(name, lookahead_ms, samples, workdir):
    """The latency port reports round(lookahead·fs/1000) and an impulse comes out that much later."""
    channels = PLUGINS[name].channels
    x = np.zeros((channels, 4000), np.float32)
    x[:, 1000] = 0.01  # far below the threshold: gain 1
    controls = dict(lookahead=lookahead_ms, threshold=0)
    y, latency = dd_host(name, x, workdir, sets=controls, block=64)
    assert latency == samples
    assert np.flatnonzero(y[0]).tolist() == [1000 + samples]
    assert_bits_equal(y, reference(name, x, controls), "impulse")


def test_controls_out_of_range_are_clamped(workdir):
    """Values beyond a port's range act as the range's end; NaN acts as the default."""
    x = program()
    wild = {"compressor-stereo": dict(threshold=-500, ratio=0.2, knee=99, attack=1e9, release=-5, detector=7,
                                      makeup=float("nan"), mix=3, lookahead=1e6, link=-4),
            "limiter-stereo": dict(threshold=12, attack=0, release=1e12, makeup=-99, mix=-1, link=9),
            "ssl-bus": dict(threshold=-1e3, ratio=1, attack=1e-9, release=99, auto_release=-1, makeup=99,
                            mix=float("nan"))}
    for name, controls in wild.items():
        y = lv2apply(name, x, controls, workdir)
        assert np.isfinite(y).all(), name
        assert_bits_equal(y, reference(name, x, controls), name)


def test_non_finite_input_reads_as_zero(workdir):
    """NaN and ±inf samples (which the library refuses) act as silence; the output stays finite."""
    x = program()
    bad = np.zeros_like(x, dtype=bool)
    bad[0, 5000:5010] = bad[1, 20000] = bad[0, 40000] = True
    x_bad = x.copy()
    x_bad[0, 5000:5010], x_bad[1, 20000], x_bad[0, 40000] = np.nan, np.inf, -np.inf
    x_zero = np.where(bad, np.float32(0), x)
    for name in ("compressor-stereo", "ssl-bus"):
        controls = SETTINGS[PLUGINS[name].model]["varied"]
        expected = reference(name, x_zero, controls)
        assert_bits_equal(lv2apply(name, x_bad, controls, workdir), expected, f"lv2apply {name}")
        assert_bits_equal(lv2file(name, x_bad, controls, 512, workdir), expected, f"lv2file {name}")


def test_subnormal_input_is_flushed(workdir):
    """run() flushes denormals (FTZ/DAZ): a subnormal input sample acts as 0, so the output differs
    from the library's (which keeps subnormals) only by less than the smallest normal float."""
    x = program()
    x[:, 10000:12000] = np.float32(3e-39)  # subnormal in float32
    x[1, 30000:30100] = np.float32(-1e-44)
    name, controls = "compressor-stereo", SETTINGS["classical"]["varied"]
    y, expected = lv2apply(name, x, controls, workdir), reference(name, x, controls)
    assert np.abs(y.astype(np.float64) - expected).max() < FLT_MIN
    assert ((y == expected) | (np.abs(expected) < FLT_MIN)).all()
    assert (y != expected).any(), "the subnormal samples were not flushed: is FTZ/DAZ set around run()?"
    y, _ = dd_host(name, x, workdir, sets=controls, block=256)  # and the host's mode is restored (checked there)


# ------------------------------------------------------------------------------------------------
# Parameter steps mid-file: no discontinuity larger than the processor's own smoothing implies


def streamed_step(name, x, controls, frame, symbol, value) -> np.ndarray:
    """The library's streaming processor with the new value from `frame` on, at once (no glide):
    what the processor's own smoothing does with the step."""
    plugin = PLUGINS[name]
    model, before, _ = settings(name, controls)
    _, after, _ = settings(name, dict(controls, **{symbol: value}))
    cls = {"classical": audio.Compressor, "limiter": audio.Limiter, "ssl": audio.SSLCompressor}[model]
    p = cls(fs=FS, channels=plugin.channels, max_block=4096, max_lookahead_ms=20, **before)
    head = p.process(x[:, :frame])
    p.set_settings(**after)
    return np.concatenate([head, p.process(x[:, frame:])], axis=1)


# (plugin, controls, control that steps, from, to, what it moves: "level" = the output level directly
# (makeup, mix: no smoothing of the processor's own), "gain" = the gain computer (smoothed by its
# attack/release or circuit))
STEPS = [
    ("compressor-stereo", dict(attack=1, release=50), "makeup", 0, 12, "level"),
    ("compressor-stereo", dict(), "mix", 1, 0, "level"),
    ("compressor-stereo", dict(threshold=-30), "auto_makeup", 0, 1, "level"),
    ("compressor-stereo", dict(attack=1), "threshold", -10, -30, "gain"),
    ("compressor-stereo", dict(attack=1, threshold=-20), "ratio", 2, 10, "gain"),
    ("limiter-stereo", dict(), "threshold", -1, -12, "gain"),
    ("ssl-bus", dict(attack=0.1), "threshold", -10, -30, "gain"),
    ("ssl-bus", dict(), "makeup", 0, 10, "level"),
]


@pytest.mark.parametrize("blocks", [dict(block=1), dict(block=64), dict(random_blocks="7:500")])
@pytest.mark.parametrize("name,controls,symbol,start,end,kind", STEPS)
def test_parameter_step_glides(name, controls, symbol, start, end, kind, blocks, workdir):
    frame, glide = 22050, round(GLIDE_MS * FS / 1000)
    x = np.full((2, 66150), 0.5, np.float32)  # a steady level: every change of y is the step's
    controls = dict(controls, **{symbol: start})
    y, _ = dd_host(name, x, workdir, sets=controls, at=[(frame, symbol, end)], **blocks)
    instant = streamed_step(name, x, controls, frame, symbol, end)
    assert_bits_equal(y[:, :frame], instant[:, :frame], "before the step")
    # Differences in float64, as `jump` below: a float32 difference of two outputs is rounded.
    step_plugin = np.abs(np.diff(y[:, frame - 1:].astype(float), axis=1)).max()
    step_instant = np.abs(np.diff(instant[:, frame - 1:].astype(float), axis=1)).max()
    change = np.abs(instant[:, -1].astype(float) - instant[:, frame - 1]).max()
    assert change > 0.05, "the step must change the output"
    # Never sharper than the processor's own smoothing of the same step.
    assert step_plugin <= step_instant * (1 + 1e-6)
    if kind == "level":
        # No smoothing of its own: at once, the output jumps; the plugin's glide spreads that jump
        # over glide_ms (a dB ramp's steepest slope is at most 1.85 × its mean for these steps).
        jump = np.abs(instant[:, frame].astype(float) - instant[:, frame - 1]).max()
        assert jump > 0.05 and step_instant >= jump
        assert step_plugin <= 2.0 * jump / glide
    else:
        assert step_plugin <= 0.5 * step_instant
    # And it ends where the processor ends (the SSL's 5 s auto-release part still moves at the end).
    np.testing.assert_allclose(y[:, -2000:], instant[:, -2000:], rtol=1e-3)


# ------------------------------------------------------------------------------------------------
# Real-time safety: the run probe preloaded into the hosts


def probed(workdir) -> tuple:
    if SANITIZER_RUNTIME:
        pytest.skip("the run probe and the sanitizer runtime both replace malloc: run it in a normal build")
    report = workdir / "probe.json"
    env = dict(HOST_ENV, LD_PRELOAD=os.environ["DD_RUN_PROBE"], DD_RUN_PROBE_REPORT=str(report))
    return env, report


def probe_report(report: Path) -> dict:
    counts = json.loads(report.read_text())
    report.unlink()
    return counts


def assert_real_time(counts: dict, runs: Optional[int], frames: int, what: str):
    assert counts["libraries"] == 1 and counts["instances"] == 1, (what, counts)
    assert counts["runs"] == runs if runs is not None else counts["runs"] > 0, (what, counts)
    assert counts["frames"] >= frames, (what, counts)
    assert counts["allocations"] == counts["frees"] == counts["locks"] == counts["io"] == 0, (what, counts)


@pytest.mark.parametrize("name", PLUGINS)
def test_run_does_not_allocate_lock_or_do_io(name, workdir):
    plugin = PLUGINS[name]
    env, report = probed(workdir)
    x = program(seconds=0.5, channels=plugin.channels)
    x[0, 100:110] = np.nan  # the non-finite path too
    key = key_signal(x.shape[1]) if plugin.key else None
    controls = dict(SETTINGS[plugin.model]["varied"])
    if plugin.channels == 1:
        controls.pop("link", None)
    T = x.shape[1]
    lv2apply(name, x, controls, workdir, key=key, env=env)
    assert_real_time(probe_report(report), T, T, "lv2apply")
    for block in (7, 1500):
        lv2file(name, x, controls, block, workdir, key=key, env=env)
        assert_real_time(probe_report(report), -(-T // block), T, f"lv2file -b {block}")
    # Controls changing while it runs: glides, new settings, a new lookahead, the key switched.
    steps = [(2000, c, SETTINGS[plugin.model]["other"].get(c, 0)) for c in plugin.controls]
    steps += [(9000 + 10 * k, c, v) for k, (_, c, v) in enumerate(steps)] + [(15000, "makeup", -6)]
    dd_host(name, x, workdir, sets=controls, at=steps, random_blocks="5:700", in_place=True, key=key, env=env)
    assert_real_time(probe_report(report), None, T, "dd_lv2_host with control changes")


def test_the_probe_sees_allocations_locks_and_io(workdir):
    """The probe's zeros mean something: a plugin that allocates, locks and flushes in run() is seen
    on every call; one that copies is not."""
    env, report = probed(workdir)
    x = program(seconds=0.2)
    T = x.shape[1]
    lv2apply("test:misbehaving", x, {}, workdir, env=env)
    counts = probe_report(report)
    assert counts["runs"] == counts["allocations"] == counts["frees"] == counts["locks"] == counts["io"] == T
    lv2apply("test:null", x, {}, workdir, env=env)
    assert_real_time(probe_report(report), T, T, "null")
