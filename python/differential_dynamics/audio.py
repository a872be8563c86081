"""Audio processors: the classical compressor, the limiter and the SSL bus compressor on audio, with
makeup gain, dry/wet mix, channel link, an external side chain and lookahead — the C++ audio
processors on numpy arrays or torch tensors, without gradients (the output never requires grad).

Audio is (channels, time), like torchaudio: (time,) is mono, (batch, channels, time) a batch of
independent signals. A (time, channels) array, as soundfile.read returns it, is refused: transpose it.

    from differential_dynamics import audio
    y = audio.process(x, "classical", fs=44100, threshold_db=-18, ratio=4, attack_ms=10,
                      release_ms=120, makeup_db="auto")
    limiter = audio.Limiter(fs=48000, channels=2, threshold_db=-1, lookahead_ms=2)
    for block in blocks:                       # (2, n), any n: the batch result bit for bit
        out = limiter.process(block)
    limiter.latency                            # samples the audio is delayed (the lookahead)

Settings, in user units. Every model: makeup_db (dB, or "auto"), mix (0…1, 1 = fully wet), link
("none", "max", "mean"; default "max"), lookahead_ms or lookahead_samples, max_lookahead_ms (the
longest lookahead set_settings may choose later), glide (ramp makeup and mix over the block after a
change). "classical" (Compressor): detector ("rms", "peak"), detector_ms, threshold_db, ratio, knee_db,
exp_threshold_db, exp_ratio, attack_ms, release_ms, gate ("hard", "sigmoid"), k. "limiter" (Limiter):
threshold_db, attack_ms, release_ms. "ssl" (SSLCompressor): threshold_db, ratio, attack_ms (0.1…30),
release_ms (100…1200, or "auto", the default), feedback, knee_db.
Reference: docs/reference/audio.md.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from . import _core
from ._validation import number

__all__ = ["process", "Compressor", "Limiter", "SSLCompressor", "MODELS"]

#: The models, as process() names them.
MODELS = ("classical", "limiter", "ssl")
_CORE = {"classical": ("CompressorAudio", "process_audio_compressor"),
         "limiter": ("LimiterAudio", "process_audio_limiter"),
         "ssl": ("SSLAudio", "process_audio_ssl")}
_FLAGS = {"auto_makeup", "glide", "auto_release"}
_CHOICES = {"link", "detector", "gate"}
_TRANSPOSE = "audio is (channels, time): pass x.T (numpy) or x.transpose(-1, -2) (torch)"


def _check_model(model: Any) -> str:
    if not isinstance(model, str) or model not in MODELS:
        raise ValueError(f'model: must be "classical", "limiter" or "ssl", got {model!r}')
    return model


def _rate(fs: Any) -> float:
    v = number(fs, "fs")
    if v <= 0:
        raise ValueError(f"fs: sample rate must be > 0, got {fs}")
    return v


def _settings(model: str, fs: float, settings: Dict[str, Any]) -> Dict[str, Any]:
    """User settings → the C++ settings' fields. A number for makeup_db (or the SSL's release_ms) turns
    the automatic value off; "auto" turns it on."""
    known = _core.audio_settings_defaults(model)
    if "lookahead_samples" in settings and "lookahead_ms" in settings:
        raise TypeError("lookahead_samples: give lookahead_ms or lookahead_samples, not both")
    out: Dict[str, Any] = {}
    for name, value in settings.items():
        automatic = {"makeup_db": "auto_makeup", "release_ms": "auto_release" if model == "ssl" else None}.get(name)
        if automatic and isinstance(value, str):
            if value != "auto":
                raise ValueError(f'{name}: must be a number or "auto", got {value!r}')
            out[automatic] = True
        elif name == "lookahead_samples":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"lookahead_samples: must be an int >= 0, got {value!r}")
            out["lookahead_ms"] = int(value) * 1000.0 / fs
        elif name not in known:
            raise TypeError(f"{name}: not a setting of the {model} processor (settings: "
                            f"{', '.join(sorted(set(known) | {'lookahead_samples'}))})")
        elif name in _FLAGS:
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name}: expected True or False, got {type(value).__name__}")
            out[name] = bool(value)
        elif name in _CHOICES:
            if not isinstance(value, str):
                raise TypeError(f"{name}: expected a string, got {type(value).__name__}")
            out[name] = value
        else:
            out[name] = number(value, name)
            if automatic and automatic not in settings:
                out[automatic] = False
    return out


def _as_array(x: Any, name: str) -> Tuple[np.ndarray, bool]:
    """A float32/float64 numpy view of a numpy array or dense CPU tensor; (array, was_torch)."""
    if isinstance(x, torch.Tensor):
        if x.layout != torch.strided or x.device.type != "cpu":
            raise ValueError(f"{name}: must be a dense CPU tensor (.cpu(), .to_dense())")
        if x.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"{name}: dtype {x.dtype} is not supported (use float32 or float64)")
        return x.detach().numpy(), True
    if isinstance(x, np.ndarray):
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name}: dtype {x.dtype} is not supported (use float32 or float64: "
                            "x.astype(np.float32))")
        return x, False
    raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")


def _refuse_time_channels(shape: Tuple[int, ...], name: str) -> None:
    if len(shape) >= 2 and shape[-1] <= 8 and shape[-2] >= 64:
        raise ValueError(f"{name}: shape {tuple(shape)} looks like (time, channels); {_TRANSPOSE}")


def _as_batch(a: np.ndarray) -> np.ndarray:
    """(time,), (channels, time) or (batch, channels, time) as a contiguous (batch, channels, time)."""
    return np.ascontiguousarray(a.reshape((1,) * (3 - a.ndim) + a.shape))


def _out(a: np.ndarray, was_torch: bool):
    return torch.from_numpy(a) if was_torch else a


# The C++ process_spec's fields, as the constructors name them.
_SPEC_NAMES = {"spec.fs": "fs", "spec.channels": "channels", "spec.max_block": "max_block"}


def _rename_errors(call, renames: Dict[str, str]):
    """Runs call(); a ValueError about a C++ argument is reported under the caller's name for it."""
    try:
        return call()
    except ValueError as e:
        message = str(e)
        for cpp, py in renames.items():
            if message.startswith(cpp + ": "):
                raise ValueError(py + message[len(cpp):]) from None
        raise


