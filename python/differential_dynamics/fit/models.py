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

    kind: "affine" (v = scale·raw), "log" (v = exp(raw)), "ratio" (v = 1 + softplus(raw)),
    "negexp" (v = −exp(raw), for thresholds ≤ 0), "unit" (v = sigmoid(raw), in (0, 1))."""
    kind: str
    scale: float = 1.0

    def value(self, raw: torch.Tensor) -> torch.Tensor:
        if self.kind == "affine":
            return self.scale * raw
        if self.kind == "log":
            return torch.exp(raw)
        if self.kind == "ratio":
            return 1 + torch.nn.functional.softplus(raw)
        if self.kind == "negexp":
            return -torch.exp(raw)
        if self.kind == "unit":
            return torch.sigmoid(raw)
        raise ValueError(f"kind: unknown transform {self.kind!r}")

    def raw(self, value: float) -> float:
        v = float(value)
        if self.kind == "affine":
            return v / self.scale
        if self.kind == "log":
            return math.log(v)
        if self.kind == "ratio":
            return math.log(math.expm1(v - 1)) if v - 1 < 30 else v - 1
        if self.kind == "negexp":
            return math.log(-v)
        if self.kind == "unit":
            v = min(max(v, 1e-9), 1 - 1e-9)
            return math.log(v / (1 - v))
        raise ValueError(f"kind: unknown transform {self.kind!r}")


class Model:
    """Base: subclasses set `name`, `params` (ordered name → Transform), `start` (a generic starting
    setting) and `start_box` (name → (lo, hi, "lin"|"log"), where multi-start draws its starts)."""

    name = "model"
    params: Dict[str, Transform] = {}
    start: Dict[str, float] = {}
    start_box: Dict[str, Tuple[float, float, str]] = {}
    fs: float = 44100.0

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(self.params)

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
    """Classical compressor (docs/reference: detector avg(|x|, ms2coef(20 ms)) floored at 1e-7, then
    compexp_gain with ms2coef(attack), ms2coef(release)). gate="sigmoid" uses the sigmoid-gated
    smoother with sharpness `k` (1/dB; the fitter anneals it)."""

    name = "compressor"
    params = {"threshold_db": Transform("affine", 10.0), "ratio": Transform("ratio"),
              "attack_ms": Transform("log"), "release_ms": Transform("log")}
    start = {"threshold_db": -24.0, "ratio": 3.0, "attack_ms": 10.0, "release_ms": 100.0}
    start_box = {"threshold_db": (-42.0, -12.0, "lin"), "ratio": (1.5, 12.0, "log"),
                 "attack_ms": (1.0, 80.0, "log"), "release_ms": (10.0, 800.0, "log")}

    def __init__(self, fs: float = 44100.0, gate: str = "hard", k: float = 1.0, detector_ms: float = 20.0):
        if gate not in ("hard", "sigmoid"):
            raise ValueError(f'gate: must be "hard" or "sigmoid", got {gate!r}')
        if not fs > 0:
            raise ValueError(f"fs: must be > 0, got {fs}")
        self.fs, self.gate, self.k, self.detector_ms = float(fs), gate, float(k), float(detector_ms)

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
    params = {"threshold_db": Transform("negexp"), "attack_ms": Transform("log"), "release_ms": Transform("log")}
    start = {"threshold_db": -6.0, "attack_ms": 1.0, "release_ms": 100.0}
    start_box = {"threshold_db": (-24.0, -1.0, "lin"), "attack_ms": (0.05, 20.0, "log"),
                 "release_ms": (10.0, 800.0, "log")}

    def __init__(self, fs: float = 44100.0):
        if not fs > 0:
            raise ValueError(f"fs: must be > 0, got {fs}")
        self.fs = float(fs)

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
    """SSL bus compressor gain (ssl_comp_gain) on the instantaneous peak level: comp_thresh (dB),
    comp_ratio, the four time constants (seconds) and feedback_coeff ∈ (0, 1)."""

    name = "ssl"
    params = {"comp_thresh": Transform("affine", 10.0), "comp_ratio": Transform("ratio"),
              "T_attack_fast": Transform("log"), "T_attack_slow": Transform("log"),
              "T_shunt_fast": Transform("log"), "T_shunt_slow": Transform("log"),
              "feedback_coeff": Transform("unit")}
    # Hardware auto release, 3 ms attack position (Ra = 8.2 kΩ), ratio 4, no feedback.
    start = {"comp_thresh": -20.0, "comp_ratio": 4.0, "T_attack_fast": 8200 * 0.47e-6,
             "T_attack_slow": 8200 * 6.8e-6, "T_shunt_fast": 91e3 * 0.47e-6, "T_shunt_slow": 750e3 * 6.8e-6,
             "feedback_coeff": 0.1}
    start_box = {"comp_thresh": (-35.0, -5.0, "lin"), "comp_ratio": (1.5, 12.0, "log"),
                 "T_attack_fast": (2e-5, 0.2, "log"), "T_attack_slow": (3e-4, 2.0, "log"),
                 "T_shunt_fast": (0.01, 1.0, "log"), "T_shunt_slow": (0.5, 20.0, "log"),
                 "feedback_coeff": (0.05, 0.95, "lin")}

    def __init__(self, fs: float = 44100.0):
        if not fs > 0:
            raise ValueError(f"fs: must be > 0, got {fs}")
        self.fs = float(fs)

    def features(self, x):
        return _lin2db(x.abs().clamp_min(1e-7))

    def active(self, features):
        return features > -100.0

    def gain_db(self, features, values):
        rows = features.shape[0]
        v = [_as_row(values[n], rows) for n in self.names]
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
