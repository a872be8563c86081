"""Identifiability at a setting θ: which parameters, or combinations of them, the data determine.

Measure: the Gauss–Newton (Fisher) matrix F = JᵀJ of the gain residuals (dB, per active sample) with
respect to the parameters in tolerance units (u = log θ / 0.02 for positive quantities, so one unit is
a 2 % change; thresholds and makeup in units of 0.05 dB; the feedback coefficient in units of 0.02).
For a quantity c(θ) with gradient w (in u), the smallest gain RMSE change that a one-tolerance change
of c can cause while every other parameter re-adjusts (linearised) is

    δ(c) = 1 / sqrt(M · wᵀ F⁻¹ w)          (M = active samples)

With white noise of σ dB per sample on the target, the Cramér–Rao bound on c's standard deviation is
σ / (δ(c)·sqrt(M)) tolerance units. c is *identified* when that is below 1/3 at σ = `noise_db`
(default 0.01 dB, the gain RMSE at which fits are accepted): a 2 % error would be a 3σ event. The
eigenvalues of F give the same picture direction by direction (sqrt(λ/M) = RMSE change per tolerance
unit along the eigenvector).

J is the exact Jacobian where the kernels give one (forward mode or double backward); otherwise F is
estimated from n exact first-order gradients Jᵀv_k with Gaussian v_k (F ≈ Σ gₖgₖᵀ / n, a randomised
sketch whose quadratic forms are within a factor of about 1 ± 2·sqrt(P/n) of the exact ones).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional

import numpy as np
import torch

from .evaluate import ABSOLUTE, ssl_combinations
from .fitting import MAKEUP, Problem, SecondOrderUnsupported, jacobian
from .models import Model

__all__ = ["fisher", "identifiability"]

REL_TOL = 0.02
ABS_TOL = {"threshold_db": 0.05, "comp_thresh": 0.05, MAKEUP: 0.05, "feedback_coeff": 0.02}


def _tol_units(problem: Problem, raw: torch.Tensor):
    """u(raw) per name and d raw / d u (diagonal): the tolerance coordinates of docs above."""
    scale = []
    for i, n in enumerate(problem.names):
        r = raw[i].detach().clone().requires_grad_(True)
        v = problem.transforms[n].value(r)
        (dv_dr,) = torch.autograd.grad(v, r)
        if n in ABS_TOL:
            du_dv = 1 / ABS_TOL[n]
        else:
            du_dv = 1 / (REL_TOL * float(v))      # u = log v / 0.02
        scale.append(1 / (float(dv_dr) * du_dv))  # d raw / d u
    return torch.tensor(scale, dtype=torch.float64)


def fisher(problem: Problem, raw: torch.Tensor, *, sketch: int = 0, seed: int = 0, batch: int = 16):
    """(F = JᵀJ in raw coordinates, method string). sketch > 0 forces the randomised estimate from that
    many gradients; 0 uses the exact Jacobian when available and falls back to 32·P gradients."""
    P = len(problem.names)
    if sketch <= 0:
        try:
            _, J = jacobian(problem.flat_residuals, raw)
            return J.T @ J, "exact Jacobian"
        except SecondOrderUnsupported as e:
            reason = str(e)
            sketch = 32 * P
    else:
        reason = "requested"
    gen = torch.Generator().manual_seed(seed)
    G = []
    left = sketch
    while left > 0:
        m = min(batch, left)
        rep = raw.detach().reshape(1, -1).repeat(m, 1).requires_grad_(True)
        with torch.enable_grad():
            r = problem.residuals(rep)
            v = torch.randn(r.shape, generator=gen, dtype=torch.float64) * problem.mask
            (r * v).sum().backward()
        G.append(rep.grad.detach())
        left -= m
    G = torch.cat(G)
    return G.T @ G / sketch, f"sketch of JᵀJ from {sketch} gradients ({reason})"


def identifiability(model: Model, x, target, theta: Dict[str, float], *, target_kind: str = "gain_db",
                    fixed: Optional[dict] = None, noise_db: float = 0.01, sketch: int = 0,
                    combinations: Optional[Callable[[Dict[str, torch.Tensor]], Dict[str, torch.Tensor]]] = None,
                    seed: int = 0) -> dict:
    """Identifiability of every free parameter and combination at θ (usually the optimum or the truth)
    on data x (B, T) and its target. Returns {"method", "noise_db", "samples", "eigen": [...],
    "quantities": {name: {"delta_db", "crb_units", "identified", "reason"}}} (crb_units: the Cramér–Rao
    standard deviation at noise_db in tolerance units). combinations: θ → named combinations
    (default for the SSL model: ssl_combinations)."""
    problem = Problem(model, x, target, target_kind, fixed)
    raw = problem.raw({**theta, **{n: v for n, v in (fixed or {}).items()}})
    F_raw, method = fisher(problem, raw, sketch=sketch, seed=seed)
    D = _tol_units(problem, raw)
    F = D[:, None] * F_raw * D[None, :]        # in tolerance units
    M = problem.count
    lam, vec = torch.linalg.eigh(F)
    lam_floor = float(lam.max()) * 1e-15
    F_inv = (vec / lam.clamp_min(lam_floor)) @ vec.T

    if combinations is None and model.name == "ssl":
        def combinations(v):
            return ssl_combinations(v)

    def quantity(fn: Callable[[Dict[str, torch.Tensor]], torch.Tensor], absolute: bool) -> float:
        u = torch.zeros(len(problem.names), dtype=torch.float64, requires_grad=True)
        vals = problem.values(raw + D * u)
        c = fn(vals)
        (w,) = torch.autograd.grad(c, u, allow_unused=True)
        if w is None or float(w.abs().max()) == 0.0:
            return 0.0
        if not absolute:
            w = w / (REL_TOL * float(c))  # a 2 % change of c is one unit
        else:
            w = w / ABS_TOL.get(fn.__name__, 0.05)
        return float(1 / math.sqrt(M * float(w @ F_inv @ w)))

    quantities = {}
    for n in problem.names:
        f = (lambda v, n=n: v[n])
        f.__name__ = n
        quantities[n] = {"delta_db": quantity(f, n in ABSOLUTE), "kind": "parameter"}
    if combinations is not None:
        names = list(combinations({k: float(v) for k, v in {**theta, **(fixed or {})}.items()}))
        for n in names:
            f = (lambda v, n=n: combinations(v)[n])
            f.__name__ = n
            quantities.setdefault(n, {"delta_db": quantity(f, n in ABSOLUTE), "kind": "combination"})
    for q in quantities.values():
        q["crb_units"] = noise_db / (q["delta_db"] * math.sqrt(M)) if q["delta_db"] > 0 else math.inf
        q["identified"] = q["crb_units"] <= 1 / 3
    for n, q in quantities.items():
        q["reason"] = "" if q["identified"] else _reason(model, n, theta, quantities)
    eigen = []
    for i in range(len(lam)):
        v = vec[:, i]
        order = torch.argsort(v.abs(), descending=True)
        eigen.append({"rmse_db_per_unit": math.sqrt(max(float(lam[i]), 0.0) / M),
                      "direction": {problem.names[j]: round(float(v[j]), 4) for j in order[:4].tolist()
                                    if abs(float(v[j])) > 0.05}})
    return {"method": method, "noise_db": noise_db, "samples": M, "eigen": eigen, "quantities": quantities,
            "units": "one unit = 2 % (positive quantities), 0.05 dB (thresholds, makeup), 0.02 (feedback)"}


def _reason(model: Model, name: str, theta: Dict[str, float], q: dict) -> str:
    """Why a quantity is not identified (from the model's known structure, checked against the measure)."""
    ok = lambda n: n in q and q[n]["identified"]  # noqa: E731
    if model.name == "ssl":
        if name in ("T_attack_slow", "T_shunt_slow", "T_attack_slow_eff") and theta.get("T_attack_slow", 0) > 100:
            return "the slow capacitor is bypassed in this setting (fixed release: T_as ≈ 1e4 s, T_ss ≈ one sample)"
        if name in ("feedback_coeff", "comp_ratio", "T_attack_fast", "T_attack_slow") and ok("ratio_eff"):
            return ("feedback trades off with ratio and attack: fb > 0 behaves like fb = 0 with slope s/(1+s·fb) "
                    "and attack time constants divided by (1+s·fb), up to the one-sample feedback delay")
        if name == "T_shunt_slow":
            return "the probes' quiet holds are short against the slow shunt decay (T_ss)"
    return "too little excitation in the data for this quantity (see the weakest eigen-directions)"
