"""The models the fitter learns: parameter names in user units, an unconstrained parameterisation
(every raw vector maps to a valid setting) and the gain trace in dB.

A model turns audio x (B, T) into features once (the parameter-free detector level), then features and
parameter values into the gain in dB. Values are tensors of shape (B,) (one setting per row, which is
how multi-start fits run several settings in one call) or 0-d tensors.

    Compressor  the classical compressor: avg(|x|, 20 ms) detector → compexp_gain (hard gate) or
                compexp_gain_mode(ar_mode="sigmoid", k) → gain
    Limiter     limiter_gain on the audio
    SSL         ssl_comp_gain on the instantaneous peak level in dB (time constants in seconds)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

from .. import functional as F
from ..ssl import ssl_comp_gain

__all__ = ["Transform", "Model", "Compressor", "Limiter", "SSL", "make_model", "MODELS"]

_LN10_20 = math.log(10.0) / 20.0
ACTIVE_FLOOR = 1e-5  # detector above −100 dB: the samples the gain metrics count


@dataclass(frozen=True)
class Transform:
    """Bijection from an unconstrained raw value to a valid parameter value.

    kind: "affine" (v = scale·raw); "log" (v = exp(ℓ)); "ratio" (v = 1 + exp(ℓ)); "negexp" (v = −exp(ℓ),
    for thresholds ≤ 0); "unit" (v = sigmoid(raw) ∈ [0, 1]). For the exponential kinds ℓ is raw bounded
    smoothly to [log lo, log hi]: ℓ = c + h·tanh((raw − c)/h) (c, h: centre and half-width), which is
    the identity near the centre, so no raw value, however far out, gives an invalid setting (a ratio
    of exactly 1, a coefficient of exactly 0 or 1, an infinity)."""
    kind: str
    scale: float = 1.0
    lo: float = 1e-300
    hi: float = 1e300

    def _bounds(self):
        a, b = math.log(self.lo), math.log(self.hi)
        return 0.5 * (a + b), 0.5 * (b - a)

    def value(self, raw: torch.Tensor) -> torch.Tensor:
        if self.kind == "affine":
            return self.scale * raw
        if self.kind == "unit":
            return torch.sigmoid(raw)
        c, h = self._bounds()
        e = torch.exp(c + h * torch.tanh((raw - c) / h))
        if self.kind == "log":
            return e
        if self.kind == "ratio":
            return 1 + e
        if self.kind == "negexp":
            return -e
        raise ValueError(f"kind: unknown transform {self.kind!r}")

    def raw(self, value: float) -> float:
        v = float(value)
        if self.kind == "affine":
            return v / self.scale
        if self.kind == "unit":
            v = min(max(v, 1e-9), 1 - 1e-9)
            return math.log(v / (1 - v))
        e = {"log": v, "ratio": v - 1, "negexp": -v}.get(self.kind)
        if e is None:
            raise ValueError(f"kind: unknown transform {self.kind!r}")
        c, h = self._bounds()
        z = (math.log(min(max(e, self.lo), self.hi)) - c) / h
        return c + h * math.atanh(min(max(z, -1 + 1e-15), 1 - 1e-15))


def _time_ms(fs: float) -> Transform:
    """A time in ms from a tenth of a sample (ms2coef < 1 in float64) to 1000 s."""
    return Transform("log", lo=100.0 / fs, hi=1e6)


RATIO = Transform("ratio", lo=1e-3, hi=1e3)       # ratio in [1.001, 1001]
SECONDS = Transform("log", lo=1e-7, hi=1e5)       # SSL time constants


class Model:
    """Base: subclasses set `name`, `params` (the fit coordinates: ordered name → Transform), `start` (a
    generic starting setting) and `start_box` (name → (lo, hi, "lin"|"log"), where multi-start draws
    its starts), both in fit coordinates. `names` are the native parameters (the kernel's arguments,
    what reports compare); `to_native` / `from_native` map between the two (identity unless a model
    fits in other coordinates, like the SSL model's identifiable ones)."""

    name = "model"
    params: Dict[str, Transform] = {}
    start: Dict[str, float] = {}
    start_box: Dict[str, Tuple[float, float, str]] = {}
    fit_defaults: Dict[str, object] = {}  # fit() options that suit this model better than the generic ones
    fs: float = 44100.0

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(self.params)

    def to_native(self, v: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        return {n: v[n] for n in self.names}

    def from_native(self, theta: Dict[str, float]) -> Dict[str, float]:
        return {n: float(theta[n]) for n in self.params}

    def values(self, raw: torch.Tensor, names=None) -> Dict[str, torch.Tensor]:
        """raw (..., P) → {name: tensor (...)} for the given names (default: all, in order)."""
        names = self.names if names is None else names
        return {n: self.params[n].value(raw[..., i]) for i, n in enumerate(names)}

    def raw(self, values: Dict[str, float], names=None) -> torch.Tensor:
        names = self.names if names is None else names
        return torch.tensor([self.params[n].raw(values[n]) for n in names], dtype=torch.float64)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def active(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def gain_db(self, features: torch.Tensor, values: Dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def spec(self) -> dict:
        """What is needed to rebuild the model (JSON-able)."""
        return {"model": self.name, "fs": self.fs}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.spec().items() if k != 'model')})"


def _as_row(v, rows: int) -> torch.Tensor:
    """A value tensor () or (K,) spread over rows (K·n rows: each setting over its n rows)."""
    v = torch.as_tensor(v, dtype=torch.float64)
    if v.dim() == 0 or v.numel() == 1:
        return v.reshape(())
    return v.repeat_interleave(rows // v.numel())


def _lin2db(g: torch.Tensor) -> torch.Tensor:
    return torch.log(g) / _LN10_20


class Compressor(Model):
    """Classical compressor (docs/recovery.md: detector avg(|x|, ms2coef(20 ms)) floored at 1e-7, then
    compexp_gain with ms2coef(attack), ms2coef(release)). gate="sigmoid" uses the sigmoid-gated
    smoother with sharpness `k` (1/dB; the fitter anneals it)."""

    name = "compressor"
    start = {"threshold_db": -24.0, "ratio": 3.0, "attack_ms": 10.0, "release_ms": 100.0}
    start_box = {"threshold_db": (-42.0, -12.0, "lin"), "ratio": (1.5, 12.0, "log"),
                 "attack_ms": (1.0, 80.0, "log"), "release_ms": (10.0, 800.0, "log")}

    def __init__(self, fs: float = 44100.0, gate: str = "hard", k: float = 1.0, detector_ms: float = 20.0):
        if gate not in ("hard", "sigmoid"):
            raise ValueError(f'gate: must be "hard" or "sigmoid", got {gate!r}')
        if not fs > 0:
            raise ValueError(f"fs: must be > 0, got {fs}")
        self.fs, self.gate, self.k, self.detector_ms = float(fs), gate, float(k), float(detector_ms)
        self.params = {"threshold_db": Transform("affine", 10.0), "ratio": RATIO, "attack_ms": _time_ms(self.fs),
                       "release_ms": _time_ms(self.fs)}

    def spec(self) -> dict:
        return {"model": self.name, "fs": self.fs, "gate": self.gate, "detector_ms": self.detector_ms}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg(x.abs(), float(F.ms2coef(self.detector_ms, self.fs))).clamp_min(1e-7)

    def active(self, features: torch.Tensor) -> torch.Tensor:
        return features > ACTIVE_FLOOR

    def gain_db(self, features, values):
        rows = features.shape[0]
        v = {n: _as_row(values[n], rows) for n in self.names}
        at, rt = F.ms2coef(v["attack_ms"], self.fs), F.ms2coef(v["release_ms"], self.fs)
        if self.gate == "hard":
            g = F.compexp_gain(features, v["threshold_db"], v["ratio"], -1000.0, 1.0, at, rt)
        else:
            g = F.compexp_gain_mode(features, v["threshold_db"], v["ratio"], -1000.0, 1.0, at, rt, "sigmoid",
                                    self.k)
        return _lin2db(g)


class Limiter(Model):
    """limiter_gain(x, threshold, ms2coef(attack), ms2coef(release)) on the audio."""

    name = "limiter"
    start = {"threshold_db": -6.0, "attack_ms": 1.0, "release_ms": 100.0}
    start_box = {"threshold_db": (-24.0, -1.0, "lin"), "attack_ms": (0.05, 20.0, "log"),
                 "release_ms": (10.0, 800.0, "log")}

    def __init__(self, fs: float = 44100.0):
        if not fs > 0:
            raise ValueError(f"fs: must be > 0, got {fs}")
        self.fs = float(fs)
        self.params = {"threshold_db": Transform("negexp", lo=1e-3, hi=300.0), "attack_ms": _time_ms(self.fs),
                       "release_ms": _time_ms(self.fs)}

    def features(self, x):
        return x

    def active(self, features):
        return F.avg(features.abs(), float(F.ms2coef(20.0, self.fs))) > ACTIVE_FLOOR

    def gain_db(self, features, values):
        rows = features.shape[0]
        v = {n: _as_row(values[n], rows) for n in self.names}
        g = F.limiter_gain(features, v["threshold_db"], F.ms2coef(v["attack_ms"], self.fs),
                           F.ms2coef(v["release_ms"], self.fs))
        return _lin2db(g)


class SSL(Model):
    """SSL bus compressor gain (ssl_comp_gain) on the instantaneous peak level. Native parameters:
    comp_thresh (dB), comp_ratio, the four time constants (seconds), feedback_coeff ∈ [0, 1].

    coordinates="effective" (default) fits in the identifiable coordinates (docs/recovery.md): a setting
    with feedback fb behaves like fb = 0 with slope s_eff = s/(1 + s·fb) and attack time constants
    divided by q = 1 + s·fb (s = 1 − 1/CR). The fit coordinates are comp_thresh, ratio_eff = 1/(1 − s_eff),
    T_attack_fast_eff, T_attack_slow_eff, T_shunt_fast, T_shunt_slow and feedback_fraction ∈ (0, 1):
    fb = feedback_fraction·min(1, 1/(ratio_eff − 1)), the largest fb for which the native ratio stays
    finite — so every iterate is a valid native setting. coordinates="native" fits the native ones."""

    name = "ssl"
    _native = ("comp_thresh", "comp_ratio", "T_attack_fast", "T_attack_slow", "T_shunt_fast", "T_shunt_slow",
               "feedback_coeff")
    _FB_SHRINK = 1 - 1e-9  # keeps fb strictly below its limit (a finite native ratio)
    # The hard gate's kinks stall L-BFGS early on SSL losses; a longer Adam run gets through them.
    fit_defaults = {"screen_steps": 50, "steps": 600, "lr_min": 1e-4, "refine_steps": 100}

    def __init__(self, fs: float = 44100.0, coordinates: str = "effective"):
        if not fs > 0:
            raise ValueError(f"fs: must be > 0, got {fs}")
        if coordinates not in ("effective", "native"):
            raise ValueError(f'coordinates: must be "effective" or "native", got {coordinates!r}')
        self.fs, self.coordinates = float(fs), coordinates
        hw = {"comp_thresh": -20.0, "comp_ratio": 4.0, "T_attack_fast": 8200 * 0.47e-6,
              "T_attack_slow": 8200 * 6.8e-6, "T_shunt_fast": 91e3 * 0.47e-6, "T_shunt_slow": 750e3 * 6.8e-6,
              "feedback_coeff": 0.0}  # 3 ms attack position, auto release, ratio 4, no feedback
        times = {"T_shunt_fast": SECONDS, "T_shunt_slow": SECONDS}
        box = {"comp_thresh": (-35.0, -5.0, "lin"), "T_shunt_fast": (0.01, 1.0, "log"),
               "T_shunt_slow": (0.5, 20.0, "log")}
        if coordinates == "native":
            self.params = {"comp_thresh": Transform("affine", 10.0), "comp_ratio": RATIO,
                           "T_attack_fast": SECONDS, "T_attack_slow": SECONDS, **times,
                           "feedback_coeff": Transform("unit")}
            self.start = {**hw, "feedback_coeff": 0.1}
            self.start_box = {**box, "comp_ratio": (1.5, 12.0, "log"), "T_attack_fast": (2e-5, 0.2, "log"),
                              "T_attack_slow": (3e-4, 2.0, "log"), "feedback_coeff": (0.05, 0.95, "lin")}
        else:
            self.params = {"comp_thresh": Transform("affine", 10.0), "ratio_eff": RATIO,
                           "T_attack_fast_eff": SECONDS, "T_attack_slow_eff": SECONDS, **times,
                           "feedback_fraction": Transform("unit")}
            self.start = {**self.from_native(hw), "feedback_fraction": 0.1}
            self.start_box = {**box, "ratio_eff": (1.3, 8.0, "log"), "T_attack_fast_eff": (2e-5, 0.2, "log"),
                              "T_attack_slow_eff": (3e-4, 2.0, "log"), "feedback_fraction": (0.05, 0.95, "lin")}

    @property
    def names(self):
        return self._native

    def spec(self) -> dict:
        return {"model": self.name, "fs": self.fs, "coordinates": self.coordinates}

    def to_native(self, v):
        if self.coordinates == "native":
            return {n: v[n] for n in self._native}
        cr_eff = v["ratio_eff"]
        s_eff = 1 - 1 / cr_eff
        fb_max = torch.clamp(1 / (torch.as_tensor(cr_eff) - 1), max=1.0)
        fb = v["feedback_fraction"] * fb_max * self._FB_SHRINK
        s = s_eff / (1 - s_eff * fb)
        q = 1 + s * fb
        return {"comp_thresh": v["comp_thresh"], "comp_ratio": 1 / (1 - s), "T_attack_fast": v["T_attack_fast_eff"] * q,
                "T_attack_slow": v["T_attack_slow_eff"] * q, "T_shunt_fast": v["T_shunt_fast"],
                "T_shunt_slow": v["T_shunt_slow"], "feedback_coeff": fb}

    def from_native(self, theta):
        if self.coordinates == "native":
            return {n: float(theta[n]) for n in self._native}
        s = 1 - 1 / float(theta["comp_ratio"])
        fb = float(theta["feedback_coeff"])
        q = 1 + s * fb
        cr_eff = 1 / (1 - s / q)
        fb_max = min(1.0, 1 / (cr_eff - 1)) * self._FB_SHRINK
        return {"comp_thresh": float(theta["comp_thresh"]), "ratio_eff": cr_eff,
                "T_attack_fast_eff": float(theta["T_attack_fast"]) / q,
                "T_attack_slow_eff": float(theta["T_attack_slow"]) / q, "T_shunt_fast": float(theta["T_shunt_fast"]),
                "T_shunt_slow": float(theta["T_shunt_slow"]), "feedback_fraction": min(fb / fb_max, 1.0)}

    def features(self, x):
        return _lin2db(x.abs().clamp_min(1e-7))

    def active(self, features):
        return features > -100.0

    def gain_db(self, features, values):
        rows = features.shape[0]
        v = [_as_row(values[n], rows) for n in self._native]
        return ssl_comp_gain(features, *v, fs=self.fs)


MODELS = {"compressor": Compressor, "limiter": Limiter, "ssl": SSL}


def make_model(spec: dict) -> Model:
    """Model from its spec() (e.g. read back from a dataset's or a report's JSON)."""
    spec = dict(spec)
    name = spec.pop("model", None)
    if name not in MODELS:
        raise ValueError(f"model: must be one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name](**spec)


def teacher(model: Model, x: torch.Tensor, theta: Dict[str, float], makeup_db: float = 0.0,
            features: Optional[torch.Tensor] = None):
    """Run a model as a teacher with known θ: returns (gain_db, output audio = x·db2amp(gain + makeup))."""
    with torch.no_grad():
        feats = model.features(x) if features is None else features
        g = model.gain_db(feats, {n: torch.tensor(float(theta[n]), dtype=torch.float64) for n in model.names})
        y = x * torch.exp((g + makeup_db) * _LN10_20)
    return g, y
