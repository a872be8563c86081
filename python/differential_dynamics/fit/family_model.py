"""A member of the model family (differential_dynamics.family) as a model of the fitting tool, so
that `fit.fit` (multi-start Adam, cosine schedule, clipping, L-BFGS refinement) can learn it:

    from differential_dynamics.fit import fit
    from differential_dynamics.fit.family_model import Family
    result = fit(Family("ff-peak-gain-log-smooth_decoupled"), x, y, target_kind="audio")

Parameters: threshold_db, ratio, knee_db, attack_ms, release_ms (user units; attack and release
through ms2coef). The family's kernels have first-order gradients only, so the fitter refines with
L-BFGS (its "auto" falls back from Levenberg–Marquardt and says so).
"""
from __future__ import annotations

import torch

from ..family import Topology, family_gain
from .models import ACTIVE_FLOOR, Model, Transform, _as_row, _lin2db

_COEF_MAX = 1.0 - 1e-12  # a time of exp(raw) ms can round its coefficient to 1: keep it inside (0, 1)


class Family(Model):
    """One family member (a Topology or its name) at sample rate fs."""

    name = "family"
    params = {"threshold_db": Transform("affine", 10.0), "ratio": Transform("ratio"), "knee_db": Transform("log"),
              "attack_ms": Transform("log"), "release_ms": Transform("log")}
    start = {"threshold_db": -24.0, "ratio": 3.0, "knee_db": 1.0, "attack_ms": 5.0, "release_ms": 150.0}
    start_box = {"threshold_db": (-42.0, -12.0, "lin"), "ratio": (1.5, 12.0, "log"), "knee_db": (0.1, 6.0, "log"),
                 "attack_ms": (0.2, 50.0, "log"), "release_ms": (10.0, 800.0, "log")}

    def __init__(self, topology="ff-peak-level-linear-smooth_branching", fs: float = 44100.0):
        self.topology = Topology.parse(topology) if isinstance(topology, str) else topology
        if not isinstance(self.topology, Topology):
            raise TypeError(f"topology: expected a Topology or its name, got {type(topology).__name__}")
        if not fs > 0:
            raise ValueError(f"fs: must be > 0, got {fs}")
        self.fs = float(fs)

    def spec(self) -> dict:
        return {"model": self.name, "fs": self.fs, "topology": self.topology.name}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def active(self, features: torch.Tensor) -> torch.Tensor:
        return features.abs() > ACTIVE_FLOOR

    def _coef(self, ms: torch.Tensor) -> torch.Tensor:
        return (-torch.expm1(-2200.0 / (ms * self.fs))).clamp(min=1e-300, max=_COEF_MAX)

    def gain_db(self, features, values):
        rows = features.shape[0]
        v = {n: _as_row(values[n], rows) for n in self.names}
        g = family_gain(features, self.topology, v["threshold_db"], v["ratio"] + 1e-9, v["knee_db"],
                        self._coef(v["attack_ms"]), self._coef(v["release_ms"]))
        return _lin2db(g.clamp_min(1e-300))
