"""Python API of the core processors: gradcheck/gradgradcheck in float64 on signals with many
attack/release flips, an independent reference, chunking, threads, float32, numpy, errors."""
import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import differential_dynamics as dd
from conftest import bursty_audio, count_flips, switching_level

# Tolerances a zero or wrong gradient cannot pass: the smallest checked derivatives are ~1e-4.
TOL = dict(eps=1e-6, atol=1e-8, rtol=1e-5)
# Second derivatives reach 1e6 (d²/dx² ~ 1/x² at levels of −60 dB): FD rounding of exact zeros is then
# ~1e-7, so the absolute floor is raised; the relative tolerance stays 1e-5.
TOL2 = dict(eps=1e-6, atol=1e-6, rtol=1e-5)
B, T = 3, 60


def rows(*values, grad=True):
    return torch.tensor(values, dtype=torch.float64, requires_grad=grad)


def ref_smoother(f: np.ndarray, zi, at, rt) -> np.ndarray:
    """The hard smoother (docs/reference/smoother.md) transcribed directly (no code shared with the
    kernels)."""
    y = np.empty_like(f)
    for b in range(f.shape[0]):
        prev = zi[b]
        for t in range(f.shape[1]):
            beta = at[b] if f[b, t] < prev else rt[b]
            prev = (1 - beta) * prev + beta * f[b, t]
            y[b, t] = prev
    return y


def ref_compexp(x, ct, cr, et, er, at, rt):
    level = 20 * np.log10(x)
    g = np.minimum(0, np.minimum((1 - 1 / cr[:, None]) * (ct[:, None] - level), (1 - 1 / er[:, None]) * (et[:, None] - level)))
    return ref_smoother(10 ** (g / 20), np.ones(x.shape[0]), at, rt)


def ref_limiter(x, thr, at, rt):
    p = ref_smoother(np.abs(x), np.zeros(x.shape[0]), rt, at)
    lt = 10 ** (thr[:, None] / 20)
    with np.errstate(divide="ignore"):
        f = np.where(p > 0, np.minimum(1, lt / p), 1.0)
    return ref_smoother(f, np.ones(x.shape[0]), at, rt)


# ------------------------------------------------------------------------------------------------
def test_compressor_core_gradcheck_forward_ad_and_gradgradcheck():
    x = switching_level(B, T, 1).requires_grad_()
    zi, at, rt = rows(1.0, 0.4, 0.05), rows(0.3, 0.1, 0.5), rows(0.05, 0.2, 0.02)
    y = dd.compressor_core(x, zi, at, rt)
    assert (count_flips(x.detach(), y.detach(), zi.detach()) >= 6).all()
    fn = lambda *a: dd.compressor_core(*a)  # noqa: E731
    assert gradcheck(fn, (x, zi, at, rt), check_forward_ad=True, **TOL)
    assert gradgradcheck(fn, (x, zi, at, rt), **TOL2)


def test_compexp_gain_gradcheck_and_gradgradcheck_with_expander_and_knee():
    # Levels stay above −60 dB: FD steps of 1e-6 are then < 1e-3 relative to x_rms.
    x = switching_level(B, T, 2, lo_db=-50).requires_grad_()
    ct, cr = rows(-20.0, -25.0, -15.0), rows(4.0, 2.0, 8.0)
    et, er = rows(-45.3, -40.3, -47.3), rows(0.5, 0.7, 0.3)
    at, rt = rows(0.3, 0.1, 0.5), rows(0.05, 0.2, 0.02)
    for knee in (rows(0.0, 0.0, 0.0, grad=False), rows(6.0, 3.0, 10.0)):
        fn = lambda x, ct, cr, et, er, at, rt, knee: dd.compexp_gain(x, ct, cr, et, er, at, rt, knee=knee)  # noqa
        args = (x, ct, cr, et, er, at, rt, knee)
        assert gradcheck(fn, args, **TOL)
        assert gradgradcheck(fn, args, **TOL2)


