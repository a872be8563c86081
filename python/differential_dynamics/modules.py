"""Audio processors as ``torch.nn.Module``s whose parameters are the knobs in user units, and the
functions they run (``compressor_audio``, ``limiter_audio``, ``ssl_audio``).

    comp = Compressor(threshold_db=-24, ratio=4, attack_ms=10, release_ms=100, knee_db=6, makeup_db="auto")
    y = comp(x)                       # x: (batch, channels, time), (channels, time) or (time,)
    comp.ratio = 2.5                  # knobs read and write in user units
    loss(y).backward()                # every knob's raw parameter gets its exact gradient

Audio is (batch, channels, time) like torchaudio: the time axis is last. A (time, channels) array,
as soundfile.read returns it, is refused (transpose it: ``x.T``). Per channel c and sample t, with s
the side chain (if given) or the input, and L the lookahead in samples:

    level_c,t = the detector on s_c              (linked: max or mean over the channels, one level)
    g_t       = the gain computer on the level   (linked: one gain for every channel)
    y_c,t     = mix·(x_c,t−L · g_t · 10^(makeup/20)) + (1 − mix)·x_c,t−L

The output has the input's length (its last L input samples are not heard: append L zeros to flush
them). Without a gradient to compute (torch.no_grad, inference_mode, or nothing requiring grad) no
autograd tape is kept and the signal runs through the kernels in blocks, with their states carried
over (the same numbers as one call), so memory grows by the output and a block's worth.
Reference: docs/reference/modules.md.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np
import torch

from . import _core
from .functional import avg, compexp_gain_mode, gain_curve, limiter_gain
from .ssl import SSL_ATTACK_MS, SSL_ATTACK_OHMS, SSL_RELEASE_OHMS, SSL_RELEASE_S, ssl_comp_gain
from ._validation import MAX_GATE_K, MAX_KNEE_DB, MAX_THRESHOLD_DB, MIN_EXP_RATIO, is_number, number
from .autograd import no_forward_mode, no_second_order, no_trace

__all__ = ["Compressor", "Limiter", "SSLCompressor", "compressor_audio", "limiter_audio", "ssl_audio",
           "ssl_time_constants", "as_audio"]

Number = Union[float, int]
KnobLike = Union[torch.Tensor, Number]

#: Samples per block when no gradient is computed (memory: a few block-sized temporaries per channel).
BLOCK_SAMPLES = 1 << 16
#: The detectors' amplitude floor (−140 dB), as the library's safe dB conversion.
LEVEL_FLOOR = 1e-7



# ------------------------------------------------------------------------------------------------
# Audio shape

def as_audio(x: Any, name: str = "x") -> Tuple[torch.Tensor, int, bool]:
    """x as a (batch, channels, time) float tensor; returns (tensor, original ndim, was numpy).

    Accepts (time,), (channels, time) and (batch, channels, time). Refuses an array whose last axis
    is short (≤ 8) while the one before is long (≥ 64): that is (time, channels) audio."""
    was_numpy = isinstance(x, np.ndarray)
    if was_numpy:
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name}: numpy dtype {x.dtype} is not supported (use float32 or float64)")
        x = torch.from_numpy(np.ascontiguousarray(x))
    elif not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy array of shape (batch, channels, time), got "
                        f"{type(x).__name__}")
    if x.layout != torch.strided or x.device.type != "cpu":
        raise ValueError(f"{name}: must be a dense CPU tensor (.to_dense().cpu())")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name}: dtype {x.dtype} is not supported (use float32 or float64)")
    ndim = x.dim()
    if ndim not in (1, 2, 3):
        raise ValueError(f"{name}: expected shape (batch, channels, time), (channels, time) or (time,), got "
                         f"{tuple(x.shape)}")
    if ndim >= 2 and x.shape[-1] <= 8 and x.shape[-2] >= 64:
        raise ValueError(
            f"{name}: shape {tuple(x.shape)} looks like (time, channels) audio (the layout soundfile.read "
            f"returns); audio here is (batch, channels, time) or (channels, time), time last: transpose it "
            f"(x.T for a numpy array, x.transpose(-1, -2) for a tensor)")
    if x.shape[-1] == 0 or x.numel() == 0:
        raise ValueError(f"{name}: signal is empty (shape {tuple(x.shape)})")
    while x.dim() < 3:
        x = x.unsqueeze(0)
    # Block by block: torch.isfinite on the whole signal would allocate 1.75× its size.
    for t0 in range(0, x.shape[-1], BLOCK_SAMPLES):
        if not bool(torch.isfinite(x.detach()[..., t0:t0 + BLOCK_SAMPLES]).all()):
            raise ValueError(f"{name}: contains NaN or Inf")
    return x, ndim, was_numpy


def _restore(y: torch.Tensor, ndim: int, was_numpy: bool):
    while y.dim() > ndim:
        y = y.squeeze(0)
    return y.detach().numpy() if was_numpy else y


# ------------------------------------------------------------------------------------------------
# Knobs: checks at the edge (errors name the caller's argument) and the modules' parameterisations

def _knob(value: KnobLike, name: str, batch: int) -> torch.Tensor:
    """A knob as a 0-d or (batch,) floating tensor (differentiable; numbers become float64)."""
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided or value.device.type != "cpu":
            raise ValueError(f"{name}: must be a dense CPU tensor")
        t = value if value.is_floating_point() else value.to(torch.float64)
        if t.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"{name}: dtype {value.dtype} is not supported (use float32 or float64)")
        if t.numel() == 1:
            t = t.reshape(())
        elif t.dim() != 1 or t.shape[0] != batch:
            raise ValueError(f"{name}: must be a number or have shape ({batch},) (one value per batch item), got "
                             f"shape {tuple(t.shape)}")
    elif isinstance(value, np.ndarray) and value.size == 1:
        t = torch.tensor(number(value, name), dtype=torch.float64)
    elif is_number(value):
        t = torch.tensor(number(value, name), dtype=torch.float64)
    else:
        raise TypeError(f"{name}: expected a number or a tensor, got {type(value).__name__}")
    if not bool(torch.isfinite(t.detach()).all()):
        raise ValueError(f"{name}: must be finite")
    return t


def _check(t: torch.Tensor, name: str, ok: Callable[[torch.Tensor], torch.Tensor], rule: str) -> None:
    good = ok(t.detach())
    if not bool(good.all()):
        raise ValueError(f"{name}: must be {rule} (got {t.detach().reshape(-1)[~good.reshape(-1)][0].item():g})")


_RULES: Dict[str, Tuple[Callable[[torch.Tensor], torch.Tensor], str]] = {
    "ratio": (lambda t: t > 1, "> 1"),
    "positive": (lambda t: t > 0, "> 0"),
    "nonnegative": (lambda t: t >= 0, ">= 0"),
    "nonpositive": (lambda t: (t <= 0) & (t >= -MAX_THRESHOLD_DB), "in [-1e4, 0] dB"),
    "threshold": (lambda t: t.abs() <= MAX_THRESHOLD_DB, "within +-1e4 dB"),
    "makeup": (lambda t: t.abs() <= 100, "in [-100, 100] dB"),  # as the C++ audio processors
    "knee": (lambda t: (t >= 0) & (t <= MAX_KNEE_DB), "in [0, 1000] dB"),
    "sharpness": (lambda t: (t > 0) & (t <= MAX_GATE_K), "in (0, 1e6] (1/dB)"),
    "unit": (lambda t: (t >= 0) & (t <= 1), "in [0, 1]"),
    "exp_ratio": (lambda t: (t >= MIN_EXP_RATIO) & (t <= 1), "in [1e-6, 1] (1 = no expander)"),
    "any": (lambda t: torch.ones_like(t, dtype=torch.bool), "finite"),
}


class _Map:
    """A knob's parameterisation: value = forward(raw) is valid for every finite raw, and
    inverse(value) gives the raw of a valid value (value → raw → value round-trips)."""

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], inverse: Callable[[float], float], text: str):
        self.forward, self.inverse, self.text = forward, inverse, text


def _softplus(raw: torch.Tensor) -> torch.Tensor:
    return torch.logaddexp(raw, torch.zeros_like(raw))  # log(1 + e^raw) without overflow


def _softplus_inverse(r: float) -> float:
    return r + math.log(-math.expm1(-r))


def _unit_reflect(raw: torch.Tensor) -> torch.Tensor:
    # A triangle wave of period 2: the identity on [0, 1], mirrored outside; slope ±1 everywhere, so a
    # knob at 0 or 1 (dry, fully wet, no feedback) still gets its gradient.
    r = torch.remainder(raw, 2.0)
    return torch.where(r > 1, 2 - r, r)


_IDENTITY = _Map(lambda r: r, lambda v: v, "value = raw")
_LOG = _Map(torch.exp, math.log, "value = exp(raw)")
_RATIO = _Map(lambda r: 1 + _softplus(r), lambda v: _softplus_inverse(v - 1), "value = 1 + softplus(raw)")
_NONNEGATIVE = _Map(lambda r: torch.where(r < 0, -r, r), lambda v: v, "value = |raw|")
_NONPOSITIVE = _Map(lambda r: torch.where(r > 0, -r, r), lambda v: v, "value = −|raw|")
_UNIT = _Map(_unit_reflect, lambda v: v, "value = raw reflected into [0, 1] (period 2)")
# The expander ratio through its slope 1/ER − 1 ≥ 0 (reflected), so that ER = 1 (no expansion) is reachable.
_EXP_RATIO = _Map(lambda r: 1 / (1 + torch.where(r < 0, -r, r)), lambda v: 1 / v - 1,
                  "value = 1 / (1 + |raw|)")


def _exact_raw(mapping: _Map, value: float, dtype: torch.dtype) -> float:
    """The raw value whose mapped value is closest to `value` (usually equal: the inverse's result
    nudged by a few ulps), so that a knob reads back what was set and runs with exactly that value."""
    raw = mapping.inverse(value)
    best, best_err = raw, math.inf
    candidate = raw
    for direction in (math.inf, -math.inf):
        candidate = raw
        for _ in range(5):
            with torch.no_grad():
                err = abs(float(mapping.forward(torch.tensor(candidate, dtype=dtype))) - value)
            if err < best_err:
                best, best_err = candidate, err
            if err == 0:
                return candidate
            candidate = math.nextafter(candidate, direction)
    return best


class _KnobAttr:
    """A module attribute in user units backed by the Parameter raw_<name> (None: the knob is off)."""

    def __init__(self, name: str, mapping: _Map, rule: str, unit: str = ""):
        self.name, self.mapping, self.rule, self.unit = name, mapping, rule, unit
        self.param = "raw_" + name

    def __get__(self, module, owner=None):
        if module is None:
            return self
        with torch.no_grad():
            value = self.tensor(module)
        return None if value is None else float(value)

    def __set__(self, module, value):
        module._set_knob(self, value)

    def tensor(self, module) -> Optional[torch.Tensor]:
        """The knob's value as a differentiable tensor (None if off)."""
        # getattr, not _parameters: functional_call substitutes parameters through attribute access.
        p = getattr(module, self.param, None)
        if p is None:
            return None
        value = self.mapping.forward(p)
        exact = module._exact_values.get(self.param)
        if exact is not None and float(p.detach()) == exact[0]:
            # Unchanged since set: the value set exactly (its map may miss it by an ulp), same gradient.
            value = value + (exact[1] - value.detach())
        return value

    def checked(self, value: Any) -> float:
        if isinstance(value, torch.Tensor) and value.requires_grad:
            raise TypeError(f"{self.name}: a module knob is set from a value (it becomes the parameter's "
                            "data); to drive a knob by a differentiable tensor use the function "
                            "(compressor_audio, limiter_audio, ssl_audio)")
        v = number(value, self.name)
        ok, rule = _RULES[self.rule]
        if not bool(ok(torch.tensor(v, dtype=torch.float64))):
            raise ValueError(f"{self.name}: must be {rule} (got {v:g})")
        return v


