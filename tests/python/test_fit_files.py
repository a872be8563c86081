"""The recovery tool on audio files: `python -m differential_dynamics.fit fit INPUT TARGET` (and the same
through `ddyn fit`) recovers a classical compressor's setting from an input file and its processed
output, with the last part of the files held out."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from differential_dynamics.fit import Compressor, probe_mix, teacher
from differential_dynamics.fit.__main__ import main

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DDYN = os.path.join(REPO, os.environ.get("DD_BUILD_DIR", "build"), "apps", "ddyn", "ddyn")
FS = 22050
THETA = {"threshold_db": -26.0, "ratio": 3.5, "attack_ms": 6.0, "release_ms": 120.0}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit_files")
    x = probe_mix(2, 4 * FS, seed=7, fs=FS).to(torch.float64)
    gain_db, y = teacher(Compressor(fs=FS), x, THETA, makeup_db=2.0)
    for name, a in (("in.wav", x), ("out.wav", y), ("gain.wav", gain_db)):
        soundfile.write(str(d / name), a.numpy().T, FS, subtype="DOUBLE")
    return d


def _check(report_path, makeup):
    report = json.loads(report_path.read_text())
    for n, v in THETA.items():
        assert abs(report["recovered"][n] - v) <= 1e-3 * abs(v), (n, report["recovered"][n])
    if makeup:
        assert abs(report["recovered"]["makeup_db"] - 2.0) < 1e-3
    return report


def test_fit_recovers_the_setting_from_audio_files(files, capsys):
    assert main(["fit", str(files / "in.wav"), str(files / "out.wav"), "--quiet", "--no-plot"]) == 0
    report = _check(files / "out.fit.json", makeup=True)
    assert report["heldout_esr"] < 1e-8  # the held-out end, the model's state warmed up by the rest
    assert "threshold_db" in capsys.readouterr().out


def test_fit_recovers_the_setting_from_a_gain_trace(files):
    assert main(["fit", str(files / "in.wav"), str(files / "gain.wav"), "--target", "gain_db", "--quiet",
                 "--out", str(files / "reports")]) == 0
    report = _check(files / "reports" / "gain.fit.json", makeup=False)
    assert report["heldout_gain_rmse_db"] < 1e-3
    assert (files / "reports" / "gain.fit.png").stat().st_size > 0


def test_fit_refuses_mismatched_files(files, tmp_path):
    soundfile.write(str(tmp_path / "short.wav"), np.zeros(FS), FS)
    soundfile.write(str(tmp_path / "rate.wav"), np.zeros(4 * FS), 44100)
    with pytest.raises(SystemExit, match="target: .*samples"):
        main(["fit", str(files / "in.wav"), str(tmp_path / "short.wav"), "--quiet"])
    with pytest.raises(SystemExit, match="target: sample rate"):
        main(["fit", str(files / "in.wav"), str(tmp_path / "rate.wav"), "--quiet"])
    with pytest.raises(SystemExit, match="input: cannot read"):
        main(["fit", str(tmp_path / "missing.wav"), str(files / "out.wav"), "--quiet"])
    with pytest.raises(SystemExit, match="--holdout"):
        main(["fit", str(files / "in.wav"), str(files / "out.wav"), "--holdout", "1.5", "--quiet"])


def _ddyn(args, python):
    env = dict(os.environ, DDYN_PYTHON=python, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.run([DDYN, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.skipif(not os.path.exists(DDYN), reason="ddyn is not built (DD_APPS=OFF)")
def test_ddyn_hands_the_recovery_commands_to_the_python_tool(files):
    r = _ddyn(["fit", "--help"], sys.executable)
    assert r.returncode == 0 and "--holdout" in r.stdout
    r = _ddyn(["fit", str(files / "in.wav"), str(files / "out.wav"), "--quiet", "--no-plot", "--out",
               str(files / "ddyn")], sys.executable)
    assert r.returncode == 0, r.stderr
    _check(files / "ddyn" / "out.fit.json", makeup=True)
    r = _ddyn(["fit", "a.wav", "b.wav"], "/nonexistent/python3")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("ddyn: error: 'fit' runs in Python") and "DDYN_PYTHON" in r.stderr
