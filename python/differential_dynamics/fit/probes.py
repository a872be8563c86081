"""Seeded identification probes for parameter recovery: amplitude envelopes (dB) that make a compressor
attack and release separately, over many depths and durations, on a noise carrier.

`probe_mix` is the one entry point the dataset builder and the studies call; the segments follow the
probe list of docs/reference (staircases, level pairs with cosine edges, echo pulses and silence,
release drops to near-threshold levels, dB dither, pseudo-random 12 ms steps, long plateaus). Each row
draws its own segment sequence from (seed, row), so adding rows never changes the earlier ones.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["probe_mix", "PROBE_SEGMENTS"]

SILENCE_DB = -120.0  # below the −100 dB activity floor of the gain metrics


def _cosine_edge(a: float, b: float, n: int) -> np.ndarray:
    w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 1) / n)
    return a + (b - a) * w


def _hold(level: float, n: int) -> np.ndarray:
    return np.full(max(n, 1), level)


def _staircase(rng, fs):
    """Quasi-static staircase up and down (6 dB steps, 120–250 ms each)."""
    n = int(rng.uniform(0.12, 0.25) * fs)
    steps = np.arange(-54.0, 0.1, 6.0) + rng.uniform(-3, 0)
    levels = np.concatenate([steps, steps[::-1]])
    return np.concatenate([_hold(v, n) for v in levels])


def _level_pairs(rng, fs):
    """Low → high → low with cosine edges of 5…400 ms and holds long enough to settle."""
    out = []
    for _ in range(3):
        lo, hi = rng.uniform(-60, -30), rng.uniform(-20, 0)
        edge = int(np.exp(rng.uniform(np.log(0.005), np.log(0.4))) * fs)
        out += [_hold(lo, int(0.3 * fs)), _cosine_edge(lo, hi, edge), _hold(hi, int(rng.uniform(0.2, 0.6) * fs)),
                _cosine_edge(hi, lo, edge)]
    return np.concatenate(out)


def _echo_pulses(rng, fs):
    """Short loud bursts (5–60 ms) separated by silence or near-silence (50–500 ms)."""
    out = []
    for _ in range(int(rng.integers(4, 9))):
        out.append(_hold(rng.uniform(-12, 0), int(rng.uniform(0.005, 0.06) * fs)))
        floor = SILENCE_DB if rng.random() < 0.5 else rng.uniform(-70, -50)
        out.append(_hold(floor, int(rng.uniform(0.05, 0.5) * fs)))
    return np.concatenate(out)


def _release_drops(rng, fs):
    """Loud hold, then a drop to a level near typical thresholds (−40…−15 dB), held through the release."""
    out = []
    for _ in range(3):
        out += [_hold(rng.uniform(-8, 0), int(rng.uniform(0.1, 0.5) * fs)),
                _hold(rng.uniform(-40, -15), int(rng.uniform(0.3, 0.9) * fs))]
    return np.concatenate(out)


def _db_dither(rng, fs):
    """Level modulated sinusoidally in dB at 0.5–8 Hz around a mid level."""
    n = int(rng.uniform(0.8, 1.5) * fs)
    f = np.exp(rng.uniform(np.log(0.5), np.log(8.0)))
    depth = rng.uniform(3, 15)
    return rng.uniform(-35, -10) + depth * np.sin(2 * np.pi * f * np.arange(n) / fs + rng.uniform(0, 2 * np.pi))


def _random_steps(rng, fs):
    """Pseudo-random level steps every 12 ms (transient churn)."""
    n = int(0.012 * fs)
    count = int(rng.integers(20, 60))
    return np.repeat(rng.uniform(-45, 0, count), n)


def _long_plateau(rng, fs):
    """A long loud plateau then a long quiet one: sustained compression and the slow release."""
    return np.concatenate([_hold(rng.uniform(-10, 0), int(rng.uniform(1.0, 2.0) * fs)),
                           _hold(rng.uniform(-60, -35), int(rng.uniform(1.0, 2.5) * fs))])


PROBE_SEGMENTS = {
    "staircase": _staircase, "level_pairs": _level_pairs, "echo_pulses": _echo_pulses,
    "release_drops": _release_drops, "db_dither": _db_dither, "random_steps": _random_steps,
    "long_plateau": _long_plateau,
}


def probe_envelope_db(T: int, seed: int, row: int = 0, fs: float = 44100.0) -> np.ndarray:
    """One row's level envelope in dB (length T): segments drawn at random until T is filled."""
    rng = np.random.default_rng([int(seed), int(row)])
    names = sorted(PROBE_SEGMENTS)
    parts, n = [], 0
    while n < T:
        seg = PROBE_SEGMENTS[names[int(rng.integers(len(names)))]](rng, fs)
        parts.append(seg)
        n += len(seg)
    return np.concatenate(parts)[:T]


def probe_mix(rows: int, T: int, seed: int, fs: float = 44100.0) -> torch.Tensor:
    """(rows, T) float64 probe audio: a white-noise carrier under `probe_envelope_db` envelopes.

    This is the single switch point for the probe source used by datasets, studies and the demo."""
    if rows < 1 or T < 1:
        raise ValueError(f"rows, T: must be >= 1, got rows={rows}, T={T}")
    out = np.empty((rows, T))
    for b in range(rows):
        env = probe_envelope_db(T, seed, b, fs)
        carrier = np.random.default_rng([int(seed), int(b), 1]).standard_normal(T)
        out[b] = 10 ** (env / 20) * np.clip(carrier, -4, 4) / 4  # peak ≤ 1 (0 dBFS) at a 0 dB envelope
    return torch.from_numpy(out)
