"""torch.autograd.Function wrappers around the C++ kernels: shapes in, kernel call, shapes out.

Every Function receives a contiguous (B, T) signal, (B,) parameter tensors of the same dtype and the
initial state as a float64 tensor ((B,) or (B, 2)); it returns the output and the final state
(float64), so that a long signal processed in pieces, each from the state the last one left, gives
the result of one call — values and gradients (the state's gradient flows back into the piece
before).

First-order gradients come from the C++ adjoint kernels, forward mode (`jvp`, for
torch.autograd.forward_ad and gradcheck's forward-mode checks) from the C++ tangent kernels. When a
second derivative is asked for (backward with create_graph=True, e.g. gradgradcheck, hessian, hvp or
Newton steps), `backward` returns either the output of a Function whose own backward is a C++
second-order kernel (differentiable_backward: the sigmoid gate, the SSL model), or the gradient of a
*differentiable composition* of the same program — the static curve in torch ops and the smoother as
a time-varying linear recurrence with the attack/release decisions held fixed (hard gate), or the
sigmoid smoother Function (compexp_gain_mode's sigmoid gate) — whose loops over time are C++ kernels.
So there is no Python loop over time and no autograd graph unrolled over T, at any order. An order a
Function does not support raises there instead of returning zeros.
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


def no_forward_mode(name: str):
    """For a Function's jvp when it has no forward mode: torch's own error would not name the function."""
    raise RuntimeError(f"{name}: forward-mode differentiation (torch.autograd.forward_ad, jvp through "
                       "forward_ad, torch.func.jvp) is not supported; first-order reverse mode is")


def no_forward_over_reverse(name: str):
    raise RuntimeError(f"{name}: forward-mode differentiation of the gradient (forward-over-reverse) is not "
                       "supported; use reverse-over-reverse (backward with create_graph=True, "
                       "torch.autograd.functional.hessian/hvp)")


def _third_order_message(name: str) -> str:
    return (f"{name}: third and higher derivatives are not supported (first and second order, forward mode, "
            "and Hessian-vector products are)")


# ------------------------------------------------------------------------------------------------
# Second order through C++ kernels, for processors with a second-order kernel (the SSL model, the
# sigmoid gate). A processor supplies `ops`:
#   ops.name, ops.n_up (upstream gradients: one per output), ops.n_primal (inputs with gradients)
#   ops.first(upstream, needs) -> list over the primal inputs: the first-order backward (C++ adjoint)
#   ops.second(v, needs_up, needs_primal) -> (list over upstream, list over primal): for cotangents v
#       of the backward's outputs, the gradient of ⟨v, backward⟩ (C++ second-order kernel)
# Its tensors are held detached; graph connections run through the Functions' inputs.

class _ThirdOrderGuard(torch.autograd.Function):
    """A zero standing for a second-order result's dependence on the primal inputs: autograd runs its
    backward only when a derivative with respect to them (a third derivative) is asked for, and it raises."""

    @staticmethod
    def forward(ctx, name, *inputs):
        ctx.name = name
        return torch.zeros((), dtype=torch.float64)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(_third_order_message(ctx.name))


class _SecondOrderLinear(torch.autograd.Function):
    """The second-order result D(v) (= ops.second) as a function of the cotangents v, for when it is
    recorded once more (torch.autograd.functional.hvp's double-backward trick differentiates it with
    respect to v). D is linear in v: D(v) = M·v with M = [J; H] (J the Jacobian of the outputs, H the
    Hessian of ⟨upstream, outputs⟩, symmetric), so the gradient of ⟨u, D(v)⟩ with respect to v is
    Jᵀ·u_upstream + H·u_primal: the first-order backward plus the second-order kernel again. The primal
    inputs enter through `guard` only."""

    @staticmethod
    def forward(ctx, ops, needs_up, needs_primal, guard, *v):
        ctx.ops = ops
        ctx.set_materialize_grads(False)
        up, primal = ops.second(v, needs_up, needs_primal)
        return (*up, *primal)

    @staticmethod
    def backward(ctx, *u):
        ops = ctx.ops
        if torch.is_grad_enabled():
            raise RuntimeError(_third_order_message(ops.name))
        needs_v = ctx.needs_input_grad[4:]
        u_up, u_primal = u[:ops.n_up], u[ops.n_up:]
        grads = [None] * len(needs_v)
        if any(t is not None for t in u_up):
            grads = ops.first(u_up, needs_v)
        if any(t is not None for t in u_primal):
            _, h = ops.second(u_primal, (False,) * ops.n_up, needs_v)
            grads = [a if b is None else (b if a is None else a + b) for a, b in zip(grads, h)]
        return (None, None, None, torch.zeros((), dtype=torch.float64), *grads)


class _Backward(torch.autograd.Function):
    """A processor's first-order backward as a differentiable function of (upstream gradients, primal
    inputs), for backward with create_graph=True: forward = ops.first (C++ adjoint), backward =
    ops.second (C++ second-order kernel); recorded once more, D(v) stays differentiable in v
    (_SecondOrderLinear) and raises for a true third derivative (_ThirdOrderGuard)."""

    @staticmethod
    def forward(ctx, ops, needs, *args):
        ctx.ops = ops
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(*(a if isinstance(a, torch.Tensor) else None for a in args))
        return tuple(ops.first(args[:ops.n_up], needs))

    @staticmethod
    def backward(ctx, *v):
        ops = ctx.ops
        needs = ctx.needs_input_grad[2:]
        needs_up, needs_primal = needs[:ops.n_up], needs[ops.n_up:]
        if all(t is None for t in v):
            return (None,) * (2 + len(needs))
        if torch.is_grad_enabled():
            guard = _ThirdOrderGuard.apply(ops.name, *(t for t in ctx.saved_tensors if t is not None))
            out = _SecondOrderLinear.apply(ops, tuple(needs_up), tuple(needs_primal), guard, *v)
        else:
            up, primal = ops.second(v, needs_up, needs_primal)
            out = (*up, *primal)
        return (None, None, *out)

    @staticmethod
    def jvp(ctx, *tangents):
        no_forward_over_reverse(ctx.ops.name)


def differentiable_backward(ops, upstream, primal, needs_primal):
    """The outputs of the first-order backward (one per primal input, None where not needed) recorded
    for a second derivative."""
    return _Backward.apply(ops, tuple(needs_primal), *upstream, *primal)


def _tangent(t: Optional[torch.Tensor], like: torch.Tensor) -> Optional[torch.Tensor]:
    """A forward-mode tangent for a kernel: contiguous, of `like`'s dtype (None stays None)."""
    return None if t is None else t.to(like.dtype).contiguous()