class _AudioModule(torch.nn.Module):
    """Knob parameters, the common settings (makeup, mix, link, lookahead, sample rate) and the
    shape handling shared by the processors."""

    makeup_db_knob = _KnobAttr("makeup_db", _IDENTITY, "makeup", "dB")
    mix = _KnobAttr("mix", _UNIT, "unit")
    link_amount = _KnobAttr("link_amount", _UNIT, "unit")

    def __init__(self, sample_rate: Number, makeup_db, mix: Number, link: str, link_amount, lookahead_ms: Number,
                 dtype: torch.dtype):
        super().__init__()
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype: must be torch.float32 or torch.float64, got {dtype}")
        self._dtype = dtype
        self._exact_values: Dict[str, Tuple[float, float]] = {}  # raw parameter → (raw when set, value set)
        self.sample_rate = sample_rate
        self.link = link
        self.lookahead_ms = lookahead_ms
        self.makeup_db = makeup_db
        self._set_knob(type(self).mix, mix)
        self._set_knob(type(self).link_amount, link_amount)

    # -- knobs -------------------------------------------------------------------------------
    def _set_knob(self, knob: _KnobAttr, value) -> None:
        if value is None:
            self.register_parameter(knob.param, None)
            self._exact_values.pop(knob.param, None)
            return
        value = knob.checked(value)
        raw = _exact_raw(knob.mapping, value, self._dtype)
        self._exact_values[knob.param] = (float(torch.tensor(raw, dtype=self._dtype)), value)
        p = self._parameters.get(knob.param)
        if p is None:
            self.register_parameter(knob.param, torch.nn.Parameter(torch.tensor(raw, dtype=self._dtype)))
        else:
            with torch.no_grad():
                p.fill_(raw)

    def _value(self, name: str) -> Optional[torch.Tensor]:
        return getattr(type(self), name).tensor(self)

    def knobs(self) -> Dict[str, torch.Tensor]:
        """Every knob in user units as a differentiable tensor (for regularisers, logging)."""
        out = {}
        for cls in type(self).__mro__:
            for name, attr in vars(cls).items():
                if isinstance(attr, _KnobAttr) and name not in out:
                    v = attr.tensor(self)
                    if v is not None:
                        out[attr.name] = v
        return out

    # -- settings ----------------------------------------------------------------------------
    @property
    def sample_rate(self) -> float:
        return self._sample_rate

    @sample_rate.setter
    def sample_rate(self, value) -> None:
        v = number(value, "sample_rate")
        if v <= 0:
            raise ValueError(f"sample_rate: must be > 0 Hz, got {value}")
        self._sample_rate = v

    @property
    def link(self) -> str:
        """How channels share a gain: "none" (each its own), "max" or "mean" of their levels."""
        return self._link

    @link.setter
    def link(self, value: str) -> None:
        self._link = _link_name(value)

    @property
    def lookahead_ms(self) -> float:
        """The audio is delayed round(lookahead_ms·sample_rate/1000) samples against the gain (not
        differentiable: an integer delay; it is not a Parameter)."""
        return self._lookahead_ms

    @lookahead_ms.setter
    def lookahead_ms(self, value) -> None:
        _lookahead_samples(value, self.sample_rate)
        self._lookahead_ms = float(value)

    @property
    def latency(self) -> int:
        """The lookahead in samples: the output is the input delayed this much (times the gain)."""
        return _lookahead_samples(self.lookahead_ms, self.sample_rate)

    @property
    def auto_makeup(self) -> bool:
        return self._parameters.get("raw_makeup_db") is None

    @property
    def makeup_db(self) -> float:
        """Makeup gain in dB; reads the automatic value when set to "auto"."""
        if self.auto_makeup:
            with torch.no_grad():
                return float(self._auto_makeup(self._gain_knobs(1)))
        return type(self).makeup_db_knob.__get__(self)

    @makeup_db.setter
    def makeup_db(self, value) -> None:
        if isinstance(value, str):
            if value != "auto":
                raise ValueError(f'makeup_db: must be a number (dB) or "auto", got {value!r}')
            self.register_parameter("raw_makeup_db", None)
        else:
            self._set_knob(type(self).makeup_db_knob, value)

    def _common(self, batch: int) -> Dict[str, Any]:
        return dict(mix=self._value("mix"), link=self.link, link_amount=self._value("link_amount"),
                    lookahead_ms=self.lookahead_ms, sample_rate=self.sample_rate,
                    makeup_db="auto" if self.auto_makeup else self._value("makeup_db_knob"))

    def _gain_knobs(self, batch: int) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def _auto_makeup(self, knobs: Dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        knobs = ", ".join(f"{k}={float(v):.6g}" for k, v in self.knobs().items() if k != "makeup_db")
        makeup = "auto" if self.auto_makeup else f"{self.makeup_db:.6g}"
        return (f"{knobs}, makeup_db={makeup}, link={self.link!r}, lookahead_ms={self.lookahead_ms:g}, "
                f"sample_rate={self.sample_rate:g}")


def _link_name(value: Any) -> str:
    if not isinstance(value, str) or value not in ("none", "max", "mean"):
        raise ValueError(f'link: must be "none", "max" or "mean", got {value!r}')
    return value


def _lookahead_samples(ms: Any, sample_rate: float) -> int:
    if isinstance(ms, torch.Tensor) and ms.requires_grad:
        raise TypeError("lookahead_ms: the lookahead is an integer delay of round(ms·fs/1000) samples and has no "
                        "gradient; pass a number")
    v = number(ms, "lookahead_ms")
    if v < 0:
        raise ValueError(f"lookahead_ms: must be >= 0, got {ms}")
    samples = math.floor(v * sample_rate / 1000.0 + 0.5)  # half away from zero, as the C++ processors
    if samples > 1 << 40:
        raise ValueError(f"lookahead_ms: {ms} ms is too long")
    return int(samples)


# ------------------------------------------------------------------------------------------------
# The chain around a gain computer (shared by the three processors)

class _Chain:
    """One call's prepared settings. `detect(s_rows, state)` gives per-row levels (> 0 where a
    logarithm follows); `gain(level_rows, reps, state)` gives linear gains, reps = gain rows per batch
    item (its (batch,) knobs are repeated that often)."""

    def __init__(self, detect, gain, detector_floor: bool, makeup_db: torch.Tensor, mix: torch.Tensor,
                 link: str, link_amount: Optional[torch.Tensor], lookahead: int):
        self.detect, self.gain, self.detector_floor = detect, gain, detector_floor
        self.makeup_db, self.mix, self.link, self.link_amount, self.lookahead = (makeup_db, mix, link, link_amount,
                                                                                  lookahead)
        # Fully wet without makeup: the output is the delayed input times the gain.
        self.plain = bool((mix.detach() == 1).all()) and bool((makeup_db.detach() == 0).all())


def _per_row(p: torch.Tensor, reps: int) -> torch.Tensor:
    return p if p.dim() == 0 or reps == 1 else p.repeat_interleave(reps)


def _column(p: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A 0-d or (batch,) knob shaped to broadcast against (batch, channels, time)."""
    return p.to(dtype).reshape(-1, 1, 1) if p.dim() == 1 else p.to(dtype)


def _delayed(x: torch.Tensor, lookahead: int, t0: int, t1: int) -> torch.Tensor:
    """x[..., t0 − L : t1 − L] with zeros before the start."""
    lo, hi = t0 - lookahead, t1 - lookahead
    if lo >= 0:
        return x[..., lo:hi]
    zeros = x.new_zeros(x.shape[:-1] + (min(-lo, t1 - t0),))
    if hi <= 0:
        return zeros
    return torch.cat([zeros, x[..., :hi]], dim=-1)


def _span(chain: _Chain, x: torch.Tensor, s: torch.Tensor, t0: int, t1: int, state):
    """Output, gain (batch, G, n) and the states after samples t0 … t1−1."""
    batch, channels_s, n = s.shape[0], s.shape[1], t1 - t0
    det_state, gain_state = state if state is not None else (None, None)
    level, det_state = chain.detect(s[..., t0:t1].reshape(batch * channels_s, n), det_state)
    level = level.reshape(batch, channels_s, n)
    if chain.link != "none" and channels_s > 1:
        linked = level.amax(dim=1, keepdim=True) if chain.link == "max" else \
            level.to(torch.float64).mean(dim=1, keepdim=True).to(level.dtype)
        if chain.link_amount is None:
            level = linked
        else:
            a = _column(chain.link_amount, level.dtype)
            level = a * linked + (1 - a) * level
    reps = level.shape[1]
    gain, gain_state = chain.gain(level.reshape(batch * reps, n), reps, gain_state)
    gain = gain.reshape(batch, reps, n)
    xd = _delayed(x, chain.lookahead, t0, t1)
    if chain.plain and not torch.is_grad_enabled():
        y = xd * gain  # = _MixOutput's formula bit for bit when wet = 1 and the makeup is 0 dB
    else:
        wet = _column(chain.mix, torch.float64)
        makeup = torch.pow(10.0, _column(chain.makeup_db, torch.float64) / 20)
        y = _MixOutput.apply(xd, gain, wet, makeup)
    return y, gain, (det_state, gain_state)


def _sum_to(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Sums t (batch, ·, time) to the shape of a 0-d or (batch, 1, 1) knob."""
    return t.sum() if like.dim() == 0 else t.sum(dim=(1, 2), keepdim=True)


class _MixOutput(torch.autograd.Function):
    """y = wet·(x·g·m) + (1 − wet)·x in double, rounded once, as the C++ audio processors; x (batch,
    channels, n), g (batch, 1 or channels, n), wet and m float64 (0-d or (batch, 1, 1)). Fused, and
    in double a block at a time, so that memory holds x and g, not several double copies of them."""

    @staticmethod
    def forward(ctx, x, g, wet, m):
        no_trace("the audio modules' output mix")
        y = torch.empty_like(x)
        for t0 in range(0, x.shape[-1], BLOCK_SAMPLES):
            span = slice(t0, t0 + BLOCK_SAMPLES)
            xd = x[..., span].to(torch.float64)  # x itself when x is float64: not modified below
            wet_part = xd * g[..., span].to(torch.float64)
            wet_part.mul_(m).mul_(wet)  # = wet·(x·g·m): products commute bit for bit
            y[..., span] = wet_part.add_(xd * (1 - wet))
        ctx.save_for_backward(x, g, wet, m)
        return y

    @staticmethod
    def backward(ctx, gy):
        no_second_order("the audio modules' output mix")
        x, g, wet, m = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gx = torch.empty_like(x) if needs[0] else None
        gg = torch.empty_like(g) if needs[1] else None
        gwet = torch.zeros_like(wet) if needs[2] else None
        gm = torch.zeros_like(m) if needs[3] else None
        for t0 in range(0, x.shape[-1], BLOCK_SAMPLES):
            span = slice(t0, t0 + BLOCK_SAMPLES)
            gy64, x64, g64 = (t[..., span].to(torch.float64) for t in (gy, x, g))
            if gx is not None:
                gx[..., span] = gy64 * (wet * m * g64 + (1 - wet))
            gyx = gy64 * x64
            if gg is not None:
                gg[..., span] = (gyx.sum(dim=1, keepdim=True) if g.shape[1] < x.shape[1] else gyx) * (wet * m)
            if gwet is not None:
                gwet += _sum_to(gyx * (g64 * m - 1), wet)
            if gm is not None:
                gm += _sum_to(gyx * g64 * wet, m)
        return gx, gg, gwet, gm

    @staticmethod
    def jvp(ctx, tx, tg, twet, tm):
        no_forward_mode("the audio modules' output mix")


def _run_chain(chain: _Chain, x: torch.Tensor, s: torch.Tensor, knobs, return_gain: bool):
    batch, channels, length = x.shape
    tensors = [x, s] + [k for k in knobs if isinstance(k, torch.Tensor)]
    # Forward-mode tangents (torch.autograd.forward_ad) need the differentiable path too: the blocked
    # path below copies into a plain tensor and would drop them (zero tangents, silently).
    dual = any(torch.autograd.forward_ad.unpack_dual(t).tangent is not None for t in tensors)
    if dual or (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)):
        y, gain, _ = _span(chain, x, s, 0, length, None)
        return y, (gain.expand(batch, channels, length) if return_gain else None)
    # No gradient wanted: no tape, and blocks with the states carried over (memory: the output and a
    # block's temporaries, not several copies of the signal).
    with torch.no_grad():
        y = torch.empty_like(x)
        gain_out = None
        state = None
        for t0 in range(0, length, BLOCK_SAMPLES):
            t1 = min(length, t0 + BLOCK_SAMPLES)
            y_block, g_block, state = _span(chain, x, s, t0, t1, state)
            y[..., t0:t1] = y_block
            if return_gain:
                if gain_out is None:
                    gain_out = x.new_empty((batch, g_block.shape[1], length))
                gain_out[..., t0:t1] = g_block
            del y_block, g_block
    return y, (gain_out.expand(batch, channels, length) if return_gain else None)


def _sidechain(sidechain: Any, x: torch.Tensor) -> torch.Tensor:
    if sidechain is None:
        return x
    s, _, _ = as_audio(sidechain, "sidechain")
    batch, channels, length = x.shape
    if s.shape[-1] != length:
        raise ValueError(f"sidechain: must have x's length {length}, got {s.shape[-1]} samples")
    if s.shape[1] not in (1, channels):
        raise ValueError(f"sidechain: must have 1 or x's {channels} channels, got {s.shape[1]}")
    if s.shape[0] not in (1, batch):
        raise ValueError(f"sidechain: must have x's batch size {batch} (or 1), got {s.shape[0]}")
    if s.dtype != x.dtype:
        raise TypeError(f"sidechain: dtype {s.dtype} differs from x's {x.dtype}")
    return s.expand(batch, s.shape[1], length)


def _time_coef(ms: torch.Tensor, name: str, sample_rate: float, *, allow_one: bool = False) -> torch.Tensor:
    """ms2coef(ms, fs) in float64, differentiable; refuses times whose coefficient rounds to 0 or 1."""
    m = ms.to(torch.float64)
    coef = -torch.expm1(-2200.0 / (m * sample_rate))
    c = coef.detach()
    if not bool((c > 0).all()):
        raise ValueError(f"{name}: too long for the sample rate {sample_rate:g} Hz (its coefficient rounds to 0)")
    if not allow_one and not bool((c < 1).all()):
        raise ValueError(f"{name}: too short for the sample rate {sample_rate:g} Hz (its coefficient "
                         f"ms2coef(ms, fs) rounds to 1)")
    return coef


def _finish(chain: _Chain, x, sidechain, ndim: int, was_numpy: bool, knobs, return_gain: bool):
    s = _sidechain(sidechain, x)
    y, gain = _run_chain(chain, x, s, knobs, return_gain)
    y = _restore(y, ndim, was_numpy)
    return (y, _restore(gain, ndim, was_numpy)) if return_gain else y


def _common_knobs(batch: int, makeup_db, mix, link, link_amount, lookahead_ms, sample_rate):
    sample_rate = number(sample_rate, "sample_rate")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate: must be > 0 Hz, got {sample_rate}")
    link = _link_name(link)
    mix_t = _knob(mix, "mix", batch)
    _check(mix_t, "mix", *_RULES["unit"])
    amount = None
    if link_amount is not None:
        if link == "none":
            raise ValueError('link_amount: a partial link needs link="max" or "mean"')
        amount = _knob(link_amount, "link_amount", batch)
        _check(amount, "link_amount", *_RULES["unit"])
    lookahead = _lookahead_samples(lookahead_ms, sample_rate)
    makeup = None if isinstance(makeup_db, str) and makeup_db == "auto" else makeup_db
    if isinstance(makeup_db, str) and makeup_db != "auto":
        raise ValueError(f'makeup_db: must be a number (dB) or "auto", got {makeup_db!r}')
    if makeup is not None:
        makeup = _knob(makeup, "makeup_db", batch)
        _check(makeup, "makeup_db", *_RULES["makeup"])
    return sample_rate, link, mix_t, amount, lookahead, makeup


def _knobs(batch: int, **values) -> Dict[str, torch.Tensor]:
    """Knob tensors by name, each checked against its rule: values = {name: (value, rule)}."""
    out = {}
    for name, (value, rule) in values.items():
        t = _knob(value, name, batch)
        _check(t, name, *_RULES[rule])
        out[name] = t
    return out


# ------------------------------------------------------------------------------------------------
# Classical compressor

def _compressor_auto_makeup(k: Dict[str, torch.Tensor]) -> torch.Tensor:
    """−g_dB(0 dBFS)/2 of the static curve (knee and expander included), differentiable."""
    params = [k["threshold_db"], k["ratio"], k["exp_threshold_db"], k["exp_ratio"], k["knee_db"]]
    shape = torch.broadcast_shapes(*(p.shape for p in params))
    rows = 1 if len(shape) == 0 else shape[0]
    cols = [p.to(torch.float64).expand(shape).reshape(rows) for p in params]
    g0 = gain_curve(torch.zeros(rows, 1, dtype=torch.float64), *cols).reshape(shape)
    return -0.5 * g0


def compressor_audio(x, threshold_db: KnobLike = -24.0, ratio: KnobLike = 4.0, attack_ms: KnobLike = 10.0,
                     release_ms: KnobLike = 100.0, *, knee_db: KnobLike = 0.0, exp_threshold_db: KnobLike = -1000.0,
                     exp_ratio: KnobLike = 1.0, detector: str = "rms", detector_ms: KnobLike = 20.0,
                     gate: str = "hard", k: KnobLike = 1.0, makeup_db: Union[KnobLike, str] = 0.0,
                     mix: KnobLike = 1.0, link: str = "max", link_amount: Optional[KnobLike] = None,
                     lookahead_ms: Number = 0.0, sidechain=None, sample_rate: Number = 44100.0,
                     return_gain: bool = False):
    """The classical feed-forward compressor/expander on audio (batch, channels, time).

    Detector "rms" (the averaging detector avg(|s|, ms2coef(detector_ms)), a mean of |s|, as the
    classic teacher) or "peak" (|s|), floored at 1e-7 → link → compexp_gain_mode with
    at = ms2coef(attack_ms), rt = ms2coef(release_ms), the static curve of threshold_db, ratio,
    knee_db and the downward expander (exp_threshold_db, exp_ratio in (0, 1], 1 = off), gate "hard"
    or "sigmoid" (sharpness k, 1/dB) → lookahead, makeup (dB, or "auto" = −g_dB(0 dBFS)/2), mix.
    Knobs are numbers or tensors (0-d, or one value per batch item (batch,)); every tensor knob gets
    its gradient. Returns y (the input's shape), and the linear gain g (before makeup and mix) with
    return_gain=True."""
    xs, ndim, was_numpy = as_audio(x)
    batch = xs.shape[0]
    fs, link, mix_t, amount, lookahead, makeup = _common_knobs(batch, makeup_db, mix, link, link_amount,
                                                               lookahead_ms, sample_rate)
    if detector not in ("rms", "peak"):
        raise ValueError(f'detector: must be "rms" or "peak", got {detector!r}')
    if gate not in ("hard", "sigmoid"):
        raise ValueError(f'gate: must be "hard" or "sigmoid", got {gate!r}')
    kn = _knobs(batch, threshold_db=(threshold_db, "threshold"), ratio=(ratio, "ratio"),
                attack_ms=(attack_ms, "positive"), release_ms=(release_ms, "positive"), knee_db=(knee_db, "knee"),
                exp_threshold_db=(exp_threshold_db, "threshold"), exp_ratio=(exp_ratio, "exp_ratio"),
                detector_ms=(detector_ms, "positive"), k=(k, "sharpness"))
    at = _time_coef(kn["attack_ms"], "attack_ms", fs)
    rt = _time_coef(kn["release_ms"], "release_ms", fs)
    det_coef = _time_coef(kn["detector_ms"], "detector_ms", fs, allow_one=True)
    if makeup is None:
        makeup = _compressor_auto_makeup(kn)

    def detect(rows, state):
        magnitude = rows.abs()
        if detector == "rms":
            reps = rows.shape[0] // batch
            magnitude, state = avg(magnitude, _per_row(det_coef, reps), zi=state, return_state=True)
        return magnitude.clamp_min(LEVEL_FLOOR), state

    def gain(level, reps, state):
        r = lambda name: _per_row(kn[name], reps)  # noqa: E731
        common = (level, r("threshold_db"), r("ratio"), r("exp_threshold_db"), r("exp_ratio"), _per_row(at, reps),
                  _per_row(rt, reps))
        if gate == "hard":
            return compexp_gain_mode(*common, "hard", knee=r("knee_db"), zi=state, return_state=True)
        return compexp_gain_mode(*common, "sigmoid", r("k"), knee=r("knee_db"), zi=state, return_state=True)

    chain = _Chain(detect, gain, True, makeup, mix_t, link, amount, lookahead)
    used = [mix_t, makeup, amount, at, rt] + [kn[n] for n in ("threshold_db", "ratio", "exp_threshold_db",
                                                                "exp_ratio", "knee_db")]
    if detector == "rms":
        used.append(det_coef)
    if gate == "sigmoid":
        used.append(kn["k"])
    return _finish(chain, xs, sidechain, ndim, was_numpy, used, return_gain)


class Compressor(_AudioModule):
    """The classical feed-forward compressor/expander (see compressor_audio) with its knobs as
    parameters. Knob attributes read and write in user units; the Parameters are raw_<knob>
    (see docs/reference/modules.md for each map). gate, detector, the expander's presence and k's
    presence are fixed at construction; link, lookahead_ms, sample_rate and makeup ("auto" or dB)
    can be changed."""

    threshold_db = _KnobAttr("threshold_db", _IDENTITY, "threshold", "dB")
    ratio = _KnobAttr("ratio", _RATIO, "ratio")
    attack_ms = _KnobAttr("attack_ms", _LOG, "positive", "ms")
    release_ms = _KnobAttr("release_ms", _LOG, "positive", "ms")
    knee_db = _KnobAttr("knee_db", _NONNEGATIVE, "knee", "dB")
    detector_ms = _KnobAttr("detector_ms", _LOG, "positive", "ms")
    exp_threshold_db = _KnobAttr("exp_threshold_db", _IDENTITY, "threshold", "dB")
    exp_ratio = _KnobAttr("exp_ratio", _EXP_RATIO, "exp_ratio")
    k = _KnobAttr("k", _LOG, "sharpness", "1/dB")

    def __init__(self, threshold_db: Number = -24.0, ratio: Number = 4.0, attack_ms: Number = 10.0,
                 release_ms: Number = 100.0, *, knee_db: Number = 0.0, exp_threshold_db: Optional[Number] = None,
                 exp_ratio: Optional[Number] = None, detector: str = "rms", detector_ms: Number = 20.0,
                 gate: str = "hard", k: Optional[Number] = None, makeup_db: Union[Number, str] = 0.0,
                 mix: Number = 1.0, link: str = "max", link_amount: Optional[Number] = None,
                 lookahead_ms: Number = 0.0, sample_rate: Number = 44100.0, dtype: torch.dtype = torch.float64):
        if gate not in ("hard", "sigmoid"):
            raise ValueError(f'gate: must be "hard" or "sigmoid", got {gate!r}')
        if gate == "hard" and k is not None:
            raise ValueError('k: the gate sharpness is used by gate="sigmoid" only')
        if (exp_threshold_db is None) != (exp_ratio is None):
            raise ValueError("exp_threshold_db, exp_ratio: give both for an expander, or neither")
        super().__init__(sample_rate, 0.0, mix, link, link_amount, lookahead_ms, dtype)
        self._gate = gate
        if detector not in ("rms", "peak"):
            raise ValueError(f'detector: must be "rms" or "peak", got {detector!r}')
        self._detector = detector
        for attr, value in (("threshold_db", threshold_db), ("ratio", ratio), ("attack_ms", attack_ms),
                            ("release_ms", release_ms), ("knee_db", knee_db),
                            ("detector_ms", detector_ms if detector == "rms" else None),
                            ("exp_threshold_db", exp_threshold_db), ("exp_ratio", exp_ratio),
                            ("k", (1.0 if k is None else k) if gate == "sigmoid" else None)):
            self._set_knob(getattr(type(self), attr), value)
        self.makeup_db = makeup_db

    @property
    def gate(self) -> str:
        return self._gate

    @property
    def detector(self) -> str:
        return self._detector

    def _gain_knobs(self, batch: int) -> Dict[str, torch.Tensor]:
        knobs = {n: self._value(n) for n in ("threshold_db", "ratio", "attack_ms", "release_ms", "knee_db",
                                               "detector_ms", "exp_threshold_db", "exp_ratio")}
        if knobs["detector_ms"] is None:
            del knobs["detector_ms"]
        if knobs["exp_threshold_db"] is None:
            knobs["exp_threshold_db"] = torch.tensor(-1000.0, dtype=torch.float64)
            knobs["exp_ratio"] = torch.tensor(1.0, dtype=torch.float64)
        return knobs

    def _auto_makeup(self, knobs):
        return _compressor_auto_makeup(knobs)

    def forward(self, x, sidechain=None, *, return_gain: bool = False):
        """y (x's shape), and the linear gain with return_gain=True."""
        knobs = self._gain_knobs(1)
        if self.gate == "sigmoid":
            knobs["k"] = self._value("k")
        return compressor_audio(x, **knobs, detector=self.detector, gate=self.gate, sidechain=sidechain,
                                return_gain=return_gain, **self._common(1))


# ------------------------------------------------------------------------------------------------
# Limiter

def limiter_audio(x, threshold_db: KnobLike = -1.0, attack_ms: KnobLike = 0.1, release_ms: KnobLike = 50.0, *,
                  makeup_db: Union[KnobLike, str] = 0.0, mix: KnobLike = 1.0, link: str = "max",
                  link_amount: Optional[KnobLike] = None, lookahead_ms: Number = 0.0, sidechain=None,
                  sample_rate: Number = 44100.0, return_gain: bool = False):
    """The peak limiter on audio (batch, channels, time): limiter_gain on |s| (linked: max or mean
    over channels) with threshold_db ≤ 0, at = ms2coef(attack_ms), rt = ms2coef(release_ms) →
    lookahead, makeup (dB, or "auto" = −threshold_db/2), mix. Knobs as in compressor_audio."""
    xs, ndim, was_numpy = as_audio(x)
    batch = xs.shape[0]
    fs, link, mix_t, amount, lookahead, makeup = _common_knobs(batch, makeup_db, mix, link, link_amount,
                                                               lookahead_ms, sample_rate)
    kn = _knobs(batch, threshold_db=(threshold_db, "nonpositive"), attack_ms=(attack_ms, "positive"),
                release_ms=(release_ms, "positive"))
    at = _time_coef(kn["attack_ms"], "attack_ms", fs)
    rt = _time_coef(kn["release_ms"], "release_ms", fs)
    if makeup is None:
        makeup = -0.5 * kn["threshold_db"]

    def detect(rows, state):
        return rows.abs(), state

    def gain(level, reps, state):
        return limiter_gain(level, _per_row(kn["threshold_db"], reps), _per_row(at, reps), _per_row(rt, reps),
                            zi=state, return_state=True)

    chain = _Chain(detect, gain, False, makeup, mix_t, link, amount, lookahead)
    return _finish(chain, xs, sidechain, ndim, was_numpy, [mix_t, makeup, amount, at, rt, kn["threshold_db"]],
                   return_gain)


class Limiter(_AudioModule):
    """The peak limiter (see limiter_audio) with its knobs as parameters."""

    threshold_db = _KnobAttr("threshold_db", _NONPOSITIVE, "nonpositive", "dB")
    attack_ms = _KnobAttr("attack_ms", _LOG, "positive", "ms")
    release_ms = _KnobAttr("release_ms", _LOG, "positive", "ms")

    def __init__(self, threshold_db: Number = -1.0, attack_ms: Number = 0.1, release_ms: Number = 50.0, *,
                 makeup_db: Union[Number, str] = 0.0, mix: Number = 1.0, link: str = "max",
                 link_amount: Optional[Number] = None, lookahead_ms: Number = 0.0, sample_rate: Number = 44100.0,
                 dtype: torch.dtype = torch.float64):
        super().__init__(sample_rate, 0.0, mix, link, link_amount, lookahead_ms, dtype)
        for attr, value in (("threshold_db", threshold_db), ("attack_ms", attack_ms), ("release_ms", release_ms)):
            self._set_knob(getattr(type(self), attr), value)
        self.makeup_db = makeup_db

    def _gain_knobs(self, batch: int) -> Dict[str, torch.Tensor]:
        return {n: self._value(n) for n in ("threshold_db", "attack_ms", "release_ms")}

    def _auto_makeup(self, knobs):
        return -0.5 * knobs["threshold_db"]

    def forward(self, x, sidechain=None, *, return_gain: bool = False):
        return limiter_audio(x, **self._gain_knobs(1), sidechain=sidechain, return_gain=return_gain,
                             **self._common(1))


# ------------------------------------------------------------------------------------------------
# SSL bus compressor

# The circuit (include/differential_dynamics/ssl.hpp): the capacitors (F), the auto release's shunts (Ω)
# and the bypassed slow branch of a fixed release (s). A test holds them to the C++ presets.
_CAP_FAST, _CAP_SLOW = 0.47e-6, 6.8e-6
_AUTO_SHUNT_FAST, _AUTO_SHUNT_SLOW = 91e3, 750e3
_BYPASSED_ATTACK_SLOW = _core.ssl_preset(820.0, 180e3, 4.0, 44100.0)["T_attack_slow"]


def _panel_resistor(value: torch.Tensor, labels, ohms) -> torch.Tensor:
    """The resistor of a front-panel value, as the C++ front panel computes it: a position's own
    resistor at a position (within 1e-9 relative); between positions i and i+1, w = log(v/label_i) /
    log(label_{i+1}/label_i) and R = R_i·exp(w·log(R_{i+1}/R_i)) (log R linear in log v). Outside the
    panel's range the end segment continues. Differentiable; at a position the slope is the segment
    above's."""
    v = value.to(torch.float64)
    labels_t = torch.tensor(labels, dtype=torch.float64)
    i = (torch.searchsorted(labels_t, v.detach().reshape(-1), right=True) - 1).clamp(0, len(labels) - 2)
    i = i.reshape(v.shape)
    lab = torch.tensor(labels, dtype=torch.float64)
    res = torch.tensor(ohms, dtype=torch.float64)
    span = torch.tensor([math.log(labels[j + 1] / labels[j]) for j in range(len(labels) - 1)], dtype=torch.float64)
    rise = torch.tensor([math.log(ohms[j + 1] / ohms[j]) for j in range(len(ohms) - 1)], dtype=torch.float64)
    w = torch.log(v / lab[i]) / span[i]
    r = res[i] * torch.exp(w * rise[i])
    exact = torch.zeros_like(r)
    hit = torch.zeros_like(r, dtype=torch.bool)
    for label, ohm in zip(labels, ohms):
        at_label = (v.detach() - label).abs() <= 1e-9 * label
        exact = torch.where(at_label, torch.full_like(r, ohm), exact)
        hit |= at_label
    return torch.where(hit, r + (exact - r).detach(), r)


def ssl_time_constants(attack_ms: KnobLike = 10.0, release_ms: Union[KnobLike, str] = "auto",
                       sample_rate: Number = 44100.0) -> Dict[str, torch.Tensor]:
    """The four time constants (seconds) of a front-panel setting, differentiable in attack_ms and
    release_ms: attack 0.1 … 30 ms selects the attack resistor (T_attack_fast = Ra·Cf,
    T_attack_slow = Ra·Cs), release "auto" the two auto shunts, a release of 100 … 1200 ms a single
    shunt on the fast capacitor (T_shunt_fast = R·Cf; slow branch bypassed). Between positions log R
    is linear in log(time); outside the panel's range the end segments' lines continue (for fitting;
    the hardware and the C++ front panel stop at the range)."""
    a = _knob(attack_ms, "attack_ms", 1 if not isinstance(attack_ms, torch.Tensor) else max(attack_ms.numel(), 1))
    _check(a, "attack_ms", *_RULES["positive"])
    ra = _panel_resistor(a, SSL_ATTACK_MS, SSL_ATTACK_OHMS)
    out = {"T_attack_fast": ra * _CAP_FAST}
    if isinstance(release_ms, str):
        if release_ms != "auto":
            raise ValueError(f'release_ms: must be a time in ms or "auto", got {release_ms!r}')
        out["T_attack_slow"] = ra * _CAP_SLOW
        out["T_shunt_fast"] = torch.tensor(_AUTO_SHUNT_FAST * _CAP_FAST, dtype=torch.float64)
        out["T_shunt_slow"] = torch.tensor(_AUTO_SHUNT_SLOW * _CAP_SLOW, dtype=torch.float64)
    else:
        r = _knob(release_ms, "release_ms",
                  1 if not isinstance(release_ms, torch.Tensor) else max(release_ms.numel(), 1))
        _check(r, "release_ms", *_RULES["positive"])
        rr = _panel_resistor(r / 1000.0, SSL_RELEASE_S, SSL_RELEASE_OHMS)  # in seconds, as the C++ panel
        out["T_attack_slow"] = torch.full_like(ra, _BYPASSED_ATTACK_SLOW)
        out["T_shunt_fast"] = rr * _CAP_FAST
        fs = number(sample_rate, "sample_rate")
        out["T_shunt_slow"] = torch.tensor(1.0 / fs, dtype=torch.float64)
    return out


def _ssl_auto_makeup(threshold_db: torch.Tensor, ratio: torch.Tensor, feedback: torch.Tensor) -> torch.Tensor:
    """−y(0 dBFS)/2 of the fed-back hard-knee curve y(L) = min(0, s·(CT − L)/(1 + s·fb)), s = 1 − 1/ratio."""
    s = 1 - 1 / ratio.to(torch.float64)
    y0 = s * threshold_db.to(torch.float64) / (1 + s * feedback.to(torch.float64))
    return -0.5 * torch.clamp_max(y0, 0.0)


_TIME_CONSTANTS = ("T_attack_fast", "T_attack_slow", "T_shunt_fast", "T_shunt_slow")


def ssl_audio(x, threshold_db: KnobLike = -20.0, ratio: KnobLike = 4.0, attack_ms: Optional[KnobLike] = None,
              release_ms: Union[KnobLike, str, None] = None, *, feedback: KnobLike = 0.0, knee_db: KnobLike = 0.0,
              time_constants: Optional[Dict[str, KnobLike]] = None, makeup_db: Union[KnobLike, str] = 0.0,
              mix: KnobLike = 1.0, link: str = "max", link_amount: Optional[KnobLike] = None,
              lookahead_ms: Number = 0.0, sidechain=None, sample_rate: Number = 44100.0, return_gain: bool = False):
    """The SSL-style bus compressor on audio (batch, channels, time): the peak level |s| (linked: max
    or mean over channels) in dB, 20·log10(max(level, 1e-7)) → ssl_comp_gain (threshold_db, ratio,
    feedback in [0, 1], knee_db) → gain 10^(g/20) → lookahead, makeup (dB, or "auto" =
    −y(0 dBFS)/2 of the fed-back hard-knee curve), mix.

    The side chain's circuit comes from the front panel, attack_ms (default 10; positions 0.1, 0.3,
    1, 3, 10, 30) and release_ms ("auto", the default, or 100, 300, 600, 1200 and values between),
    see ssl_time_constants; or directly from time_constants = {"T_attack_fast", "T_attack_slow",
    "T_shunt_fast", "T_shunt_slow"} (seconds, > 0), with attack_ms and release_ms left out."""
    xs, ndim, was_numpy = as_audio(x)
    batch = xs.shape[0]
    fs, link, mix_t, amount, lookahead, makeup = _common_knobs(batch, makeup_db, mix, link, link_amount,
                                                               lookahead_ms, sample_rate)
    kn = _knobs(batch, threshold_db=(threshold_db, "threshold"), ratio=(ratio, "ratio"), feedback=(feedback, "unit"),
                knee_db=(knee_db, "knee"))
    if time_constants is not None:
        if attack_ms is not None or release_ms is not None:
            raise ValueError("time_constants: give either the circuit's time constants or the front panel's "
                             "attack_ms/release_ms, not both")
        if not isinstance(time_constants, dict) or set(time_constants) != set(_TIME_CONSTANTS):
            raise ValueError(f"time_constants: must be a dict with exactly the keys {_TIME_CONSTANTS}")
        tc = _knobs(batch, **{n: (time_constants[n], "positive") for n in _TIME_CONSTANTS})
    else:
        a = _knob(10.0 if attack_ms is None else attack_ms, "attack_ms", batch)
        r = "auto" if release_ms is None else release_ms
        if not isinstance(r, str):
            r = _knob(r, "release_ms", batch)
        tc = ssl_time_constants(a, r, fs)
    if makeup is None:
        makeup = _ssl_auto_makeup(kn["threshold_db"], kn["ratio"], kn["feedback"])

    def detect(rows, state):
        return rows.abs(), state

    def gain(level, reps, state):
        level_db = (20 * torch.log10(level.to(torch.float64).clamp_min(LEVEL_FLOOR))).to(level.dtype)
        r = lambda t: _per_row(t, reps)  # noqa: E731
        g_db, state = ssl_comp_gain(level_db, r(kn["threshold_db"]), r(kn["ratio"]),
                                    *(r(tc[n]) for n in _TIME_CONSTANTS), r(kn["feedback"]), fs,
                                    knee=r(kn["knee_db"]), zi=state, return_state=True)
        # exp(g·ln10/20), the C++ audio processor's db2amp, in double.
        return torch.exp(g_db.to(torch.float64) * (math.log(10.0) / 20)).to(level.dtype), state

    chain = _Chain(detect, gain, False, makeup, mix_t, link, amount, lookahead)
    used = [mix_t, makeup, amount] + list(kn.values()) + list(tc.values())
    return _finish(chain, xs, sidechain, ndim, was_numpy, used, return_gain)


class SSLCompressor(_AudioModule):
    """The SSL-style bus compressor (see ssl_audio) with its knobs as parameters: threshold_db,
    ratio, feedback, knee_db, and either the front panel (attack_ms; release_ms unless "auto") or,
    with time_constants=…, the circuit's four time constants (seconds) — the form for fitting a
    circuit beyond the panel."""

    threshold_db = _KnobAttr("threshold_db", _IDENTITY, "threshold", "dB")
    ratio = _KnobAttr("ratio", _RATIO, "ratio")
    feedback = _KnobAttr("feedback", _UNIT, "unit")
    knee_db = _KnobAttr("knee_db", _NONNEGATIVE, "knee", "dB")
    attack_ms = _KnobAttr("attack_ms", _LOG, "positive", "ms")
    release_ms_knob = _KnobAttr("release_ms", _LOG, "positive", "ms")
    T_attack_fast = _KnobAttr("T_attack_fast", _LOG, "positive", "s")
    T_attack_slow = _KnobAttr("T_attack_slow", _LOG, "positive", "s")
    T_shunt_fast = _KnobAttr("T_shunt_fast", _LOG, "positive", "s")
    T_shunt_slow = _KnobAttr("T_shunt_slow", _LOG, "positive", "s")

    def __init__(self, threshold_db: Number = -20.0, ratio: Number = 4.0, attack_ms: Optional[Number] = None,
                 release_ms: Union[Number, str, None] = None, *, feedback: Number = 0.0, knee_db: Number = 0.0,
                 time_constants: Optional[Dict[str, Number]] = None, makeup_db: Union[Number, str] = 0.0,
                 mix: Number = 1.0, link: str = "max", link_amount: Optional[Number] = None,
                 lookahead_ms: Number = 0.0, sample_rate: Number = 44100.0, dtype: torch.dtype = torch.float64):
        super().__init__(sample_rate, 0.0, mix, link, link_amount, lookahead_ms, dtype)
        for attr, value in (("threshold_db", threshold_db), ("ratio", ratio), ("feedback", feedback),
                            ("knee_db", knee_db)):
            self._set_knob(getattr(type(self), attr), value)
        cls = type(self)
        if time_constants is not None:
            if attack_ms is not None or release_ms is not None:
                raise ValueError("time_constants: give either the circuit's time constants or the front panel's "
                                 "attack_ms/release_ms, not both")
            if not isinstance(time_constants, dict) or set(time_constants) != set(_TIME_CONSTANTS):
                raise ValueError(f"time_constants: must be a dict with exactly the keys {_TIME_CONSTANTS}")
            for n in _TIME_CONSTANTS:
                self._set_knob(getattr(cls, n), time_constants[n])
            self._set_knob(cls.attack_ms, None)
            self._set_knob(cls.release_ms_knob, None)
        else:
            for n in _TIME_CONSTANTS:
                self._set_knob(getattr(cls, n), None)
            self._set_knob(cls.attack_ms, 10.0 if attack_ms is None else attack_ms)
            self.release_ms = "auto" if release_ms is None else release_ms
        self.makeup_db = makeup_db

    @property
    def panel(self) -> bool:
        """True when set by the front panel (attack_ms, release_ms), False by time constants."""
        return self._parameters.get("raw_T_attack_fast") is None

    @property
    def release_ms(self) -> Union[float, str]:
        """The front panel's release: "auto" or a time in ms (100 … 1200 at the switch positions)."""
        if not self.panel:
            return None
        value = type(self).release_ms_knob.__get__(self)
        return "auto" if value is None else value

    @release_ms.setter
    def release_ms(self, value) -> None:
        if not self.panel:
            raise AttributeError("release_ms: this SSLCompressor is set by its time constants")
        if isinstance(value, str):
            if value != "auto":
                raise ValueError(f'release_ms: must be a time in ms or "auto", got {value!r}')
            self._set_knob(type(self).release_ms_knob, None)
        else:
            self._set_knob(type(self).release_ms_knob, value)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text.replace(", mix=", ", release_ms='auto', mix=", 1) if self.release_ms == "auto" else text

    def time_constants(self) -> Dict[str, torch.Tensor]:
        """The four time constants (seconds) in effect, differentiable."""
        if not self.panel:
            return {n: self._value(n) for n in _TIME_CONSTANTS}
        release = self._value("release_ms_knob")
        return ssl_time_constants(self._value("attack_ms"), "auto" if release is None else release, self.sample_rate)

    def _gain_knobs(self, batch: int) -> Dict[str, torch.Tensor]:
        return {n: self._value(n) for n in ("threshold_db", "ratio", "feedback", "knee_db")}

    def _auto_makeup(self, knobs):
        return _ssl_auto_makeup(knobs["threshold_db"], knobs["ratio"], knobs["feedback"])

    def forward(self, x, sidechain=None, *, return_gain: bool = False):
        if self.panel:
            release = self._value("release_ms_knob")
            circuit = dict(attack_ms=self._value("attack_ms"), release_ms="auto" if release is None else release)
        else:
            circuit = dict(time_constants={n: self._value(n) for n in _TIME_CONSTANTS})
        return ssl_audio(x, **self._gain_knobs(1), **circuit, sidechain=sidechain, return_gain=return_gain,
                         **self._common(1))
