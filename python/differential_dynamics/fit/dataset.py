"""Dataset builder: per permutation one parameter setting θ, clips from the probe mix and/or real
recordings, the teacher run, written with train/validation/test splits in open formats.

Layout of a dataset directory:

    dataset.json                      the builder's settings (everything needed to rebuild it) and the ids
    permutations.csv                  one row per permutation: id, seed, θ, makeup_db
    p0000/meta.json                   θ, model, fs, seed, per clip: source, seed/file/offset, normalisation
    p0000/<split>/c000.input.<ext>    input audio (mono)
    p0000/<split>/c000.output.<ext>   teacher output x·db2amp(gain + makeup)
    p0000/<split>/c000.gain_db.wav    teacher gain in dB (float32 WAV: FLAC holds no floats)

Audio is float32 WAV (audio_format="wav", exact) or 24-bit FLAC ("flac"). The input is rounded to the
file's precision *before* the teacher runs, so a fit on the files sees exactly the teacher's input.
WAV files are written without libsndfile's PEAK chunk (it holds a time stamp): built twice with the
same seeds, a dataset is byte-identical.

Seeds: permutation i draws θ from default_rng([seed, i]) and its clips from seeds derived from
(seed, i): adding permutations never changes the earlier ones. Splits never share material: probe
clips are distinct seeded rows; recordings are cut in time (train from the first 60 % of every
recording, validation the next 20 %, test the last 20 %).
"""
from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from . import models as M
from .probes import probe_mix

__all__ = ["DatasetSettings", "sample_theta", "render_permutation", "build_dataset", "load_permutation",
           "load_settings", "list_recordings", "SPLITS"]

SPLITS = ("train", "validation", "test")
_SPLIT_SPAN = {"train": (0.0, 0.6), "validation": (0.6, 0.8), "test": (0.8, 1.0)}
_AUDIO_EXT = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".w64"}
SSL_CF, SSL_CS = 0.47e-6, 6.8e-6       # farads (docs/derivations/ssl.md)
SSL_RF_AUTO, SSL_RS_AUTO = 91e3, 750e3  # ohms


@dataclass
class DatasetSettings:
    """Everything a dataset is built from (stored in dataset.json)."""
    model: str = "compressor"             # "compressor" | "ssl"
    permutations: int = 10
    seed: int = 0
    fs: float = 44100.0
    clip_seconds: float = 2.0
    clips: Dict[str, int] = field(default_factory=lambda: {"train": 4, "validation": 1, "test": 2})
    source: str = "probes"                # "probes" | "recordings" | "both" (alternating clips)
    recordings: Optional[str] = None      # folder of recordings (searched recursively)
    normalise_dbfs: float = -1.0          # recordings: each clip's peak set to this level
    audio_format: str = "wav"             # "wav" (float32) | "flac" (24-bit)
    ratio: str = "discrete"               # classical: {2, 4, 8} or "continuous" (uniform 2–8);
                                          # SSL: {2, 4, 10} or "continuous" (log-uniform 2–10)
    ssl_theta: str = "continuous"         # "continuous" (log-uniform around the hardware) | "panel"
    feedback: Optional[float] = None      # SSL: None = sampled U(0, 1), else fixed
    makeup: str = "none"                  # "none" (0 dB) | "sampled" (U(0, 6) dB)

    def check(self) -> "DatasetSettings":
        if self.model not in ("compressor", "ssl"):
            raise ValueError(f'model: must be "compressor" or "ssl", got {self.model!r}')
        if self.source not in ("probes", "recordings", "both"):
            raise ValueError(f'source: must be "probes", "recordings" or "both", got {self.source!r}')
        if self.source != "probes" and not self.recordings:
            raise ValueError(f"recordings: a folder of recordings is needed for source={self.source!r}")
        if self.audio_format not in ("wav", "flac"):
            raise ValueError(f'audio_format: must be "wav" or "flac", got {self.audio_format!r}')
        if self.ratio not in ("discrete", "continuous"):
            raise ValueError(f'ratio: must be "discrete" or "continuous", got {self.ratio!r}')
        if self.ssl_theta not in ("continuous", "panel"):
            raise ValueError(f'ssl_theta: must be "continuous" or "panel", got {self.ssl_theta!r}')
        if self.makeup not in ("none", "sampled"):
            raise ValueError(f'makeup: must be "none" or "sampled", got {self.makeup!r}')
        if self.feedback is not None and not 0.0 <= float(self.feedback) <= 1.0:
            raise ValueError(f"feedback: must be in [0, 1] or None (sampled), got {self.feedback}")
        if not self.fs > 0 or not self.clip_seconds > 0:
            raise ValueError(f"fs, clip_seconds: must be > 0, got {self.fs}, {self.clip_seconds}")
        if self.permutations < 1:
            raise ValueError(f"permutations: must be >= 1, got {self.permutations}")
        if set(self.clips) != set(SPLITS) or any(int(v) < 0 for v in self.clips.values()):
            raise ValueError(f"clips: must give a count >= 0 for each of {SPLITS}, got {self.clips}")
        return self

    def make_model(self) -> M.Model:
        return M.Compressor(self.fs) if self.model == "compressor" else M.SSL(self.fs)