# ------------------------------------------------------------------------------------------------
# Batch

def process(x: Any, model: str = "classical", fs: Any = 44100, *, sidechain: Any = None, return_gain: bool = False,
            **settings):
    """The processed audio of x, shaped (time,), (channels, time) or (batch, channels, time), of x's
    dtype and kind (numpy or torch); with return_gain=True also the gain g applied to every output
    sample (linear, before makeup and mix; linked channels share it).

    model: "classical", "limiter" or "ssl"; settings as in this module's doc. sidechain (optional):
    the signal the detector reads instead of x, of x's shape, or with one channel that keys every
    channel. Each signal of a batch starts from the processor's initial state. No gradients."""
    model = _check_model(model)
    fs = _rate(fs)
    s = _settings(model, fs, settings)
    a, was_torch = _as_array(x, "x")
    if a.ndim not in (1, 2, 3):
        raise ValueError(f"x: expected shape (time,), (channels, time) or (batch, channels, time), got {a.shape}")
    _refuse_time_channels(a.shape, "x")
    signals = _as_batch(a)
    batch, channels, length = signals.shape
    keys = None
    if sidechain is not None:
        k, _ = _as_array(sidechain, "sidechain")
        if k.dtype != a.dtype:
            raise TypeError(f"sidechain: dtype {k.dtype} differs from x's {a.dtype}")
        if k.ndim != a.ndim or k.shape[:-2] != a.shape[:-2] or k.shape[-1] != length or \
                (k.ndim > 1 and k.shape[-2] not in (1, channels)):
            raise ValueError(f"sidechain: shape {tuple(k.shape)} does not fit x's {tuple(a.shape)} (x's shape, "
                             "with 1 or x's number of channels)")
        keys = _as_batch(k)
    y = np.empty_like(signals)
    gain = np.empty_like(signals) if return_gain else None
    run = getattr(_core, _CORE[model][1])
    for b in range(batch):
        run(signals[b], s, fs, y[b], None if keys is None else keys[b], None if gain is None else gain[b])
    y = _out(y.reshape(a.shape), was_torch)
    return (y, _out(gain.reshape(a.shape), was_torch)) if return_gain else y


# ------------------------------------------------------------------------------------------------
# Streaming

