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

Gradients: the C++ adjoint recursion with the attack/release decisions held fixed (first order),
its tangent recursion (forward mode: torch.autograd.forward_ad, jvp), and for the hard gate the
adjoint of the tangent recursion (second order: backward with create_graph=True, hessian, hvp);
third order raises, and so does second order with the soft gate. The forward records the
per-sample states (float64, (B, T, 2)) so that every derivative is a sweep over them, without
re-running the forward. Derivations: docs/derivations/ssl.md, ssl_second_order.md, ssl_soft_gate.md.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch

from . import _core
from .autograd import _empty_rows, _empty_signal, _empty_state, _state_grad, differentiable_backward, no_trace
from ._validation import (MAX_GATE_K, MAX_KNEE_DB, MAX_THRESHOLD_DB, _to_tensor, as_row_param, as_signal, as_state,
                          finish, is_number, number, was_numpy)
from ._validation import kernel_array as _np

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
    return [_empty_signal(x, needs[0])] + [_empty_rows(x, n) for n in needs[1:10]]


def _tangents(x, ts):
    """Per-row tangents/cotangents for the kernels: contiguous, of the signal's dtype (None stays None)."""
    return [None if t is None else t.to(x.dtype).contiguous() for t in ts]


def _no_soft_gate_second_order(name: str, gate_k: torch.Tensor) -> None:
    if torch.isfinite(gate_k).any():
        raise RuntimeError(f"{name}: second derivatives (backward with create_graph=True, hessian, hvp, gradgradcheck) "
                           "of the soft gate (finite gate_k) are not supported; first-order gradients and forward "
                           "mode are, and the hard gate (gate_k=None) has second derivatives")


# ------------------------------------------------------------------------------------------------
# autograd Functions (inputs: contiguous (B, T) signal, nine (B,) parameters of its dtype (the last is
# gate_k, ∞ for the hard gate), the initial state (B, 2) float64, fs). First order and forward mode
# call the C++ adjoint and tangent kernels; a backward with create_graph=True returns the backward as
# a differentiable function whose own backward is the C++ second-order kernel (_SSLOps through
# autograd.differentiable_backward; docs/derivations/ssl_second_order.md). Third order raises.

class SSLCompGain(torch.autograd.Function):
    """Gain in dB from a detector level in dB; returns (gain, final state)."""

    @staticmethod
    def forward(ctx, x_db, ct, cr, taf, tas, tsf, tss, fb, knee, gate_k, zi, fs: float):
        no_trace("ssl_comp_gain")
        gain = torch.empty_like(x_db)
        states = torch.empty(tuple(x_db.shape) + (2,), dtype=torch.float64)
        final = torch.empty_like(zi)
        params = (ct, cr, taf, tas, tsf, tss, fb, knee, gate_k)
        _core.ssl_comp_gain(_np(x_db), *(_np(p) for p in params), fs, _np(gain), _np(states), _np(zi), _np(final))
        ctx.fs = fs
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x_db, *params, zi, states)
        ctx.save_for_forward(x_db, *params, zi, states)
        return gain, final

    @staticmethod
    def backward(ctx, grad_gain, grad_final):
        x_db, *params, zi, states = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if grad_gain is None and grad_final is None:
            return (None,) * 12
        gg = torch.zeros_like(x_db) if grad_gain is None else grad_gain.to(x_db.dtype).contiguous()
        if torch.is_grad_enabled():  # create_graph: a differentiable backward
            _no_soft_gate_second_order("ssl_comp_gain", params[8])
            gf = torch.zeros_like(zi) if grad_final is None else grad_final.to(torch.float64).contiguous()
            ops = _SSLOps("ssl_comp_gain", (gg, gf), x_db, params, zi, states, ctx.fs)
            return (*differentiable_backward(ops, (gg, gf), (x_db, *params, zi), needs[:11]), None)
        gx, *gp = _grads(x_db, needs)
        gzi = _empty_state(zi, needs[10])
        _core.ssl_comp_gain_backward(_np(x_db), *(_np(p) for p in params), ctx.fs, _np(states), _np(gg), _np(zi),
                                     _np(_state_grad(grad_final)), _np(gx), *(_np(g) for g in gp), _np(gzi))
        return (gx, *gp, gzi, None)

    @staticmethod
    def jvp(ctx, tx, tct, tcr, ttaf, ttas, ttsf, ttss, tfb, tknee, tgk, tzi, tfs):
        x_db, *params, zi, states = ctx.saved_tensors
        tgain = torch.empty_like(x_db)
        tfinal = torch.empty_like(zi)
        tans = _tangents(x_db, (tct, tcr, ttaf, ttas, ttsf, ttss, tfb, tknee, tgk))
        _core.ssl_comp_gain_jvp(_np(x_db), *(_np(p) for p in params), ctx.fs, _np(states), _np(zi),
                                _np(None if tx is None else tx.to(x_db.dtype).contiguous()), *(_np(t) for t in tans),
                                _np(None if tzi is None else tzi.to(torch.float64).contiguous()), _np(tgain),
                                _np(tfinal))
        return tgain, tfinal


