"""Matching real compressors: render recordings and probes through third-party LV2 compressors
(differential_dynamics.lv2), fit members of the model family (differential_dynamics.family) to each
(plugin, setting) on training clips, and report held-out error for every model.

    python -m differential_dynamics.matching --out matching_report.json

Metrics on the held-out clips, all clips together: ESR = Σ(y − ŷ)²/Σy², and the gain RMSE in dB
between the target gain y/x and the model's gain over the active samples (|x| above −100 dBFS).
The best model per target is the one with the lowest held-out ESR. Method and results:
docs/recovery.md, "Matching real compressors".
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import lv2
from .family import FamilyCompressor, Topology
from .signals import level_steps

FS = 44100
RECORDINGS = ("frozen-mainzik-1p.ogg", "frozen-mainzik-2p.ogg", "introzik.ogg")
ACTIVE_DB = -100.0

#: The models of the study: a cross-section of the family along every axis (detector, placement,
#: domain, design, feed-forward/feedback); `--models all` fits every member.
STUDY_MODELS = (
    "ff-peak-level-linear-smooth_branching",
    "ff-rms-level-linear-smooth_branching",
    "ff-peak-level-log-smooth_branching",
    "ff-rms-level-linear-decoupled",
    "ff-peak-gain-linear-smooth_branching",
    "ff-peak-gain-log-branching",
    "ff-peak-gain-log-smooth_branching",
    "ff-peak-gain-log-smooth_decoupled",
    "fb-peak-level-linear-smooth_branching",
)


# ------------------------------------------------------------------------------------------------
# Data

def recording_paths(cache: Path) -> List[Path]:
    """The real recordings (frozen-bubble-data's music, Debian), fetched into cache/audio once with
    apt-get download (scripts/fetch_audio.sh where the repository has it)."""
    audio = cache / "audio"
    found = {p.name: p for p in audio.rglob("*.ogg")} if audio.exists() else {}
    if all(name in found for name in RECORDINGS):
        return [found[n] for n in RECORDINGS]
    script = Path(__file__).resolve().parents[2] / "scripts" / "fetch_audio.sh"
    if script.exists():
        subprocess.run(["bash", str(script)], check=True)
    else:
        target = audio / "frozen-bubble"
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["apt-get", "download", "frozen-bubble-data"], cwd=tmp, check=True, capture_output=True)
            deb = next(Path(tmp).glob("frozen-bubble-data_*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True)
            for name in RECORDINGS:
                shutil.copy(next((Path(tmp) / "x").rglob(name)), target / name)
    found = {p.name: p for p in audio.rglob("*.ogg")}
    missing = [n for n in RECORDINGS if n not in found]
    if missing:
        raise RuntimeError(f"recordings {missing} not found under {audio}")
    return [found[n] for n in RECORDINGS]


@dataclass
class Clips:
    x: np.ndarray          # (N, T) float64 mono
    source: List[str]


def make_clips(cache: Path, seconds: float, per_recording: int, seed: int) -> Tuple[Clips, Clips]:
    """(train, test): clips cut from the recordings at evenly spaced offsets, alternately assigned to
    train and test (disjoint in time), each at a seeded peak level in [−12, 0] dBFS, plus one
    level-step noise probe in each set."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    sets = {0: ([], []), 1: ([], [])}
    for path in recording_paths(cache):
        audio, fs = sf.read(path, dtype="float64", always_2d=True)
        if fs != FS:
            raise RuntimeError(f"{path}: sample rate {fs}, expected {FS}")
        mono = audio.mean(axis=1)
        starts = np.linspace(0.05 * len(mono), 0.95 * len(mono) - n, 2 * per_recording).astype(int)
        for i, s in enumerate(starts):
            clip = mono[s:s + n]
            clip = clip / np.max(np.abs(clip)) * 10 ** (rng.uniform(-12, 0) / 20)
            sets[i % 2][0].append(clip)
            sets[i % 2][1].append(f"{path.name}@{s / FS:.1f}s")
    for k in (0, 1):
        probe = level_steps(1, n, seed=seed + 1 + k, lo_db=-45.0, hi_db=-3.0)[0].numpy()
        probe = probe / np.max(np.abs(probe)) * 10 ** (-3 / 20)
        sets[k][0].append(probe)
        sets[k][1].append(f"level_steps(seed={seed + 1 + k})")
    return Clips(np.stack(sets[0][0]), sets[0][1]), Clips(np.stack(sets[1][0]), sets[1][1])


# ------------------------------------------------------------------------------------------------
# Fitting and metrics

def _active(x: torch.Tensor) -> torch.Tensor:
    return x.abs() > 10 ** (ACTIVE_DB / 20)


def metrics(model: FamilyCompressor, x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor) -> Dict[str, float]:
    """Held-out ESR and gain RMSE (dB) over the valid samples (the aligned part of every clip)."""
    with torch.no_grad():
        y_hat = model(x)
        err = ((y - y_hat) ** 2 * valid).sum() / ((y ** 2) * valid).sum()
        act = _active(x) & valid.bool() & (y.abs() > 0)
        gain_db = 20 * torch.log10((y[act] / x[act]).abs())
        fit_db = 20 * torch.log10((y_hat[act] / x[act]).abs())
        rmse = torch.sqrt(torch.mean((gain_db - fit_db) ** 2))
    return {"esr": float(err), "gain_rmse_db": float(rmse)}


def _loss(model, x, y, valid, act, target_db):
    y_hat = model(x)
    esr = ((y - y_hat) ** 2 * valid).sum() / ((y ** 2) * valid).sum()
    fit_db = 20 * torch.log10((y_hat[act] / x[act]).abs().clamp(min=1e-12))
    return torch.mean((fit_db - target_db) ** 2) + 100 * esr


#: Starting settings of the multi-start fit (no knowledge of the plugin's setting).
STARTS = (
    dict(threshold_db=-30.0, ratio=3.0, knee_db=2.0, attack_ms=5.0, release_ms=150.0, makeup_db=0.0),
    dict(threshold_db=-18.0, ratio=8.0, knee_db=1.0, attack_ms=1.0, release_ms=400.0, makeup_db=0.0),
)


def fit(topology: Topology, x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, adam_iterations: int = 30,
        lbfgs_iterations: int = 60, starts: Sequence[dict] = STARTS,
        good_enough: float = 1e-6) -> Tuple[FamilyCompressor, Dict[str, float]]:
    """From each start: Adam with a cosine learning-rate schedule and gradient-norm clipping to reach
    the basin, then L-BFGS (strong Wolfe line search) to converge; keeps the model with the lowest
    final training loss, and stops trying starts once one reaches `good_enough`. (The smallest loop
    this study needs; the general fitting tool replaces it.)"""
    act = _active(x) & valid.bool() & (y.abs() > 0)
    target_db = 20 * torch.log10((y[act] / x[act]).abs())
    loss_of = lambda m: _loss(m, x, y, valid, act, target_db)  # noqa: E731
    best, best_loss, info = None, math.inf, {}
    for i, start in enumerate(starts):
        model = FamilyCompressor(topology, FS, **start)
        fast = [model.threshold_db, model.makeup_db]
        slow = [model.raw_ratio, model.raw_knee, model.raw_attack, model.raw_release]
        opt = torch.optim.Adam([{"params": fast, "lr": 0.5}, {"params": slow, "lr": 0.05}])
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * k / adam_iterations)))
        evaluations = 0
        for _ in range(adam_iterations):
            opt.zero_grad()
            loss = loss_of(model)
            evaluations += 1
            if not torch.isfinite(loss):
                break
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
        lbfgs = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=lbfgs_iterations, history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-12)

        def closure():
            nonlocal evaluations
            lbfgs.zero_grad()
            loss = loss_of(model)
            evaluations += 1
            loss.backward()
            return loss

        if lbfgs_iterations > 0:
            lbfgs.step(closure)
        with torch.no_grad():
            final = float(loss_of(model))
        if final < best_loss:
            best, best_loss, info = model, final, {"start": i, "train_loss": final, "evaluations": evaluations}
        if best_loss < good_enough:
            break
    return best, info


