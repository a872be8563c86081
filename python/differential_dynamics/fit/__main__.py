"""Command line: python -m differential_dynamics.fit {dataset,fit,evaluate,study} ...   (also: ddyn ...)

  dataset OUT        build a dataset (θ per permutation, clips, teacher run, train/validation/test)
  fit INPUT TARGET   fit one global setting to an input file and a target file (the processed audio,
                     or a gain trace in dB): the last --holdout of both files is held out; JSON/CSV
                     report and PNG
  evaluate DATASET   fit permutations of a dataset on their train split, evaluate on the test split:
                     JSON/CSV report and PNG per permutation
  study OUT          a recovery study of many random θ (serial, on a LocalCluster, or on a cluster)

--workers N runs tasks on a LocalCluster of N single-threaded workers (0 = in this process);
--scheduler ADDRESS uses an existing Dask cluster instead. Reference: docs/recovery.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional


def _fixed(items: List[str]) -> dict:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--fixed: expected NAME=VALUE, got {item!r}")
        try:
            out[name] = float(value)
        except ValueError:
            raise SystemExit(f"--fixed: {name}: expected a number, got {value!r}") from None
    return out


def _clips(text: str) -> dict:
    try:
        train, val, test = (int(v) for v in text.split(","))
    except ValueError:
        raise SystemExit(f"--clips: expected TRAIN,VALIDATION,TEST counts, got {text!r}") from None
    return {"train": train, "validation": val, "test": test}


def _data_args(p: argparse.ArgumentParser, clips: str) -> None:
    p.add_argument("--model", choices=["compressor", "ssl"], default="compressor", help="the teacher")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fs", type=float, default=44100.0)
    p.add_argument("--clip-seconds", type=float, default=2.0)
    p.add_argument("--clips", default=clips, help="clips per split: TRAIN,VALIDATION,TEST (default %(default)s)")
    p.add_argument("--source", choices=["probes", "recordings", "both"], default="probes")
    p.add_argument("--recordings", default=None, help="folder of recordings (e.g. .cache/audio)")
    p.add_argument("--ratio", choices=["discrete", "continuous"], default="discrete",
                   help="classical {2,4,8} or uniform 2-8; SSL {2,4,10} or log-uniform 2-10")
    p.add_argument("--ssl-theta", choices=["continuous", "panel"], default="continuous")
    p.add_argument("--feedback", type=float, default=None, help="SSL feedback (default: sampled in [0, 1])")
    p.add_argument("--makeup", choices=["none", "sampled"], default="none")


def _settings(a, permutations: int):
    from .dataset import DatasetSettings
    return DatasetSettings(model=a.model, permutations=permutations, seed=a.seed, fs=a.fs,
                           clip_seconds=a.clip_seconds, clips=_clips(a.clips), source=a.source,
                           recordings=a.recordings, audio_format=getattr(a, "format", "wav"), ratio=a.ratio,
                           ssl_theta=a.ssl_theta, feedback=a.feedback, makeup=a.makeup).check()


def _fit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", choices=["gain_db", "audio"], default="gain_db",
                   help="fit to the gain trace or to the output audio only (then makeup is fitted too)")
    p.add_argument("--fixed", nargs="*", default=[], metavar="NAME=VALUE", help="parameters held fixed")
    p.add_argument("--starts", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--refine", choices=["auto", "lm", "lbfgs", "none"], default=None)


def _fit_kwargs(a) -> dict:
    return {k: v for k, v in (("starts", a.starts), ("steps", a.steps), ("refine", a.refine)) if v is not None}


def _cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=0, help="LocalCluster workers (0 = run in this process)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _client(a):
    if a.scheduler or a.workers > 0:
        from .tasks import make_client
        return make_client(a.scheduler, max(a.workers, 1))
    return None


def cmd_dataset(a) -> int:
    from .dataset import build_dataset
    client = _client(a)
    try:
        metas = build_dataset(a.out, _settings(a, a.permutations), client=client, progress=not a.quiet)
    finally:
        if client is not None:
            client.close()
    print(f"dataset: {len(metas)} permutations in {a.out}")
    return 0


def cmd_evaluate(a) -> int:
    from .dataset import load_permutation, load_settings
    from .evaluate import evaluate, plot_fit, write_report
    from .fitting import fit
    from .models import make_model
    settings = load_settings(a.dataset)
    ids = range(settings.permutations) if a.permutation == ["all"] else [int(p) for p in a.permutation]
    out = a.out or os.path.join(a.dataset, "evaluation")
    for pid in ids:
        if not 0 <= pid < settings.permutations:
            raise SystemExit(f"--permutation: {pid} is not in 0..{settings.permutations - 1}")
        train, test = load_permutation(a.dataset, pid, "train"), load_permutation(a.dataset, pid, "test")
        spec = dict(train["meta"]["model"])
        if a.fit_model:
            spec = {"model": a.fit_model, "fs": settings.fs}
        if a.gate and spec["model"] == "compressor":
            spec["gate"] = a.gate
        model = make_model(spec)
        target = train["gain_db"] if a.target == "gain_db" else train["output"]
        result = fit(model, train["input"], target, target_kind=a.target, fixed=_fixed(a.fixed) or None,
                     progress=not a.quiet, seed=a.fit_seed, **_fit_kwargs(a))
        same = model.name == train["meta"]["model"]["model"]
        report = evaluate(model, result, test["input"], gain_test=test["gain_db"], y_test=test["output"],
                          true=train["meta"]["theta"] if same else None, true_makeup_db=train["meta"]["makeup_db"])
        report["history"] = result.history
        stem = f"p{pid:04d}"
        paths = write_report(report, out, stem)
        if not a.no_plot:
            paths["png"] = plot_fit(model, result, test["input"], test["gain_db"], os.path.join(out, f"{stem}.png"),
                                    true=train["meta"]["theta"] if same else None)
        line = (f"{stem}: held-out gain RMSE {report['heldout_gain_rmse_db']:.3g} dB, "
                f"ESR {report['heldout_esr']:.3g}, {report['iterations']} iterations, {report['seconds']:.1f} s")
        print(line)
        for n, r in report.get("parameters", {}).items():
            err = f"{100 * r['rel_error']:+.3f} %" if "rel_error" in r else f"{r['error']:+.4f}"
            print(f"  {n:16s} true {r['true']:12.6g}  recovered {r['recovered']:12.6g}  {err}")
        print("  " + ", ".join(f"{k}: {v}" for k, v in paths.items()))
    return 0


def _read_audio(path: str, name: str):
    """(channels, T) float64 tensor and the sample rate of an audio file (channels become rows)."""
    import soundfile
    import torch
    try:
        data, fs = soundfile.read(path, dtype="float64", always_2d=True)
    except Exception as e:  # soundfile raises RuntimeError/LibsndfileError with the reason
        raise SystemExit(f"{name}: cannot read {path!r}: {e}") from None
    return torch.from_numpy(data.T.copy()), float(fs)


def cmd_fit(a) -> int:
    from .evaluate import evaluate, plot_fit, write_report
    from .fitting import fit
    from .models import make_model
    x, fs = _read_audio(a.input, "input")
    target, fs_target = _read_audio(a.target_file, "target")
    if fs_target != fs:
        raise SystemExit(f"target: sample rate {fs_target:g} Hz, but the input's is {fs:g} Hz")
    if target.shape[1] != x.shape[1] or (target.shape[0] != x.shape[0] and target.shape[0] != 1):
        raise SystemExit(f"target: {target.shape[0]} channel(s) × {target.shape[1]} samples, but the input has "
                         f"{x.shape[0]} × {x.shape[1]}")
    target = target.expand_as(x).contiguous()
    if not 0.0 <= a.holdout < 1.0:
        raise SystemExit(f"--holdout: must be in [0, 1), got {a.holdout}")
    split = x.shape[1] - int(round(a.holdout * x.shape[1]))
    if split < int(0.1 * fs):
        raise SystemExit(f"input: {split} samples to fit on (after --holdout); at least 0.1 s is needed")
    spec = {"model": a.model, "fs": fs}
    if a.gate and a.model == "compressor":
        spec["gate"] = a.gate
    model = make_model(spec)
    result = fit(model, x[:, :split], target[:, :split], target_kind=a.target, fixed=_fixed(a.fixed) or None,
                 progress=not a.quiet, seed=a.fit_seed, **_fit_kwargs(a))
    stem = os.path.splitext(os.path.basename(a.target_file))[0] + ".fit"
    out = a.out or os.path.dirname(os.path.abspath(a.target_file))
    held = split < x.shape[1]
    gain = target if a.target == "gain_db" else None
    # The model runs over the whole file; the errors count on the held-out end only.
    report = evaluate(model, result, x, gain_test=gain, y_test=target if a.target == "audio" else None,
                      start=split if held else 0)
    report["history"] = result.history
    report["heldout"] = "last {:.0%} of the files".format(a.holdout) if held else "none (the training data)"
    paths = write_report(report, out, stem)
    if not a.no_plot and gain is not None:
        paths["png"] = plot_fit(model, result, x, gain, os.path.join(out, f"{stem}.png"))
    print(f"fit {model.name}: {result.method}, {result.iterations} iterations, {result.seconds:.1f} s")
    for n, v in result.values.items():
        print(f"  {n:16s} {v:12.6g}")
    rmse, e = report["heldout_gain_rmse_db"], report["heldout_esr"]
    print(f"  held-out ({report['heldout']}): " + (f"gain RMSE {rmse:.3g} dB" if rmse is not None else f"ESR {e:.3g}"))
    print("  " + ", ".join(f"{k}: {v}" for k, v in paths.items()))
    return 0


def cmd_study(a) -> int:
    from .study import StudySettings, run_study
    settings = StudySettings(data=_settings(a, a.n), n=a.n, target_kind=a.target, fixed=_fixed(a.fixed),
                             fit=_fit_kwargs(a), identify=a.identify)
    client = _client(a)
    try:
        summary = run_study(a.out, settings, client=client, progress=not a.quiet)
    finally:
        if client is not None:
            client.close()
    print(json.dumps(summary, indent=1))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m differential_dynamics.fit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    d = sub.add_parser("dataset", help="build a dataset")
    d.add_argument("out")
    d.add_argument("--permutations", type=int, default=10)
    d.add_argument("--format", choices=["wav", "flac"], default="wav", help="audio files: float32 WAV or 24-bit FLAC")
    _data_args(d, "4,1,2")
    _cluster_args(d)
    d.set_defaults(run=cmd_dataset)

    f = sub.add_parser("fit", help="fit a model to an input file and a target file")
    f.add_argument("input", help="the unprocessed audio")
    f.add_argument("target_file", metavar="target", help="the processed audio (--target audio) or gain trace in dB")
    f.add_argument("--model", choices=["compressor", "limiter", "ssl"], default="compressor")
    f.add_argument("--gate", choices=["hard", "sigmoid"], default=None, help="classical compressor's gate")
    f.add_argument("--holdout", type=float, default=0.25, help="fraction held out at the end (default %(default)s)")
    f.add_argument("--fit-seed", type=int, default=0, help="seed of the multi-start draws")
    f.add_argument("--out", default=None, help="report folder (default: the target's folder)")
    f.add_argument("--no-plot", action="store_true")
    f.add_argument("--quiet", action="store_true")
    _fit_args(f)
    f.set_defaults(run=cmd_fit, target="audio")  # a pair of files is usually audio in, audio out

    e = sub.add_parser("evaluate", help="fit and evaluate permutations of a dataset")
    e.add_argument("dataset")
    e.add_argument("--permutation", nargs="+", default=["0"], help="ids, or 'all'")
    e.add_argument("--fit-model", choices=["compressor", "limiter", "ssl"], default=None,
                   help="the model to fit (default: the dataset's teacher)")
    e.add_argument("--gate", choices=["hard", "sigmoid"], default=None, help="classical compressor's gate")
    e.add_argument("--fit-seed", type=int, default=0, help="seed of the multi-start draws")
    e.add_argument("--out", default=None, help="report folder (default DATASET/evaluation)")
    e.add_argument("--no-plot", action="store_true")
    e.add_argument("--quiet", action="store_true")
    _fit_args(e)
    e.set_defaults(run=cmd_evaluate)

    s = sub.add_parser("study", help="recovery study of many random θ")
    s.add_argument("out")
    s.add_argument("--n", type=int, default=100)
    s.add_argument("--identify", action="store_true", help="identifiability at each true θ")
    _data_args(s, "4,0,2")
    _fit_args(s)
    _cluster_args(s)
    s.set_defaults(run=cmd_study)

    a = ap.parse_args(argv)
    return a.run(a)


if __name__ == "__main__":
    sys.exit(main())
