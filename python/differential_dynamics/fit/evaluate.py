"""Evaluation of a fit on held-out data: recovered vs true θ per parameter (and, for the SSL model, the
identifiable combinations), held-out gain RMSE in dB, audio error-to-signal ratio, iterations and
wall time; a JSON/CSV report and a PNG (loss curve, parameter trajectories, target vs fitted gain)."""
from __future__ import annotations

import csv
import io
import json
import math
import os
from typing import Dict, Optional

import torch

from .fitting import MAKEUP, FitResult, _tensor
from .models import Model, _LN10_20

__all__ = ["gain_rmse_db", "esr", "ssl_combinations", "compare", "evaluate", "write_report", "plot_fit",
           "RELATIVE", "ABSOLUTE"]

# Parameters whose error is reported in absolute units (dB, or a coefficient in [0, 1]); all others
# relative (value/true − 1).
ABSOLUTE = {"threshold_db", "comp_thresh", MAKEUP, "feedback_coeff", "feedback_fraction"}
RELATIVE = {"ratio", "attack_ms", "release_ms", "comp_ratio", "T_attack_fast", "T_attack_slow", "T_shunt_fast",
            "T_shunt_slow", "ratio_eff", "T_attack_fast_eff", "T_attack_slow_eff"}


def _values_t(values: Dict[str, float]) -> Dict[str, torch.Tensor]:
    return {n: torch.tensor(float(v), dtype=torch.float64) for n, v in values.items()}