def test_every_gradient_is_nonzero_and_has_the_parameters_shape():
    x = switching_level(B, T, 3, lo_db=-70).requires_grad_()
    ct = torch.tensor(-20.0, dtype=torch.float64, requires_grad=True)  # 0-d: shared by all rows
    cr = rows(4.0, 2.0, 8.0)
    et = torch.tensor([-50.0], dtype=torch.float64, requires_grad=True)
    er, at, rt = rows(0.5, 0.7, 0.3), rows(0.3, 0.1, 0.5), rows(0.05, 0.2, 0.02)
    dd.compexp_gain(x, ct, cr, et, er, at, rt).pow(2).sum().backward()
    for p in (x, ct, cr, et, er, at, rt):
        assert p.grad is not None and p.grad.shape == p.shape
        assert torch.all(p.grad.abs().sum() > 0)


def test_compexp_gain_mode_sigmoid_gradcheck_including_k():
    x = switching_level(B, T, 4, lo_db=-50).requires_grad_()
    ct, cr = rows(-20.0, -25.0, -15.0), rows(4.0, 2.0, 8.0)
    et, er = rows(-45.3, -40.3, -47.3), rows(0.5, 0.7, 0.3)
    aa, ar = rows(0.3, 0.1, 0.5), rows(0.05, 0.2, 0.02)
    k = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    fn = lambda x, ct, cr, et, er, aa, ar, k: dd.compexp_gain_mode(x, ct, cr, et, er, aa, ar, "sigmoid", k)  # noqa
    assert gradcheck(fn, (x, ct, cr, et, er, aa, ar, k), **TOL)
    # k as a float works too, hard mode equals compexp_gain exactly.
    y1 = dd.compexp_gain_mode(x, ct, cr, et, er, aa, ar, "sigmoid", 0.7)
    assert torch.equal(y1, fn(x, ct, cr, et, er, aa, ar, k))
    assert torch.equal(dd.compexp_gain_mode(x, ct, cr, et, er, aa, ar), dd.compexp_gain(x, ct, cr, et, er, aa, ar))


def test_sigmoid_core_gradcheck():
    g = (switching_level(B, T, 5) * 1.5).clamp(max=0.999).requires_grad_()
    zi, aa, ar, k = rows(1.0, 0.8, 0.5), rows(0.3, 0.1, 0.5), rows(0.05, 0.2, 0.02), rows(0.3, 1.0, 2.5)
    assert gradcheck(dd.sigmoid_core, (g, zi, aa, ar, k), **TOL)


def test_limiter_and_avg_gradcheck_and_gradgradcheck():
    x = bursty_audio(B, T, 6).requires_grad_()
    thr, at, rt = rows(-6.0, -12.0, -3.0), rows(0.2, 0.05, 0.5), rows(0.01, 0.002, 0.05)
    assert gradcheck(dd.limiter_gain, (x, thr, at, rt), **TOL)
    assert gradgradcheck(dd.limiter_gain, (x, thr, at, rt), **TOL2)
    coef = rows(0.05, 0.5, 0.9)
    assert gradcheck(dd.avg, (x, coef), **TOL)
    assert gradgradcheck(dd.avg, (x, coef), **TOL2)


def test_gain_curve_gradcheck():
    level = (20 * torch.log10(switching_level(B, T, 7, lo_db=-70))).requires_grad_()
    args = (level, rows(-20.0, -25.0, -15.0), rows(4.0, 2.0, 8.0), rows(-50.0, -45.0, -55.0), rows(0.5, 0.7, 0.3),
            rows(6.0, 3.0, 10.0))
    assert gradcheck(dd.gain_curve, args, **TOL)
    assert gradgradcheck(dd.gain_curve, args, **TOL2)


# ------------------------------------------------------------------------------------------------
def test_hard_paths_match_an_independent_reference():
    x = switching_level(4, 500, 8, lo_db=-70)
    ct, cr, et, er = np.array([-20., -25, -15, -30]), np.array([4., 2, 8, 3]), np.array([-50., -45, -55, -60]), \
        np.array([0.5, 0.7, 0.3, 1.0])
    at, rt = np.array([0.3, 0.1, 0.5, 0.01]), np.array([0.05, 0.2, 0.02, 0.001])
    y = dd.compexp_gain(x, *(torch.tensor(v) for v in (ct, cr, et, er, at, rt)))
    assert np.max(np.abs(y.numpy() - ref_compexp(x.numpy(), ct, cr, et, er, at, rt))) <= 1e-12
    zi = np.array([1.0, 0.2, 0.0, 0.5])
    y = dd.compressor_core(x, torch.tensor(zi), torch.tensor(at), torch.tensor(rt))
    assert np.max(np.abs(y.numpy() - ref_smoother(x.numpy(), zi, at, rt))) <= 1e-12
    a = bursty_audio(4, 500, 9)
    thr = np.array([-6., -12, -3, 0])
    y = dd.limiter_gain(a, torch.tensor(thr), torch.tensor(at), torch.tensor(rt))
    assert np.max(np.abs(y.numpy() - ref_limiter(a.numpy(), thr, at, rt))) <= 1e-12


