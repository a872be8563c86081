"""Streaming processors: the library's C++ block processors on numpy or torch blocks of shape
(channels, n). Any split of a signal into blocks gives the batch functions' result for the whole
signal, bit for bit (settings changed between blocks act like batch calls on the pieces with the
state carried over). No gradients: for training use the batch functions with `zi`/`return_state`.

    proc = CompexpProcessor(fs=44100, channels=2, max_block=512, comp_thresh=-24, comp_ratio=4,
                            at=ms2coef(5), rt=ms2coef(120))
    for block in blocks:               # (2, n) float32 or float64, any n
        gain = proc.process(block)     # (2, n), the same dtype

Reference: docs/reference/python.md#streaming.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from . import _core
from ._validation import number

__all__ = ["HardSmootherProcessor", "SigmoidSmootherProcessor", "AvgProcessor", "CompexpProcessor",
           "LimiterProcessor", "SSLGainProcessor", "SSLProcessor"]


def _as_block(block: Any, name: str, channels: int, dtype: Optional[np.dtype]):
    """(channels, n) block as a C-contiguous numpy array; returns (array, was_torch)."""
    was_torch = isinstance(block, torch.Tensor)
    if was_torch:
        if block.device.type != "cpu" or block.layout != torch.strided:
            raise ValueError(f"{name}: must be a dense CPU tensor")
        a = block.detach().numpy()
    elif isinstance(block, np.ndarray):
        a = block
    else:
        raise TypeError(f"{name}: expected a numpy array or torch tensor of shape (channels, n), got "
                        f"{type(block).__name__}")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: dtype {a.dtype} is not supported (use float32 or float64)")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name}: this processor runs in {dtype}, got {a.dtype}")
    if a.ndim == 1 and channels == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[0] != channels:
        raise ValueError(f"{name}: expected shape ({channels}, n), got {tuple(a.shape)} (blocks are "
                         "(channels, time); transpose a (time, channels) array first)")
    return np.ascontiguousarray(a), was_torch


class _Processor:
    """prepare in the constructor; process(block) → output block; reset(); state get/set."""
    _name = ""

    def __init__(self, fs: float = 44100.0, channels: int = 1, max_block: int = 4096,
                 dtype: Any = np.float32, **settings):
        self._dtype = np.dtype(torch.empty(0, dtype=dtype).numpy().dtype if isinstance(dtype, torch.dtype) else dtype)
        if self._dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: must be float32 or float64, got {self._dtype}")
        suffix = "_f32" if self._dtype == np.float32 else "_f64"
        self._p = getattr(_core, self._name + suffix)()
        for name, v in (("channels", channels), ("max_block", max_block)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name}: expected an int, got {type(v).__name__}")
            if not 0 <= int(v) < 2 ** 63:
                raise ValueError(f"{name}: must be >= 1 and fit in 64 bits, got {v}")
        fs, settings = number(fs, "fs"), self._settings(settings)
        try:
            self._p.prepare(fs, int(channels), int(max_block), settings)
        except ValueError as e:  # the C++ process_spec's fields, as this constructor names them
            message = str(e)
            if message.startswith("spec."):
                raise ValueError(message[len("spec."):]) from None
            raise
        self.channels = int(channels)

    @staticmethod
    def _settings(settings: dict) -> dict:
        def value(k, v):
            if isinstance(v, str):
                return v
            if k == "gate_k" and (v is None or (isinstance(v, (float, np.floating)) and v == float("inf"))):
                return float("inf")  # the SSL soft gate's limit: the hard gate
            return number(v, k)
        return {k: value(k, v) for k, v in settings.items()}

    def set_settings(self, channel: Optional[int] = None, **settings) -> None:
        """New settings from the next sample on, for every channel or one."""
        if channel is None:
            self._p.set_settings(self._settings(settings))
        else:
            self._p.set_channel_settings(int(channel), self._settings(settings))

    def reset(self) -> None:
        self._p.reset()

    @property
    def state(self) -> np.ndarray:
        """The state, (channels, state_size) float64."""
        return self._p.get_state()

    @state.setter
    def state(self, value) -> None:
        self._p.set_state(np.ascontiguousarray(value, dtype=np.float64))

    def _out(self, a: np.ndarray, was_torch: bool):
        return torch.from_numpy(a) if was_torch else a

    def process(self, block):
        a, was_torch = _as_block(block, "block", self.channels, self._dtype)
        out = np.empty_like(a)
        self._p.process(a, out)
        return self._out(out, was_torch)


class HardSmootherProcessor(_Processor):
    """compressor_core on blocks. Settings: at, rt (coefficients), zi (reset state, default 1)."""
    _name = "HardSmootherProcessor"


class SigmoidSmootherProcessor(_Processor):
    """sigmoid_core on blocks. Settings: alpha_a, alpha_r, k (1/dB), zi (> 0)."""
    _name = "SigmoidSmootherProcessor"


class AvgProcessor(_Processor):
    """avg on blocks. Settings: coef in (0, 1], zi."""
    _name = "AvgProcessor"


class CompexpProcessor(_Processor):
    """compexp_gain / compexp_gain_mode on blocks of levels (> 0). Settings: comp_thresh, comp_ratio,
    exp_thresh, exp_ratio, knee, at, rt, mode ("hard" or "sigmoid"), k, zi."""
    _name = "CompexpProcessor"


class LimiterProcessor(_Processor):
    """limiter_gain on audio blocks: returns the gain. Settings: threshold (dB), at, rt, zi_peak, zi_gain."""
    _name = "LimiterProcessor"


class SSLGainProcessor(_Processor):
    """ssl_comp_gain on blocks of levels in dB: returns the gain in dB. Settings: comp_thresh, comp_ratio,
    T_attack_fast, T_attack_slow, T_shunt_fast, T_shunt_slow, feedback_coeff, knee,
    gate_k (the soft gate's sharpness in 1/dB; inf, the default, is the hard gate)."""
    _name = "SSLGainProcessor"


class SSLProcessor(_Processor):
    """ssl_compress on audio blocks: process(block, sidechain=None) → (y, gain_db); with a side chain
    the level is taken from it and the gain applied to the block."""
    _name = "SSLProcessor"

    def process(self, block, sidechain=None):
        a, was_torch = _as_block(block, "block", self.channels, self._dtype)
        sc = None if sidechain is None else _as_block(sidechain, "sidechain", self.channels, self._dtype)[0]
        if sc is not None and sc.shape != a.shape:
            raise ValueError(f"sidechain: must have the block's shape {a.shape}, got {sc.shape}")
        out, gain = np.empty_like(a), np.empty_like(a)
        self._p.process(a, out, gain, sc)
        return self._out(out, was_torch), self._out(gain, was_torch)
