"""Dataset builder (differential_dynamics.fit.dataset) and the command line: byte-identical rebuilds,
files that hold exactly what the teacher saw and produced, real splits, recordings (resampled, cut in
time per split, normalised), FLAC, panel θ, resume, errors."""
import filecmp
import json
import os

import numpy as np
import pytest
import soundfile as sf

from differential_dynamics.fit import Compressor, SSL, teacher
from differential_dynamics.fit.__main__ import main as cli
from differential_dynamics.fit.dataset import (DatasetSettings, build_dataset, list_recordings, load_permutation,
                                               load_settings, render_permutation)

SMALL = dict(permutations=2, fs=8000.0, clip_seconds=0.5, clips={"train": 2, "validation": 1, "test": 1})


def tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def same_bytes(a, b):
    files = tree(a)
    assert files == tree(b)
    return all(filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False) for f in files)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Three 'recordings' at 22050 Hz, one stereo (real files are fetched by scripts/fetch_audio.sh)."""
    root = tmp_path_factory.mktemp("rec")
    rng = np.random.default_rng(0)
    for i, ch in enumerate((1, 2, 1)):
        n = 22050 * 4
        env = np.repeat(rng.uniform(0.05, 1.0, n // 2205 + 1), 2205)[:n]
        data = (env * rng.standard_normal(n) * 0.2)[:, None] * np.ones((1, ch))
        sf.write(str(root / f"take{i}.wav"), data, 22050, subtype="FLOAT")
    (root / "notes.txt").write_text("not audio")
    return str(root)


def test_build_twice_is_byte_identical_and_seed_matters(tmp_path):
    a, b, c = (str(tmp_path / n) for n in "abc")
    build_dataset(a, progress=False, **SMALL)
    build_dataset(b, progress=False, **SMALL)
    build_dataset(c, progress=False, seed=1, **SMALL)
    assert same_bytes(a, b)
    assert not filecmp.cmp(os.path.join(a, "p0000", "train", "c000.input.wav"),
                           os.path.join(c, "p0000", "train", "c000.input.wav"), shallow=False)
    names = tree(a)
    assert {"dataset.json", "permutations.csv", "p0000/meta.json", "p0001/test/c000.gain_db.wav",
            "p0001/validation/c000.output.wav"} <= set(names)


def test_files_hold_the_teacher_run_and_splits_are_disjoint(tmp_path):
    out = str(tmp_path / "d")
    build_dataset(out, progress=False, **SMALL)
    settings = load_settings(out)
    rendered = render_permutation(settings, 1)
    seeds = set()
    for split in ("train", "validation", "test"):
        d = load_permutation(out, 1, split)
        for kind in ("input", "output", "gain_db"):
            assert np.array_equal(d[kind].numpy(), rendered["arrays"][split][kind]), (split, kind)
        # the stored target is the teacher on the stored input (to float32 rounding)
        g, y = teacher(Compressor(8000.0), d["input"], d["meta"]["theta"])
        assert float((g - d["gain_db"]).abs().max()) < 1e-5
        assert float((y - d["output"]).abs().max()) < 1e-6
        seeds |= {c["probe_seed"] for c in d["meta"]["clips"][split]}
    assert len(seeds) == 4  # every clip its own probe draw: no clip in two splits
    meta = json.load(open(os.path.join(out, "p0001", "meta.json")))
    assert set(meta["theta"]) == {"threshold_db", "ratio", "attack_ms", "release_ms"}
    assert -36 <= meta["theta"]["threshold_db"] <= -18 and meta["theta"]["ratio"] in (2.0, 4.0, 8.0)
    assert sf.info(os.path.join(out, "p0001", "train", "c000.input.wav")).subtype == "FLOAT"


def test_recordings_flac_and_resume(tmp_path, recordings):
    assert list_recordings(recordings) == ["take0.wav", "take1.wav", "take2.wav"]
    out = str(tmp_path / "r")
    settings = DatasetSettings(source="both", recordings=recordings, audio_format="flac", **SMALL)
    metas = build_dataset(out, settings, progress=False)
    clips = [c for m in metas for s in m["clips"].values() for c in s]
    assert {c["source"] for c in clips} == {"probes", "recording"}
    for c in clips:
        if c["source"] == "recording":
            span = {"train": (0, 0.6), "validation": (0.6, 0.8), "test": (0.8, 1.0)}[c["file"].split("/")[0]]
            assert span[0] * 32000 <= c["offset"] and c["offset"] + 4000 <= span[1] * 32000  # 4 s at 8 kHz
            assert c["normalisation"]["kind"] == "peak"
    d = load_permutation(out, 0, "train")
    rec = [i for i, c in enumerate(d["meta"]["clips"]["train"]) if c["source"] == "recording"][0]
    assert float(d["input"][rec].abs().max()) == pytest.approx(10 ** (-1 / 20), abs=2e-7)
    assert sf.info(os.path.join(out, "p0000", "train", "c000.input.flac")).subtype == "PCM_24"
    assert np.array_equal(d["input"].numpy(), render_permutation(load_settings(out), 0)["arrays"]["train"]["input"])
    # resume: a lost permutation is rebuilt, the others are kept
    meta0 = os.path.join(out, "p0000", "meta.json")
    mtime = os.stat(meta0).st_mtime_ns
    os.remove(os.path.join(out, "p0001", "meta.json"))
    build_dataset(out, settings, progress=False)
    assert os.path.exists(os.path.join(out, "p0001", "meta.json")) and os.stat(meta0).st_mtime_ns == mtime
    with pytest.raises(ValueError, match="^out_dir: .* other settings"):
        build_dataset(out, DatasetSettings(source="both", recordings=recordings, audio_format="wav", **SMALL),
                      progress=False)


def test_ssl_theta_panel_and_continuous(tmp_path):
    for mode in ("panel", "continuous"):
        s = DatasetSettings(model="ssl", ssl_theta=mode, feedback=None if mode == "panel" else 0.0, **SMALL)
        for pid in range(6):
            meta = render_permutation(DatasetSettings(**{**s.__dict__, "clips": {"train": 0, "validation": 0,
                                                                                  "test": 1}}), pid)["meta"]
            th = meta["theta"]
            assert -35 <= th["comp_thresh"] <= -5 and set(th) == set(SSL(8000.0).names)
            if mode == "panel":
                assert meta["panel"]["ratio"] in (2.0, 4.0, 10.0) and th["comp_ratio"] == meta["panel"]["ratio"]
                assert meta["panel"]["attack_ohms"] in (820, 2700, 8200, 27000, 82000, 270000)
            else:
                assert th["feedback_coeff"] == 0.0
                assert 820 * 0.47e-6 * 0.69 < th["T_attack_fast"] < 270e3 * 0.47e-6 * 1.41


def test_settings_errors(tmp_path, recordings):
    with pytest.raises(ValueError, match="^model:"):
        DatasetSettings(model="lv2").check()
    with pytest.raises(ValueError, match="^recordings: a folder"):
        DatasetSettings(source="recordings").check()
    with pytest.raises(ValueError, match="^recordings: .* is not a directory"):
        list_recordings(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="^feedback:"):
        DatasetSettings(feedback=1.5).check()
    with pytest.raises(ValueError, match="^clips:"):
        DatasetSettings(clips={"train": 1}).check()
    long = DatasetSettings(source="recordings", recordings=recordings, **{**SMALL, "clip_seconds": 3.0})
    with pytest.raises(ValueError, match="^recordings: no recording .* loud enough"):
        render_permutation(long, 0)


def test_command_line_dataset_and_evaluate(tmp_path, capsys):
    out = str(tmp_path / "cli")
    assert cli(["dataset", out, "--permutations", "1", "--fs", "8000", "--clip-seconds", "1", "--clips", "2,0,1",
                "--quiet"]) == 0
    assert cli(["evaluate", out, "--permutation", "0", "--quiet", "--steps", "60"]) == 0
    text = capsys.readouterr().out
    assert "held-out gain RMSE" in text and "threshold_db" in text
    rep = json.load(open(os.path.join(out, "evaluation", "p0000.json")))
    assert rep["heldout_gain_rmse_db"] < 1e-4
    assert all(abs(r.get("rel_error", r["error"])) < 1e-4 for r in rep["parameters"].values())
    assert open(os.path.join(out, "evaluation", "p0000.png"), "rb").read(4) == b"\x89PNG"
    with pytest.raises(SystemExit, match="--fixed"):
        cli(["evaluate", out, "--quiet", "--fixed", "ratio"])