def model_gain_db(model: Model, values: Dict[str, float], x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.gain_db(model.features(x), _values_t(values))


def gain_rmse_db(model: Model, values: Dict[str, float], x, target_gain_db, start: int = 0) -> float:
    """Gain RMSE (dB) over the active samples (detector above −100 dB) of the model's gain against a
    target gain trace (without makeup), from sample `start` on (the model runs from sample 0)."""
    x, target = _tensor(x, "x"), _tensor(target_gain_db, "target_gain_db")
    g = model_gain_db(model, values, x)
    mask = model.active(model.features(x))[:, start:]
    d = (g - target)[:, start:][mask]
    return float(torch.sqrt((d * d).mean())) if d.numel() else float("nan")


def esr(y, y_hat) -> float:
    """Error-to-signal ratio Σ(y − ŷ)² / Σy²."""
    y, y_hat = _tensor(y, "y"), _tensor(y_hat, "y_hat")
    return float(((y - y_hat) ** 2).sum() / (y ** 2).sum())


def ssl_combinations(v: Dict[str, float]) -> Dict[str, float]:
    """The SSL setting's identifiable combinations: with q = 1 + s·fb (s = 1 − 1/CR), a setting with
    feedback behaves like fb = 0 with slope s/q (ratio_eff) and attack time constants divided by q;
    the threshold and the shunt (release) time constants are unchanged."""
    s = 1 - 1 / v["comp_ratio"]
    q = 1 + s * v["feedback_coeff"]
    return {"comp_thresh": v["comp_thresh"], "ratio_eff": 1 / (1 - s / q), "T_attack_fast_eff": v["T_attack_fast"] / q,
            "T_attack_slow_eff": v["T_attack_slow"] / q, "T_shunt_fast": v["T_shunt_fast"],
            "T_shunt_slow": v["T_shunt_slow"]}


def compare(true: Dict[str, float], recovered: Dict[str, float]) -> Dict[str, dict]:
    """Per name in `true`: true, recovered, error (recovered − true) and, for positive quantities,
    rel_error (recovered/true − 1)."""
    out = {}
    for n, t in true.items():
        r = recovered[n]
        row = {"true": t, "recovered": r, "error": r - t}
        if n in RELATIVE:
            row["rel_error"] = r / t - 1
        out[n] = row
    return out


def evaluate(model: Model, fit: FitResult, x_test, *, gain_test=None, y_test=None,
             true: Optional[Dict[str, float]] = None, true_makeup_db: float = 0.0, start: int = 0) -> dict:
    """Report of a fit on held-out data. gain_test: the target gain in dB (B, T); y_test: the target
    audio (B, T) for the ESR (without it, the audio is the true setting's output if `true` is given).
    true: the true θ (known for synthetic targets); true_makeup_db: the target's makeup, which the ESR of
    a gain-trace fit (no makeup fitted) uses. start: the errors count from this sample on (the model
    runs from sample 0, so that its state there is the one the target's processor had)."""
    x = _tensor(x_test, "x_test")
    values = fit.values
    makeup = values.get(MAKEUP, true_makeup_db)  # a gain-trace fit has no makeup of its own
    g_hat = model_gain_db(model, values, x)
    y_hat = x * torch.exp((g_hat + makeup) * _LN10_20)
    if gain_test is None and true is not None:
        gain_test = model_gain_db(model, true, x)
    if y_test is None and true is not None:
        y_test = x * torch.exp((model_gain_db(model, true, x) + true_makeup_db) * _LN10_20)
    report = {"model": fit.model, "method": fit.method, "iterations": fit.iterations, "seconds": fit.seconds,
              "cpu_seconds": fit.cpu_seconds,
              "train_rmse_db": fit.train_rmse_db, "recovered": dict(values), "fitted": fit.fitted,
              "messages": fit.messages,
              "heldout_gain_rmse_db": None if gain_test is None else gain_rmse_db(model, values, x, gain_test, start),
              "heldout_esr": None if y_test is None else esr(_tensor(y_test, "y_test")[:, start:], y_hat[:, start:])}
    if true is not None:
        truth = {n: true[n] for n in model.names}
        if MAKEUP in values:
            truth[MAKEUP] = true_makeup_db
        report["parameters"] = compare(truth, values)
        if model.name == "ssl":
            report["combinations"] = compare(ssl_combinations(truth), ssl_combinations(values))
    return report


def _csv_rows(report: dict):
    rows = []
    for group in ("parameters", "combinations"):
        for n, r in report.get(group, {}).items():
            rows.append([group, n, r["true"], r["recovered"], r["error"], r.get("rel_error", "")])
    return rows


def write_report(report: dict, out_dir: str, stem: str = "report") -> Dict[str, str]:
    """report → out_dir/stem.json and stem.csv (one row per parameter/combination, then the metrics)."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, f"{stem}.json"), "csv": os.path.join(out_dir, f"{stem}.csv")}
    with open(paths["json"], "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
        f.write("\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["group", "name", "true", "recovered", "error", "rel_error"])
    w.writerows(_csv_rows(report))
    for key in ("heldout_gain_rmse_db", "heldout_esr", "train_rmse_db", "iterations", "seconds"):
        w.writerow(["metric", key, "", report[key], "", ""])
    with open(paths["csv"], "w") as f:
        f.write(buf.getvalue())
    return paths


def plot_fit(model: Model, fit: FitResult, x_test, gain_test, path: str, *, true: Optional[Dict[str, float]] = None,
             seconds: float = 1.5, title: Optional[str] = None) -> str:
    """PNG: loss curve, parameter trajectories (relative to the truth when known) and the target vs
    fitted gain on the first held-out clip."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x = _tensor(x_test, "x_test")[:1]
    target = _tensor(gain_test, "gain_test")[:1]
    fitted = model_gain_db(model, fit.values, x)
    hist = fit.history
    true = None if true is None else {**true, **model.from_native(true)}  # in fit coordinates too
    fig, ax = plt.subplots(3, 1, figsize=(10, 10))
    loss = [max(v, 1e-16) for v in hist["loss"]]
    ax[0].semilogy(loss, lw=1)
    phases = hist["phase"]
    for i in range(1, len(phases)):
        if phases[i] != phases[i - 1]:
            ax[0].axvline(i, color="grey", ls=":", lw=0.8)
            ax[0].text(i, max(loss), f" {phases[i]}", va="top", fontsize=8)
    ax[0].set_ylabel("train gain RMSE (dB)")
    ax[0].set_xlabel("iteration")
    ax[0].set_title(title or f"{model.name}: {fit.method}, {fit.iterations} iterations, {fit.seconds:.1f} s")
    for n in fit.fitted:
        traj = torch.tensor(hist[n], dtype=torch.float64)
        if true is not None and n in true:
            t = float(true[n])
            rel = n in RELATIVE and t != 0
            err = (traj / t - 1).abs() if rel else (traj - t).abs()
            ax[1].semilogy(err.clamp_min(1e-16), lw=1, label=f"{n} ({'relative' if rel else 'absolute'})")
        else:
            ax[1].plot(traj / traj[-1], lw=1, label=f"{n} / final")
    ax[1].set_ylabel("|error| vs true" if true is not None else "value / final value")
    ax[1].set_xlabel("iteration")
    ax[1].legend(fontsize=8, ncol=2, loc="lower left")
    n = min(x.shape[1], int(seconds * model.fs))
    t = torch.arange(n) / model.fs
    ax[2].plot(t, target[0, :n], lw=2.0, color="C0", label="target gain")
    ax[2].plot(t, fitted[0, :n], lw=0.9, ls="--", color="C3", label="fitted gain")
    ax[2].set_xlabel("time (s), first held-out clip")
    ax[2].set_ylabel("gain (dB)")
    ax[2].legend(loc="lower right")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def within(report: dict, tolerances: Dict[str, float], group: str = "parameters") -> bool:
    """Every named quantity within its tolerance (relative for RELATIVE names, absolute otherwise)."""
    rows = report.get(group, {})
    for n, tol in tolerances.items():
        r = rows[n]
        e = r["rel_error"] if "rel_error" in r else r["error"]
        if not (math.isfinite(e) and abs(e) < tol):
            return False
    return True
