"""Public functions (torchcomp-compatible names, argument order and semantics), with state in and out.

Signals are (B, T) (a 1-D (T,) signal is treated as one row); every parameter is a number, a
0-d/1-element tensor, or one value per row (shape (B,)); gradients come back in the parameter's own
shape. numpy arrays in give numpy arrays out (no gradients). States are float64: `zi` sets the initial
state (one value or one per row; (B, 2) for the limiter), and `return_state=True` also returns the
final state, so that a long signal processed in pieces equals one call, values and gradients.
Reference: docs/reference/python.md.
"""
from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import torch

from . import _core
from . import autograd as _ag
from ._validation import (MAX_GATE_K, MAX_KNEE_DB, MAX_THRESHOLD_DB, MIN_EXP_RATIO, _to_tensor, as_row_param,
                          as_signal, as_state, finish, is_number, number, was_numpy)

Number = Union[float, int]
ParamLike = Union[torch.Tensor, np.ndarray, Number]
SignalLike = Union[torch.Tensor, np.ndarray]

__all__ = [
    "amp2db", "db2amp", "ms2coef", "coef2ms", "avg", "compressor_core", "compexp_gain", "compexp_gain_mode",
    "limiter_gain", "gain_curve", "sigmoid_core", "set_num_threads", "get_num_threads",
]


def _run(fn, signal: SignalLike, signal_name: str, params, param_names, state=None, return_state=False):
    """Shape a signal, its parameters and state, call fn(x, *params[, state]) → (y, final), shape back.

    state = (zi, name, per_row, default) or None for a Function without state."""
    numpy_out = was_numpy(signal)
    x, squeeze = as_signal(signal, signal_name)
    rows = x.shape[0]
    ps = [as_row_param(p, n, rows, x.dtype) for p, n in zip(params, param_names)]
    for p, n in zip(ps, param_names):
        _check_range(p, n)
    if state is not None:
        zi, name, per_row, default = state
        ps.append(as_state(zi, name, rows, per_row, default))
    grad_needed = torch.is_grad_enabled() and not numpy_out and (x.requires_grad or any(p.requires_grad for p in ps))
    with torch.set_grad_enabled(grad_needed):  # no tape when no gradient is wanted
        out = fn(x, *ps)
    if state is None:
        return finish(out, squeeze, numpy_out)
    y, final = out
    y = finish(y, squeeze, numpy_out)
    if not return_state:
        return y
    return y, finish(final, squeeze, numpy_out)


# The ranges of the parameters, checked here so that an error names the caller's argument (the C++
# layer checks them again under its own names).
_OPEN_UNIT = (lambda t: (t > 0) & (t < 1), "in (0, 1)")
_THRESHOLD = (lambda t: t.abs() <= MAX_THRESHOLD_DB, "within +-1e4 dB")
_RANGES = {
    "at": _OPEN_UNIT, "rt": _OPEN_UNIT, "alpha_a": _OPEN_UNIT, "alpha_r": _OPEN_UNIT,
    "avg_coef": (lambda t: (t > 0) & (t <= 1), "in (0, 1]"),
    "comp_thresh": _THRESHOLD, "exp_thresh": _THRESHOLD,
    "comp_ratio": (lambda t: t > 1, "> 1"),
    "exp_ratio": (lambda t: (t >= MIN_EXP_RATIO) & (t <= 1), "in [1e-6, 1]"),
    "knee": (lambda t: (t >= 0) & (t <= MAX_KNEE_DB), "in [0, 1000] dB"),
    "k": (lambda t: (t > 0) & (t <= MAX_GATE_K), "in (0, 1e6] (1/dB)"),
    "threshold": (lambda t: (t <= 0) & (t >= -MAX_THRESHOLD_DB), "in [-1e4, 0] dB"),
}


def _check_range(p: torch.Tensor, name: str) -> None:
    rule = _RANGES.get(name)
    if rule is None:
        return
    ok = rule[0](p.detach())
    if not bool(ok.all()):
        bad = p.detach()[~ok][0].item()
        raise ValueError(f"{name}: must be {rule[1]} (got {bad:g})")


# ------------------------------------------------------------------------------------------------
# Conversions, differentiable torch ops: computed in float64 (ms2coef/coef2ms through expm1/log1p,
# which do not cancel) and returned in the input's dtype; numbers in give floats out.