class _SSLOps:
    """The SSL model's first- and second-order kernels for differentiable_backward: upstream (grad_gain,
    grad_final) for ssl_comp_gain or (grad_gain, grad_y, grad_final) for ssl_compress; primal (signal,
    nine parameters, zi)."""
    n_primal = 11

    def __init__(self, name, upstream, x, params, zi, states, fs):
        self.name, self.n_up = name, len(upstream)
        self.audio = name == "ssl_compress"
        self.upstream = [t.detach() for t in upstream]
        self.x, self.zi, self.states, self.fs = x.detach(), zi.detach(), states.detach(), fs
        self.params = [p.detach() for p in params]

    def _inputs(self):
        return (_np(self.x), *(_np(p) for p in self.params), self.fs, _np(self.states), _np(self.zi))

    def first(self, upstream, needs):
        x = self.x
        up = [None if u is None else u.detach().to(x.dtype if i < self.n_up - 1 else torch.float64).contiguous()
              for i, u in enumerate(upstream)]
        gx, *gp = _grads(x, needs)
        gzi = _empty_state(self.zi, needs[10])
        head = (_np(x), *(_np(p) for p in self.params), self.fs, _np(self.states))
        if self.audio:
            _core.ssl_compress_backward(*head, _np(up[0]), _np(up[1]), _np(self.zi), _np(up[2]), _np(gx),
                                        *(_np(g) for g in gp), _np(gzi))
        else:
            gg = torch.zeros_like(x) if up[0] is None else up[0]
            _core.ssl_comp_gain_backward(*head, _np(gg), _np(self.zi), _np(up[1]), _np(gx), *(_np(g) for g in gp),
                                         _np(gzi))
        return [gx, *gp, gzi]

    def second(self, v, needs_up, needs_primal):
        x, zi = self.x, self.zi
        v_x, v_p, v_zi = v[0], v[1:10], v[10]
        d_up = [_empty_signal(x, n) for n in needs_up[:-1]] + [_empty_state(zi, needs_up[-1])]
        d_x = _empty_signal(x, needs_primal[0])
        d_p = [_empty_rows(x, n) for n in needs_primal[1:10]]
        d_zi = _empty_state(zi, needs_primal[10])
        cot = (_np(None if v_x is None else v_x.detach().to(x.dtype).contiguous()),
               *(_np(t) for t in _tangents(x, [None if t is None else t.detach() for t in v_p])),
               _np(None if v_zi is None else v_zi.detach().to(torch.float64).contiguous()))
        kernel = _core.ssl_compress_backward_backward if self.audio else _core.ssl_comp_gain_backward_backward
        kernel(*self._inputs(), *(_np(u) for u in self.upstream), *cot, *(_np(d) for d in d_up), _np(d_x),
               *(_np(d) for d in d_p), _np(d_zi))
        return d_up, [d_x, *d_p, d_zi]


