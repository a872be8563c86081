"""A compressor model family wide enough to match real compressors (Giannoulis, Massberg & Reiss,
JAES 2012), every member differentiable with exact first-order gradients.

A member is a `Topology`:

- detector: "peak" (u = |x|) or "rms" (u = x², the level is 10·log10 of its smoothed value);
- ballistics: on the "level" (the detector is smoothed, then the static curve) or on the "gain"
  (the static curve on the instantaneous level, then the gain reduction is smoothed);
- domain: "linear" (u or the linear gain reduction 1 − G is smoothed) or "log" (dB);
- design: the peak detector's design, "branching", "smooth_branching", "decoupled" or
  "smooth_decoupled" (differential_dynamics._core peak_detector; docs/reference/family.md);
- feedback: the detector listens to the previous output sample instead of the input.

Feed-forward members are compositions of the library's kernels: the hard smoother
(compressor_core: the smooth branching detector), compexp_gain (smooth branching on the linear
gain), gain_curve, and the peak_detector kernel for the other designs; feedback members run the
feedback_compressor_gain kernel. Signals are (B, T) float32/float64 tensors. Gradients are first
order (a second derivative raises).

    model = FamilyCompressor(Topology.parse("ff-peak-gain-log-smooth_decoupled"), fs=44100)
    y = model(x)                     # x·G·10^(makeup/20)
    model.settings()                 # threshold_db, ratio, knee_db, attack_ms, release_ms, makeup_db

FamilyCompressor holds unconstrained parameters mapped so that every iterate of an optimiser is a
valid setting: ratio = 1 + 1e-6 + softplus, knee = softplus, times log-bounded in [0.01, 5000] ms.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Dict, Iterator, Optional

import torch

from . import _core
from . import autograd as _ag
from .autograd import _empty_rows, _empty_signal, _empty_state, _state_grad, no_forward_mode, no_second_order, no_trace
from ._validation import (MAX_KNEE_DB, MAX_THRESHOLD_DB, as_row_param, as_signal, as_state, finish, number,
                          was_numpy)
from ._validation import kernel_array as _np

DETECTORS = ("peak", "rms")
BALLISTICS = ("level", "gain")
DOMAINS = ("linear", "log")
DESIGNS = ("branching", "smooth_branching", "decoupled", "smooth_decoupled")

_LN10 = 2.302585092994045684
_FLOOR_AMP = 1e-7  # −140 dB, the library's safe-dB floor


def _choice(value, name, options):
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {options}, got {type(value).__name__}")
    if value not in options:
        raise ValueError(f"{name}: must be one of {options}, got {value!r}")
    return value


@dataclass(frozen=True)
class Topology:
    """One member of the family (see the module's docstring)."""

    detector: str = "peak"
    ballistics: str = "level"
    domain: str = "linear"
    design: str = "smooth_branching"
    feedback: bool = False

    def __post_init__(self):
        _choice(self.detector, "detector", DETECTORS)
        _choice(self.ballistics, "ballistics", BALLISTICS)
        _choice(self.domain, "domain", DOMAINS)
        _choice(self.design, "design", DESIGNS)
        if not isinstance(self.feedback, bool):
            raise TypeError(f"feedback: expected a bool, got {type(self.feedback).__name__}")

    @property
    def name(self) -> str:
        return "-".join(["fb" if self.feedback else "ff", self.detector, self.ballistics, self.domain, self.design])

    @classmethod
    def parse(cls, name: str) -> "Topology":
        """Inverse of `name`: "ff|fb-peak|rms-level|gain-linear|log-<design>"."""
        if not isinstance(name, str):
            raise TypeError(f"name: expected a str, got {type(name).__name__}")
        parts = name.split("-")
        if len(parts) != 5 or parts[0] not in ("ff", "fb"):
            raise ValueError(f"name: expected 'ff|fb-<detector>-<ballistics>-<domain>-<design>', got {name!r}")
        return cls(parts[1], parts[2], parts[3], parts[4], parts[0] == "fb")

    @property
    def rest(self) -> float:
        """The value a non-smooth detector releases toward: −140 dB for a log level, else 0."""
        return -140.0 if (self.ballistics, self.domain) == ("level", "log") else 0.0


def all_topologies() -> Iterator[Topology]:
    """Every member of the family (4 designs × 2 detectors × 2 placements × 2 domains × ff/fb)."""
    for fb, det, bal, dom, des in itertools.product((False, True), DETECTORS, BALLISTICS, DOMAINS, DESIGNS):
        yield Topology(det, bal, dom, des, fb)


# ------------------------------------------------------------------------------------------------
# autograd Functions

class PeakDetector(torch.autograd.Function):
    """The peak-detector kernel: (y, final state (B, 2)) from a control signal c."""

    @staticmethod
    def forward(ctx, c, attack, release, zi, design: str, rest: float):
        no_trace("peak_detector")
        y = torch.empty_like(c)
        final = torch.empty_like(zi)
        _core.peak_detector(_np(c), design, _np(attack), _np(release), rest, _np(y), _np(zi), _np(final))
        ctx.design, ctx.rest = design, rest
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(c, attack, release, zi)
        return y, final

    @staticmethod
    def backward(ctx, gy, gfinal):
        no_second_order("peak_detector")
        c, attack, release, zi = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if gy is None and gfinal is None:
            return (None,) * 6
        gy = torch.zeros_like(c) if gy is None else gy.contiguous()
        gc, ga, gr = _empty_signal(c, needs[0]), _empty_rows(c, needs[1]), _empty_rows(c, needs[2])
        gzi = _empty_state(zi, needs[3])
        _core.peak_detector_backward(_np(c), ctx.design, _np(attack), _np(release), ctx.rest, _np(gy), _np(zi),
                                     _np(_state_grad(gfinal)), _np(gc), _np(ga), _np(gr), _np(gzi))
        return gc, ga, gr, gzi, None, None

    @staticmethod
    def jvp(ctx, *tangents):
        no_forward_mode("peak_detector")


class FeedbackGain(torch.autograd.Function):
    """The feedback compressor kernel: (linear gain G, final state (B, 3))."""

    @staticmethod
    def forward(ctx, x, ct, cr, knee, attack, release, zi, topology: Topology):
        no_trace("feedback_compressor_gain")
        g = torch.empty_like(x)
        final = torch.empty_like(zi)
        t = topology
        _core.feedback_compressor_gain(_np(x), t.detector, t.ballistics, t.domain, t.design, _np(ct), _np(cr),
                                       _np(knee), _np(attack), _np(release), _np(g), _np(zi), _np(final))
        ctx.topology = topology
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, ct, cr, knee, attack, release, zi)
        return g, final

    @staticmethod
    def backward(ctx, gg, gfinal):
        no_second_order("feedback_compressor_gain")
        x, ct, cr, knee, attack, release, zi = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if gg is None and gfinal is None:
            return (None,) * 8
        gg = torch.zeros_like(x) if gg is None else gg.contiguous()
        gx = _empty_signal(x, needs[0])
        gp = [_empty_rows(x, n) for n in needs[1:6]]
        gzi = _empty_state(zi, needs[6])
        t = ctx.topology
        _core.feedback_compressor_gain_backward(_np(x), t.detector, t.ballistics, t.domain, t.design, _np(ct),
                                                _np(cr), _np(knee), _np(attack), _np(release), _np(gg), _np(zi),
                                                _np(_state_grad(gfinal)), _np(gx), *(_np(g) for g in gp), _np(gzi))
        return (gx, *gp, gzi, None)

    @staticmethod
    def jvp(ctx, *tangents):
        no_forward_mode("feedback_compressor_gain")


