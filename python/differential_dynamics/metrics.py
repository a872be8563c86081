"""Metrics on gain traces and audio (the C++ definitions of differential_dynamics/metrics.hpp).

Gains and levels are in dB. A sample is active when its detector level is above −100 dB
(ACTIVE_FLOOR_DB); where a function takes `level_db=None`, every sample is active. Arrays are
torch tensors or numpy arrays of any shape (the same shape where two are compared); the trace
metrics (rise_time_63, flip_rate) take one trace (T,) or rows of traces (B, T) and return one value
per row. The results are numbers for reporting, not differentiable: a loss is a torch expression.
Definitions: docs/reference/probes_metrics.md.
"""
from __future__ import annotations

import numbers
from typing import Any, Optional, Union

import numpy as np
import torch

from . import _core
from ._validation import number

__all__ = ["ACTIVE_FLOOR_DB", "gain_rmse_db", "rise_time_63", "near_threshold_occupancy", "flip_rate",
           "average_gain_reduction_db", "esr"]

#: Samples whose detector level is at or below this (dB) are silence, not compression.
ACTIVE_FLOOR_DB: float = _core.active_floor_db

ArrayLike = Union[torch.Tensor, np.ndarray]


def _array(a: Any, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    elif not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy array, got {type(a).__name__}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{name}: dtype {a.dtype} is not supported (use a real dtype)")
    if a.size == 0:
        raise ValueError(f"{name}: is empty")
    return np.ascontiguousarray(a, dtype=np.float64)


def _flat(a: Any, name: str, like: Optional[np.ndarray] = None) -> np.ndarray:
    v = _array(a, name)
    if like is not None and v.shape != like.shape:
        raise ValueError(f"{name}: shape {v.shape} differs from {like.shape}")
    return v.reshape(-1)


def _rows(a: Any, name: str) -> np.ndarray:
    v = _array(a, name)
    if v.ndim not in (1, 2):
        raise ValueError(f"{name}: expected one trace (T,) or rows of traces (B, T), got shape {v.shape}")
    return v


def _per_row(v: np.ndarray, fn):
    if v.ndim == 1:
        return fn(v)
    return torch.tensor([fn(np.ascontiguousarray(r)) for r in v], dtype=torch.float64)


def gain_rmse_db(gain_a_db: ArrayLike, gain_b_db: ArrayLike, level_db: Optional[ArrayLike] = None) -> float:
    """√(mean over the active samples of (a − b)²), dB. Raises ValueError("level_db: ...") when no
    sample is active."""
    a = _array(gain_a_db, "gain_a_db")
    level = None if level_db is None else _flat(level_db, "level_db", a)
    return _core.gain_rmse_db(a.reshape(-1), _flat(gain_b_db, "gain_b_db", a), level)


def rise_time_63(trace: ArrayLike, edge: int, fs: float = 44100.0):
    """Seconds from the last sample before the step (edge − 1) to the first sample at or past
    edge that has covered 1 − 1/e of the way to the settled (last) value; rising or falling."""
    if isinstance(edge, (bool, np.bool_)) or not isinstance(edge, (numbers.Integral, np.integer)):
        raise TypeError(f"edge: expected an int sample index, got {type(edge).__name__}")
    if edge < 0:
        raise ValueError(f"edge: must be >= 1, got {edge}")
    rate = number(fs, "fs")
    return _per_row(_rows(trace, "trace"), lambda r: _core.rise_time_63(r, int(edge), rate))


def near_threshold_occupancy(level_db: ArrayLike, threshold_db: float, half_width_db: float = 3.0) -> float:
    """The fraction of active samples whose level is within ±half_width_db of threshold_db."""
    return _core.near_threshold_occupancy(_flat(level_db, "level_db"), number(threshold_db, "threshold_db"),
                                          number(half_width_db, "half_width_db"))


def flip_rate(gain_db: ArrayLike, fs: float = 44100.0):
    """Attack/release flips per second: a sample is in attack where the gain falls, in release where
    it rises, and keeps the previous state where it is unchanged; a flip is a change of state."""
    rate = number(fs, "fs")
    return _per_row(_rows(gain_db, "gain_db"), lambda r: _core.flip_rate(r, rate))


def average_gain_reduction_db(gain_db: ArrayLike, level_db: Optional[ArrayLike] = None) -> float:
    """Mean of −gain over the active samples (dB; positive when the gain is reduced)."""
    g = _array(gain_db, "gain_db")
    level = None if level_db is None else _flat(level_db, "level_db", g)
    return _core.average_gain_reduction_db(g.reshape(-1), level)


def esr(y: ArrayLike, y_hat: ArrayLike) -> float:
    """Error-to-signal ratio Σ(y − ŷ)² / Σy² over all samples (y the reference)."""
    ref = _array(y, "y")
    return _core.esr(ref.reshape(-1), _flat(y_hat, "y_hat", ref))
