"""Public functions (torchcomp-compatible names, argument order and semantics).

Signals are (B, T) (a 1-D (T,) signal is treated as one row); every parameter is a number, a
0-d/1-element tensor, or one value per row (shape (B,)); gradients come back in the parameter's own
shape. numpy arrays in give numpy arrays out (no gradients).
"""
from __future__ import annotations

import math
from typing import Any, Union

import numpy as np
import torch

from . import _core
from . import autograd as _ag
from ._validation import as_row_param, as_signal, finish, was_numpy

Number = Union[float, int]
ParamLike = Union[torch.Tensor, np.ndarray, Number]
SignalLike = Union[torch.Tensor, np.ndarray]

__all__ = [
    "amp2db", "db2amp", "ms2coef", "coef2ms", "avg", "compressor_core", "compexp_gain", "compexp_gain_mode",
    "limiter_gain", "gain_curve", "sigmoid_core", "set_num_threads", "get_num_threads",
]


def _run(fn, signal: SignalLike, signal_name: str, params, param_names):
    """Shape a signal and its parameters, call fn(x, *params), shape the result back."""
    numpy_out = was_numpy(signal)
    x, squeeze = as_signal(signal, signal_name)
    rows = x.shape[0]
    ps = [as_row_param(p, n, rows, x.dtype) for p, n in zip(params, param_names)]
    if numpy_out:
        with torch.no_grad():
            return finish(fn(x, *ps), squeeze, True)
    return finish(fn(x, *ps), squeeze, False)


def _elementwise(value: Any, name: str):
    if isinstance(value, torch.Tensor):
        return value, False
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.asarray(value, dtype=np.float64)), True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64), None
    raise TypeError(f"{name}: expected a torch.Tensor, numpy array or number, got {type(value).__name__}")


def _back(result: torch.Tensor, kind):
    if kind is None:
        return float(result)
    return result.numpy() if kind else result


# ------------------------------------------------------------------------------------------------
# Conversions (SPEC §1), differentiable torch ops

def amp2db(x: ParamLike):
    """20·log10(x)."""
    t, kind = _elementwise(x, "x")
    return _back(20 * torch.log10(t), kind)


def db2amp(x: ParamLike):
    """10^(x/20)."""
    t, kind = _elementwise(x, "x")
    return _back(10 ** (t / 20), kind)


def ms2coef(ms: ParamLike, sr: Number = 44100):
    """One-pole coefficient whose 10 %→90 % rise time is `ms` milliseconds: 1 − exp(−2200 / (ms·sr))."""
    if not (isinstance(sr, (int, float)) and math.isfinite(sr) and sr > 0):
        raise ValueError(f"sr: sample rate must be a number > 0, got {sr!r}")
    t, kind = _elementwise(ms, "ms")
    if not torch.all(t.detach() > 0):
        raise ValueError("ms: time must be > 0 ms")
    return _back(1 - torch.exp(-2200 / (t * sr)), kind)


def coef2ms(coef: ParamLike, sr: Number = 44100):
    """Inverse of ms2coef: −2200 / (sr·ln(1 − coef))."""
    if not (isinstance(sr, (int, float)) and math.isfinite(sr) and sr > 0):
        raise ValueError(f"sr: sample rate must be a number > 0, got {sr!r}")
    t, kind = _elementwise(coef, "coef")
    if not torch.all((t.detach() > 0) & (t.detach() < 1)):
        raise ValueError("coef: must be in (0, 1)")
    return _back(-2200 / (sr * torch.log(1 - t)), kind)


# ------------------------------------------------------------------------------------------------
# Processors

def avg(rms: SignalLike, avg_coef: ParamLike):
    """Averaging detector y_t = coef·x_t + (1 − coef)·y_{t−1}, y_{−1} = 0, 0 < coef ≤ 1."""
    return _run(_ag.Avg.apply, rms, "rms", [avg_coef], ["avg_coef"])


def compressor_core(x: SignalLike, zi: ParamLike, at: ParamLike, rt: ParamLike, return_final_state: bool = False):
    """Hard attack/release smoother (SPEC §2.2): attack (coefficient `at`) where x_t < y_{t−1}.

    With return_final_state=True returns (y, y[:, -1]); passing that state as `zi` of the next chunk
    continues the signal exactly.
    """
    y = _run(_ag.ARSmoother.apply, x, "x", [zi, at, rt], ["zi", "at", "rt"])
    if return_final_state:
        return y, y[..., -1]
    return y