# ------------------------------------------------------------------------------------------------
# Public functions

def _coefficient_check(p: torch.Tensor, name: str) -> None:
    v = p.detach()
    if not bool(((v > 0) & (v < 1)).all()):
        raise ValueError(f"{name}: must be in (0, 1) (got {v[~((v > 0) & (v < 1))][0].item():g})")


def peak_detector(c, design: str, attack, release, *, rest: float = 0.0, zi=None, return_state: bool = False):
    """Peak detector of the given design on a control signal c (B, T): attack/release are input
    weights in (0, 1) (ms2coef of a time), `rest` the value the non-smooth designs release toward.
    State per row (y1, y) float64, default (rest, rest)."""
    _choice(design, "design", DESIGNS)
    rest = number(rest, "rest")
    numpy_out = was_numpy(c)
    cs, squeeze = as_signal(c, "c")
    rows = cs.shape[0]
    a = as_row_param(attack, "attack", rows, cs.dtype)
    r = as_row_param(release, "release", rows, cs.dtype)
    _coefficient_check(a, "attack")
    _coefficient_check(r, "release")
    z = as_state(zi, "zi", rows, 2, (rest, rest))
    grad = torch.is_grad_enabled() and not numpy_out and any(t.requires_grad for t in (cs, a, r, z))
    with torch.set_grad_enabled(grad):
        y, final = PeakDetector.apply(cs, a, r, z, design, rest)
    y = finish(y, squeeze, numpy_out)
    return (y, finish(final, squeeze, numpy_out)) if return_state else y