def _tangent_or_zero(t: Optional[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    return torch.zeros(1, dtype=like.dtype) if t is None else t.to(like.dtype).contiguous()


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
        ctx.save_for_forward(a, y0, y)
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

    @staticmethod
    def jvp(ctx, tx, ta, ty0, trev):
        # ẏ_t = a_t·ẏ_{t∓1} + ȧ_t·y_{t∓1} + ẋ_t: the same recurrence on shifted inputs.
        a, y0, y = ctx.saved_tensors
        zeros = torch.zeros_like(y)
        x_dot = zeros if tx is None else tx.to(y.dtype).contiguous()
        if ta is not None:
            prev = _shift_right(y, y0) if not ctx.reverse else _shift_left(y, y0)
            x_dot = x_dot + ta.to(y.dtype) * prev
        y0_dot = torch.zeros_like(y0) if ty0 is None else ty0.to(y0.dtype).contiguous()
        out = torch.empty_like(y)
        _core.linear_recurrence(_np(x_dot.contiguous()), _np(a), _np(y0_dot), ctx.reverse, _np(out))
        return out


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


def _knee_branch_partials(d, slope, width):
    """Value and partials (distance, slope, width) of one knee'd branch (curve_math.hpp's knee_gain)."""
    safe_width = torch.where(width > 0, width, torch.ones_like(width))
    inv_2w = 1 / (2 * safe_width)
    a = d + 0.5 * width
    below, above = 2 * d <= -width, 2 * d >= width
    zero = torch.zeros_like(d)
    pick = lambda lin, quad: torch.where(below, zero, torch.where(above, lin, quad))  # noqa: E731
    return (pick(-slope * d, -slope * a * a * inv_2w), pick(-slope + zero, -2 * slope * a * inv_2w),
            pick(-d, -a * a * inv_2w), pick(zero, -slope * a * (width - a) * inv_2w / safe_width))


def gain_curve_partials_torch(level, ct, cr, et, er, knee):
    """The static curve's partials at `level` (B, T) with respect to the level, CT, CR, ET, ER and the
    knee (curve_math.hpp's compexp_gain_db), for forward mode."""
    col = lambda p: p.reshape(-1, 1)  # noqa: E731
    cr_, er_ = col(cr), col(er)
    bc = _knee_branch_partials(level - col(ct), 1 - 1 / cr_, col(knee))
    be = _knee_branch_partials(col(et) - level, 1 / er_ - 1, col(knee))
    comp = bc[0] <= be[0]
    g = torch.where(comp, bc[0], be[0])
    active = g < 0
    ca, ea = active & comp, active & ~comp
    zero = torch.zeros_like(level)
    return {"level": torch.where(ca, bc[1], torch.where(ea, -be[1], zero)),
            "comp_thresh": torch.where(ca, -bc[1], zero),
            "comp_ratio": torch.where(ca, bc[2] / (cr_ * cr_), zero),
            "exp_thresh": torch.where(ea, be[1], zero),
            "exp_ratio": torch.where(ea, -be[2] / (er_ * er_), zero),
            "knee": torch.where(ca, bc[3], torch.where(ea, be[3], zero))}


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
        ctx.save_for_forward(x, coef, zi, y)
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

    @staticmethod
    def jvp(ctx, tx, tcoef, tzi):
        # ẏ_t = (1 − c)·ẏ_{t−1} + c·ẋ_t + ċ·(x_t − y_{t−1}), ẏ_{−1} = żi: the same recurrence.
        x, coef, zi, y = ctx.saved_tensors
        c = coef.reshape(-1, 1).expand_as(x)
        drive = torch.zeros_like(x) if tx is None else c * tx.to(x.dtype)
        if tcoef is not None:
            drive = drive + tcoef.to(x.dtype).reshape(-1, 1) * (x - _shift_right(y, zi))
        y0 = torch.zeros(x.shape[0], dtype=x.dtype) if tzi is None else tzi.to(x.dtype).contiguous()
        ty = torch.empty_like(x)
        _core.linear_recurrence(_np(drive.contiguous()), _np((1 - c).contiguous()), _np(y0), False, _np(ty))
        return ty, ty[:, -1].to(torch.float64).contiguous()


# ------------------------------------------------------------------------------------------------
# Static curve alone

class GainCurve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, level, ct, cr, et, er, knee):
        no_trace("gain_curve")
        g = torch.empty_like(level)
        _core.gain_curve(_np(level), _np(ct), _np(cr), _np(et), _np(er), _np(knee), _np(g))
        ctx.save_for_backward(level, ct, cr, et, er, knee)
        ctx.save_for_forward(level, ct, cr, et, er, knee)
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

    @staticmethod
    def jvp(ctx, tlevel, tct, tcr, tet, ter, tknee):
        level, *params = ctx.saved_tensors
        p = gain_curve_partials_torch(level, *params)
        out = torch.zeros_like(level)
        if tlevel is not None:
            out = out + p["level"] * tlevel.to(level.dtype)
        for name, t in zip(("comp_thresh", "comp_ratio", "exp_thresh", "exp_ratio", "knee"), (tct, tcr, tet, ter, tknee)):
            if t is not None:
                out = out + p[name] * t.to(level.dtype).reshape(-1, 1)
        return out


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
        ctx.save_for_forward(x_rms, ct, cr, et, er, knee, at, rt, zi, y)
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

    @staticmethod
    def jvp(ctx, tx, tct, tcr, tet, ter, tknee, tat, trt, tzi):
        *inputs, y = ctx.saved_tensors
        return _compexp_jvp("hard", inputs[:8], inputs[0].new_ones(1), inputs[8], y,
                            (tx, tct, tcr, tet, ter, tknee, tat, trt), None, tzi)


def _compexp_jvp(mode, inputs, k, zi, y, tangents, tk, tzi):
    """compexp_gain_mode's tangent (C++ kernel): inputs = (x_rms, CT, CR, ET, ER, knee, α_a, α_r)."""
    x_rms = inputs[0]
    ty = torch.empty_like(x_rms)
    tfinal = torch.empty_like(zi)
    tx = _tangent(tangents[0], x_rms)
    rows = [_tangent_or_zero(t, x_rms) for t in tangents[1:]]
    _core.compexp_gain_mode_jvp(*(_np(t) for t in inputs), mode, _np(k), _np(y), _np(tx), *(_np(t) for t in rows),
                                _np(_tangent_or_zero(tk, x_rms)), _np(zi),
                                _np(None if tzi is None else tzi.to(torch.float64).contiguous()), _np(ty), _np(tfinal))
    return ty, tfinal


class CompexpGainSigmoid(torch.autograd.Function):
    """compexp_gain_mode(ar_mode="sigmoid"): C++ first order and forward mode; second order through the
    composition of the curve (torch ops) and SigmoidSmoother (C++ second-order kernel)."""

    @staticmethod
    def forward(ctx, x_rms, ct, cr, et, er, knee, aa, ar, k, zi):
        no_trace("compexp_gain_mode")
        y = torch.empty_like(x_rms)
        final = torch.empty_like(zi)
        _core.compexp_gain_mode(_np(x_rms), _np(ct), _np(cr), _np(et), _np(er), _np(knee), _np(aa), _np(ar),
                                "sigmoid", _np(k), _np(y), _np(zi), _np(final))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x_rms, ct, cr, et, er, knee, aa, ar, k, zi, y)
        ctx.save_for_forward(x_rms, ct, cr, et, er, knee, aa, ar, k, zi, y)
        return y, final

    @staticmethod
    def backward(ctx, gy, gfinal):
        *inputs, y = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if gy is None and gfinal is None:
            return (None,) * 10
        if torch.is_grad_enabled():
            def composed(x_rms, ct, cr, et, er, knee, aa, ar, k, zi):
                f = compexp_target_torch(x_rms, ct, cr, et, er, knee)
                return SigmoidSmoother.apply(f.contiguous(), zi, aa, ar, k, "compexp_gain_mode")
            return _replay_backward(composed, inputs, needs, (gy, gfinal))
        x_rms, zi = inputs[0], inputs[9]
        gy = torch.zeros_like(x_rms) if gy is None else gy.contiguous()
        out = [_empty_signal(x_rms, needs[0])] + [_empty_rows(x_rms, n) for n in needs[1:9]]
        gzi = _empty_state(zi, needs[9])
        _core.compexp_gain_mode_backward(*(_np(t) for t in inputs[:8]), "sigmoid", _np(inputs[8]), _np(y),
                                         _np(gy), _np(zi), _np(_state_grad(gfinal)), *(_np(t) for t in out),
                                         _np(gzi))
        return (*out, gzi)

    @staticmethod
    def jvp(ctx, tx, tct, tcr, tet, ter, tknee, taa, tar, tk, tzi):
        *inputs, y = ctx.saved_tensors
        return _compexp_jvp("sigmoid", inputs[:8], inputs[8], inputs[9], y, (tx, tct, tcr, tet, ter, tknee, taa, tar),
                            tk, tzi)