def sigmoid_core(g: SignalLike, zi: ParamLike, alpha_a: ParamLike, alpha_r: ParamLike, k: ParamLike,
                 return_final_state: bool = False):
    """Sigmoid-gated smoother (SPEC §2.6) on a linear target g > 0 (first-order gradients)."""
    y = _run(_ag.SigmoidSmoother.apply, g, "g", [zi, alpha_a, alpha_r, k], ["zi", "alpha_a", "alpha_r", "k"])
    if return_final_state:
        return y, y[..., -1]
    return y


def gain_curve(level_db: SignalLike, comp_thresh: ParamLike, comp_ratio: ParamLike, exp_thresh: ParamLike = -1000.0,
               exp_ratio: ParamLike = 1.0, knee: ParamLike = 0.0):
    """Static compressor/expander gain in dB (SPEC §2.1) of a level in dB, optional soft knee (dB)."""
    return _run(_ag.GainCurve.apply, level_db, "level_db", [comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee],
                ["comp_thresh", "comp_ratio", "exp_thresh", "exp_ratio", "knee"])


_CURVE_NAMES = ["comp_thresh", "comp_ratio", "exp_thresh", "exp_ratio", "knee"]


def compexp_gain(x_rms: SignalLike, comp_thresh: ParamLike, comp_ratio: ParamLike, exp_thresh: ParamLike,
                 exp_ratio: ParamLike, at: ParamLike, rt: ParamLike, *, knee: ParamLike = 0.0):
    """Compressor/expander linear gain (SPEC §2.3), torchcomp-compatible; `knee` (dB) is an extension."""
    return _run(_ag.CompexpGain.apply, x_rms, "x_rms", [comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee, at, rt],
                _CURVE_NAMES + ["at", "rt"])


def compexp_gain_mode(x_rms: SignalLike, comp_thresh: ParamLike, comp_ratio: ParamLike, exp_thresh: ParamLike,
                      exp_ratio: ParamLike, at: ParamLike, rt: ParamLike, ar_mode: str = "hard",
                      k: ParamLike = 1.0, *, knee: ParamLike = 0.0):
    """compexp_gain with ar_mode "hard" (identical to compexp_gain) or "sigmoid" (SPEC §2.6, gate
    sharpness k in 1/dB, differentiable; at/rt are then α_a/α_r)."""
    if ar_mode == "hard":
        return compexp_gain(x_rms, comp_thresh, comp_ratio, exp_thresh, exp_ratio, at, rt, knee=knee)
    if ar_mode != "sigmoid":
        raise ValueError(f'ar_mode: must be "hard" or "sigmoid", got {ar_mode!r}')
    return _run(_ag.CompexpGainSigmoid.apply, x_rms, "x_rms",
                [comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee, at, rt, k],
                _CURVE_NAMES + ["at", "rt", "k"])


def limiter_gain(x: SignalLike, threshold: ParamLike, at: ParamLike, rt: ParamLike):
    """Limiter linear gain (SPEC §2.4), torchcomp-compatible; threshold in dB, ≤ 0."""
    return _run(_ag.LimiterGain.apply, x, "x", [threshold, at, rt], ["threshold", "at", "rt"])


def set_num_threads(threads: int) -> None:
    """Threads the kernels use (parallel over rows); 0 = all cores. Results do not depend on it.

    torch's own OpenMP threads keep spinning for a while after each torch operation, and on a machine
    with few cores they then compete with these threads for the cores. Setting the environment
    variable OMP_WAIT_POLICY=passive before torch is imported avoids that: two-thread fwd+bwd through
    the torch API at 8×480000 float32 ran at 1.38–1.47 ns/sample instead of 1.69–2.00 on this
    project's 2-core machine (docs/benchmarks.md).
    """
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads: expected an int, got {type(threads).__name__}")
    _core.set_num_threads(threads)


def get_num_threads() -> int:
    return _core.get_num_threads()