def test_chunked_processing_with_final_state_equals_one_shot():
    x = switching_level(B, 1000, 10)
    at, rt = torch.tensor([0.3, 0.1, 0.5], dtype=torch.float64), 0.02
    whole = dd.compressor_core(x, 1.0, at, rt)
    state, pieces = torch.ones(B, dtype=torch.float64), []
    for lo, hi in [(0, 1), (1, 333), (333, 334), (334, 1000)]:
        y, state = dd.compressor_core(x[:, lo:hi], state, at, rt, return_final_state=True)
        pieces.append(y)
    assert torch.equal(torch.cat(pieces, dim=1), whole)


def test_results_identical_for_one_and_two_threads():
    x = switching_level(8, 20000, 11, lo_db=-70).requires_grad_()
    outs = []
    for n in (1, 2):
        dd.set_num_threads(n)
        assert dd.get_num_threads() == n
        cr = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
        y = dd.compexp_gain(x, -20.0, cr, -50.0, 0.5, 0.1, 0.01)
        gx, gcr = torch.autograd.grad(y.sum(), (x, cr))
        outs.append((y.detach(), gx, gcr))
    assert all(torch.equal(a, b) for a, b in zip(*outs))


def test_float32_agrees_with_float64():
    x64 = switching_level(4, 5000, 12, lo_db=-70)
    x32 = x64.float().requires_grad_()
    x64.requires_grad_()
    y64 = dd.compexp_gain(x64, -20.0, 4.0, -50.0, 0.5, 0.1, 0.01)
    y32 = dd.compexp_gain(x32, -20.0, 4.0, -50.0, 0.5, 0.1, 0.01)
    assert y32.dtype == torch.float32
    assert torch.max(torch.abs(y32.double() - y64) / y64).item() < 2e-6
    (g64,) = torch.autograd.grad(y64.sum(), x64)
    (g32,) = torch.autograd.grad(y32.sum(), x32)
    assert torch.max(torch.abs(g32.double() - g64)).item() < 1e-5 * torch.max(torch.abs(g64)).item()


def test_numpy_in_numpy_out_and_1d_signals():
    x = switching_level(2, 300, 13)
    y_np = dd.compexp_gain(x.numpy(), -20.0, 4.0, -1000.0, 1.0, 0.1, 0.01)
    assert isinstance(y_np, np.ndarray)
    np.testing.assert_array_equal(y_np, dd.compexp_gain(x, -20.0, 4.0, -1000.0, 1.0, 0.1, 0.01).numpy())
    y1 = dd.compexp_gain(x[0], -20.0, 4.0, -1000.0, 1.0, 0.1, 0.01)
    assert y1.shape == (300,)
    assert dd.ms2coef(10.0, 44100) == pytest.approx(0.0049762, abs=1e-7)
    assert dd.coef2ms(dd.ms2coef(torch.tensor([5.0, 50.0], dtype=torch.float64), 48000), 48000) == pytest.approx([5.0, 50.0])
    assert dd.db2amp(dd.amp2db(torch.tensor(0.3))).item() == pytest.approx(0.3)


