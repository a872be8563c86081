"""Argument checking and shaping at the Python edge: every error names the argument.

Signals become contiguous CPU (B, T) tensors of float32/float64; parameters become (B,) tensors of the
signal's dtype through differentiable ops (so autograd sums per-row gradients back to the parameter's
own shape); states become float64 tensors (B,) or (B, k). Value checks (NaN/Inf, ranges) happen once
more in the C++ batch layer, which raises ValueError naming the argument.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Tuple

import numpy as np
import torch

_FLOAT_DTYPES = (torch.float32, torch.float64)

# The parameter bounds of the C++ library (include/differential_dynamics/curve.hpp): inside them every
# output and gradient is finite in float32 and float64 (docs/reference/curve.md, "Bounds").
MAX_THRESHOLD_DB = 1e4  # |threshold|
MAX_KNEE_DB = 1e3
MIN_EXP_RATIO = 1e-6
MAX_GATE_K = 1e6  # the sharpness k (1/dB) of a smooth gate
_NUMPY_FLOATS = (np.float32, np.float64)


def _check_layout(t: torch.Tensor, name: str) -> None:
    if t.layout != torch.strided:
        raise TypeError(f"{name}: {t.layout} tensors are not supported (use a dense tensor: .to_dense())")
    if t.device.type != "cpu":
        raise ValueError(f"{name}: device {t.device} is not supported (differential_dynamics runs on the CPU: "
                         ".cpu())")
    if t.is_complex():
        raise TypeError(f"{name}: complex dtype {t.dtype} is not supported (use a real tensor)")


def is_number(value: Any) -> bool:
    """A real Python or numpy number (not bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def number(value: Any, name: str) -> float:
    """A real number (Python, numpy scalar, 0-d array or 1-element tensor) as a finite float."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        _check_layout(value, name)
        value = value.item()
    elif isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if not is_number(value):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:
        raise ValueError(f"{name}: {value} is too large for a float64") from None
    if not math.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {value}")
    return v


def _to_tensor(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        _check_layout(value, name)
        return value
    if isinstance(value, np.ndarray):
        if value.dtype not in _NUMPY_FLOATS and not (value.ndim == 0 and np.issubdtype(value.dtype, np.number)):
            raise TypeError(f"{name}: numpy dtype {value.dtype} is not supported (use float32 or float64)")
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, (np.floating, np.integer)) and not isinstance(value, np.bool_):
        return torch.tensor(number(value, name), dtype=torch.float64)
    if not is_number(value):
        raise TypeError(f"{name}: expected a torch.Tensor, numpy array or number, got {type(value).__name__}")
    return torch.tensor(number(value, name), dtype=torch.float64)


def as_signal(x: Any, name: str) -> Tuple[torch.Tensor, bool]:
    """Returns (x as a contiguous (B, T) tensor, whether the input was 1-D)."""
    if not isinstance(x, (torch.Tensor, np.ndarray)):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy array of shape (B, T), got {type(x).__name__}")
    t = _to_tensor(x, name)
    if t.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name}: dtype {t.dtype} is not supported (use float32 or float64)")
    if t.dim() not in (1, 2):
        raise ValueError(f"{name}: expected shape (B, T) or (T,), got {tuple(t.shape)}")
    squeeze = t.dim() == 1
    if squeeze:
        t = t.unsqueeze(0)
    if t.numel() == 0:
        raise ValueError(f"{name}: signal is empty (shape {tuple(t.shape)})")
    return t.contiguous(), squeeze


def as_row_param(p: Any, name: str, rows: int, dtype: torch.dtype) -> torch.Tensor:
    """A scalar or per-row parameter as a contiguous (rows,) tensor of `dtype` (differentiable)."""
    t = _to_tensor(p, name)
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"{name}: dtype {t.dtype} is not supported (use a real number)")
    if t.numel() == 1:
        t = t.reshape(1)
    elif t.dim() != 1 or t.shape[0] != rows:
        raise ValueError(f"{name}: must be a scalar or have shape ({rows},) (one value per row), "
                         f"got shape {tuple(t.shape)}")
    if not torch.isfinite(t.detach()).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    if t.is_floating_point() and torch.finfo(t.dtype).max > torch.finfo(dtype).max and \
            (t.detach().abs() > torch.finfo(dtype).max).any():
        raise ValueError(f"{name}: {t.detach().abs().max().item():g} does not fit in {dtype}")
    return t.to(dtype).expand(rows).contiguous()


def as_state(zi: Any, name: str, rows: int, per_row: int, default: Optional[Tuple[float, ...]]) -> torch.Tensor:
    """An initial state as a contiguous float64 tensor of shape (rows,) (per_row = 1) or (rows, per_row)
    (differentiable). None gives `default` for every row; a state for one row (a number, or per_row
    values) is broadcast to every row."""
    if zi is None:
        if default is None:
            raise ValueError(f"{name}: an initial state is required")
        t = torch.tensor(default, dtype=torch.float64)
    else:
        t = _to_tensor(zi, name)
        if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
            raise TypeError(f"{name}: dtype {t.dtype} is not supported (use a real number)")
        t = t.to(torch.float64)
    shape = (rows,) if per_row == 1 else (rows, per_row)
    if per_row == 1:
        if t.numel() == 1:
            t = t.reshape(1).expand(rows)
        elif t.shape != (rows,):
            raise ValueError(f"{name}: must be a scalar or have shape ({rows},), got shape {tuple(t.shape)}")
    else:
        if t.shape == (per_row,):
            t = t.reshape(1, per_row).expand(rows, per_row)
        elif t.shape != (rows, per_row):
            raise ValueError(f"{name}: must have shape ({per_row},) or ({rows}, {per_row}), got shape "
                             f"{tuple(t.shape)}")
    if not torch.isfinite(t.detach()).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return t.reshape(shape).contiguous()


def was_numpy(x: Any) -> bool:
    return isinstance(x, np.ndarray)


def finish(y: torch.Tensor, squeeze: bool, numpy_out: bool):
    if squeeze:
        y = y.squeeze(0)
    if numpy_out:
        return y.detach().numpy()
    return y


def kernel_array(t: Optional[torch.Tensor]):
    """Zero-copy numpy view of a contiguous CPU tensor for the C++ kernels (None stays None)."""
    return None if t is None else t.detach().numpy()