def fit_with_tool(topology: Topology, x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, adam_iterations: int = 20,
                  lbfgs_iterations: int = 40) -> Tuple[FamilyCompressor, Dict[str, float]]:
    """The same fit by the general fitting tool (differential_dynamics.fit: multi-start screening,
    Adam with a cosine schedule and clipping, L-BFGS refinement) on the audio target."""
    import warnings

    from .fit import fit as tool_fit
    from .fit.family_model import Family

    keep = valid.bool().all(dim=0)  # the aligned samples (a latency drops the last ones of every clip)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the announced fallback from Levenberg–Marquardt to L-BFGS
        r = tool_fit(Family(topology, FS), x[:, keep], y[:, keep], target_kind="audio", starts=2,
                     screen_steps=adam_iterations, steps=adam_iterations, refine_steps=lbfgs_iterations, progress=False)
    v = dict(r.values)
    v["ratio"] = max(v["ratio"], 1 + 2e-6)
    v["knee_db"] = max(v["knee_db"], 1e-9)
    for t in ("attack_ms", "release_ms"):
        v[t] = min(max(v[t], 0.0100001), 4999.99)
    return FamilyCompressor(topology, FS, **v), {"train_rmse_db": r.train_rmse_db, "iterations": r.iterations,
                                                 "method": r.method}