def test_torchcomp_style_call_with_float_parameters():
    import differential_dynamics as torchcomp
    x = switching_level(2, 200, 14)
    rms = torchcomp.avg(x, torchcomp.ms2coef(torch.tensor(20.0), 44100).item())
    g = torchcomp.compexp_gain(rms.clamp_min(1e-7), -24.0, 4.0, -60.0, 0.5, torchcomp.ms2coef(torch.tensor(5.0), 44100),
                               torchcomp.ms2coef(torch.tensor(100.0), 44100))
    assert g.shape == x.shape and torch.all((g > 0) & (g <= 1))
    lim = torchcomp.limiter_gain(x, -3.0, 0.5, 0.01)
    assert lim.shape == x.shape


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case, exc, name", [
    (lambda x: dd.compexp_gain(x, -20.0, 1.0, -50.0, 0.5, 0.1, 0.1), ValueError, "comp_ratio"),
    (lambda x: dd.compexp_gain(x, -20.0, 4.0, -50.0, 0.0, 0.1, 0.1), ValueError, "exp_ratio"),
    (lambda x: dd.compexp_gain(x, -20.0, 4.0, -50.0, 1.5, 0.1, 0.1), ValueError, "exp_ratio"),
    (lambda x: dd.compexp_gain(x, float("nan"), 4.0, -50.0, 0.5, 0.1, 0.1), ValueError, "comp_thresh"),
    (lambda x: dd.compexp_gain(x, -20.0, 4.0, -50.0, 0.5, 1.0, 0.1), ValueError, "at"),
    (lambda x: dd.compexp_gain(x, -20.0, 4.0, -50.0, 0.5, 0.1, 0.0), ValueError, "rt"),
    (lambda x: dd.compexp_gain(x, -20.0, 4.0, -50.0, 0.5, 0.1, 0.1, knee=-1.0), ValueError, "knee"),
    (lambda x: dd.compexp_gain(x, -20.0, torch.ones(5) * 2, -50.0, 0.5, 0.1, 0.1), ValueError, "comp_ratio"),
    (lambda x: dd.compexp_gain(-x, -20.0, 4.0, -50.0, 0.5, 0.1, 0.1), ValueError, "x_rms"),
    (lambda x: dd.compexp_gain(x * float("nan"), -20.0, 4.0, -50.0, 0.5, 0.1, 0.1), ValueError, "x_rms"),
    (lambda x: dd.compexp_gain(x[:, :0], -20.0, 4.0, -50.0, 0.5, 0.1, 0.1), ValueError, "x_rms"),
    (lambda x: dd.compexp_gain(x.int(), -20.0, 4.0, -50.0, 0.5, 0.1, 0.1), TypeError, "x_rms"),
    (lambda x: dd.compexp_gain(x[None], -20.0, 4.0, -50.0, 0.5, 0.1, 0.1), ValueError, "x_rms"),
    (lambda x: dd.compexp_gain(x.to("meta"), -20.0, 4.0, -50.0, 0.5, 0.1, 0.1), ValueError, "x_rms"),
    (lambda x: dd.compexp_gain([1.0], -20.0, 4.0, -50.0, 0.5, 0.1, 0.1), TypeError, "x_rms"),
    (lambda x: dd.compexp_gain_mode(x, -20.0, 4.0, -50.0, 0.5, 0.1, 0.1, "soft"), ValueError, "ar_mode"),
    (lambda x: dd.compexp_gain_mode(x, -20.0, 4.0, -50.0, 0.5, 0.1, 0.1, "sigmoid", -1.0), ValueError, "k"),
    (lambda x: dd.compressor_core(x, float("inf"), 0.1, 0.1), ValueError, "zi"),
    (lambda x: dd.limiter_gain(x, 3.0, 0.1, 0.1), ValueError, "threshold"),
    (lambda x: dd.avg(x, 0.0), ValueError, "avg_coef"),
    (lambda x: dd.ms2coef(-1.0, 44100), ValueError, "ms"),
    (lambda x: dd.ms2coef(10.0, 0), ValueError, "sr"),
    (lambda x: dd.set_num_threads(-2), ValueError, "threads"),
])
def test_bad_input_raises_a_clear_error_naming_the_argument(case, exc, name):
    x = switching_level(B, 50, 15)
    with pytest.raises(exc, match=name):
        case(x)


def test_broadcast_and_strided_upstream_gradients_are_read_in_place_correctly():
    x = switching_level(B, 400, 16, lo_db=-70).requires_grad_()
    args = (-20.0, 4.0, -50.0, 0.5, 0.1, 0.01)
    (g_sum,) = torch.autograd.grad(dd.compexp_gain(x, *args).sum(), x)  # upstream: expanded scalar, strides 0
    (g_ones,) = torch.autograd.grad(dd.compexp_gain(x, *args), x, torch.ones(B, 400, dtype=torch.float64))
    assert torch.equal(g_sum, g_ones)
    upstream = torch.randn(B, 800, dtype=torch.float64)[:, ::2]  # non-contiguous view
    (g_view,) = torch.autograd.grad(dd.compexp_gain(x, *args), x, upstream)
    (g_copy,) = torch.autograd.grad(dd.compexp_gain(x, *args), x, upstream.contiguous())
    assert torch.equal(g_view, g_copy)