def _conversion(value: Any, name: str, fn, check):
    if isinstance(value, torch.Tensor):
        t = _to_tensor(value, name)
        if not t.is_floating_point():
            t = t.to(torch.float64)
        check(t.detach().to(torch.float64))
        return fn(t.to(torch.float64)).to(t.dtype)
    if isinstance(value, np.ndarray):
        a = np.asarray(value)
        if a.dtype not in (np.float32, np.float64):
            if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
                raise TypeError(f"{name}: numpy dtype {a.dtype} is not supported (use float32 or float64)")
            a = a.astype(np.float64)
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))
        check(t)
        with torch.no_grad():
            return fn(t).numpy().astype(a.dtype)
    v = number(value, name)
    t = torch.tensor(v, dtype=torch.float64)
    check(t)
    with torch.no_grad():
        result = float(fn(t))
    if isinstance(value, np.floating):  # a numpy scalar keeps its type: np.float32 in, np.float32 out
        return type(value)(result)
    if isinstance(value, np.generic):  # numpy integers (and 0-d arrays' items) give float64
        return np.float64(result)
    return result


def _all_finite(name):
    def check(t):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name}: must be finite")
    return check


def _all_positive(name):
    def check(t):
        _all_finite(name)(t)
        if not (t > 0).all():
            raise ValueError(f"{name}: must be > 0")
    return check


def _sample_rate(sr: Any, name: str = "sr") -> float:
    v = number(sr, name)
    if v <= 0:
        raise ValueError(f"{name}: sample rate must be > 0, got {sr}")
    return v


def amp2db(x: ParamLike):
    """20·log10(x) for x > 0 (finite)."""
    return _conversion(x, "x", lambda t: 20 * torch.log10(t), _all_positive("x"))


def db2amp(x: ParamLike):
    """10^(x/20) for finite x whose result is finite."""
    def check(t):
        _all_finite("x")(t)
        if (t > 20 * 308.25).any():
            raise ValueError("x: too large: 10^(x/20) overflows float64")
    return _conversion(x, "x", lambda t: torch.pow(10.0, t / 20), check)


def ms2coef(ms: ParamLike, sr: Number = 44100):
    """One-pole coefficient whose 10 %→90 % rise time is `ms` milliseconds: 1 − exp(−2200 / (ms·sr))."""
    rate = _sample_rate(sr)
    return _conversion(ms, "ms", lambda t: -torch.expm1(-2200.0 / (t * rate)), _all_positive("ms"))


def coef2ms(coef: ParamLike, sr: Number = 44100):
    """Inverse of ms2coef: −2200 / (sr·ln(1 − coef)) for coef in (0, 1)."""
    rate = _sample_rate(sr)

    def check(t):
        _all_finite("coef")(t)
        if not ((t > 0) & (t < 1)).all():
            raise ValueError("coef: must be in (0, 1)")
    return _conversion(coef, "coef", lambda t: -2200.0 / (rate * torch.log1p(-t)), check)


# ------------------------------------------------------------------------------------------------
# Processors

def avg(rms: SignalLike, avg_coef: ParamLike, zi: Optional[ParamLike] = None, return_state: bool = False):
    """Averaging detector y_t = coef·x_t + (1 − coef)·y_{t−1}, y_{−1} = zi (default 0), 0 < coef ≤ 1."""
    return _run(_ag.Avg.apply, rms, "rms", [avg_coef], ["avg_coef"], (zi, "zi", 1, (0.0,)), return_state)


def compressor_core(x: SignalLike, zi: ParamLike, at: ParamLike, rt: ParamLike, return_final_state: bool = False,
                    *, return_state: bool = False):
    """Hard attack/release smoother: attack (coefficient `at`) where x_t < y_{t−1}, else release (`rt`).

    With return_state=True (or return_final_state=True) also returns the final state (float64);
    passing it as `zi` of the next piece continues the signal exactly."""
    return _run(lambda x_, a, r, z: _ag.ARSmoother.apply(x_, z, a, r), x, "x", [at, rt], ["at", "rt"],
                (zi, "zi", 1, None), return_state or return_final_state)


def sigmoid_core(g: SignalLike, zi: ParamLike, alpha_a: ParamLike, alpha_r: ParamLike, k: ParamLike,
                 return_final_state: bool = False, *, return_state: bool = False):
    """Sigmoid-gated smoother on a linear target g > 0 (first-order gradients)."""
    return _run(lambda x, a, r, kk, z: _ag.SigmoidSmoother.apply(x, z, a, r, kk), g, "g", [alpha_a, alpha_r, k],
                ["alpha_a", "alpha_r", "k"], (zi, "zi", 1, None), return_state or return_final_state)


