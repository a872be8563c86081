"""Seeded test signals and identification probes (the C++ generators of differential_dynamics/probes.hpp).

    x = make_probe("composite_program", seed=1, fs=44100, length=44100 * 8)      # audio, (T,)
    env = make_probe("release_drops", seed=[1, 2, 3], length=88200, threshold_db=-20)  # (3, T)
    x = probe_audio("release_drops", seed=1, length=88200)   # the envelope on a sign-noise carrier
    env, segments = probe_mix(seed=7, length=44100 * 30)      # identification probes one after another

Classic signals (CLASSIC_SIGNALS) are audio in [−1, 1]; identification probes (IDENTIFICATION_PROBES)
are amplitude envelopes in [0, 1] that render_probe_audio turns into audio. The same (name, seed, fs,
length, threshold_db) gives the same samples; another seed gives other ones. Outputs are float64
torch tensors. Every kind's ranges: docs/reference/probes_metrics.md.
"""
from __future__ import annotations

import numbers
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import _core
from ._validation import number

__all__ = ["ProbeInfo", "PROBE_CATALOG", "CLASSIC_SIGNALS", "IDENTIFICATION_PROBES", "CARRIERS", "make_probe",
           "render_probe_audio", "probe_audio", "probe_mix"]


class ProbeInfo(NamedTuple):
    name: str
    output: str  # "audio" (in [−1, 1]) or "envelope" (in [0, 1])
    summary: str


#: Every kind the generators know, in the C++ catalogue's order.
PROBE_CATALOG: Tuple[ProbeInfo, ...] = tuple(ProbeInfo(p["name"], p["output"], p["summary"])
                                             for p in _core.probe_catalog())
CLASSIC_SIGNALS: Tuple[str, ...] = tuple(p.name for p in PROBE_CATALOG if p.output == "audio")
IDENTIFICATION_PROBES: Tuple[str, ...] = tuple(p.name for p in PROBE_CATALOG if p.output == "envelope")
#: How an envelope becomes audio: ±1 with seeded signs (|x| = envelope), a sine, or none (x = envelope).
CARRIERS = ("sign_noise", "sine", "none")

Seed = Union[int, Sequence[int]]


def _info(name: Any) -> ProbeInfo:
    for p in PROBE_CATALOG:
        if p.name == name:
            return p
    raise ValueError(f"name: unknown probe {name!r}; the kinds are {', '.join(p.name for p in PROBE_CATALOG)}")


def _seed(value: Any, name: str = "seed") -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name}: expected an int (or a list of ints), got {type(value).__name__}")
    if not 0 <= int(value) < 2 ** 64:
        raise ValueError(f"{name}: must be in [0, 2**64), got {value}")
    return int(value)


def _seeds(seed: Seed) -> Tuple[List[int], bool]:
    """The seeds and whether one was given (a 1-D result) or a list (one row per seed)."""
    if isinstance(seed, (list, tuple, np.ndarray, torch.Tensor)):
        seeds = [_seed(s.item() if isinstance(s, (np.ndarray, torch.Tensor)) else s) for s in seed]
        if not seeds:
            raise ValueError("seed: the list of seeds is empty")
        return seeds, False
    return [_seed(seed)], True


def _rate(fs: Any) -> float:
    v = number(fs, "fs")
    if v <= 0:
        raise ValueError(f"fs: sample rate must be > 0, got {fs}")
    return v


def _length(length: Any, seconds: Any, fs: float) -> int:
    if (length is None) == (seconds is None):
        raise TypeError("length: give the length in samples or `seconds`, exactly one")
    if seconds is not None:
        s = number(seconds, "seconds")
        if s <= 0:
            raise ValueError(f"seconds: must be > 0, got {seconds}")
        length = max(1, int(round(s * fs)))
    if isinstance(length, (bool, np.bool_)) or not isinstance(length, (numbers.Integral, np.integer)):
        raise TypeError(f"length: expected an int number of samples, got {type(length).__name__}")
    if not 1 <= length <= _core.max_probe_length:
        raise ValueError(f"length: must be in [1, 2**32] samples, got {length}")
    return int(length)


