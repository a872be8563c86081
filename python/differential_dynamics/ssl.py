"""SSL-style bus compressor: RC-ladder side chain with a hard attack/release gate, t−1 feedback and
the dual-time-constant "auto" release, with exact gradients for the level and all parameters.
Reference: docs/reference/ssl.md; derivations: docs/derivations/ssl.md.

    gain_db = ssl_comp_gain(x_peak_dB, comp_thresh, comp_ratio, T_attack_fast, T_attack_slow,
                            T_shunt_fast, T_shunt_slow, feedback_coeff, fs=44100)
    gain_db, y = ssl_compress(x, **ssl_preset(attack_ohms=820, release="auto", ratio=4,
                                              comp_thresh=-20))
    gain_db, y = ssl_compress(x, **ssl_preset(attack_ms=0.1, release_s=0.6, ratio=4))   # front panel

Signals are (B, T) (or (T,)); parameters are numbers, 1-element tensors or one value per row (B,);
time constants are in seconds. numpy in gives numpy out (no gradients). The state per row is the two
capacitor voltages (x1, x2) in dB, float64, default (0, 0): `zi` sets it, `return_state=True` also
returns the final one.

Gradients are first order: the C++ adjoint recursion with the attack/release decisions held fixed
(a second derivative raises). The forward records the per-sample states (float64, (B, T, 2)) so
that the backward is a single reverse sweep, without re-running the forward.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch

from . import _core
from .autograd import _empty_rows, _empty_signal, _empty_state, _state_grad, no_second_order, no_trace
from ._validation import as_row_param, as_signal, as_state, finish, kernel_array as _np, number, was_numpy

Number = Union[float, int]
ParamLike = Union[torch.Tensor, np.ndarray, Number]
SignalLike = Union[torch.Tensor, np.ndarray]

__all__ = ["ssl_comp_gain", "ssl_compress", "ssl_preset", "SSL_ATTACK_OHMS", "SSL_RELEASE_OHMS", "SSL_RATIOS",
           "SSL_ATTACK_MS", "SSL_RELEASE_S"]

#: Switch positions of the hardware.
SSL_ATTACK_OHMS = tuple(_core.ssl_attack_ohms_positions)
SSL_RELEASE_OHMS = tuple(_core.ssl_release_ohms_positions)
SSL_RATIOS = tuple(_core.ssl_ratio_positions)
#: The front panel's labels of the same positions, in order: attack (ms) and release (s).
SSL_ATTACK_MS = tuple(_core.ssl_attack_ms_positions)
SSL_RELEASE_S = tuple(_core.ssl_release_s_positions)

_PARAM_NAMES = ["comp_thresh", "comp_ratio", "T_attack_fast", "T_attack_slow", "T_shunt_fast", "T_shunt_slow",
                "feedback_coeff", "knee"]


def _sample_rate(fs: Any) -> float:
    v = number(fs, "fs")
    if v <= 0:
        raise ValueError(f"fs: sample rate must be > 0, got {fs}")
    return v


def _grads(x, needs):
    return [_empty_signal(x, needs[0])] + [_empty_rows(x, n) for n in needs[1:9]]


# ------------------------------------------------------------------------------------------------
# autograd Functions (inputs: contiguous (B, T) signal, eight (B,) parameters of its dtype, the
# initial state (B, 2) float64, fs)

class SSLCompGain(torch.autograd.Function):
    """Gain in dB from a detector level in dB; returns (gain, final state)."""

    @staticmethod
    def forward(ctx, x_db, ct, cr, taf, tas, tsf, tss, fb, knee, zi, fs: float):
        no_trace("ssl_comp_gain")
        gain = torch.empty_like(x_db)
        states = torch.empty(tuple(x_db.shape) + (2,), dtype=torch.float64)
        final = torch.empty_like(zi)
        params = (ct, cr, taf, tas, tsf, tss, fb, knee)
        _core.ssl_comp_gain(_np(x_db), *(_np(p) for p in params), fs, _np(gain), _np(states), _np(zi), _np(final))
        ctx.fs = fs
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x_db, *params, zi, states)
        return gain, final

    @staticmethod
    def backward(ctx, grad_gain, grad_final):
        no_second_order("ssl_comp_gain")
        x_db, *params, zi, states = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if grad_gain is None and grad_final is None:
            return (None,) * 11
        gg = torch.zeros_like(x_db) if grad_gain is None else grad_gain.contiguous()
        gx, *gp = _grads(x_db, needs)
        gzi = _empty_state(zi, needs[9])
        _core.ssl_comp_gain_backward(_np(x_db), *(_np(p) for p in params), ctx.fs, _np(states), _np(gg), _np(zi),
                                     _np(_state_grad(grad_final)), _np(gx), *(_np(g) for g in gp), _np(gzi))
        return (gx, *gp, gzi, None)


class SSLCompress(torch.autograd.Function):
    """Audio in: (gain in dB, processed audio db2amp(gain)·x, final state), level = safe dB of |x|."""

    @staticmethod
    def forward(ctx, x, ct, cr, taf, tas, tsf, tss, fb, knee, zi, fs: float):
        no_trace("ssl_compress")
        gain = torch.empty_like(x)
        y = torch.empty_like(x)
        states = torch.empty(tuple(x.shape) + (2,), dtype=torch.float64)
        final = torch.empty_like(zi)
        params = (ct, cr, taf, tas, tsf, tss, fb, knee)
        _core.ssl_compress(_np(x), *(_np(p) for p in params), fs, _np(gain), _np(y), _np(states), _np(zi), _np(final))
        ctx.fs = fs
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, *params, zi, states)
        return gain, y, final

    @staticmethod
    def backward(ctx, grad_gain, grad_y, grad_final):
        no_second_order("ssl_compress")
        x, *params, zi, states = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if grad_gain is None and grad_y is None and grad_final is None:
            return (None,) * 11
        gx, *gp = _grads(x, needs)
        gzi = _empty_state(zi, needs[9])
        gg = None if grad_gain is None else grad_gain.to(x.dtype).contiguous()
        gy = None if grad_y is None else grad_y.to(x.dtype).contiguous()
        _core.ssl_compress_backward(_np(x), *(_np(p) for p in params), ctx.fs, _np(states), _np(gg), _np(gy), _np(zi),
                                    _np(_state_grad(grad_final)), _np(gx), *(_np(g) for g in gp), _np(gzi))
        return (gx, *gp, gzi, None)


# ------------------------------------------------------------------------------------------------
# Public functions

_RANGES = {
    "comp_ratio": (lambda t: t > 1, "> 1"),
    "T_attack_fast": (lambda t: t > 0, "> 0 seconds"), "T_attack_slow": (lambda t: t > 0, "> 0 seconds"),
    "T_shunt_fast": (lambda t: t > 0, "> 0 seconds"), "T_shunt_slow": (lambda t: t > 0, "> 0 seconds"),
    "feedback_coeff": (lambda t: (t >= 0) & (t <= 1), "in [0, 1]"),
    "knee": (lambda t: t >= 0, ">= 0 dB"),
}


def _prepare(signal: SignalLike, signal_name: str, params, zi):
    x, squeeze = as_signal(signal, signal_name)
    rows = x.shape[0]
    ps = [as_row_param(p, n, rows, x.dtype) for p, n in zip(params, _PARAM_NAMES)]
    for p, n in zip(ps, _PARAM_NAMES):
        rule = _RANGES.get(n)
        if rule is not None and not bool(rule[0](p.detach()).all()):
            raise ValueError(f"{n}: must be {rule[1]} (got {p.detach()[~rule[0](p.detach())][0].item():g})")
    return x, squeeze, ps, as_state(zi, "zi", rows, 2, (0.0, 0.0))


def _grad_mode(x, ps, zi, numpy_out):
    return torch.is_grad_enabled() and not numpy_out and (x.requires_grad or zi.requires_grad or
                                                          any(p.requires_grad for p in ps))


def ssl_comp_gain(x_peak_dB: SignalLike, comp_thresh: ParamLike, comp_ratio: ParamLike, T_attack_fast: ParamLike,
                  T_attack_slow: ParamLike, T_shunt_fast: ParamLike, T_shunt_slow: ParamLike,
                  feedback_coeff: ParamLike, fs: Number = 44100, *, knee: ParamLike = 0.0, zi: Any = None,
                  return_state: bool = False):
    """SSL bus compressor gain in dB (B, T) from a detector level in dB.

    comp_thresh (dB), comp_ratio > 1, time constants (s) T_attack_fast = Ra·Cf, T_attack_slow = Ra·Cs,
    T_shunt_fast = Rf·Cf, T_shunt_slow = Rs·Cs (all > 0), feedback_coeff ∈ [0, 1], fs (Hz) > 0.
    `knee` (dB, ≥ 0, default 0 = hard) is the optional quadratic soft knee of the static curve.
    zi: the state (x1, x2) per row (default 0); return_state=True also returns the final one.
    Differentiable with respect to the level, every parameter and zi (knee only where W > 0)."""
    fs = _sample_rate(fs)
    numpy_out = was_numpy(x_peak_dB)
    x, squeeze, ps, z = _prepare(x_peak_dB, "x_peak_dB", [comp_thresh, comp_ratio, T_attack_fast, T_attack_slow,
                                                         T_shunt_fast, T_shunt_slow, feedback_coeff, knee], zi)
    with torch.set_grad_enabled(_grad_mode(x, ps, z, numpy_out)):
        gain, final = SSLCompGain.apply(x, *ps, z, fs)
    gain = finish(gain, squeeze, numpy_out)
    return (gain, finish(final, squeeze, numpy_out)) if return_state else gain


def ssl_compress(x: SignalLike, comp_thresh: ParamLike, comp_ratio: ParamLike, T_attack_fast: ParamLike,
                 T_attack_slow: ParamLike, T_shunt_fast: ParamLike, T_shunt_slow: ParamLike,
                 feedback_coeff: ParamLike, fs: Number = 44100, *, knee: ParamLike = 0.0, zi: Any = None,
                 return_state: bool = False):
    """SSL bus compressor on audio: returns (gain_db, y) with y = db2amp(gain_db)·x (and the final
    state with return_state=True).

    The detector is the instantaneous peak level 20·log10(max(|x|, 1e-7)) (zero derivative under the
    floor). Parameters as in ssl_comp_gain. Both outputs are differentiable (x and every parameter)."""
    fs = _sample_rate(fs)
    numpy_out = was_numpy(x)
    xs, squeeze, ps, z = _prepare(x, "x", [comp_thresh, comp_ratio, T_attack_fast, T_attack_slow, T_shunt_fast,
                                           T_shunt_slow, feedback_coeff, knee], zi)
    with torch.set_grad_enabled(_grad_mode(xs, ps, z, numpy_out)):
        gain, y, final = SSLCompress.apply(xs, *ps, z, fs)
    out = (finish(gain, squeeze, numpy_out), finish(y, squeeze, numpy_out))
    return (*out, finish(final, squeeze, numpy_out)) if return_state else out


def _knob_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    return float(value)


def _panel_label(ohms: Any, name: str, positions, labels, unit: str) -> float:
    """The front-panel label of a switch position given in ohms."""
    v = _knob_number(ohms, name)
    for position, label in zip(positions, labels):
        if abs(v - position) <= 1e-9 * position:
            return label
    raise ValueError(f"{name}: must be one of the switch positions {positions} ohms, got {ohms!r} (or give the "
                     f"front panel's {unit})")


def ssl_preset(attack_ohms: Optional[Number] = None, release: Union[str, Number, None] = None, ratio: Number = 4,
               *, attack_ms: Optional[Number] = None, release_s: Union[str, Number, None] = None,
               comp_thresh: float = -20.0, feedback_coeff: float = 0.0, fs: Number = 44100) -> Dict[str, float]:
    """Parameter set of a hardware setting, as keyword arguments of ssl_comp_gain / ssl_compress:
    ``ssl_comp_gain(x_db, **ssl_preset(attack_ms=3, release_s="auto", ratio=4, comp_thresh=-18))``.

    Circuit form (switch positions in ohms): attack_ohms ∈ SSL_ATTACK_OHMS (default 820 Ω: T_af = Ra·0.47 µF,
    T_as = Ra·6.8 µF); release "auto" (default; Rf = 91 kΩ, Rs = 750 kΩ: T_sf ≈ 42.8 ms, T_ss = 5.1 s) or a
    fixed single shunt in SSL_RELEASE_OHMS on the fast capacitor (T_sf = R·0.47 µF; the slow capacitor is
    bypassed: T_as = 1e4 s, T_ss = one sample at fs); ratio ∈ {2, 4, 10}.

    Front-panel form (attack_ms and/or release_s given): attack_ms in [0.1, 30] (SSL_ATTACK_MS: 0.1, 0.3,
    1, 3, 10, 30 ms are the six resistors), release_s in [0.1, 1.2] (SSL_RELEASE_S: 0.1, 0.3, 0.6, 1.2 s
    are the four shunts) or "auto", ratio any number > 1 (2, 4, 10 on the hardware). Between positions
    the resistor is interpolated: log(R) linear in log(time). At the positions the result is the circuit
    form's. The other knob may be given in either form.

    The threshold and feedback are continuous controls (with feedback_coeff = 1 the effective static
    ratio is 1 + (1 − 1/ratio)). Raises ValueError naming the argument for values off the switch or the
    panel."""
    fs = _sample_rate(fs)
    if attack_ms is not None and attack_ohms is not None:
        raise TypeError("attack_ms: give attack_ms (front panel) or attack_ohms (switch position), not both")
    if release_s is not None and release is not None:
        raise TypeError("release_s: give release_s (front panel) or release (switch position), not both")
    attack_ohms = 820.0 if attack_ohms is None else attack_ohms
    release = "auto" if release is None else release
    if isinstance(release, str):
        if release.lower() != "auto":
            raise ValueError(f'release: must be "auto" or a resistor value in ohms {SSL_RELEASE_OHMS}, got {release!r}')
        release_ohms = 0.0
    elif isinstance(release, bool) or not isinstance(release, (int, float, np.integer, np.floating)):
        raise TypeError(f"release: expected \"auto\" or a number of ohms, got {type(release).__name__}")
    else:
        release_ohms = float(release)
        if release_ohms == 0.0:
            raise ValueError(f'release: must be "auto" or one of {SSL_RELEASE_OHMS} ohms, got 0')
    ratio_value = _knob_number(ratio, "ratio")
    for name, v in (("comp_thresh", comp_thresh), ("feedback_coeff", feedback_coeff)):
        if not math.isfinite(_knob_number(v, name)):
            raise ValueError(f"{name}: must be finite, got {v}")
    if not 0.0 <= float(feedback_coeff) <= 1.0:
        raise ValueError(f"feedback_coeff: must be in [0, 1], got {feedback_coeff}")
    common = {"comp_thresh": float(comp_thresh), "feedback_coeff": float(feedback_coeff), "fs": fs}

    if attack_ms is None and release_s is None:
        try:
            knobs = _core.ssl_preset(_knob_number(attack_ohms, "attack_ohms"), release_ohms, ratio_value, fs)
        except ValueError as e:  # the C++ layer's name for the argument is release_ohms
            if str(e).startswith("release_ohms"):
                raise ValueError(f'release: must be "auto" or one of the release switch positions '
                                 f"{SSL_RELEASE_OHMS} ohms, got {release!r}") from None
            raise
        return {"comp_thresh": common["comp_thresh"], **knobs, "feedback_coeff": common["feedback_coeff"], "fs": fs}

    if attack_ms is None:
        attack = _panel_label(attack_ohms, "attack_ohms", SSL_ATTACK_OHMS, SSL_ATTACK_MS, "attack_ms")
    else:
        attack = _knob_number(attack_ms, "attack_ms")
    if release_s is None:
        release_value = 0.0 if release_ohms == 0.0 else _panel_label(release_ohms, "release", SSL_RELEASE_OHMS,
                                                                      SSL_RELEASE_S, "release_s")
    elif isinstance(release_s, str):
        if release_s.lower() != "auto":
            raise ValueError(f'release_s: must be "auto" or a time in [0.1, 1.2] s, got {release_s!r}')
        release_value = 0.0
    else:
        release_value = _knob_number(release_s, "release_s")
        if release_value == 0.0:
            raise ValueError('release_s: must be "auto" or a time in [0.1, 1.2] s, got 0')
    knobs = _core.ssl_front_panel(attack, release_value, ratio_value, fs)
    return {"comp_thresh": common["comp_thresh"], **knobs, "feedback_coeff": common["feedback_coeff"], "fs": fs}