# ------------------------------------------------------------------------------------------------
# θ

def sample_theta(settings: DatasetSettings, rng: np.random.Generator) -> dict:
    """One θ (the ranges of docs/recovery.md). Returns {"theta": {...}, "makeup_db": m, "panel": {...} or None}."""
    logu = lambda lo, hi: float(math.exp(rng.uniform(math.log(lo), math.log(hi))))  # noqa: E731
    panel = None
    if settings.model == "compressor":
        ratio = float(rng.choice([2.0, 4.0, 8.0])) if settings.ratio == "discrete" else float(rng.uniform(2, 8))
        theta = {"threshold_db": float(rng.uniform(-36, -18)), "ratio": ratio, "attack_ms": logu(2, 50),
                 "release_ms": logu(20, 400)}
    else:
        from ..ssl import SSL_ATTACK_OHMS, SSL_RELEASE_OHMS, ssl_preset
        ct = float(rng.uniform(-35, -5))
        fb = float(rng.uniform(0, 1)) if settings.feedback is None else float(settings.feedback)
        if settings.ssl_theta == "panel":
            ra = float(rng.choice(SSL_ATTACK_OHMS))
            release = ["auto", *SSL_RELEASE_OHMS][int(rng.integers(len(SSL_RELEASE_OHMS) + 1))]
            ratio = float(rng.choice([2.0, 4.0, 10.0]))
            p = ssl_preset(ra, release, ratio, comp_thresh=ct, feedback_coeff=fb, fs=settings.fs)
            p.pop("fs")
            theta = {n: float(p[n]) for n in M.SSL._native}
            panel = {"attack_ohms": ra, "release": release, "ratio": ratio}
        else:
            ratio = float(rng.choice([2.0, 4.0, 10.0])) if settings.ratio == "discrete" else logu(2, 10)
            # log-uniform around the hardware: Ra over the switch range, capacitors and shunts ±35 %
            ra = logu(SSL_ATTACK_OHMS[0], SSL_ATTACK_OHMS[-1])
            cf, cs = SSL_CF * logu(0.7, 1.4), SSL_CS * logu(0.7, 1.4)
            theta = {"comp_thresh": ct, "comp_ratio": ratio, "T_attack_fast": ra * cf, "T_attack_slow": ra * cs,
                     "T_shunt_fast": SSL_RF_AUTO * cf * logu(0.7, 1.4),
                     "T_shunt_slow": SSL_RS_AUTO * cs * logu(0.7, 1.4), "feedback_coeff": fb}
    makeup = float(rng.uniform(0, 6)) if settings.makeup == "sampled" else 0.0
    return {"theta": theta, "makeup_db": makeup, "panel": panel}


# ------------------------------------------------------------------------------------------------
# clips

