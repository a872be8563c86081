"""torch.autograd.Function wrappers around the C++ kernels: shapes in, kernel call, shapes out.

Every Function receives a contiguous (B, T) signal and (B,) parameter tensors of the same dtype.

First-order gradients come from the C++ adjoint kernels. When a second derivative is asked for
(backward with create_graph=True, e.g. gradgradcheck or Newton steps), `backward` instead
differentiates a *differentiable composition* of the same program — the static curve in torch ops and
the smoother as a time-varying linear recurrence with the attack/release decisions held fixed — whose
only loop over time is the C++ `LinearRecurrence`, itself differentiable to any order. So there is
no Python loop over time and no autograd graph unrolled over T, at any order.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch.autograd.function import once_differentiable

from . import _core
from ._validation import kernel_array as _np

_LN10 = 2.302585092994045684


def _empty_rows(like: torch.Tensor, needed: bool) -> Optional[torch.Tensor]:
    return like.new_empty(like.shape[0]) if needed else None


def _empty_signal(like: torch.Tensor, needed: bool) -> Optional[torch.Tensor]:
    return torch.empty_like(like) if needed else None


def _grad_buffers(signal: torch.Tensor, needs: Sequence[bool]):
    """Output buffers for a kernel backward: the signal's gradient (B, T), then one (B,) per parameter;
    None where no gradient is needed (the kernel then skips it)."""
    return [_empty_signal(signal, needs[0])] + [_empty_rows(signal, n) for n in needs[1:]]


def _replay_backward(composed: Callable, inputs: Sequence[torch.Tensor], needs: Sequence[bool],
                     grad_out: torch.Tensor):
    """Gradients of `composed(*inputs)` with a graph, for double backward."""
    wanted = [t for t, n in zip(inputs, needs) if n]
    if not wanted:
        return tuple(None for _ in inputs)
    with torch.enable_grad():
        out = composed(*inputs)
        grads = torch.autograd.grad(out, wanted, grad_out, create_graph=True, allow_unused=True)
    it = iter(grads)
    result = []
    for t, n in zip(inputs, needs):
        if not n:
            result.append(None)
            continue
        g = next(it)
        result.append(torch.zeros_like(t) if g is None else g)
    return tuple(result)


def _shift_right(a: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """[first, a_0, …, a_{T−2}] per row."""
    return torch.cat([first.reshape(-1, 1), a[:, :-1]], dim=1)


def _shift_left(a: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """[a_1, …, a_{T−1}, last] per row."""
    return torch.cat([a[:, 1:], last.reshape(-1, 1)], dim=1)


# ------------------------------------------------------------------------------------------------
# Linear recurrence y_t = a_t·y_{t−1} + x_t: differentiable to any order (its adjoint is itself).

class LinearRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a, y0, reverse: bool):
        y = torch.empty_like(x)
        _core.linear_recurrence(_np(x), _np(a), _np(y0), reverse, _np(y))
        ctx.reverse = reverse
        ctx.save_for_backward(a, y0, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        a, y0, y = ctx.saved_tensors
        gy = gy.contiguous()
        zeros = y0.new_zeros(y0.shape)
        if not ctx.reverse:
            # v_t = gy_t + a_{t+1}·v_{t+1}; ∂a_t = v_t·y_{t−1}; ∂y0 = a_0·v_0
            v = LinearRecurrence.apply(gy, _shift_left(a, zeros).contiguous(), zeros, True)
            ga = v * _shift_right(y, y0)
            gy0 = a[:, 0] * v[:, 0]
        else:
            # v_t = gy_t + a_{t−1}·v_{t−1}; ∂a_t = v_t·y_{t+1}; ∂y0 = a_{T−1}·v_{T−1}
            v = LinearRecurrence.apply(gy, _shift_right(a, zeros).contiguous(), zeros, False)
            ga = v * _shift_left(y, y0)
            gy0 = a[:, -1] * v[:, -1]
        return v, ga, gy0, None


def hard_smoother_composed(x, zi, at, rt, y_decisions):
    """The hard smoother as a linear recurrence with the decisions of `y_decisions` held fixed."""
    y_prev = _shift_right(y_decisions.detach(), zi.detach())
    attack = x.detach() < y_prev
    beta = torch.where(attack, at.reshape(-1, 1), rt.reshape(-1, 1))
    return LinearRecurrence.apply((beta * x).contiguous(), (1 - beta).contiguous(), zi, False)


def knee_branch_torch(d, slope, width):
    """torch mirror of dd::knee_gain (gain_curve.hpp), for the double-backward composition."""
    safe_width = torch.where(width > 0, width, torch.ones_like(width))
    a = d + 0.5 * width
    quad = -slope * a * a / (2 * safe_width)
    lin = -slope * d
    zero = torch.zeros_like(d)
    return torch.where(2 * d <= -width, zero, torch.where(2 * d >= width, lin, quad))


def gain_curve_torch(level, ct, cr, et, er, knee):
    """torch mirror of dd::compexp_gain_db; parameters are (B,) tensors."""
    col = lambda p: p.reshape(-1, 1)  # noqa: E731
    gc = knee_branch_torch(level - col(ct), 1 - 1 / col(cr), col(knee))
    ge = knee_branch_torch(col(et) - level, 1 / col(er) - 1, col(knee))
    g = torch.where(gc <= ge, gc, ge)
    return torch.where(g < 0, g, torch.zeros_like(g))


def compexp_target_torch(x_rms, ct, cr, et, er, knee):
    level = 20 * torch.log10(x_rms)
    return torch.exp(gain_curve_torch(level, ct, cr, et, er, knee) * (_LN10 / 20))


# ------------------------------------------------------------------------------------------------
# Hard attack/release smoother (compressor_core)

class ARSmoother(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, zi, at, rt):
        y = torch.empty_like(x)
        _core.attack_release_smoother(_np(x), _np(zi), _np(at), _np(rt), _np(y), None)
        ctx.save_for_backward(x, zi, at, rt, y)
        ctx.save_for_forward(x, zi, at, rt, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, zi, at, rt, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():
            return _replay_backward(lambda *a: hard_smoother_composed(*a, y), (x, zi, at, rt), needs, gy)
        gx, gzi, gat, grt = _grad_buffers(x, needs)
        _core.attack_release_smoother_backward(_np(x), _np(zi), _np(at), _np(rt), _np(y), _np(gy.contiguous()),
                                               _np(gx), _np(gzi), _np(gat), _np(grt))
        return gx, gzi, gat, grt

    @staticmethod
    def jvp(ctx, tx, tzi, tat, trt):
        x, zi, at, rt, y = ctx.saved_tensors
        zero = x.new_zeros(1)
        ty = torch.empty_like(x)
        tan = lambda t: zero if t is None else t.contiguous()  # noqa: E731
        _core.attack_release_smoother_jvp(_np(x), _np(zi), _np(at), _np(rt), _np(y),
                                          None if tx is None else _np(tx.contiguous()),
                                          _np(tan(tzi)), _np(tan(tat)), _np(tan(trt)), _np(ty))
        return ty


# ------------------------------------------------------------------------------------------------
# Averaging detector

class Avg(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coef):
        y = torch.empty_like(x)
        _core.avg(_np(x), _np(coef), _np(y))
        ctx.save_for_backward(x, coef, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, coef, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():
            def composed(x_, c_):
                c = c_.reshape(-1, 1).expand_as(x_)
                return LinearRecurrence.apply((c * x_).contiguous(), (1 - c).contiguous(), x_.new_zeros(x_.shape[0]),
                                              False)
            return _replay_backward(composed, (x, coef), needs, gy)
        gx, gc = _grad_buffers(x, needs)
        _core.avg_backward(_np(x), _np(coef), _np(y), _np(gy.contiguous()), _np(gx), _np(gc))
        return gx, gc


# ------------------------------------------------------------------------------------------------
# Static curve alone

class GainCurve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, level, ct, cr, et, er, knee):
        g = torch.empty_like(level)
        _core.gain_curve(_np(level), _np(ct), _np(cr), _np(et), _np(er), _np(knee), _np(g))
        ctx.save_for_backward(level, ct, cr, et, er, knee)
        return g

    @staticmethod
    def backward(ctx, gg):
        inputs = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():
            return _replay_backward(gain_curve_torch, inputs, needs, gg)
        level = inputs[0]
        out = _grad_buffers(level, needs)
        _core.gain_curve_backward(*(_np(t) for t in inputs), _np(gg.contiguous()), *(_np(t) for t in out))
        return tuple(out)


# ------------------------------------------------------------------------------------------------
# compexp_gain: static curve fused with the hard smoother

class CompexpGain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_rms, ct, cr, et, er, knee, at, rt):
        y = torch.empty_like(x_rms)
        one = x_rms.new_ones(1)
        _core.compexp_gain_mode(_np(x_rms), _np(ct), _np(cr), _np(et), _np(er), _np(knee), _np(at), _np(rt), "hard",
                                _np(one), _np(y))
        ctx.save_for_backward(x_rms, ct, cr, et, er, knee, at, rt, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        *inputs, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():
            def composed(x_rms, ct, cr, et, er, knee, at, rt):
                f = compexp_target_torch(x_rms, ct, cr, et, er, knee)
                return hard_smoother_composed(f, x_rms.new_ones(x_rms.shape[0]), at, rt, y)
            return _replay_backward(composed, inputs, needs, gy)
        x_rms = inputs[0]
        out = _grad_buffers(x_rms, needs)
        # gy keeps its strides: the gradient of y.sum() is a broadcast the kernel reads in place.
        _core.compexp_gain_mode_backward(*(_np(t) for t in inputs[:8]), "hard", _np(x_rms.new_ones(1)), _np(y),
                                         _np(gy), *(_np(t) for t in out), None)
        return tuple(out)


class CompexpGainSigmoid(torch.autograd.Function):
    """compexp_gain_mode(ar_mode="sigmoid"): first-order gradients only (once_differentiable)."""

    @staticmethod
    def forward(ctx, x_rms, ct, cr, et, er, knee, aa, ar, k):
        y = torch.empty_like(x_rms)
        _core.compexp_gain_mode(_np(x_rms), _np(ct), _np(cr), _np(et), _np(er), _np(knee), _np(aa), _np(ar),
                                "sigmoid", _np(k), _np(y))
        ctx.save_for_backward(x_rms, ct, cr, et, er, knee, aa, ar, k, y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        *inputs, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        x_rms = inputs[0]
        out = _grad_buffers(x_rms, needs)
        _core.compexp_gain_mode_backward(*(_np(t) for t in inputs[:8]), "sigmoid", _np(inputs[8]), _np(y),
                                         _np(gy.contiguous()), *(_np(t) for t in out))
        return tuple(out)


class SigmoidSmoother(torch.autograd.Function):
    """The sigmoid-gated smoother on a given target g: first-order gradients only."""

    @staticmethod
    def forward(ctx, g, zi, aa, ar, k):
        y = torch.empty_like(g)
        _core.sigmoid_smoother(_np(g), _np(zi), _np(aa), _np(ar), _np(k), _np(y), None)
        ctx.save_for_backward(g, zi, aa, ar, k, y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        *inputs, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        g = inputs[0]
        out = _grad_buffers(g, needs)
        _core.sigmoid_smoother_backward(*(_np(t) for t in inputs), _np(y), _np(gy.contiguous()),
                                        *(_np(t) for t in out))
        return tuple(out)


# ------------------------------------------------------------------------------------------------
# Limiter

class LimiterGain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold, at, rt):
        y = torch.empty_like(x)
        peak = torch.empty_like(x)
        _core.limiter_gain(_np(x), _np(threshold), _np(at), _np(rt), _np(y), _np(peak))
        ctx.save_for_backward(x, threshold, at, rt, y, peak)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, threshold, at, rt, y, peak = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():
            def composed(x_, thr, at_, rt_):
                p = hard_smoother_composed(x_.abs(), x_.new_zeros(x_.shape[0]), rt_, at_, peak)
                limit = torch.exp(thr.reshape(-1, 1) * (_LN10 / 20))
                safe_p = torch.where(p > 0, p, torch.ones_like(p))
                ratio = limit / safe_p
                f = torch.where((p > 0) & (ratio < 1), ratio, torch.ones_like(p))
                return hard_smoother_composed(f, x_.new_ones(x_.shape[0]), at_, rt_, y)
            return _replay_backward(composed, (x, threshold, at, rt), needs, gy)
        gx, gthr, gat, grt = _grad_buffers(x, needs)
        _core.limiter_gain_backward(_np(x), _np(threshold), _np(at), _np(rt), _np(y), _np(peak),
                                    _np(gy.contiguous()), _np(gx), _np(gthr), _np(gat), _np(grt))
        return gx, gthr, gat, grt
