"""Argument checking and shaping at the Python edge: every error names the argument.

Signals become contiguous CPU (B, T) tensors of float32/float64; parameters become (B,) tensors of the
signal's dtype through differentiable ops (so autograd sums per-row gradients back to the parameter's
own shape). Value checks (NaN/Inf, ranges) happen once more in the C++ batch layer, which raises
ValueError naming the argument.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np
import torch

_FLOAT_DTYPES = (torch.float32, torch.float64)


def _to_tensor(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name}: numpy dtype {value.dtype} is not supported (use float32 or float64)")
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a torch.Tensor, numpy array or number, got {type(value).__name__}")
    return torch.tensor(float(value), dtype=torch.float64)


def as_signal(x: Any, name: str) -> Tuple[torch.Tensor, bool]:
    """Returns (x as a contiguous (B, T) tensor, whether the input was 1-D)."""
    t = _to_tensor(x, name)
    if t.device.type != "cpu":
        raise ValueError(f"{name}: device {t.device} is not supported (differential_dynamics runs on the CPU)")
    if t.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name}: dtype {t.dtype} is not supported (use torch.float32 or torch.float64)")
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
    if t.device.type != "cpu":
        raise ValueError(f"{name}: device {t.device} is not supported (differential_dynamics runs on the CPU)")
    if t.is_complex() or not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"{name}: dtype {t.dtype} is not supported (use a real number)")
    if t.numel() == 1:
        t = t.reshape(1)
    elif t.dim() != 1 or t.shape[0] != rows:
        raise ValueError(f"{name}: must be a scalar or have shape ({rows},) (one value per row), "
                         f"got shape {tuple(t.shape)}")
    if not torch.isfinite(t.detach()).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return t.to(dtype).expand(rows).contiguous()


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


def check_scalar_positive(value: Any, name: str) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: must be a finite number > 0, got {value}")
