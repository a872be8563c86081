"""Property tests (hypothesis, derandomized: the same examples in every run) over random valid
parameters and signals that switch attack/release many times, for every public differentiable
function: outputs and gradients finite; gradcheck (reverse and forward mode) and gradgradcheck in
float64 where the order is supported, and the refusal where it is not; and finiteness of outputs and
gradients over the whole accepted parameter ranges (docs/reference/curve.md "Bounds") in float32
and float64.
"""
import math

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck, gradgradcheck

import differential_dynamics as dd
from differential_dynamics import family, modules

TOL = dict(eps=1e-6, atol=1e-8, rtol=1e-5)
TOL2 = dict(eps=1e-6, atol=1e-6, rtol=1e-5)
# No shrinking: a failing example is reported as drawn (shrinking would rerun gradchecks for minutes).
_COMMON = dict(deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(max_examples=4, **_COMMON)
MANY = settings(max_examples=20, **_COMMON)
ROWS, COLS = 2, 28


def uniform(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def log_uniform(lo, hi):
    return uniform(math.log(lo), math.log(hi)).map(math.exp)


@st.composite
def switching_db(draw, lo=(-40.0, -22.0), hi=(-14.0, -1.0)):
    """(ROWS, COLS) levels in dB: a square wave between a quiet and a loud level (per-row period),
    1 dB noise: the smoothers switch between attack and release every few samples."""
    seed = draw(st.integers(0, 2 ** 32 - 1))
    low, high = draw(uniform(*lo)), draw(uniform(*hi))
    period = draw(st.integers(2, 7))
    rng = np.random.default_rng(seed)
    t = np.arange(COLS)
    rows = [np.where((t // (period + b)) % 2 == 0, high, low) + rng.normal(0, 1.0, COLS) for b in range(ROWS)]
    return torch.tensor(np.stack(rows), dtype=torch.float64)


def leaf(v, rows=ROWS):
    """A per-row float64 leaf (v a number or a list)."""
    v = v if isinstance(v, (list, tuple)) else [v] * rows
    return torch.tensor(v, dtype=torch.float64, requires_grad=True)


def per_row(strategy):
    return st.lists(strategy, min_size=ROWS, max_size=ROWS).map(leaf)


CURVE = dict(ct=per_row(uniform(-35, -15)), cr=per_row(log_uniform(1.2, 20)), et=per_row(uniform(-60, -42)),
             er=per_row(uniform(0.3, 0.95)), knee=per_row(uniform(0.5, 12)))  # W = 0 has a one-sided derivative in W
COEF = per_row(uniform(0.02, 0.6))
SHARPNESS = per_row(log_uniform(0.2, 5))


def outputs_finite(out):
    outs = out if isinstance(out, tuple) else (out,)
    for o in outs:
        assert torch.isfinite(o).all()
    loss = sum(o.sum() for o in outs)
    return loss


def second_order_exact_or_refused(fn, args):
    """For compositions whose second order depends on the path (e.g. a family member through the hard
    smoother, which has one, or through a kernel without): gradgradcheck passes or the order is refused."""
    try:
        ok = gradgradcheck(fn, args, **TOL2)
    except RuntimeError as e:
        assert "not supported" in str(e), e
        return
    assert ok


def check_orders(fn, args, *, second=True, forward=True):
    """Finite output and gradients, gradcheck (with forward mode), then gradgradcheck or its refusal."""
    loss = outputs_finite(fn(*args))
    leaves = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    assert any(g is not None and (g != 0).any() for g in grads)
    assert gradcheck(fn, args, check_forward_ad=forward, **TOL)
    if second == "either":
        second_order_exact_or_refused(fn, args)
    elif second:
        assert gradgradcheck(fn, args, **TOL2)
    else:
        with pytest.raises(RuntimeError, match="not supported"):
            gradgradcheck(fn, args, **TOL2)


# ------------------------------------------------------------------------------------------------
# The functions of functional.py

@FEW
@given(db=switching_db(), at=COEF, rt=COEF, zi=per_row(uniform(0.3, 1.0)), **CURVE)
def test_compexp_gain(db, ct, cr, et, er, knee, at, rt, zi):
    x = (10 ** (db / 20)).requires_grad_()
    fn = lambda x, ct, cr, et, er, at, rt, knee, zi: dd.compexp_gain(  # noqa: E731
        x, ct, cr, et, er, at, rt, knee=knee, zi=zi, return_state=True)
    check_orders(fn, (x, ct, cr, et, er, at, rt, knee, zi))


@FEW
@given(db=switching_db(), aa=COEF, ar=COEF, k=SHARPNESS, zi=per_row(uniform(0.3, 1.0)), **CURVE)
def test_compexp_gain_mode_both_gates(db, ct, cr, et, er, knee, aa, ar, k, zi):
    x = (10 ** (db / 20)).requires_grad_()
    hard = lambda x, ct, cr, et, er, aa, ar, knee, zi: dd.compexp_gain_mode(  # noqa: E731
        x, ct, cr, et, er, aa, ar, "hard", knee=knee, zi=zi, return_state=True)
    check_orders(hard, (x, ct, cr, et, er, aa, ar, knee, zi))
    soft = lambda x, ct, cr, et, er, aa, ar, k, knee, zi: dd.compexp_gain_mode(  # noqa: E731
        x, ct, cr, et, er, aa, ar, "sigmoid", k, knee=knee, zi=zi, return_state=True)
    check_orders(soft, (x, ct, cr, et, er, aa, ar, k, knee, zi))


@FEW
@given(db=switching_db(), thr=per_row(uniform(-30, -2)), at=COEF, rt=COEF)
def test_limiter_gain(db, thr, at, rt):
    sign = torch.from_numpy(np.where(np.arange(db.numel()) % 3 == 0, -1.0, 1.0).reshape(db.shape))
    x = (sign * 10 ** (db / 20)).requires_grad_()
    fn = lambda x, thr, at, rt: dd.limiter_gain(x, thr, at, rt, return_state=True)  # noqa: E731
    check_orders(fn, (x, thr, at, rt))


@FEW
@given(db=switching_db(), coef=per_row(uniform(0.02, 0.95)), zi=per_row(uniform(-1, 1)))
def test_avg(db, coef, zi):
    x = (10 ** (db / 20)).requires_grad_()
    check_orders(lambda x, c, z: dd.avg(x, c, zi=z, return_state=True), (x, coef, zi))


@FEW
@given(db=switching_db(), at=COEF, rt=COEF, zi=per_row(uniform(0.0, 1.0)))
def test_compressor_core(db, at, rt, zi):
    x = (10 ** (db / 20)).requires_grad_()
    check_orders(lambda x, z, a, r: dd.compressor_core(x, z, a, r, return_state=True), (x, zi, at, rt))


@FEW
@given(db=switching_db(lo=(-25.0, -15.0)), aa=COEF, ar=COEF, k=SHARPNESS, zi=per_row(uniform(0.3, 1.0)))
def test_sigmoid_core(db, aa, ar, k, zi):
    # Targets above −30 dB: gradgradcheck's two-point difference is then accurate to its tolerance.
    g = (10 ** (db / 20)).clamp(max=0.999).requires_grad_()
    check_orders(lambda g, z, a, r, k: dd.sigmoid_core(g, z, a, r, k, return_state=True), (g, zi, aa, ar, k))


@FEW
@given(db=switching_db(), **CURVE)
def test_gain_curve(db, ct, cr, et, er, knee):
    check_orders(dd.gain_curve, (db.requires_grad_(), ct, cr, et, er, knee))


# ------------------------------------------------------------------------------------------------
# SSL

def logs(*times):
    """Time constants as log T leaves: one finite-difference step is then the same relative step."""
    return [t.detach().log().requires_grad_() for t in times]


SSL = dict(ct=per_row(uniform(-30, -8)), cr=per_row(log_uniform(1.5, 10)), taf=per_row(log_uniform(2e-4, 3e-3)),
           tas=per_row(log_uniform(3e-3, 5e-2)), tsf=per_row(log_uniform(0.02, 0.5)), tss=per_row(log_uniform(0.3, 6)),
           fb=per_row(uniform(0.01, 0.99)))


@FEW
@given(db=switching_db(lo=(-45.0, -30.0), hi=(-8.0, 0.0)), knee=per_row(uniform(1, 10)),
       **SSL)
def test_ssl_comp_gain_hard_gate(db, ct, cr, taf, tas, tsf, tss, fb, knee):
    fn = lambda x, ct, cr, *p: dd.ssl_comp_gain(x, ct, cr, *(t.exp() for t in p[:4]), p[4], knee=p[5],  # noqa: E731
                                                return_state=True)
    check_orders(fn, (db.requires_grad_(), ct, cr, *logs(taf, tas, tsf, tss), fb, knee))


@FEW
@given(db=switching_db(lo=(-45.0, -30.0), hi=(-8.0, 0.0)), gate_k=per_row(log_uniform(0.2, 5)), **SSL)
def test_ssl_soft_gate(db, ct, cr, taf, tas, tsf, tss, fb, gate_k):
    fn = lambda x, ct, cr, *p: dd.ssl_comp_gain(x, ct, cr, *(t.exp() for t in p[:4]), p[4], gate_k=p[5],  # noqa: E731
                                                return_state=True)
    check_orders(fn, (db.requires_grad_(), ct, cr, *logs(taf, tas, tsf, tss), fb, gate_k), second=False)


@FEW
@given(db=switching_db(lo=(-45.0, -30.0), hi=(-8.0, 0.0)), gate=st.one_of(st.none(), log_uniform(0.2, 5)), **SSL)
def test_ssl_compress(db, ct, cr, taf, tas, tsf, tss, fb, gate):
    sign = torch.from_numpy(np.where(np.arange(db.numel()) % 2 == 0, -1.0, 1.0).reshape(db.shape))
    x = (sign * 10 ** (db / 20)).requires_grad_()
    args = [x, ct, cr, *logs(taf, tas, tsf, tss), fb]

    def fn(x, ct, cr, *p):
        gate_k = p[5] if len(p) > 5 else None
        return dd.ssl_compress(x, ct, cr, *(t.exp() for t in p[:4]), p[4], gate_k=gate_k, return_state=True)
    if gate is not None:
        args.append(leaf(gate))
    check_orders(fn, tuple(args), second=gate is None)


# ------------------------------------------------------------------------------------------------
# The audio modules and the family (first order; the second order and forward mode raise)

@st.composite
def audio(draw):
    db = draw(switching_db(lo=(-40.0, -25.0), hi=(-10.0, -1.0)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    sign = torch.from_numpy(np.where(rng.uniform(size=db.shape) < 0.5, -1.0, 1.0))
    return (sign * 10 ** (db / 20)).reshape(1, ROWS, COLS)


def check_first_order_only(fn, args, name):
    """First order exact; second order and forward mode exact or refused (naming the function)."""
    check_orders(fn, args, second="either", forward=False)
    try:
        ok = gradcheck(fn, args, check_forward_ad=True, check_backward_ad=False, **TOL)
    except RuntimeError as e:
        assert str(e).startswith(name + ": forward-mode differentiation"), e
        return
    assert ok


@FEW
@given(x=audio(), thr=uniform(-30, -10), ratio=log_uniform(1.5, 10), attack=log_uniform(0.5, 20),
       release=log_uniform(5, 200), gate=st.sampled_from(["hard", "sigmoid"]), mix=uniform(0.3, 1))
def test_compressor_audio(x, thr, ratio, attack, release, gate, mix):
    def fn(x, thr, ratio, attack, release, mix):
        return modules.compressor_audio(x, thr, ratio, attack, release, knee_db=3.0, gate=gate, mix=mix,
                                        detector="peak", sample_rate=8000.0)
    check_first_order_only(fn, (x.requires_grad_(), *(leaf(v, 1)[0] for v in (thr, ratio, attack, release, mix))),
                           "the audio modules' output mix")


@FEW
@given(x=audio(), thr=uniform(-20, -1), attack=log_uniform(0.1, 5), release=log_uniform(5, 200))
def test_limiter_audio(x, thr, attack, release):
    fn = lambda x, t, a, r: modules.limiter_audio(x, t, a, r, sample_rate=8000.0)  # noqa: E731
    check_first_order_only(fn, (x.requires_grad_(), *(leaf(v, 1)[0] for v in (thr, attack, release))),
                           "the audio modules' output mix")


@FEW
@given(x=audio(), thr=uniform(-30, -8), ratio=log_uniform(1.5, 10), feedback=uniform(0.01, 0.99),
       makeup=uniform(-6, 6))
def test_ssl_audio(x, thr, ratio, feedback, makeup):
    tc = {"T_attack_fast": 1e-3, "T_attack_slow": 1e-2, "T_shunt_fast": 0.05, "T_shunt_slow": 2.0}

    def fn(x, thr, ratio, feedback, makeup, log_taf):  # log T: one difference step is a relative step
        return modules.ssl_audio(x, thr, ratio, feedback=feedback, makeup_db=makeup,
                                 time_constants={**tc, "T_attack_fast": log_taf.exp()}, sample_rate=8000.0)
    check_first_order_only(fn, (x.requires_grad_(), *(leaf(v, 1)[0] for v in (thr, ratio, feedback, makeup,
                                                                               math.log(1e-3)))),
                           "the audio modules' output mix")


def test_the_modules_are_differentiable_through_their_parameters():
    bursty = torch.from_numpy(np.random.default_rng(3).normal(0, 0.4, (1, 2, 200)))
    for module in (modules.Compressor(gate="sigmoid", k=2.0, knee_db=4.0), modules.Limiter(threshold_db=-6.0),
                   modules.SSLCompressor(feedback=0.3)):
        y = module(bursty)
        assert torch.isfinite(y).all()
        y.pow(2).sum().backward()
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any((g != 0).any() for g in grads)


@FEW
@given(x=audio(), topology=st.sampled_from(sorted(family.all_topologies(), key=lambda t: t.name)),
       ct=uniform(-30, -10), cr=log_uniform(1.5, 10), knee=uniform(0.5, 6), attack=uniform(0.05, 0.5),
       release=uniform(0.005, 0.1))
def test_family_gain(x, topology, ct, cr, knee, attack, release):
    fn = lambda x, *p: family.family_gain(x, topology, *p)  # noqa: E731
    name = "feedback_compressor_gain" if topology.feedback else None
    args = (x[0].requires_grad_(), *(leaf(v) for v in (ct, cr, knee, attack, release)))
    loss = outputs_finite(fn(*args))
    grads = torch.autograd.grad(loss, args)
    assert all(torch.isfinite(g).all() for g in grads)
    assert gradcheck(fn, args, **TOL)
    second_order_exact_or_refused(fn, args)
    if name is not None:
        with pytest.raises(RuntimeError, match=name + ": forward-mode"):
            with fwAD.dual_level():
                fn(args[0].detach(), fwAD.make_dual(args[1].detach(), torch.ones(ROWS, dtype=torch.float64)),
                   *(a.detach() for a in args[2:]))


# ------------------------------------------------------------------------------------------------
# The whole accepted ranges: finite outputs and gradients in float32 and float64

WIDE = dict(ct=uniform(-1e4, 1e4), cr=log_uniform(1 + 1e-3, 1e30), et=uniform(-1e4, 1e4),
            er=log_uniform(1e-6, 1.0), knee=st.one_of(st.just(0.0), log_uniform(1e-6, 1e3)),
            a=log_uniform(1e-6, 0.999), r=log_uniform(1e-6, 0.999), k=log_uniform(1e-6, 1e6),
            dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2 ** 32 - 1))


def wide_level(seed, dtype):
    """Levels from the smallest float32 normal (−758 dB) to +60 dB, switching."""
    rng = np.random.default_rng(seed)
    db = np.where(rng.uniform(size=(ROWS, COLS)) < 0.5, rng.uniform(-758, -100, (ROWS, COLS)),
                  rng.uniform(-100, 60, (ROWS, COLS)))
    return torch.tensor(10 ** (db / 20), dtype=dtype).clamp_min(torch.finfo(dtype).tiny)


def all_finite_with_grads(fn, tensors):
    leaves = [t.detach().clone().requires_grad_() for t in tensors]
    outs = fn(*leaves)
    outs = outs if isinstance(outs, tuple) else (outs,)
    for o in outs:
        assert torch.isfinite(o).all()
    grads = torch.autograd.grad(sum(o.sum() for o in outs), leaves, allow_unused=True)
    for g in grads:
        assert g is None or torch.isfinite(g).all(), g


@MANY
@given(**WIDE)
def test_compexp_and_curve_are_finite_over_the_accepted_ranges(ct, cr, et, er, knee, a, r, k, dtype, seed):
    x = wide_level(seed, dtype)
    p = [torch.tensor(v, dtype=dtype) for v in (ct, cr, et, er, a, r, k, knee)]
    all_finite_with_grads(lambda x, ct, cr, et, er, a, r, k, w: dd.compexp_gain_mode(x, ct, cr, et, er, a, r, "sigmoid",
                                                                                      k, knee=w), [x, *p])
    all_finite_with_grads(lambda x, ct, cr, et, er, a, r, w: dd.compexp_gain(x, ct, cr, et, er, a, r, knee=w),
                          [x, *p[:6], p[7]])
    all_finite_with_grads(lambda lv, ct, cr, et, er, w: dd.gain_curve(lv, ct, cr, et, er, w),
                          [20 * torch.log10(x), *p[:4], p[7]])
    all_finite_with_grads(lambda g, a, r, k: dd.sigmoid_core(g, 1.0, a, r, k), [x.clamp(max=1), p[4], p[5], p[6]])
    all_finite_with_grads(lambda s, t, a, r: dd.limiter_gain(s, t, a, r), [x, -abs(p[0]), p[4], p[5]])


@MANY
@given(ct=uniform(-1e4, 1e4), cr=log_uniform(1 + 1e-3, 1e30), t=st.lists(log_uniform(1e-5, 1e6), min_size=4,
       max_size=4), fb=uniform(0, 1), knee=st.one_of(st.just(0.0), log_uniform(1e-6, 1e3)),
       gate=st.one_of(st.just(math.inf), log_uniform(1e-6, 1e6)), dtype=st.sampled_from([torch.float32, torch.float64]),
       seed=st.integers(0, 2 ** 32 - 1))
def test_ssl_is_finite_over_the_accepted_ranges(ct, cr, t, fb, knee, gate, dtype, seed):
    x = wide_level(seed, dtype)
    p = [torch.tensor(v, dtype=dtype) for v in (ct, cr, *t, fb, knee, gate)]
    all_finite_with_grads(lambda d, *q: dd.ssl_comp_gain(d, *q[:7], knee=q[7], gate_k=q[8]),
                          [20 * torch.log10(x), *p])
    all_finite_with_grads(lambda s, *q: dd.ssl_compress(s, *q[:7], knee=q[7], gate_k=q[8]), [x, *p])


@MANY
@given(topology=st.sampled_from(sorted(family.all_topologies(), key=lambda t: t.name)), ct=uniform(-1e4, 1e4),
       cr=log_uniform(1 + 1e-3, 1e30), knee=st.one_of(st.just(0.0), log_uniform(1e-6, 1e3)),
       a=log_uniform(1e-6, 0.999), r=log_uniform(1e-6, 0.999), dtype=st.sampled_from([torch.float32, torch.float64]),
       seed=st.integers(0, 2 ** 32 - 1))
def test_family_is_finite_over_the_accepted_ranges(topology, ct, cr, knee, a, r, dtype, seed):
    x = wide_level(seed, dtype) * torch.where(torch.arange(COLS) % 2 == 0, 1.0, -1.0).to(dtype)
    p = [torch.tensor(v, dtype=dtype) for v in (ct, cr, knee, a, r)]
    all_finite_with_grads(lambda s, *q: family.family_gain(s, topology, *q), [x, *p])


# ------------------------------------------------------------------------------------------------
# torch.autograd.functional through the sigmoid gate against central differences (the SSL model's
# hessian/hvp/jacobian/jvp are in test_derivatives.py; the sigmoid gate's hessian too)

def test_sigmoid_gate_jacobian_jvp_and_hvp_match_central_differences():
    rng = np.random.default_rng(5)
    t = np.arange(120)
    level = torch.tensor(10 ** ((np.where((t // 6) % 2 == 0, -5.0, -35.0) + rng.normal(0, 1, 120)) / 20))[None]
    w = torch.from_numpy(rng.uniform(-1, 1, (1, 120)))

    def out(theta):  # theta = (ct, cr, alpha_a, alpha_r, k)
        return dd.compexp_gain_mode(level, theta[0], theta[1], -50.0, 0.5, theta[2], theta[3], "sigmoid", theta[4])[0]

    def loss(theta):
        return (w[0] * out(theta)).sum()

    theta = torch.tensor([-20.0, 4.0, 0.2, 0.02, 1.5], dtype=torch.float64)
    steps = 1e-6 * torch.tensor([20.0, 4.0, 0.2, 0.02, 1.5], dtype=torch.float64)
    J = torch.autograd.functional.jacobian(out, theta)
    J_fd = torch.stack([(out(theta + e) - out(theta - e)) / (2 * e.sum()) for e in torch.diag(steps)], dim=1)
    assert J.abs().max() > 1e-3
    assert torch.allclose(J, J_fd, rtol=1e-5, atol=1e-7 * J.abs().max())
    v = torch.tensor([1.0, -0.5, 0.3, 2.0, -0.7], dtype=torch.float64)
    _, jv = torch.autograd.functional.jvp(out, theta, v)
    assert torch.allclose(jv, J @ v, rtol=1e-9, atol=1e-12)

    def grad(theta):
        th = theta.clone().requires_grad_()
        return torch.autograd.grad(loss(th), th)[0]
    _, hv = torch.autograd.functional.hvp(loss, theta, v)
    h = 1e-5
    hv_fd = (grad(theta + h * v) - grad(theta - h * v)) / (2 * h)
    assert hv.abs().max() > 1e-3
    assert torch.allclose(hv, hv_fd, rtol=1e-5, atol=1e-6 * hv.abs().max())