def list_recordings(folder: str) -> List[str]:
    """Audio files under `folder` (recursive, sorted by relative path)."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"recordings: {folder!r} is not a directory")
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.suffix.lower() in _AUDIO_EXT)
    if not files:
        raise ValueError(f"recordings: no audio files ({', '.join(sorted(_AUDIO_EXT))}) under {folder!r}")
    return files


@functools.lru_cache(maxsize=16)
def _recording(path: str, fs: float) -> np.ndarray:
    """A recording as mono float64 at fs (channels averaged; polyphase resampling when its rate differs)."""
    import soundfile as sf
    try:
        data, rate = sf.read(path, dtype="float64", always_2d=True)
    except Exception as e:  # soundfile raises its own error types for unreadable files
        raise ValueError(f"recordings: cannot read {path!r}: {e}") from None
    mono = data.mean(axis=1)
    if rate != fs:
        from scipy.signal import resample_poly
        g = math.gcd(int(round(fs)), int(rate))
        mono = resample_poly(mono, int(round(fs)) // g, int(rate) // g)
    return np.ascontiguousarray(mono)


def _recording_clip(settings: DatasetSettings, files: Sequence[str], split: str, rng: np.random.Generator,
                    T: int) -> dict:
    """A clip of T samples from the split's time span of a random recording, with enough level
    (RMS above −45 dBFS), peak-normalised."""
    lo, hi = _SPLIT_SPAN[split]
    for _ in range(64):
        name = files[int(rng.integers(len(files)))]
        audio = _recording(os.path.join(settings.recordings, name), float(settings.fs))
        a, b = int(lo * len(audio)), int(hi * len(audio)) - T
        if b <= a:
            continue
        off = int(rng.integers(a, b + 1))
        clip = audio[off:off + T]
        if np.sqrt(np.mean(clip ** 2)) < 10 ** (-45 / 20):
            continue
        gain_db = settings.normalise_dbfs - 20 * math.log10(np.max(np.abs(clip)))
        return {"x": clip * 10 ** (gain_db / 20), "source": "recording", "recording": name, "offset": off,
                "normalisation": {"kind": "peak", "target_dbfs": settings.normalise_dbfs, "gain_db": gain_db}}
    raise ValueError(f"recordings: no recording under {settings.recordings!r} has a loud enough "
                     f"{settings.clip_seconds} s clip in its {split} span")


def _quantise(x: np.ndarray, audio_format: str) -> np.ndarray:
    """The values the audio file will hold (so the teacher runs on exactly what is stored)."""
    if audio_format == "flac":
        scale = float(2 ** 23)
        return np.clip(np.round(x * scale), -scale, scale - 1) / scale
    return x.astype(np.float32).astype(np.float64)


def permutation_seed(seed: int, pid: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(pid)]).generate_state(1)[0])


def render_permutation(settings: DatasetSettings, pid: int) -> dict:
    """θ, clips and teacher run of permutation `pid` (no files): {"meta": {...}, "arrays": {split:
    {"input", "output", "gain_db"}: (clips, T) float64 holding the stored values}}."""
    settings.check()
    pseed = permutation_seed(settings.seed, pid)
    drawn = sample_theta(settings, np.random.default_rng([int(settings.seed), int(pid)]))
    model = settings.make_model()
    T = int(round(settings.clip_seconds * settings.fs))
    files = list_recordings(settings.recordings) if settings.source != "probes" else []
    meta = {"id": pid, "seed": pseed, "model": model.spec(), "fs": settings.fs, **drawn, "clips": {}}
    arrays = {}
    row = 0
    for split in SPLITS:
        n = int(settings.clips[split])
        rng = np.random.default_rng([pseed, SPLITS.index(split)])
        xs, infos = [], []
        for c in range(n):
            use_rec = settings.source == "recordings" or (settings.source == "both" and c % 2 == 1)
            if use_rec:
                clip = _recording_clip(settings, files, split, rng, T)
            else:
                clip = {"x": probe_mix(1, T, seed=pseed + row, fs=settings.fs)[0].numpy(), "source": "probes",
                        "probe_seed": pseed + row, "normalisation": {"kind": "none"}}
            row += 1
            xs.append(_quantise(clip.pop("x"), settings.audio_format))
            infos.append({"file": f"{split}/c{c:03d}", **clip})
        if n:
            x = torch.from_numpy(np.stack(xs))
            g, y = M.teacher(model, x, drawn["theta"], drawn["makeup_db"])
            y_stored = _quantise(y.numpy(), settings.audio_format)
            g_stored = g.numpy().astype(np.float32).astype(np.float64)
            arrays[split] = {"input": x.numpy(), "output": y_stored, "gain_db": g_stored}
        meta["clips"][split] = infos
    return {"meta": meta, "arrays": arrays}


# ------------------------------------------------------------------------------------------------
# files

def _write_audio(path: str, data: np.ndarray, fs: float, audio_format: str) -> None:
    import soundfile as sf
    if audio_format == "flac":
        sf.write(path, data, int(round(fs)), subtype="PCM_24", format="FLAC")
        return
    with sf.SoundFile(path, "w", int(round(fs)), 1, subtype="FLOAT", format="WAV") as f:
        # no PEAK chunk: libsndfile stamps it with the time of writing
        sf._snd.sf_command(f._file, 0x1050, sf._ffi.NULL, sf._snd.SF_FALSE)  # SFC_SET_ADD_PEAK_CHUNK
        f.write(data.astype(np.float32))


def _json_text(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


def _atomic_write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_permutation(out_dir: str, settings: DatasetSettings, rendered: dict) -> None:
    """Write a rendered permutation; meta.json is written last, so its presence marks a finished one."""
    meta = rendered["meta"]
    pdir = os.path.join(out_dir, f"p{meta['id']:04d}")
    ext = settings.audio_format
    for split, arrs in rendered["arrays"].items():
        os.makedirs(os.path.join(pdir, split), exist_ok=True)
        for c in range(arrs["input"].shape[0]):
            stem = os.path.join(pdir, split, f"c{c:03d}")
            _write_audio(f"{stem}.input.{ext}", arrs["input"][c], settings.fs, ext)
            _write_audio(f"{stem}.output.{ext}", arrs["output"][c], settings.fs, ext)
            _write_audio(f"{stem}.gain_db.wav", arrs["gain_db"][c], settings.fs, "wav")
    _atomic_write(os.path.join(pdir, "meta.json"), _json_text(meta))


def _permutations_csv(metas: List[dict]) -> str:
    names = list(metas[0]["theta"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "seed", *names, "makeup_db"])
    for m in metas:
        w.writerow([m["id"], m["seed"], *(repr(m["theta"][n]) for n in names), repr(m["makeup_db"])])
    return buf.getvalue()


def build_dataset(out_dir: str, settings: Optional[DatasetSettings] = None, *, client=None, progress: bool = True,
                  **kwargs) -> List[dict]:
    """Build (or finish building) a dataset in out_dir; returns the permutations' meta dicts.

    settings: a DatasetSettings, or its fields as keyword arguments. client: a dask.distributed Client
    to render permutations as tasks (None = in this process). Permutations whose meta.json exists are
    kept (a build interrupted, or a worker lost, resumes where it stopped); a dataset.json with other
    settings is refused."""
    from .tasks import run_tasks
    settings = (settings or DatasetSettings(**kwargs)).check()
    if settings.recordings:
        settings.recordings = os.path.abspath(settings.recordings)
    os.makedirs(out_dir, exist_ok=True)
    spec_path = os.path.join(out_dir, "dataset.json")
    spec = {"format": "differential_dynamics.fit.dataset/1", "settings": asdict(settings),
            "permutations": [f"p{i:04d}" for i in range(settings.permutations)]}
    if os.path.exists(spec_path):
        with open(spec_path) as f:
            old = json.load(f)
        if old.get("settings") != spec["settings"]:
            raise ValueError(f"out_dir: {out_dir!r} holds a dataset built with other settings")
    _atomic_write(spec_path, _json_text(spec))

    todo = [i for i in range(settings.permutations)
            if not os.path.exists(os.path.join(out_dir, f"p{i:04d}", "meta.json"))]
    run_tasks(render_permutation, [(settings, i) for i in todo],
              lambda rendered: write_permutation(out_dir, settings, rendered),
              client=client, progress=progress, desc="dataset")
    metas = [load_meta(out_dir, i) for i in range(settings.permutations)]
    _atomic_write(os.path.join(out_dir, "permutations.csv"), _permutations_csv(metas))
    return metas


def load_settings(out_dir: str) -> DatasetSettings:
    with open(os.path.join(out_dir, "dataset.json")) as f:
        return DatasetSettings(**json.load(f)["settings"])


def load_meta(out_dir: str, pid: int) -> dict:
    with open(os.path.join(out_dir, f"p{pid:04d}", "meta.json")) as f:
        return json.load(f)


def load_permutation(out_dir: str, pid: int, split: str) -> dict:
    """{"input", "output", "gain_db"}: (clips, T) float64 tensors of one split, and "meta"."""
    import soundfile as sf
    if split not in SPLITS:
        raise ValueError(f"split: must be one of {SPLITS}, got {split!r}")
    meta = load_meta(out_dir, pid)
    ext = load_settings(out_dir).audio_format
    out = {"meta": meta}
    for kind in ("input", "output", "gain_db"):
        rows = []
        for clip in meta["clips"][split]:
            e = "wav" if kind == "gain_db" else ext
            data, _ = sf.read(os.path.join(out_dir, f"p{pid:04d}", f"{clip['file']}.{kind}.{e}"), dtype="float64")
            rows.append(data)
        out[kind] = torch.from_numpy(np.stack(rows)) if rows else torch.empty(0, 0, dtype=torch.float64)
    return out