def _stack(rows: List[np.ndarray], single: bool) -> torch.Tensor:
    out = torch.from_numpy(np.stack(rows))
    return out[0] if single else out


def make_probe(name: str, seed: Seed, fs: float = 44100.0, length: Optional[int] = None, *,
               seconds: Optional[float] = None, threshold_db: float = -24.0) -> torch.Tensor:
    """`length` samples (or `seconds`) of the signal or probe `name` at sample rate fs: (T,) for one
    seed, (len(seed), T) for a list of seeds. threshold_db (in [−80, 0]) is where the probes that
    work near a compressor's threshold aim."""
    _info(name)
    seeds, single = _seeds(seed)
    fs = _rate(fs)
    n = _length(length, seconds, fs)
    thr = number(threshold_db, "threshold_db")
    return _stack([_core.make_probe(name, s, fs, n, thr) for s in seeds], single)


def render_probe_audio(envelope: Any, carrier: str = "sign_noise", seed: Seed = 0, fs: float = 44100.0,
                       frequency: float = 1000.0) -> torch.Tensor:
    """Audio x_t = e_t·c_t from an envelope (values in [0, 1]; (T,) or (B, T), one seed or one per
    row) on the carrier "sign_noise" (±1, seeded: |x| = e), "sine" (frequency in (0, fs/2)) or "none"."""
    if carrier not in CARRIERS:
        raise ValueError(f"carrier: must be one of {CARRIERS}, got {carrier!r}")
    e = envelope.detach().numpy() if isinstance(envelope, torch.Tensor) else np.asarray(envelope)
    if e.ndim not in (1, 2) or e.size == 0:
        raise ValueError(f"envelope: expected a non-empty (T,) or (B, T) array, got shape {e.shape}")
    rows = e.reshape(-1, e.shape[-1]).astype(np.float64)
    seeds, single = _seeds(seed)
    if len(seeds) == 1:
        seeds = seeds * rows.shape[0]
    elif len(seeds) != rows.shape[0]:
        raise ValueError(f"seed: one seed or one per row ({rows.shape[0]}), got {len(seeds)}")
    fs = _rate(fs)
    f = number(frequency, "frequency")
    out = [_core.render_probe_audio(np.ascontiguousarray(r), carrier, f, s, fs) for r, s in zip(rows, seeds)]
    return _stack(out, e.ndim == 1)


def probe_audio(name: str, seed: Seed, fs: float = 44100.0, length: Optional[int] = None, *,
                seconds: Optional[float] = None, threshold_db: float = -24.0, carrier: str = "sign_noise",
                frequency: float = 1000.0) -> torch.Tensor:
    """make_probe as audio: classic signals as they are, envelopes rendered on `carrier` (seeded by
    the probe's own seed)."""
    x = make_probe(name, seed, fs, length, seconds=seconds, threshold_db=threshold_db)
    if _info(name).output == "audio":
        return x
    return render_probe_audio(x, carrier, seed, fs, frequency)


def probe_mix(seed: int, fs: float = 44100.0, length: Optional[int] = None, *, seconds: Optional[float] = None,
              kinds: Optional[Sequence[str]] = None, min_seconds: float = 1.0, max_seconds: float = 4.0,
              threshold_db: float = -24.0) -> Tuple[torch.Tensor, List[Dict[str, Any]]]:
    """Identification probes one after another (for datasets): returns the envelope (T,) and its
    segments, dicts of kind, start, length and seed (make_probe(kind, seed, fs, length) gives the
    segment's samples). Each segment's kind is drawn from `kinds` (default: every identification
    probe), its length log-uniformly from [min_seconds, max_seconds]."""
    s = _seed(seed)
    fs = _rate(fs)
    n = _length(length, seconds, fs)
    names = list(IDENTIFICATION_PROBES if kinds is None else kinds)
    for k in names:
        if _info(k).output != "envelope":
            raise ValueError(f"kinds: {k!r} is a classic signal; a probe mix takes identification probes")
    envelope, segments = _core.probe_mix(s, fs, n, names, number(min_seconds, "min_seconds"),
                                         number(max_seconds, "max_seconds"), number(threshold_db, "threshold_db"))
    return torch.from_numpy(envelope), [dict(d) for d in segments]