class SigmoidSmoother(torch.autograd.Function):
    """The sigmoid-gated smoother on a given target g: C++ first order, forward mode and (through
    _SigmoidOps) second order."""

    @staticmethod
    def forward(ctx, g, zi, aa, ar, k, name="sigmoid_core"):
        # name: the public function the user called, for the errors of unsupported orders.
        no_trace(name)
        ctx.name = name
        y = torch.empty_like(g)
        final = torch.empty_like(zi)
        _core.sigmoid_smoother(_np(g), _np(zi), _np(aa), _np(ar), _np(k), _np(y), _np(final))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(g, zi, aa, ar, k, y)
        ctx.save_for_forward(g, zi, aa, ar, k, y)
        return y, final

    @staticmethod
    def backward(ctx, gy, gfinal):
        g, zi, aa, ar, k, y = ctx.saved_tensors
        needs = ctx.needs_input_grad[:5]
        extra = (None,) * (len(ctx.needs_input_grad) - 5)  # the name, when given
        if gy is None and gfinal is None:
            return (None,) * 5 + extra
        gy = torch.zeros_like(g) if gy is None else gy.to(g.dtype).contiguous()
        if torch.is_grad_enabled():  # create_graph: a differentiable backward
            gf = torch.zeros_like(zi) if gfinal is None else gfinal.to(torch.float64).contiguous()
            ops = _SigmoidOps(g, zi, aa, ar, k, y, gy, gf, ctx.name)
            return (*differentiable_backward(ops, (gy, gf), (g, zi, aa, ar, k), needs), *extra)
        gg, gzi = _empty_signal(g, needs[0]), _empty_state(zi, needs[1])
        gaa, gar, gk = (_empty_rows(g, n) for n in needs[2:5])
        _core.sigmoid_smoother_backward(_np(g), _np(zi), _np(aa), _np(ar), _np(k), _np(y), _np(gy),
                                        _np(_state_grad(gfinal)), _np(gg), _np(gzi), _np(gaa), _np(gar), _np(gk))
        return (gg, gzi, gaa, gar, gk, *extra)

    @staticmethod
    def jvp(ctx, tg, tzi, taa, tar, tk, tname=None):
        g, zi, aa, ar, k, y = ctx.saved_tensors
        ty = torch.empty_like(g)
        tfinal = torch.empty_like(zi)
        _core.sigmoid_smoother_jvp(_np(g), _np(zi), _np(aa), _np(ar), _np(k), _np(y), _np(_tangent(tg, g)),
                                   _np(torch.zeros(1, dtype=torch.float64) if tzi is None else
                                       tzi.to(torch.float64).contiguous()),
                                   *(_np(_tangent_or_zero(t, g)) for t in (taa, tar, tk)), _np(ty), _np(tfinal))
        return ty, tfinal