class _AudioProcessor:
    """Prepared in the constructor; process(block) gives the output block (any length, including 1);
    over any split of a signal into blocks, the batch result bit for bit."""
    _model = ""

    def __init__(self, fs: Any = 44100.0, channels: int = 1, max_block: int = 4096, dtype: Any = np.float32,
                 **settings):
        if isinstance(dtype, torch.dtype):
            dtype = torch.empty(0, dtype=dtype).numpy().dtype
        self._dtype = np.dtype(dtype)
        if self._dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: must be float32 or float64, got {self._dtype}")
        for name, v in (("channels", channels), ("max_block", max_block)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name}: expected an int, got {type(v).__name__}")
            if not 0 <= int(v) < 2 ** 63:
                raise ValueError(f"{name}: must be >= 1 and fit in 64 bits, got {v}")
        self._fs = _rate(fs)
        self.channels = int(channels)
        suffix = "_f32" if self._dtype == np.float32 else "_f64"
        self._p = getattr(_core, _CORE[self._model][0] + suffix)()
        s = _settings(self._model, self._fs, settings)
        _rename_errors(lambda: self._p.prepare(self._fs, self.channels, int(max_block), s), _SPEC_NAMES)

    def _block(self, block: Any, name: str, channels: Tuple[int, ...]) -> Tuple[np.ndarray, bool]:
        a, was_torch = _as_array(block, name)
        if a.dtype != self._dtype:
            raise TypeError(f"{name}: this processor runs in {self._dtype}, got {a.dtype}")
        if a.ndim == 1 and 1 in channels:
            a = a[None, :]
        if a.ndim != 2 or a.shape[0] not in channels:
            hint = f"; {_TRANSPOSE}" if a.ndim == 2 and a.shape[1] == self.channels else ""
            raise ValueError(f"{name}: expected shape ({self.channels}, n), got {tuple(a.shape)}{hint}")
        return np.ascontiguousarray(a), was_torch

    def process(self, block: Any, sidechain: Any = None, return_gain: bool = False):
        """The output block (and the gain with return_gain=True) of a (channels, n) block; sidechain
        (optional): (channels, n) or (1, n), read by the detector instead of the block."""
        a, was_torch = self._block(block, "block", (self.channels,))
        key = None
        if sidechain is not None:
            key = self._block(sidechain, "sidechain", (1, self.channels))[0]
            if key.shape[1] != a.shape[1]:
                raise ValueError(f"sidechain: must have the block's length {a.shape[1]}, got {key.shape[1]}")
        out = np.empty_like(a)
        gain = np.empty_like(a) if return_gain else None
        _rename_errors(lambda: self._p.process(a, out, key, gain), {"in": "block"})
        return (_out(out, was_torch), _out(gain, was_torch)) if return_gain else _out(out, was_torch)

    def set_settings(self, **settings) -> None:
        """New settings from the next sample on (unchanged ones are kept)."""
        self._p.set_settings(_settings(self._model, self._fs, settings))

    @property
    def settings(self) -> Dict[str, Any]:
        """The settings in effect, as the C++ processor holds them (lookahead in ms)."""
        return self._p.settings()

    def reset(self) -> None:
        """Back to the initial state (gain computer, detector, delay line)."""
        self._p.reset()

    @property
    def latency(self) -> int:
        """The lookahead in samples: the output is the input delayed this much (times the gain)."""
        return self._p.latency

    @property
    def makeup_db(self) -> float:
        """The makeup in effect (dB), automatic or set."""
        return self._p.makeup_db

    @property
    def state(self) -> np.ndarray:
        """(channels, state_size) float64: the detector's state (classical only), then the gain
        computer's."""
        return self._p.get_state()

    @state.setter
    def state(self, value) -> None:
        self._p.set_state(np.ascontiguousarray(value, dtype=np.float64))

    @property
    def delay_line(self) -> np.ndarray:
        """(channels, delay line length): the latest input samples, oldest first."""
        return self._p.get_delay_line()

    @delay_line.setter
    def delay_line(self, value) -> None:
        self._p.set_delay_line(np.ascontiguousarray(value, dtype=self._dtype))


class Compressor(_AudioProcessor):
    """The classical feed-forward compressor/expander ("classical"): rms or peak detector, static
    curve with soft knee and expander, hard or sigmoid attack/release gate."""
    _model = "classical"


class Limiter(_AudioProcessor):
    """The peak limiter ("limiter"): limiter_gain on |s|."""
    _model = "limiter"


class SSLCompressor(_AudioProcessor):
    """The SSL-style bus compressor ("ssl"), set by its front panel: attack 0.1…30 ms, release
    100…1200 ms or "auto", ratio (2, 4, 10 or between)."""
    _model = "ssl"
