"""Fitting one global parameter setting θ of a model to (input, target) pairs by gradient descent.

The loss is the gain RMSE in dB over the active samples (detector above −100 dB). A target is either
the gain trace in dB (target="gain_db") or the processed audio (target="audio"): then the observed gain
is 20·log10(|y| / |x|) on the samples where both are above −80 dBFS / −140 dBFS and a makeup gain (dB)
is fitted too.

Every iterate is valid by construction (models.Transform). The schedule:
  1. multi-start screening: `starts` settings (the model's generic start, then draws from its start
     box) optimised together for `screen_steps` Adam steps (one batched kernel call per step: each
     setting on its own rows); the best continues;
  2. Adam with a cosine learning-rate schedule and gradient-norm clipping (`steps`);
     a sigmoid-gated compressor anneals its gate sharpness k geometrically over phases 1–2;
  3. refinement (`refine`): "lm" = Levenberg–Marquardt on the residuals, with the Jacobian from forward
     mode or, failing that, double backward; "lbfgs" = L-BFGS (first-order gradients only); "auto" =
     "lm" where the model's kernels support a Jacobian, else "lbfgs" with a message saying why;
     "none" = stop after Adam.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from .models import Model, Transform, _LN10_20

__all__ = ["fit", "FitResult", "Problem", "jacobian", "SecondOrderUnsupported", "observed_gain_db"]

MAKEUP = "makeup_db"
_MAKEUP_T = Transform("affine", 10.0)


class SecondOrderUnsupported(RuntimeError):
    """The model's kernels give neither a forward-mode nor a double-backward Jacobian."""


@dataclass
class FitResult:
    model: dict                       # the model's spec()
    values: Dict[str, float]          # every parameter (fitted and fixed; makeup_db for audio targets)
    fitted: List[str]                 # the names that were learned
    train_rmse_db: float              # gain RMSE (dB) on the training data at the end
    iterations: int                   # optimiser steps over all phases (screening counted once per step)
    seconds: float                    # wall time
    cpu_seconds: float                # CPU time of this process (= wall time of an unloaded single thread)
    method: str                       # e.g. "adam(4 starts)+lm"
    messages: List[str] = field(default_factory=list)
    history: Dict[str, list] = field(default_factory=dict)   # loss, phase, per-name value trajectories

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("model", "values", "fitted", "train_rmse_db", "iterations", "seconds",
                                              "cpu_seconds", "method", "messages", "history")}


def observed_gain_db(x: torch.Tensor, y: torch.Tensor, x_floor: float = 1e-4, y_floor: float = 1e-7):
    """(gain in dB = 20·log10|y/x|, mask of the samples where it is defined: |x| > x_floor, |y| > y_floor)."""
    mask = (x.abs() > x_floor) & (y.abs() > y_floor)
    safe_x = torch.where(mask, x, torch.ones_like(x))
    safe_y = torch.where(mask, y, torch.ones_like(y))
    return (torch.log(safe_y.abs()) - torch.log(safe_x.abs())) / _LN10_20, mask


def _tensor(a, name: str) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy array, got {type(a).__name__}")
    if a.dim() == 1:
        a = a.unsqueeze(0)
    if a.dim() == 3 and a.shape[1] == 1:
        a = a[:, 0]
    if a.dim() != 2:
        raise ValueError(f"{name}: expected shape (B, T), (T,) or (B, 1, T), got {tuple(a.shape)}")
    if a.shape[0] >= 64 and a.shape[1] <= 8:
        raise ValueError(f"{name}: shape {tuple(a.shape)} looks like (time, channels); the time axis must be last "
                         "(transpose: x.T / x.transpose(-1, -2))")
    if not torch.isfinite(a).all():
        raise ValueError(f"{name}: must be finite (NaN or Inf found)")
    return a.detach().to(torch.float64).contiguous()


