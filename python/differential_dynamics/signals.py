"""Seeded test signals: each generator takes an explicit seed and returns (B, T) float64."""
from __future__ import annotations

import numpy as np
import torch


def _smooth_steps(levels_db: np.ndarray, hold: np.ndarray, T: int, edge: int) -> np.ndarray:
    """Piecewise-constant dB envelope with raised-cosine edges of `edge` samples."""
    env = np.empty(T)
    t = 0
    i = 0
    prev = levels_db[0]
    while t < T:
        lvl, n = levels_db[i % len(levels_db)], int(hold[i % len(hold)])
        n = max(n, 1)
        ramp = min(edge, n, T - t)
        w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 1) / ramp)
        env[t:t + ramp] = prev + (lvl - prev) * w
        end = min(t + n, T)
        env[t + ramp:end] = lvl
        prev = lvl
        t = end
        i += 1
    return env


def level_steps(rows: int, T: int, seed: int, fs: float = 44100.0, lo_db: float = -50.0, hi_db: float = 0.0,
                hold_ms=(20.0, 400.0), edge_ms: float = 2.0) -> torch.Tensor:
    """Noise carrier under pseudo-random dB level steps (holds log-uniform in hold_ms), so that a
    compressor attacks and releases over a range of depths and durations."""
    rng = np.random.default_rng(seed)
    out = np.empty((rows, T))
    for b in range(rows):
        n_steps = int(T / (hold_ms[0] * fs / 1000)) + 2
        levels = rng.uniform(lo_db, hi_db, n_steps)
        holds = np.exp(rng.uniform(np.log(hold_ms[0]), np.log(hold_ms[1]), n_steps)) * fs / 1000
        env = _smooth_steps(levels, holds, T, max(1, int(edge_ms * fs / 1000)))
        out[b] = 10 ** (env / 20) * rng.standard_normal(T)
    return torch.from_numpy(out)