FITTERS = {"local": fit, "tool": fit_with_tool}


# ------------------------------------------------------------------------------------------------
# The study

def run_study(plugins: Sequence[str], settings: Sequence[lv2.Setting], models: Sequence[str], iterations: int,
              lbfgs_iterations: int, seconds: float, per_recording: int, seed: int, cache: Path, log=print,
              fitter: str = "local") -> dict:
    train, test = make_clips(cache, seconds, per_recording, seed)
    report = {"fs": FS, "seconds_per_clip": seconds, "seed": seed, "adam_iterations": iterations,
              "lbfgs_iterations": lbfgs_iterations, "fitter": fitter,
              "train_clips": train.source, "test_clips": test.source, "active_db": ACTIVE_DB,
              "selection": "lowest held-out ESR", "targets": []}
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))  # noqa: E731
    for key in plugins:
        plugin = lv2.PLUGINS[key]
        for setting in settings:
            y_train, latency = lv2.render(plugin, setting, train.x, FS, cache / "renders")
            y_test, latency_test = lv2.render(plugin, setting, test.x, FS, cache / "renders")
            if latency_test != latency:
                raise RuntimeError(f"{key}/{setting.name}: latency {latency} on train, {latency_test} on test")
            valid = torch.ones(train.x.shape, dtype=torch.float64)
            valid[:, train.x.shape[1] - latency:] = 0
            valid_test = torch.ones(test.x.shape, dtype=torch.float64)
            valid_test[:, test.x.shape[1] - latency:] = 0
            xt, yt, xv, yv = to_t(train.x), to_t(y_train), to_t(test.x), to_t(y_test)
            target = {"plugin": key, "uri": plugin.uri, "package": plugin.package, "setting": setting.__dict__,
                      "ports": plugin.controls(setting), "latency_samples": latency, "topology": plugin.topology,
                      "models": []}
            for name in models:
                t0 = time.perf_counter()
                model, info = FITTERS[fitter](Topology.parse(name), xt, yt, valid, iterations, lbfgs_iterations)
                row = {"model": name, **metrics(model, xv, yv, valid_test),
                       "train": metrics(model, xt, yt, valid), "settings": model.settings(),
                       "seconds": time.perf_counter() - t0, **info}
                target["models"].append(row)
                log(f"{key:7s} {setting.name:8s} {name:42s} held-out ESR {row['esr']:.2e}  "
                    f"gain RMSE {row['gain_rmse_db']:.3f} dB  ({row['seconds']:.0f} s)")
            best = min(target["models"], key=lambda r: r["esr"])
            target["best"] = {"model": best["model"], "esr": best["esr"], "gain_rmse_db": best["gain_rmse_db"]}
            report["targets"].append(target)
    return report


def write_csv(report: dict, path: Path) -> None:
    lines = ["plugin,setting,model,heldout_esr,heldout_gain_rmse_db,train_esr,seconds,best"]
    for t in report["targets"]:
        for m in t["models"]:
            lines.append(f"{t['plugin']},{t['setting']['name']},{m['model']},{m['esr']:.6e},{m['gain_rmse_db']:.6f},"
                         f"{m['train']['esr']:.6e},{m['seconds']:.1f},{int(m['model'] == t['best']['model'])}")
    path.write_text("\n".join(lines) + "\n")


