"""torch.autograd.Function wrappers around the C++ kernels: shapes in, kernel call, shapes out.

Every Function receives a contiguous (B, T) signal, (B,) parameter tensors of the same dtype and the
initial state as a float64 tensor ((B,) or (B, 2)); it returns the output and the final state
(float64), so that a long signal processed in pieces, each from the state the last one left, gives
the result of one call — values and gradients (the state's gradient flows back into the piece
before).

First-order gradients come from the C++ adjoint kernels. When a second derivative is asked for
(backward with create_graph=True, e.g. gradgradcheck or Newton steps), `backward` instead
differentiates a *differentiable composition* of the same program — the static curve in torch ops and
the smoother as a time-varying linear recurrence with the attack/release decisions held fixed — whose
only loop over time is the C++ `LinearRecurrence`, itself differentiable to any order. So there is
no Python loop over time and no autograd graph unrolled over T, at any order. A Function without
second derivatives raises at the second order instead of returning zeros.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from . import _core
from ._validation import kernel_array as _np

_LN10 = 2.302585092994045684


def _empty_rows(like: torch.Tensor, needed: bool) -> Optional[torch.Tensor]:
    return like.new_empty(like.shape[0]) if needed else None


def _empty_signal(like: torch.Tensor, needed: bool) -> Optional[torch.Tensor]:
    return torch.empty_like(like) if needed else None


def _empty_state(like: torch.Tensor, needed: bool) -> Optional[torch.Tensor]:
    return torch.empty_like(like, dtype=torch.float64) if needed else None


def _state_grad(g: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return None if g is None else g.to(torch.float64).contiguous()


def no_second_order(name: str) -> None:
    """Raises if the backward is being recorded for a second derivative this Function lacks."""
    if torch.is_grad_enabled():
        raise RuntimeError(f"{name}: second derivatives (backward with create_graph=True, hessian, hvp, "
                           "gradgradcheck) are not supported; first-order gradients are")


def no_trace(name: str) -> None:
    """Raises when a tracer records the call: the kernels run outside torch, so a trace would store this
    call's result as a constant (wrong for every other input)."""
    tracing = torch.jit.is_tracing()
    onnx_export = getattr(torch.onnx, "is_in_onnx_export", None)
    if tracing or (onnx_export is not None and onnx_export()):
        raise RuntimeError(f"{name}: the differential_dynamics kernels cannot be traced or exported "
                           "(torch.jit.trace / torch.onnx.export would freeze this call's output as a "
                           "constant); run the model in Python, or export the rest of it")


def _replay_backward(composed: Callable, inputs: Sequence[torch.Tensor], needs: Sequence[bool],
                     grad_outputs: Sequence[Optional[torch.Tensor]]):
    """Gradients of `composed(*inputs)` (a tuple of outputs) with a graph, for double backward."""
    wanted = [t for t, n in zip(inputs, needs) if n]
    if not wanted:
        return tuple(None for _ in inputs)
    with torch.enable_grad():
        outs = composed(*inputs)
        pairs = [(o, g) for o, g in zip(outs, grad_outputs) if g is not None]
        grads = torch.autograd.grad([o for o, _ in pairs], wanted, [g.to(o.dtype) for o, g in pairs],
                                    create_graph=True, allow_unused=True)
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
    return torch.cat([first.reshape(-1, 1).to(a.dtype), a[:, :-1]], dim=1)


def _shift_left(a: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """[a_1, …, a_{T−1}, last] per row."""
    return torch.cat([a[:, 1:], last.reshape(-1, 1).to(a.dtype)], dim=1)


# ------------------------------------------------------------------------------------------------
# Linear recurrence y_t = a_t·y_{t−1} + x_t: differentiable to any order (its adjoint is itself).

class LinearRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a, y0, reverse: bool):
        no_trace("linear_recurrence")
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
    """The hard smoother as a linear recurrence with the decisions of `y_decisions` held fixed;
    returns (y, final state)."""
    y_prev = _shift_right(y_decisions.detach(), zi.detach())
    attack = x.detach() < y_prev
    beta = torch.where(attack, at.reshape(-1, 1), rt.reshape(-1, 1))
    y = LinearRecurrence.apply((beta * x).contiguous(), (1 - beta).contiguous(), zi.to(x.dtype).contiguous(), False)
    return y, y[:, -1].to(torch.float64)