class SSLCompress(torch.autograd.Function):
    """Audio in: (gain in dB, processed audio db2amp(gain)·x, final state), level = safe dB of |x|."""

    @staticmethod
    def forward(ctx, x, ct, cr, taf, tas, tsf, tss, fb, knee, gate_k, zi, fs: float):
        no_trace("ssl_compress")
        gain = torch.empty_like(x)
        y = torch.empty_like(x)
        states = torch.empty(tuple(x.shape) + (2,), dtype=torch.float64)
        final = torch.empty_like(zi)
        params = (ct, cr, taf, tas, tsf, tss, fb, knee, gate_k)
        _core.ssl_compress(_np(x), *(_np(p) for p in params), fs, _np(gain), _np(y), _np(states), _np(zi), _np(final))
        ctx.fs = fs
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, *params, zi, states)
        ctx.save_for_forward(x, *params, zi, states)
        return gain, y, final

    @staticmethod
    def backward(ctx, grad_gain, grad_y, grad_final):
        x, *params, zi, states = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if grad_gain is None and grad_y is None and grad_final is None:
            return (None,) * 12
        if torch.is_grad_enabled():  # create_graph: a differentiable backward
            _no_soft_gate_second_order("ssl_compress", params[8])
            gg = torch.zeros_like(x) if grad_gain is None else grad_gain.to(x.dtype).contiguous()
            gy = torch.zeros_like(x) if grad_y is None else grad_y.to(x.dtype).contiguous()
            gf = torch.zeros_like(zi) if grad_final is None else grad_final.to(torch.float64).contiguous()
            ops = _SSLOps("ssl_compress", (gg, gy, gf), x, params, zi, states, ctx.fs)
            return (*differentiable_backward(ops, (gg, gy, gf), (x, *params, zi), needs[:11]), None)
        gx, *gp = _grads(x, needs)
        gzi = _empty_state(zi, needs[10])
        gg = None if grad_gain is None else grad_gain.to(x.dtype).contiguous()
        gy = None if grad_y is None else grad_y.to(x.dtype).contiguous()
        _core.ssl_compress_backward(_np(x), *(_np(p) for p in params), ctx.fs, _np(states), _np(gg), _np(gy), _np(zi),
                                    _np(_state_grad(grad_final)), _np(gx), *(_np(g) for g in gp), _np(gzi))
        return (gx, *gp, gzi, None)

    @staticmethod
    def jvp(ctx, tx, tct, tcr, ttaf, ttas, ttsf, ttss, tfb, tknee, tgk, tzi, tfs):
        x, *params, zi, states = ctx.saved_tensors
        tgain = torch.empty_like(x)
        ty = torch.empty_like(x)
        tfinal = torch.empty_like(zi)
        tans = _tangents(x, (tct, tcr, ttaf, ttas, ttsf, ttss, tfb, tknee, tgk))
        _core.ssl_compress_jvp(_np(x), *(_np(p) for p in params), ctx.fs, _np(states), _np(zi),
                               _np(None if tx is None else tx.to(x.dtype).contiguous()), *(_np(t) for t in tans),
                               _np(None if tzi is None else tzi.to(torch.float64).contiguous()), _np(tgain), _np(ty),
                               _np(tfinal))
        return tgain, ty, tfinal


# ------------------------------------------------------------------------------------------------
# Public functions

_RANGES = {
    "comp_thresh": (lambda t: t.abs() <= MAX_THRESHOLD_DB, "within +-1e4 dB"),
    "comp_ratio": (lambda t: t > 1, "> 1"),
    "T_attack_fast": (lambda t: t > 0, "> 0 seconds"), "T_attack_slow": (lambda t: t > 0, "> 0 seconds"),
    "T_shunt_fast": (lambda t: t > 0, "> 0 seconds"), "T_shunt_slow": (lambda t: t > 0, "> 0 seconds"),
    "feedback_coeff": (lambda t: (t >= 0) & (t <= 1), "in [0, 1]"),
    "knee": (lambda t: (t >= 0) & (t <= MAX_KNEE_DB), "in [0, 1000] dB"),
}


def _gate_k(value: Any, rows: int, dtype: torch.dtype) -> torch.Tensor:
    """gate_k as a (rows,) tensor of the signal's dtype (differentiable): None or +inf is the hard gate,
    otherwise > 0 (1/dB); a per-row tensor may hold +inf for the rows that take the hard gate."""
    if value is None or (is_number(value) and math.isinf(float(value)) and float(value) > 0):
        return torch.full((rows,), math.inf, dtype=dtype)
    t = _to_tensor(value, "gate_k")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"gate_k: dtype {t.dtype} is not supported (use a real number)")
    if t.numel() == 1:
        t = t.reshape(1)
    elif t.dim() != 1 or t.shape[0] != rows:
        raise ValueError(f"gate_k: must be a scalar or have shape ({rows},) (one value per row), "
                         f"got shape {tuple(t.shape)}")
    v = t.detach().to(torch.float64)
    if torch.isnan(v).any():
        raise ValueError("gate_k: contains NaN")
    ok = (v > 0) & ((v <= MAX_GATE_K) | torch.isinf(v))
    if not bool(ok.all()):
        raise ValueError(f"gate_k: must be in (0, 1e6] (1/dB), or None/inf for the hard gate (got {v[~ok][0].item():g})")
    return t.to(dtype).expand(rows).contiguous()