def gain_curve(level_db: SignalLike, comp_thresh: ParamLike, comp_ratio: ParamLike, exp_thresh: ParamLike = -1000.0,
               exp_ratio: ParamLike = 1.0, knee: ParamLike = 0.0):
    """Static compressor/expander gain in dB of a level in dB, optional soft knee (dB)."""
    return _run(_ag.GainCurve.apply, level_db, "level_db", [comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee],
                ["comp_thresh", "comp_ratio", "exp_thresh", "exp_ratio", "knee"])


_CURVE_NAMES = ["comp_thresh", "comp_ratio", "exp_thresh", "exp_ratio", "knee"]


def compexp_gain(x_rms: SignalLike, comp_thresh: ParamLike, comp_ratio: ParamLike, exp_thresh: ParamLike,
                 exp_ratio: ParamLike, at: ParamLike, rt: ParamLike, *, knee: ParamLike = 0.0,
                 zi: Optional[ParamLike] = None, return_state: bool = False):
    """Compressor/expander linear gain, torchcomp-compatible; `knee` (dB), `zi` (default 1) and
    `return_state` are extensions."""
    return _run(_ag.CompexpGain.apply, x_rms, "x_rms", [comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee, at, rt],
                _CURVE_NAMES + ["at", "rt"], (zi, "zi", 1, (1.0,)), return_state)


def compexp_gain_mode(x_rms: SignalLike, comp_thresh: ParamLike, comp_ratio: ParamLike, exp_thresh: ParamLike,
                      exp_ratio: ParamLike, alpha_a: ParamLike, alpha_r: ParamLike, ar_mode: str = "hard",
                      k: Optional[ParamLike] = None, *, knee: ParamLike = 0.0, zi: Optional[ParamLike] = None,
                      return_state: bool = False):
    """compexp_gain with ar_mode "hard" (identical to compexp_gain; k must not be given) or "sigmoid"
    (gate sharpness k in 1/dB, default 1, differentiable; alpha_a/alpha_r are the coefficients)."""
    if not isinstance(ar_mode, str):
        raise TypeError(f"ar_mode: expected \"hard\" or \"sigmoid\", got {type(ar_mode).__name__}")
    if ar_mode == "hard":
        if k is not None:
            raise ValueError('k: the gate sharpness is used by ar_mode="sigmoid" only; do not pass it with "hard"')
        return _run(_ag.CompexpGain.apply, x_rms, "x_rms",
                    [comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee, alpha_a, alpha_r],
                    _CURVE_NAMES + ["alpha_a", "alpha_r"], (zi, "zi", 1, (1.0,)), return_state)
    if ar_mode != "sigmoid":
        raise ValueError(f'ar_mode: must be "hard" or "sigmoid", got {ar_mode!r}')
    return _run(_ag.CompexpGainSigmoid.apply, x_rms, "x_rms",
                [comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee, alpha_a, alpha_r, 1.0 if k is None else k],
                _CURVE_NAMES + ["alpha_a", "alpha_r", "k"], (zi, "zi", 1, (1.0,)), return_state)


def limiter_gain(x: SignalLike, threshold: ParamLike, at: ParamLike, rt: ParamLike, *,
                 zi: Optional[ParamLike] = None, return_state: bool = False):
    """Limiter linear gain, torchcomp-compatible; threshold in dB, ≤ 0. State per row: (peak, gain),
    default (0, 1)."""
    return _run(_ag.LimiterGain.apply, x, "x", [threshold, at, rt], ["threshold", "at", "rt"],
                (zi, "zi", 2, (0.0, 1.0)), return_state)


def set_num_threads(threads: int) -> None:
    """Threads the kernels use (parallel over rows); 0 = all cores, at most 1024. Results do not
    depend on it.

    torch's own OpenMP threads keep spinning for a while after each torch operation, and on a machine
    with few cores they then compete with these threads for the cores: setting the environment
    variable OMP_WAIT_POLICY=passive before torch is imported avoids that."""
    if isinstance(threads, (bool, np.bool_)) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads: expected an int, got {type(threads).__name__}")
    if not 0 <= int(threads) <= _core.max_threads:
        raise ValueError(f"threads: must be in [0, {_core.max_threads}] (0 = every core), got {threads}")
    _core.set_num_threads(int(threads))


def get_num_threads() -> int:
    return _core.get_num_threads()