class _SigmoidOps:
    """sigmoid_core's first- and second-order kernels for differentiable_backward: upstream (grad_y,
    grad_final), primal (g, zi, α_a, α_r, k) (docs/derivations/sigmoid_second_order.md)."""
    n_up, n_primal = 2, 5

    def __init__(self, g, zi, aa, ar, k, y, gy, gf, name="sigmoid_core"):
        self.name = name
        self.g, self.zi, self.aa, self.ar, self.k, self.y = (t.detach() for t in (g, zi, aa, ar, k, y))
        self.gy, self.gf = gy.detach(), gf.detach()

    def first(self, upstream, needs):
        gy, gf = upstream
        g, zi = self.g, self.zi
        gy = torch.zeros_like(g) if gy is None else gy.detach().to(g.dtype).contiguous()
        gg, gzi = _empty_signal(g, needs[0]), _empty_state(zi, needs[1])
        gaa, gar, gk = (_empty_rows(g, n) for n in needs[2:5])
        _core.sigmoid_smoother_backward(_np(g), _np(zi), _np(self.aa), _np(self.ar), _np(self.k), _np(self.y), _np(gy),
                                        _np(_state_grad(gf)), _np(gg), _np(gzi), _np(gaa), _np(gar), _np(gk))
        return [gg, gzi, gaa, gar, gk]

    def second(self, v, needs_up, needs_primal):
        v_g, v_zi, v_aa, v_ar, v_k = v
        g, zi = self.g, self.zi
        d_gy, d_gf = _empty_signal(g, needs_up[0]), _empty_state(zi, needs_up[1])
        d_g, d_zi = _empty_signal(g, needs_primal[0]), _empty_state(zi, needs_primal[1])
        d_aa, d_ar, d_k = (_empty_rows(g, n) for n in needs_primal[2:5])
        _core.sigmoid_smoother_backward_backward(
            _np(g), _np(zi), _np(self.aa), _np(self.ar), _np(self.k), _np(self.y), _np(self.gy), _np(self.gf),
            _np(_tangent(v_g, g)),
            _np(torch.zeros(1, dtype=torch.float64) if v_zi is None else v_zi.detach().to(torch.float64).contiguous()),
            *(_np(_tangent_or_zero(t, g)) for t in (v_aa, v_ar, v_k)), _np(d_gy), _np(d_gf), _np(d_g), _np(d_zi),
            _np(d_aa), _np(d_ar), _np(d_k))
        return [d_gy, d_gf], [d_g, d_zi, d_aa, d_ar, d_k]


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
        ctx.save_for_forward(x, threshold, at, rt, zi, y, peak)
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

    @staticmethod
    def jvp(ctx, tx, tthr, tat, trt, tzi):
        # The two hard smoothers' tangents (C++), chained through the target f = min(1, 10^(thr/20)/p).
        x, threshold, at, rt, zi, y, peak = ctx.saved_tensors
        tzi = None if tzi is None else tzi.to(torch.float64)
        tp, tp_final = torch.empty_like(x), torch.empty(x.shape[0], dtype=torch.float64)
        tax = None if tx is None else (torch.sign(x) * tx.to(x.dtype)).contiguous()
        _core.attack_release_smoother_jvp(_np(x.abs().contiguous()), _np(zi[:, 0].contiguous()), _np(rt), _np(at),
                                          _np(peak), _np(tax),
                                          _np(zi.new_zeros(1) if tzi is None else tzi[:, 0].contiguous()),
                                          _np(_tangent_or_zero(trt, x)), _np(_tangent_or_zero(tat, x)), _np(tp),
                                          _np(tp_final))
        limit = torch.exp(threshold.reshape(-1, 1) * (_LN10 / 20))
        safe_p = torch.where(peak > 0, peak, torch.ones_like(peak))
        ratio = limit / safe_p
        active = (peak > 0) & (ratio < 1)
        f = torch.where(active, ratio, torch.ones_like(peak))
        tf = -ratio * tp / safe_p
        if tthr is not None:
            tf = tf + ratio * tthr.to(x.dtype).reshape(-1, 1) * (_LN10 / 20)
        tf = torch.where(active, tf, torch.zeros_like(tf)).contiguous()
        tg, tg_final = torch.empty_like(x), torch.empty(x.shape[0], dtype=torch.float64)
        _core.attack_release_smoother_jvp(_np(f.contiguous()), _np(zi[:, 1].contiguous()), _np(at), _np(rt), _np(y),
                                          _np(tf), _np(zi.new_zeros(1) if tzi is None else tzi[:, 1].contiguous()),
                                          _np(_tangent_or_zero(tat, x)), _np(_tangent_or_zero(trt, x)), _np(tg),
                                          _np(tg_final))
        return tg, torch.stack([tp_final, tg_final], dim=1)