def _detector_value(x: torch.Tensor, rms: bool) -> torch.Tensor:
    return x * x if rms else x.abs()


def _level_db(u: torch.Tensor, rms: bool) -> torch.Tensor:
    """(20/p)·log10(max(u, 1e-7^p)): zero derivative under the floor."""
    floor = _FLOOR_AMP ** 2 if rms else _FLOOR_AMP
    return (10.0 if rms else 20.0) * torch.log10(u.clamp(min=floor))


def _smooth(c, topology: Topology, attack, release):
    """The detector on c, from its rest state: the library's hard smoother for smooth branching
    (attack where c rises: compressor_core's `at` is our release), else the peak_detector kernel."""
    rest = topology.rest
    if topology.design == "smooth_branching":
        zi = c.new_full((c.shape[0],), rest, dtype=torch.float64)
        return _ag.ARSmoother.apply(c.contiguous(), zi, release, attack)[0]
    zi = c.new_full((c.shape[0], 2), rest, dtype=torch.float64)
    return PeakDetector.apply(c.contiguous(), attack, release, zi, topology.design, rest)[0]


def _curve(level, ct, cr, knee):
    et = level.new_full((level.shape[0],), -1000.0)
    er = level.new_ones(level.shape[0])
    return _ag.GainCurve.apply(level.contiguous(), ct, cr, et, er, knee)


def _feedforward_gain(x, t: Topology, ct, cr, knee, attack, release):
    rms = t.detector == "rms"
    u = _detector_value(x, rms)
    if t.ballistics == "level":
        if t.domain == "linear":
            level = _level_db(_smooth(u, t, attack, release), rms)
        else:
            level = _smooth(_level_db(u, rms), t, attack, release)
        return torch.pow(10.0, _curve(level, ct, cr, knee) / 20)
    if t.domain == "linear" and t.design == "smooth_branching":
        # compexp_gain is exactly this member: the curve fused with the hard smoother on the linear gain.
        x_level = torch.sqrt(u.clamp(min=_FLOOR_AMP ** 2)) if rms else u.clamp(min=_FLOOR_AMP)
        et = x.new_full((x.shape[0],), -1000.0)
        one = x.new_ones(x.shape[0])
        zi = x.new_ones(x.shape[0], dtype=torch.float64)
        return _ag.CompexpGain.apply(x_level.contiguous(), ct, cr, et, one, knee, attack, release, zi)[0]
    gain_db = _curve(_level_db(u, rms), ct, cr, knee)
    if t.domain == "log":
        return torch.pow(10.0, -_smooth(-gain_db, t, attack, release) / 20)
    return 1 - _smooth(1 - torch.pow(10.0, gain_db / 20), t, attack, release)


def family_gain(x, topology: Topology, comp_thresh, comp_ratio, knee, attack, release):
    """Linear gain G (B, T) of a family member on audio x (B, T) from its initial state: curve
    threshold (dB), ratio > 1, knee (dB, ≥ 0), attack/release coefficients in (0, 1)."""
    if not isinstance(topology, Topology):
        raise TypeError(f"topology: expected a Topology, got {type(topology).__name__}")
    numpy_out = was_numpy(x)
    xs, squeeze = as_signal(x, "x")
    rows = xs.shape[0]
    names = ("comp_thresh", "comp_ratio", "knee", "attack", "release")
    ps = [as_row_param(p, n, rows, xs.dtype) for p, n in zip((comp_thresh, comp_ratio, knee, attack, release), names)]
    if not bool((ps[0].detach().abs() <= MAX_THRESHOLD_DB).all()):
        raise ValueError(f"comp_thresh: must be within +-1e4 dB (got {ps[0].detach().abs().max().item():g})")
    if not bool((ps[1].detach() > 1).all()):
        raise ValueError(f"comp_ratio: must be > 1 (got {ps[1].detach().min().item():g})")
    knee = ps[2].detach()
    if not bool(((knee >= 0) & (knee <= MAX_KNEE_DB)).all()):
        raise ValueError(f"knee: must be in [0, 1000] dB (got {knee[~((knee >= 0) & (knee <= MAX_KNEE_DB))][0].item():g})")
    _coefficient_check(ps[3], "attack")
    _coefficient_check(ps[4], "release")
    grad = torch.is_grad_enabled() and not numpy_out and any(t.requires_grad for t in [xs, *ps])
    with torch.set_grad_enabled(grad):
        if topology.feedback:
            zi = xs.new_zeros((rows, 3), dtype=torch.float64)
            zi[:, 1:] = topology.rest
            g = FeedbackGain.apply(xs, *ps, zi, topology)[0]
        else:
            g = _feedforward_gain(xs, topology, *ps)
    return finish(g, squeeze, numpy_out)