def knee_branch_torch(d, slope, width):
    """torch mirror of the curve's knee branch (src/curve/curve_math.hpp), for the double-backward
    composition."""
    safe_width = torch.where(width > 0, width, torch.ones_like(width))
    a = d + 0.5 * width
    quad = -slope * a * a / (2 * safe_width)
    lin = -slope * d
    zero = torch.zeros_like(d)
    return torch.where(2 * d <= -width, zero, torch.where(2 * d >= width, lin, quad))


def gain_curve_torch(level, ct, cr, et, er, knee):
    """torch mirror of the static curve g_dB; parameters are (B,) tensors."""
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
        no_trace("compressor_core")
        y = torch.empty_like(x)
        final = torch.empty_like(zi)
        _core.attack_release_smoother(_np(x), _np(zi), _np(at), _np(rt), _np(y), _np(final))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, zi, at, rt, y)
        ctx.save_for_forward(x, zi, at, rt, y)
        return y, final

    @staticmethod
    def backward(ctx, gy, gfinal):
        x, zi, at, rt, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if gy is None and gfinal is None:
            return None, None, None, None
        if torch.is_grad_enabled():
            return _replay_backward(lambda *a: hard_smoother_composed(*a, y), (x, zi, at, rt), needs, (gy, gfinal))
        gy = torch.zeros_like(x) if gy is None else gy.contiguous()
        gx = _empty_signal(x, needs[0])
        gzi = _empty_state(zi, needs[1])
        gat, grt = _empty_rows(x, needs[2]), _empty_rows(x, needs[3])
        _core.attack_release_smoother_backward(_np(x), _np(zi), _np(at), _np(rt), _np(y), _np(gy),
                                               _np(_state_grad(gfinal)), _np(gx), _np(gzi), _np(gat), _np(grt))
        return gx, gzi, gat, grt

    @staticmethod
    def jvp(ctx, tx, tzi, tat, trt):
        x, zi, at, rt, y = ctx.saved_tensors
        ty = torch.empty_like(x)
        tfinal = torch.empty_like(zi)
        rows_zero = x.new_zeros(1)
        tan = lambda t, z: z if t is None else t.contiguous()  # noqa: E731
        _core.attack_release_smoother_jvp(_np(x), _np(zi), _np(at), _np(rt), _np(y),
                                          None if tx is None else _np(tx.contiguous()),
                                          _np(tan(tzi, zi.new_zeros(1))), _np(tan(tat, rows_zero)),
                                          _np(tan(trt, rows_zero)), _np(ty), _np(tfinal))
        return ty, tfinal


# ------------------------------------------------------------------------------------------------
# Averaging detector

def _avg_composed(x, coef, zi):
    c = coef.reshape(-1, 1).expand_as(x)
    y = LinearRecurrence.apply((c * x).contiguous(), (1 - c).contiguous(), zi.to(x.dtype), False)
    return y, y[:, -1].to(torch.float64)


class Avg(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coef, zi):
        no_trace("avg")
        y = torch.empty_like(x)
        final = torch.empty_like(zi)
        _core.avg(_np(x), _np(coef), _np(y), _np(zi), _np(final))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, coef, zi, y)
        return y, final

    @staticmethod
    def backward(ctx, gy, gfinal):
        x, coef, zi, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if gy is None and gfinal is None:
            return None, None, None
        if torch.is_grad_enabled():
            return _replay_backward(_avg_composed, (x, coef, zi), needs, (gy, gfinal))
        gy = torch.zeros_like(x) if gy is None else gy.contiguous()
        gx, gc, gzi = _empty_signal(x, needs[0]), _empty_rows(x, needs[1]), _empty_state(zi, needs[2])
        _core.avg_backward(_np(x), _np(coef), _np(y), _np(gy), _np(zi), _np(_state_grad(gfinal)), _np(gx), _np(gc),
                           _np(gzi))
        return gx, gc, gzi