def markdown_table(reports: Sequence[dict]) -> str:
    """Held-out ESR and gain RMSE of every model per target (best in bold), from JSON reports."""
    targets = [t for r in reports for t in r["targets"]]
    models = list(dict.fromkeys(m["model"] for t in targets for m in t["models"]))
    head = "| model | " + " | ".join(f"{t['plugin']} {t['setting']['name']}" for t in targets) + " |"
    lines = [head, "|---|" + "---|" * len(targets)]
    for name in models:
        cells = []
        for t in targets:
            row = next((m for m in t["models"] if m["model"] == name), None)
            cell = "—" if row is None else f"{row['esr']:.1e} / {row['gain_rmse_db']:.3f}"
            cells.append(f"**{cell}**" if row is not None and name == t["best"]["model"] else cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| target | best model | held-out ESR | gain RMSE (dB) | threshold (dB) | ratio | knee (dB) | "
              "attack (ms) | release (ms) | makeup (dB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for t in targets:
        row = next(m for m in t["models"] if m["model"] == t["best"]["model"])
        v = row["settings"]
        lines.append(f"| {t['plugin']} {t['setting']['name']} | {row['model']} | {row['esr']:.1e} | "
                     f"{row['gain_rmse_db']:.3f} | {v['threshold_db']:.2f} | {v['ratio']:.3f} | {v['knee_db']:.2f} | "
                     f"{v['attack_ms']:.3g} | {v['release_ms']:.4g} | {v['makeup_db']:.2f} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m differential_dynamics.matching", description=__doc__.split("\n\n")[0])
    ap.add_argument("--plugins", default="calf,lsp,zam,lsp_fb,x42", help="comma-separated keys of lv2.PLUGINS")
    ap.add_argument("--settings", default="moderate,hard")
    ap.add_argument("--models", default="study", help='"study", "all" or comma-separated topology names')
    ap.add_argument("--adam-iterations", type=int, default=20)
    ap.add_argument("--lbfgs-iterations", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=1.0, help="clip length")
    ap.add_argument("--per-recording", type=int, default=1, help="train (and test) clips per recording")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=lv2.default_cache())
    ap.add_argument("--out", type=Path, default=Path("matching_report.json"), help="JSON report (a .csv beside it)")
    ap.add_argument("--fitter", choices=sorted(FITTERS), default="local",
                    help="local: this module's Adam + L-BFGS loop; tool: differential_dynamics.fit")
    ap.add_argument("--table", type=Path, nargs="+", help="print the markdown table of these JSON reports and exit")
    a = ap.parse_args(argv)
    if a.table:
        print(markdown_table([json.loads(p.read_text()) for p in a.table]))
        return 0
    plugins = [p for p in a.plugins.split(",") if p]
    for p in plugins:
        if p not in lv2.PLUGINS:
            ap.error(f"--plugins: unknown plugin {p!r} (known: {', '.join(lv2.PLUGINS)})")
    by_name = {"moderate": lv2.MODERATE, "hard": lv2.HARD}
    settings = []
    for s in a.settings.split(","):
        if s not in by_name:
            ap.error(f"--settings: unknown setting {s!r} (moderate, hard)")
        settings.append(by_name[s])
    if a.models == "study":
        models = list(STUDY_MODELS)
    elif a.models == "all":
        from .family import all_topologies
        models = [t.name for t in all_topologies()]
    else:
        models = [m for m in a.models.split(",") if m]
        for m in models:
            Topology.parse(m)
    report = run_study(plugins, settings, models, a.adam_iterations, a.lbfgs_iterations, a.seconds, a.per_recording, a.seed, a.cache,
                       log=lambda s: print(s, flush=True), fitter=a.fitter)
    a.out.write_text(json.dumps(report, indent=1))
    write_csv(report, a.out.with_suffix(".csv"))
    print(f"report: {a.out} and {a.out.with_suffix('.csv')}")
    for t in report["targets"]:
        b = t["best"]
        print(f"best for {t['plugin']}/{t['setting']['name']}: {b['model']}  ESR {b['esr']:.2e}  "
              f"gain RMSE {b['gain_rmse_db']:.3f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