# ------------------------------------------------------------------------------------------------
# A member as a module with valid-by-construction parameters

_MS_RANGE = (0.01, 5000.0)


def _inverse_softplus(v: float) -> float:
    return v + math.log(-math.expm1(-v))


def _ms_to_raw(ms: float, name: str) -> float:
    lo, hi = (math.log(v) for v in _MS_RANGE)
    p = (math.log(ms) - lo) / (hi - lo) if ms > 0 else 0.0
    if not 0 < p < 1:
        raise ValueError(f"{name}: must be within {_MS_RANGE} ms (exclusive), got {ms}")
    return math.log(p / (1 - p))


def _raw_to_ms(raw: torch.Tensor) -> torch.Tensor:
    lo, hi = (math.log(v) for v in _MS_RANGE)
    return torch.exp(lo + (hi - lo) * torch.sigmoid(raw))


class FamilyCompressor(torch.nn.Module):
    """One family member with learnable settings in user units (see the module's docstring).

    forward(x) = x·G(x)·10^(makeup_db/20) for audio x (B, T); gain(x) = G. Parameters are float64."""

    def __init__(self, topology: Topology, fs: float = 44100.0, *, threshold_db: float = -20.0, ratio: float = 4.0,
                 knee_db: float = 1.0, attack_ms: float = 10.0, release_ms: float = 100.0, makeup_db: float = 0.0):
        super().__init__()
        if not isinstance(topology, Topology):
            raise TypeError(f"topology: expected a Topology, got {type(topology).__name__}")
        self.topology = topology
        self.fs = number(fs, "fs")
        if self.fs <= 0:
            raise ValueError(f"fs: sample rate must be > 0, got {fs}")
        if not number(ratio, "ratio") > 1 + 1e-6:
            raise ValueError(f"ratio: must be > 1, got {ratio}")
        if not 0 < number(knee_db, "knee_db") <= MAX_KNEE_DB:
            raise ValueError(f"knee_db: must be in (0, 1000] dB (a softplus never reaches 0), got {knee_db}")
        if abs(number(threshold_db, "threshold_db")) > MAX_THRESHOLD_DB:
            raise ValueError(f"threshold_db: must be within +-1e4 dB, got {threshold_db}")
        p = lambda v: torch.nn.Parameter(torch.tensor(float(v), dtype=torch.float64))  # noqa: E731
        self.threshold_db = p(number(threshold_db, "threshold_db"))
        self.raw_ratio = p(_inverse_softplus(ratio - 1 - 1e-6))
        self.raw_knee = p(_inverse_softplus(knee_db))
        self.raw_attack = p(_ms_to_raw(number(attack_ms, "attack_ms"), "attack_ms"))
        self.raw_release = p(_ms_to_raw(number(release_ms, "release_ms"), "release_ms"))
        self.makeup_db = p(number(makeup_db, "makeup_db"))

    def values(self) -> Dict[str, torch.Tensor]:
        """The settings as differentiable tensors (user units)."""
        sp = torch.nn.functional.softplus
        return {"threshold_db": self.threshold_db, "ratio": 1 + 1e-6 + sp(self.raw_ratio),
                "knee_db": sp(self.raw_knee), "attack_ms": _raw_to_ms(self.raw_attack),
                "release_ms": _raw_to_ms(self.raw_release), "makeup_db": self.makeup_db}

    def settings(self) -> Dict[str, float]:
        return {k: float(v.detach()) for k, v in self.values().items()}

    def gain(self, x: torch.Tensor) -> torch.Tensor:
        v = self.values()
        coef = lambda ms: -torch.expm1(-2200.0 / (ms * self.fs))  # ms2coef, differentiable  # noqa: E731
        return family_gain(x, self.topology, v["threshold_db"].to(x.dtype), v["ratio"].to(x.dtype),
                           v["knee_db"].to(x.dtype), coef(v["attack_ms"]).to(x.dtype),
                           coef(v["release_ms"]).to(x.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain(x) * torch.pow(10.0, self.makeup_db / 20).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.topology.name}, fs={self.fs:g}, " + ", ".join(f"{k}={v:.4g}" for k, v in self.settings().items())


__all__ = ["Topology", "all_topologies", "peak_detector", "family_gain", "FamilyCompressor", "PeakDetector",
           "FeedbackGain", "DETECTORS", "BALLISTICS", "DOMAINS", "DESIGNS"]