# ------------------------------------------------------------------------------------------------
# Static curve alone

class GainCurve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, level, ct, cr, et, er, knee):
        no_trace("gain_curve")
        g = torch.empty_like(level)
        _core.gain_curve(_np(level), _np(ct), _np(cr), _np(et), _np(er), _np(knee), _np(g))
        ctx.save_for_backward(level, ct, cr, et, er, knee)
        return g

    @staticmethod
    def backward(ctx, gg):
        inputs = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():
            return _replay_backward(lambda *a: (gain_curve_torch(*a),), inputs, needs, (gg,))
        level = inputs[0]
        out = [_empty_signal(level, needs[0])] + [_empty_rows(level, n) for n in needs[1:]]
        _core.gain_curve_backward(*(_np(t) for t in inputs), _np(gg.contiguous()), *(_np(t) for t in out))
        return tuple(out)


# ------------------------------------------------------------------------------------------------
# compexp_gain: static curve fused with the hard smoother

class CompexpGain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_rms, ct, cr, et, er, knee, at, rt, zi):
        no_trace("compexp_gain")
        y = torch.empty_like(x_rms)
        final = torch.empty_like(zi)
        one = x_rms.new_ones(1)
        _core.compexp_gain_mode(_np(x_rms), _np(ct), _np(cr), _np(et), _np(er), _np(knee), _np(at), _np(rt), "hard",
                                _np(one), _np(y), _np(zi), _np(final))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x_rms, ct, cr, et, er, knee, at, rt, zi, y)
        return y, final

    @staticmethod
    def backward(ctx, gy, gfinal):
        *inputs, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if gy is None and gfinal is None:
            return (None,) * 9
        if torch.is_grad_enabled():
            def composed(x_rms, ct, cr, et, er, knee, at, rt, zi):
                f = compexp_target_torch(x_rms, ct, cr, et, er, knee)
                return hard_smoother_composed(f, zi, at, rt, y)
            return _replay_backward(composed, inputs, needs, (gy, gfinal))
        x_rms, zi = inputs[0], inputs[8]
        if gy is None:
            gy = torch.zeros_like(x_rms)
        out = [_empty_signal(x_rms, needs[0])] + [_empty_rows(x_rms, n) for n in needs[1:8]]
        gzi = _empty_state(zi, needs[8])
        # gy keeps its strides: the gradient of y.sum() is a broadcast the kernel reads in place.
        _core.compexp_gain_mode_backward(*(_np(t) for t in inputs[:8]), "hard", _np(x_rms.new_ones(1)), _np(y),
                                         _np(gy), _np(zi), _np(_state_grad(gfinal)), *(_np(t) for t in out), None,
                                         _np(gzi))
        return (*out, gzi)


class CompexpGainSigmoid(torch.autograd.Function):
    """compexp_gain_mode(ar_mode="sigmoid"): first-order gradients (second order raises)."""

    @staticmethod
    def forward(ctx, x_rms, ct, cr, et, er, knee, aa, ar, k, zi):
        no_trace("compexp_gain_mode")
        y = torch.empty_like(x_rms)
        final = torch.empty_like(zi)
        _core.compexp_gain_mode(_np(x_rms), _np(ct), _np(cr), _np(et), _np(er), _np(knee), _np(aa), _np(ar),
                                "sigmoid", _np(k), _np(y), _np(zi), _np(final))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x_rms, ct, cr, et, er, knee, aa, ar, k, zi, y)
        return y, final

    @staticmethod
    def backward(ctx, gy, gfinal):
        no_second_order('compexp_gain_mode(ar_mode="sigmoid")')
        *inputs, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if gy is None and gfinal is None:
            return (None,) * 10
        x_rms, zi = inputs[0], inputs[9]
        gy = torch.zeros_like(x_rms) if gy is None else gy.contiguous()
        out = [_empty_signal(x_rms, needs[0])] + [_empty_rows(x_rms, n) for n in needs[1:9]]
        gzi = _empty_state(zi, needs[9])
        _core.compexp_gain_mode_backward(*(_np(t) for t in inputs[:8]), "sigmoid", _np(inputs[8]), _np(y),
                                         _np(gy), _np(zi), _np(_state_grad(gfinal)), *(_np(t) for t in out),
                                         _np(gzi))
        return (*out, gzi)