class Problem:
    """A model, its data and the free parameters: maps raw vectors (K, P) to per-setting losses."""

    def __init__(self, model: Model, x, target, target_kind: str = "gain_db", fixed: Optional[dict] = None):
        if target_kind not in ("gain_db", "audio"):
            raise ValueError(f'target_kind: must be "gain_db" or "audio", got {target_kind!r}')
        self.model = model
        x = _tensor(x, "x")
        target = _tensor(target, "target")
        if target.shape != x.shape:
            raise ValueError(f"target: shape {tuple(target.shape)} differs from x's {tuple(x.shape)}")
        fixed = dict(fixed or {})
        for n in fixed:
            if n not in model.params and n != MAKEUP:
                raise ValueError(f"fixed: {n!r} is not a parameter of {model.name} ({', '.join(model.names)})")
        self.fixed = {n: float(v) for n, v in fixed.items()}
        self.transforms: Dict[str, Transform] = dict(model.params)
        if target_kind == "audio":
            self.transforms[MAKEUP] = _MAKEUP_T
        self.names = [n for n in self.transforms if n not in self.fixed]
        if not self.names:
            raise ValueError("fixed: every parameter is fixed; nothing to fit")
        self.features = model.features(x)
        self.mask = model.active(self.features)
        if target_kind == "audio":
            self.target, defined = observed_gain_db(x, target)
            self.mask = self.mask & defined
        else:
            self.target = target
        self.count = int(self.mask.sum())
        if self.count == 0:
            raise ValueError("x: no active samples (the detector is below −100 dB everywhere)")

    def subset(self, rows: int) -> "Problem":
        """The same problem on the first `rows` clips (rows) of the data."""
        if rows >= self.features.shape[0]:
            return self
        sub = object.__new__(Problem)
        sub.__dict__.update(self.__dict__)
        sub.features, sub.mask, sub.target = self.features[:rows], self.mask[:rows], self.target[:rows]
        sub.count = max(int(sub.mask.sum()), 1)
        return sub

    def values(self, raw: torch.Tensor) -> Dict[str, torch.Tensor]:
        """raw (..., P) → every parameter value (fixed ones as 0-d tensors)."""
        v = {n: self.transforms[n].value(raw[..., i]) for i, n in enumerate(self.names)}
        v.update({n: torch.tensor(val, dtype=torch.float64) for n, val in self.fixed.items()})
        return v

    def raw(self, values: Dict[str, float]) -> torch.Tensor:
        return torch.tensor([self.transforms[n].raw(values[n]) for n in self.names], dtype=torch.float64)

    def residuals(self, raw: torch.Tensor) -> torch.Tensor:
        """raw (K, P) → residuals (K, B, T) in dB, zero on inactive samples."""
        K = raw.shape[0]
        v = self.values(raw)
        feats = self.features.repeat(K, 1) if K > 1 else self.features
        g = self.model.gain_db(feats, v)
        if MAKEUP in v:
            g = g + v[MAKEUP].reshape(-1, 1).repeat_interleave(self.features.shape[0], 0) if K > 1 \
                else g + v[MAKEUP]
        r = (g.reshape(K, *self.target.shape) - self.target) * self.mask
        return r

    def losses(self, raw: torch.Tensor) -> torch.Tensor:
        """Gain RMSE in dB per setting, (K,)."""
        r = self.residuals(raw)
        return torch.sqrt((r * r).reshape(raw.shape[0], -1).sum(1) / self.count + 1e-30)

    def flat_residuals(self, raw1: torch.Tensor) -> torch.Tensor:
        """raw (P,) → the active residuals as a vector (M,)."""
        return self.residuals(raw1.reshape(1, -1)).reshape(-1)[self.mask.reshape(-1)]


def jacobian(fn: Callable[[torch.Tensor], torch.Tensor], raw: torch.Tensor):
    """(fn(raw), ∂fn/∂raw (M, P)) by forward mode (P tangents), or by double backward (P backward
    passes of a vector-Jacobian product that is linear in its vector). Raises SecondOrderUnsupported
    with both reasons when neither is available."""
    import torch.autograd.forward_ad as fwAD
    P = raw.numel()
    reasons = []
    try:
        cols = []
        with fwAD.dual_level():
            for i in range(P):
                out = fn(fwAD.make_dual(raw.detach(), torch.eye(P, dtype=raw.dtype)[i]))
                primal, tangent = fwAD.unpack_dual(out)
                if tangent is None:
                    raise RuntimeError("forward mode returned no tangent")
                cols.append(tangent)
        return primal.detach(), torch.stack(cols, 1)
    except (RuntimeError, NotImplementedError) as e:
        reasons.append(f"forward mode: {str(e).splitlines()[0]}")
    try:
        with torch.enable_grad():
            r0 = raw.detach().requires_grad_(True)
            out = fn(r0)
            u = torch.zeros_like(out, requires_grad=True)
            (vjp,) = torch.autograd.grad(out, r0, u, create_graph=True)
            cols = [torch.autograd.grad(vjp[i], u, retain_graph=i < P - 1)[0] for i in range(P)]
        return out.detach(), torch.stack(cols, 1)
    except (RuntimeError, NotImplementedError) as e:
        reasons.append(f"double backward: {str(e).splitlines()[0]}")
    raise SecondOrderUnsupported("; ".join(reasons))


