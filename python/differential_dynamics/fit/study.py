"""Recovery studies: many random θ, each rendered (probes or recordings, as the dataset builder does),
fitted on its train clips from scratch and evaluated on its test clips. Every θ is one task (serial, or
on Dask distributed); each result is written to results/NNNN.json as soon as it arrives, so a study
interrupted (or a worker lost) resumes where it stopped and loses no finished result.

    from differential_dynamics.fit.study import StudySettings, run_study
    summary = run_study("out/study", StudySettings(model="compressor", n=100), client=make_client())
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .dataset import DatasetSettings, _atomic_write, _json_text, render_permutation
from .evaluate import evaluate, ssl_combinations, within
from .fitting import fit
from .tasks import run_tasks

__all__ = ["StudySettings", "recovery_task", "run_study", "load_results", "summarise", "ACCEPT"]

# Acceptance tolerances (docs/recovery.md): classical parameters; SSL identifiable quantities.
ACCEPT = {"compressor": {"threshold_db": 0.05, "ratio": 0.01, "attack_ms": 0.02, "release_ms": 0.02},
          "ssl_rel": 0.02, "ssl_abs_db": 0.05, "ssl_gain_rmse_db": 0.01}


@dataclass
class StudySettings:
    data: DatasetSettings = field(default_factory=DatasetSettings)
    n: int = 100                                   # number of θ (permutations 0 … n−1 of `data`)
    target_kind: str = "gain_db"
    fixed: Dict[str, float] = field(default_factory=dict)
    fit: Dict[str, object] = field(default_factory=dict)   # keyword arguments of fit()
    identify: bool = False                         # identifiability at the true θ (SSL)

    @staticmethod
    def from_dict(d: dict) -> "StudySettings":
        d = dict(d)
        d["data"] = DatasetSettings(**d["data"])
        return StudySettings(**d)


def recovery_task(settings: StudySettings, i: int) -> dict:
    """Render θ_i and its clips, fit on the train clips, evaluate on the test clips."""
    rendered = render_permutation(settings.data, i)
    meta, arrays = rendered["meta"], rendered["arrays"]
    model = settings.data.make_model()
    train, test = arrays["train"], arrays["test"]
    import torch
    target = train["gain_db"] if settings.target_kind == "gain_db" else train["output"]
    result = fit(model, torch.from_numpy(train["input"]), torch.from_numpy(target), target_kind=settings.target_kind,
                 fixed=settings.fixed or None, progress=False, **settings.fit)
    report = evaluate(model, result, torch.from_numpy(test["input"]), gain_test=torch.from_numpy(test["gain_db"]),
                      y_test=torch.from_numpy(test["output"]), true=meta["theta"], true_makeup_db=meta["makeup_db"])
    report.update({"id": i, "theta": meta["theta"], "makeup_db": meta["makeup_db"], "panel": meta["panel"],
                   "sources": sorted({c["source"] for s in meta["clips"].values() for c in s})})
    if settings.identify:
        from .identify import identifiability
        ident = identifiability(model, torch.from_numpy(train["input"]), torch.from_numpy(train["gain_db"]),
                                meta["theta"], fixed=settings.fixed or None)
        report["identifiability"] = {"method": ident["method"], "quantities": ident["quantities"],
                                     "eigen": ident["eigen"]}
    return report


def _result_path(out_dir: str, i: int) -> str:
    return os.path.join(out_dir, "results", f"{i:04d}.json")


def load_results(out_dir: str) -> List[dict]:
    folder = os.path.join(out_dir, "results")
    if not os.path.isdir(folder):
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(os.path.join(folder, name)) as f:
                out.append(json.load(f))
    return out


def run_study(out_dir: str, settings: StudySettings, *, client=None, progress: bool = True,
              plot: bool = True) -> dict:
    """Run (or resume) a study in out_dir; returns its summary (also in summary.json)."""
    settings.data.check()
    if settings.data.recordings:
        settings.data.recordings = os.path.abspath(settings.data.recordings)
    os.makedirs(os.path.join(out_dir, "results"), exist_ok=True)
    spec_path = os.path.join(out_dir, "study.json")
    spec = asdict(settings)
    if os.path.exists(spec_path):
        with open(spec_path) as f:
            if json.load(f) != json.loads(json.dumps(spec)):
                raise ValueError(f"out_dir: {out_dir!r} holds a study with other settings")
    _atomic_write(spec_path, _json_text(spec))
    todo = [i for i in range(settings.n) if not os.path.exists(_result_path(out_dir, i))]

    def save(report):
        _atomic_write(_result_path(out_dir, report["id"]), _json_text(report))

    run_tasks(recovery_task, [(settings, i) for i in todo], save, client=client, progress=progress,
              desc=f"study {settings.data.model}")
    results = load_results(out_dir)
    summary = summarise(results, settings.data.model)
    _atomic_write(os.path.join(out_dir, "summary.json"), _json_text(summary))
    _atomic_write(os.path.join(out_dir, "results.csv"), _results_csv(results))
    if plot and results:
        plot_study(results, settings.data.model, os.path.join(out_dir, "study.png"))
    return summary


def _err(row: dict) -> float:
    return row["rel_error"] if "rel_error" in row else row["error"]


def _quantiles(values: List[float]) -> dict:
    a = np.abs(np.asarray(values, dtype=np.float64))
    return {"median": float(np.median(a)), "p90": float(np.quantile(a, 0.9)), "p97": float(np.quantile(a, 0.97)),
            "max": float(a.max())}


def summarise(results: List[dict], model: str) -> dict:
    """Acceptance numbers: per quantity the error quantiles and the share within tolerance; held-out
    gain RMSE; fit time."""
    if not results:
        return {"count": 0}
    s = {"count": len(results),
         "seconds": {"median": statistics.median(r["seconds"] for r in results),
                     "max": max(r["seconds"] for r in results)},
         "cpu_seconds": {"median": statistics.median(r["cpu_seconds"] for r in results),
                         "max": max(r["cpu_seconds"] for r in results)},
         "iterations_median": statistics.median(r["iterations"] for r in results),
         "heldout_gain_rmse_db": _quantiles([r["heldout_gain_rmse_db"] for r in results]),
         "heldout_esr": _quantiles([r["heldout_esr"] for r in results]),
         "methods": sorted({r["method"] for r in results}),
         "messages": sorted({m for r in results for m in r["messages"]})}
    if model == "compressor":
        tol = ACCEPT["compressor"]
        s["errors"] = {n: _quantiles([_err(r["parameters"][n]) for r in results]) for n in tol}
        s["within"] = {n: sum(abs(_err(r["parameters"][n])) < t for r in results) / len(results) for n in tol}
        s["all_within"] = sum(within(r, tol) for r in results) / len(results)
    else:
        s["gain_rmse_below_0.01_db"] = sum(r["heldout_gain_rmse_db"] < ACCEPT["ssl_gain_rmse_db"]
                                           for r in results) / len(results)
        q: Dict[str, dict] = {}
        for r in results:
            rows = {**{n: v for n, v in r["parameters"].items() if n in r["fitted"]}, **r["combinations"]}
            ident = r.get("identifiability", {}).get("quantities", {})
            for n, row in rows.items():
                d = q.setdefault(n, {"identified": 0, "within_when_identified": 0, "errors": [], "reasons": {}})
                e = _err(row)
                d["errors"].append(e)
                tol = ACCEPT["ssl_rel"] if "rel_error" in row else ACCEPT["ssl_abs_db"]
                if n in ident and not ident[n]["identified"]:
                    reason = ident[n]["reason"]
                    d["reasons"][reason] = d["reasons"].get(reason, 0) + 1
                else:
                    d["identified"] += 1
                    d["within_when_identified"] += abs(e) < tol
        for d in q.values():
            d["errors"] = _quantiles(d.pop("errors"))
        s["quantities"] = q
        s["all_identified_within"] = sum(_ssl_all_within(r) for r in results) / len(results)
    return s


def _ssl_all_within(r: dict) -> bool:
    ident = r.get("identifiability", {}).get("quantities", {})
    for n, row in {**{n: v for n, v in r["parameters"].items() if n in r["fitted"]}, **r["combinations"]}.items():
        if n in ident and not ident[n]["identified"]:
            continue
        tol = ACCEPT["ssl_rel"] if "rel_error" in row else ACCEPT["ssl_abs_db"]
        if not abs(_err(row)) < tol:
            return False
    return r["heldout_gain_rmse_db"] < ACCEPT["ssl_gain_rmse_db"]


def _results_csv(results: List[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if not results:
        return ""
    names = list(results[0]["parameters"]) + [f"{n}(comb)" for n in results[0].get("combinations", {})]
    w.writerow(["id", *[f"{n}_true" for n in names], *[f"{n}_recovered" for n in names], "heldout_gain_rmse_db",
                "heldout_esr", "train_rmse_db", "iterations", "seconds", "method"])
    for r in results:
        rows = [r["parameters"][n] for n in r["parameters"]] + [r["combinations"][n] for n in r.get("combinations", {})]
        w.writerow([r["id"], *[repr(x["true"]) for x in rows], *[repr(x["recovered"]) for x in rows],
                    repr(r["heldout_gain_rmse_db"]), repr(r["heldout_esr"]), repr(r["train_rmse_db"]),
                    r["iterations"], f"{r['seconds']:.3f}", r["method"]])
    return buf.getvalue()


def plot_study(results: List[dict], model: str, path: str) -> str:
    """Histograms of |error| per quantity (log scale, tolerance marked) and of the fit time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = [("parameters", n) for n in results[0]["parameters"]]
    groups += [("combinations", n) for n in results[0].get("combinations", {})]
    panels = groups + [("metric", "heldout_gain_rmse_db"), ("metric", "seconds")]
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows))
    for ax, (group, n) in zip(axes.flat, panels):
        if group == "metric":
            vals = np.asarray([r[n] for r in results], dtype=np.float64)
            tol = ACCEPT["ssl_gain_rmse_db"] if n == "heldout_gain_rmse_db" else 10.0
        else:
            rowz = [r[group][n] for r in results]
            vals = np.abs([_err(x) for x in rowz])
            rel = "rel_error" in rowz[0]
            tol = (ACCEPT["compressor"].get(n) if model == "compressor" else None) or \
                (ACCEPT["ssl_rel"] if rel else ACCEPT["ssl_abs_db"])
        vals = np.clip(vals, 1e-16, None)
        lo, hi = math.floor(math.log10(vals.min())), math.ceil(math.log10(max(vals.max(), tol))) + 0.01
        ax.hist(vals, bins=np.logspace(lo, hi, 30))
        ax.set_xscale("log")
        ax.axvline(tol, color="C3", ls="--", lw=1)
        label = {"seconds": "fit time (s)", "heldout_gain_rmse_db": "held-out gain RMSE (dB)"}.get(
            n, f"|{'relative ' if group != 'metric' and 'rel_error' in results[0][group][n] else ''}error| {n}")
        ax.set_title(label, fontsize=9)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"{model}: {len(results)} random settings (dashed: tolerance)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