class SigmoidSmoother(torch.autograd.Function):
    """The sigmoid-gated smoother on a given target g: first-order gradients (second order raises)."""

    @staticmethod
    def forward(ctx, g, zi, aa, ar, k):
        no_trace("sigmoid_core")
        y = torch.empty_like(g)
        final = torch.empty_like(zi)
        _core.sigmoid_smoother(_np(g), _np(zi), _np(aa), _np(ar), _np(k), _np(y), _np(final))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(g, zi, aa, ar, k, y)
        return y, final

    @staticmethod
    def backward(ctx, gy, gfinal):
        no_second_order("sigmoid_core")
        g, zi, aa, ar, k, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if gy is None and gfinal is None:
            return (None,) * 5
        gy = torch.zeros_like(g) if gy is None else gy.contiguous()
        gg, gzi = _empty_signal(g, needs[0]), _empty_state(zi, needs[1])
        gaa, gar, gk = (_empty_rows(g, n) for n in needs[2:5])
        _core.sigmoid_smoother_backward(_np(g), _np(zi), _np(aa), _np(ar), _np(k), _np(y), _np(gy),
                                        _np(_state_grad(gfinal)), _np(gg), _np(gzi), _np(gaa), _np(gar), _np(gk))
        return gg, gzi, gaa, gar, gk


# ------------------------------------------------------------------------------------------------
# Limiter

class LimiterGain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold, at, rt, zi):
        no_trace("limiter_gain")
        y = torch.empty_like(x)
        peak = torch.empty_like(x)
        final = torch.empty_like(zi)
        _core.limiter_gain(_np(x), _np(threshold), _np(at), _np(rt), _np(y), _np(peak), _np(zi), _np(final))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, threshold, at, rt, zi, y, peak)
        return y, final

    @staticmethod
    def backward(ctx, gy, gfinal):
        x, threshold, at, rt, zi, y, peak = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if gy is None and gfinal is None:
            return (None,) * 5
        if torch.is_grad_enabled():
            def composed(x_, thr, at_, rt_, zi_):
                p, p_final = hard_smoother_composed(x_.abs(), zi_[:, 0], rt_, at_, peak)
                limit = torch.exp(thr.reshape(-1, 1) * (_LN10 / 20))
                safe_p = torch.where(p > 0, p, torch.ones_like(p))
                ratio = limit / safe_p
                f = torch.where((p > 0) & (ratio < 1), ratio, torch.ones_like(p))
                g, g_final = hard_smoother_composed(f, zi_[:, 1], at_, rt_, y)
                return g, torch.stack([p_final, g_final], dim=1)
            return _replay_backward(composed, (x, threshold, at, rt, zi), needs, (gy, gfinal))
        gy = torch.zeros_like(x) if gy is None else gy.contiguous()
        gx, gthr, gat, grt = _empty_signal(x, needs[0]), *(_empty_rows(x, n) for n in needs[1:4])
        gzi = _empty_state(zi, needs[4])
        _core.limiter_gain_backward(_np(x), _np(threshold), _np(at), _np(rt), _np(y), _np(peak), _np(gy), _np(zi),
                                    _np(_state_grad(gfinal)), _np(gx), _np(gthr), _np(gat), _np(grt), _np(gzi))
        return gx, gthr, gat, grt, gzi