def _sample_starts(model: Model, problem: Problem, start: Dict[str, float], count: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    rows = [problem.raw({**start, **problem.fixed})]
    for _ in range(count - 1):
        v = dict(start)
        for n, (lo, hi, scale) in model.start_box.items():
            v[n] = math.exp(rng.uniform(math.log(lo), math.log(hi))) if scale == "log" else rng.uniform(lo, hi)
        rows.append(problem.raw({**v, **problem.fixed}))
    return torch.stack(rows)


def _clip_rows(grad: torch.Tensor, clip: float) -> None:
    """Gradient-norm clipping per setting (row), in place: settings never share a step size."""
    norms = grad.norm(dim=1, keepdim=True)
    grad.mul_(torch.clamp(clip / (norms + 1e-12), max=1.0))


def _adam(problem: Problem, raw: torch.Tensor, steps: int, lr: float, lr_min: float, clip: float,
          on_step: Callable[[int, torch.Tensor, torch.Tensor], None]) -> torch.Tensor:
    raw = raw.clone().requires_grad_(True)
    opt = torch.optim.Adam([raw], lr=lr)
    for i in range(steps):
        # cosine schedule, evaluated here so the schedule is the same for any step count
        for group in opt.param_groups:
            group["lr"] = lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * i / max(steps, 1)))
        on_step(i, raw, None)
        opt.zero_grad()
        losses = problem.losses(raw)
        losses.sum().backward()
        _clip_rows(raw.grad, clip)
        opt.step()
        on_step(i, raw.detach(), losses.detach())
    return raw.detach()


def _lm(problem: Problem, raw: torch.Tensor, steps: int, on_step, tol: float = 1e-12) -> torch.Tensor:
    """Levenberg–Marquardt with Marquardt's diagonal scaling. Raises SecondOrderUnsupported at once if the
    Jacobian is not available."""
    r, J = jacobian(problem.flat_residuals, raw)
    cost = float(r @ r)
    lam = 1e-3
    for i in range(steps):
        A, g = J.T @ J, J.T @ r
        D = torch.diag(torch.clamp(torch.diagonal(A), min=1e-12 * float(torch.diagonal(A).max()) + 1e-300))
        accepted = False
        while lam < 1e12:
            try:
                step = -torch.linalg.solve(A + lam * D, g)
            except RuntimeError:
                lam *= 4
                continue
            with torch.no_grad():
                r_new = problem.flat_residuals(raw + step)
            cost_new = float(r_new @ r_new)
            if cost_new < cost:
                accepted = True
                break
            lam *= 4
        if not accepted:
            break
        raw = raw + step
        small = cost - cost_new <= tol * cost or float(step.abs().max()) < 1e-12
        cost = cost_new
        lam = max(lam / 3, 1e-12)
        on_step(i, raw, torch.tensor([math.sqrt(cost / problem.count)]))
        if small or cost == 0.0:
            break
        r, J = jacobian(problem.flat_residuals, raw)
    return raw


def _lbfgs(problem: Problem, raw: torch.Tensor, steps: int, on_step) -> torch.Tensor:
    raw = raw.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([raw], lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-14, tolerance_change=1e-18)
    count = [0]

    def closure():
        opt.zero_grad()
        r = problem.residuals(raw.reshape(1, -1))
        loss = (r * r).sum() / problem.count
        loss.backward()
        count[0] += 1
        on_step(count[0], raw.detach(), torch.sqrt(loss.detach()).reshape(1))
        return loss

    opt.step(closure)
    return raw.detach()