def _prepare(signal: SignalLike, signal_name: str, params, zi, gate_k=None):
    x, squeeze = as_signal(signal, signal_name)
    rows = x.shape[0]
    ps = [as_row_param(p, n, rows, x.dtype) for p, n in zip(params, _PARAM_NAMES)]
    for p, n in zip(ps, _PARAM_NAMES):
        rule = _RANGES.get(n)
        if rule is not None and not bool(rule[0](p.detach()).all()):
            raise ValueError(f"{n}: must be {rule[1]} (got {p.detach()[~rule[0](p.detach())][0].item():g})")
    ps.append(_gate_k(gate_k, rows, x.dtype))
    return x, squeeze, ps, as_state(zi, "zi", rows, 2, (0.0, 0.0))


def _grad_mode(x, ps, zi, numpy_out):
    return torch.is_grad_enabled() and not numpy_out and (x.requires_grad or zi.requires_grad or
                                                          any(p.requires_grad for p in ps))


def ssl_comp_gain(x_peak_dB: SignalLike, comp_thresh: ParamLike, comp_ratio: ParamLike, T_attack_fast: ParamLike,
                  T_attack_slow: ParamLike, T_shunt_fast: ParamLike, T_shunt_slow: ParamLike,
                  feedback_coeff: ParamLike, fs: Number = 44100, *, knee: ParamLike = 0.0,
                  gate_k: Optional[ParamLike] = None, zi: Any = None, return_state: bool = False):
    """SSL bus compressor gain in dB (B, T) from a detector level in dB.

    comp_thresh (dB), comp_ratio > 1, time constants (s) T_attack_fast = Ra·Cf, T_attack_slow = Ra·Cs,
    T_shunt_fast = Rf·Cf, T_shunt_slow = Rs·Cs (all > 0), feedback_coeff ∈ [0, 1], fs (Hz) > 0.
    `knee` (dB, ≥ 0, default 0 = hard) is the optional quadratic soft knee of the static curve.
    `gate_k` (1/dB, > 0; default None = the hard gate) selects the soft attack/release gate: s_t =
    σ(k·(a_t − y_{t−1})) scales the series rates by (1 − s_t), re-discretised at every sample; it tends
    to the hard gate as k → ∞ (a per-row tensor may hold inf for hard rows).
    zi: the state (x1, x2) per row (default 0); return_state=True also returns the final one.
    Differentiable with respect to the level, every parameter (gate_k included) and zi (knee only
    where W > 0): first order and forward mode; second order (hessian, hvp, create_graph) for the
    hard gate (the soft gate raises there)."""
    fs = _sample_rate(fs)
    numpy_out = was_numpy(x_peak_dB)
    x, squeeze, ps, z = _prepare(x_peak_dB, "x_peak_dB", [comp_thresh, comp_ratio, T_attack_fast, T_attack_slow,
                                                         T_shunt_fast, T_shunt_slow, feedback_coeff, knee], zi, gate_k)
    with torch.set_grad_enabled(_grad_mode(x, ps, z, numpy_out)):
        gain, final = SSLCompGain.apply(x, *ps, z, fs)
    gain = finish(gain, squeeze, numpy_out)
    return (gain, finish(final, squeeze, numpy_out)) if return_state else gain


def ssl_compress(x: SignalLike, comp_thresh: ParamLike, comp_ratio: ParamLike, T_attack_fast: ParamLike,
                 T_attack_slow: ParamLike, T_shunt_fast: ParamLike, T_shunt_slow: ParamLike,
                 feedback_coeff: ParamLike, fs: Number = 44100, *, knee: ParamLike = 0.0,
                 gate_k: Optional[ParamLike] = None, zi: Any = None, return_state: bool = False):
    """SSL bus compressor on audio: returns (gain_db, y) with y = db2amp(gain_db)·x (and the final
    state with return_state=True).

    The detector is the instantaneous peak level 20·log10(max(|x|, 1e-7)) (zero derivative under the
    floor). Parameters as in ssl_comp_gain. Both outputs are differentiable (x and every parameter)."""
    fs = _sample_rate(fs)
    numpy_out = was_numpy(x)
    xs, squeeze, ps, z = _prepare(x, "x", [comp_thresh, comp_ratio, T_attack_fast, T_attack_slow, T_shunt_fast,
                                           T_shunt_slow, feedback_coeff, knee], zi, gate_k)
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
    if abs(float(comp_thresh)) > MAX_THRESHOLD_DB:
        raise ValueError(f"comp_thresh: must be within +-1e4 dB, got {comp_thresh}")
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