def fit(model: Model, x, target, *, target_kind: str = "gain_db", fixed: Optional[dict] = None,
        start: Optional[Dict[str, float]] = None, starts: int = 4, screen_steps: int = 30, steps: int = 100,
        lr: float = 0.05, lr_min: float = 1e-3, clip: float = 1.0, refine: str = "auto", refine_steps: int = 30,
        k_range: Sequence[float] = (0.5, 50.0), screen_rows: int = 1, seed: int = 0,
        progress: bool = True) -> FitResult:
    """Learn one θ of `model` from x (B, T) and a target (B, T): the gain trace in dB
    (target_kind="gain_db") or the processed audio ("audio", which also fits makeup_db).

    fixed: parameters held at given values (e.g. {"feedback_coeff": 0.0}); start: the first start
    (default model.start); starts: settings screened (1 = no multi-start); steps: Adam steps after
    screening; screen_rows: the clips (rows) screening looks at (the cost of screening K starts is K
    times that of one step on these rows); refine: "auto" | "lm" | "lbfgs" | "none"; k_range: the sigmoid gate's sharpness annealed
    from k_range[0] to k_range[1] (1/dB); progress: a tqdm bar on stderr. Returns a FitResult."""
    if refine not in ("auto", "lm", "lbfgs", "none"):
        raise ValueError(f'refine: must be "auto", "lm", "lbfgs" or "none", got {refine!r}')
    for name, v in (("starts", starts), ("screen_steps", screen_steps), ("steps", steps),
                    ("refine_steps", refine_steps)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (1 if name == "starts" else 0):
            raise ValueError(f"{name}: must be an integer >= {1 if name == 'starts' else 0}, got {v!r}")
    t0, c0 = time.perf_counter(), time.process_time()
    problem = Problem(model, x, target, target_kind, fixed)
    start_values = {**model.start, MAKEUP: 0.0, **(start or {})}
    messages: List[str] = []
    hist: Dict[str, list] = {"loss": [], "phase": [], **{n: [] for n in problem.names}}
    sigmoid = getattr(model, "gate", "hard") == "sigmoid"
    anneal_steps = (screen_steps if starts > 1 else 0) + steps
    k0, k1 = (float(k_range[0]), float(k_range[1]))

    from tqdm import tqdm
    bar = tqdm(total=anneal_steps + refine_steps, disable=not progress, desc=f"fit {model.name}", leave=False,
               dynamic_ncols=True)
    done = [0]

    def set_k():
        if sigmoid:
            model.k = k0 * (k1 / k0) ** min(done[0] / max(anneal_steps - 1, 1), 1.0)

    def recorder(phase: str, track: Optional[int] = None):
        def on_step(i, raw, losses):
            if losses is None:  # before the step: set the annealed k
                set_k()
                return
            row = 0 if track is None else track
            vals = problem.values(raw.reshape(-1, len(problem.names))[row] if raw.dim() > 1 else raw)
            hist["loss"].append(losses.tolist() if track is None and losses.numel() > 1 else float(losses[row]))
            hist["phase"].append(phase)
            for n in problem.names:
                hist[n].append(float(vals[n]) if track is not None or raw.dim() == 1 or raw.shape[0] == 1
                               else vals[n].tolist())
            done[0] += 1
            bar.update(1)
            bar.set_postfix_str(f"{phase} loss {float(losses.min()):.3g} dB")
        return on_step

    raw = _sample_starts(model, problem, start_values, starts, seed)
    if starts > 1 and screen_steps > 0:
        screen = problem.subset(screen_rows)
        raw = _adam(screen, raw, screen_steps, lr, lr, clip, recorder("screen"))
        with torch.no_grad():
            best = int(torch.argmin(screen.losses(raw)))
        # keep the trajectories of the start that won
        for key in ["loss"] + problem.names:
            hist[key] = [v[best] if isinstance(v, list) else v for v in hist[key]]
        raw = raw[best:best + 1]
    else:
        raw = raw[:1]
    raw = _adam(problem, raw, steps, lr, lr_min, clip, recorder("adam"))[0]
    method = f"adam({starts} start{'s' if starts > 1 else ''})"

    if refine != "none" and refine_steps > 0:
        use = refine
        if refine in ("auto", "lm"):
            try:
                raw = _lm(problem, raw, refine_steps, recorder("lm", 0))
                use = "lm"
            except SecondOrderUnsupported as e:
                msg = (f"{model.name}: Levenberg–Marquardt needs a Jacobian the kernels do not provide ({e}); "
                       "refining with L-BFGS (first-order gradients) instead")
                messages.append(msg)
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
                if progress:
                    tqdm.write(msg)
                use = "lbfgs"
        if use == "lbfgs":
            raw = _lbfgs(problem, raw, refine_steps, recorder("lbfgs", 0))
        method += f"+{use}"
    bar.close()

    with torch.no_grad():
        final = float(problem.losses(raw.reshape(1, -1))[0])
        vals = problem.values(raw)
    values = {n: float(v) for n, v in vals.items()}
    return FitResult(model=model.spec(), values=values, fitted=list(problem.names), train_rmse_db=final,
                     iterations=len(hist["loss"]), seconds=time.perf_counter() - t0,
                     cpu_seconds=time.process_time() - c0, method=method,
                     messages=messages, history=hist)
