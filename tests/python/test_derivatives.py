"""Every derivative order is exact or refused: forward mode and second order of the SSL
model (both entries, all parameters and zi) and of the sigmoid gate (sigmoid_core, compexp_gain_mode),
through torch's own tools — torch.autograd.functional.hessian / jacobian / jvp / hvp, forward_ad dual
numbers, gradcheck (with forward mode) and gradgradcheck — against float64 central differences, on
signals that switch attack/release many times, with fb ∈ {0, 0.5, 0.999}; the SSL soft gate (gate_k)
and its hard-gate limit; orders that are not supported raise."""
import math

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch.autograd import gradcheck, gradgradcheck

import differential_dynamics as dd
from conftest import bursty_audio, switching_level

FS = 44100.0
SSL_NAMES = ["comp_thresh", "comp_ratio", "T_attack_fast", "T_attack_slow", "T_shunt_fast", "T_shunt_slow",
             "feedback_coeff"]


def ssl_program(rows: int, cols: int, seed: int) -> torch.Tensor:
    """Detector levels in dB: a square wave (per-row period) and bursts with 1 dB noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(cols)
    out = []
    for b in range(rows):
        square = np.where((t // (37 + 11 * b)) % 2 == 0, -3.0, -40.0)
        bursts = np.where(np.mod(t, 150 + 20 * b) < 30, 0.0, -45.0)
        out.append(np.where(t < cols // 2, square, bursts) + rng.normal(0, 1.0, cols))
    return torch.tensor(np.stack(out), dtype=torch.float64)


def ssl_attack_flips(x_db: torch.Tensor, gain: torch.Tensor, ct, cr, fb) -> torch.Tensor:
    """The SSL model's attack decisions (docs/derivations/ssl.md) recomputed from the output (hard
    curve): attack_t = a_t < y_{t−1}."""
    y_prev = torch.cat([torch.zeros(gain.shape[0], 1, dtype=gain.dtype), gain[:, :-1]], dim=1)
    s = 1 - 1 / torch.as_tensor(cr, dtype=torch.float64).reshape(-1, 1)
    d = x_db + torch.as_tensor(fb, dtype=torch.float64).reshape(-1, 1) * y_prev
    a = torch.clamp(s * (torch.as_tensor(ct, dtype=torch.float64).reshape(-1, 1) - d), max=0.0)
    attack = a < y_prev
    return (attack[:, 1:] != attack[:, :-1]).sum(dim=1)


def ssl_values(fb: float):
    """Scalar parameters: the hardware auto release with threshold −20 dB, ratio 4."""
    p = dd.ssl_preset(820, "auto", 4, comp_thresh=-20.0, feedback_coeff=fb)
    return [p[n] for n in SSL_NAMES]


def as_leaves(values, log_times=True):
    """[CT, CR, (log) T_af, T_as, T_sf, T_ss, fb] as float64 leaf tensors. Time constants as log T so
    that one finite-difference step is the same small relative step on all of them."""
    out = []
    for i, v in enumerate(values):
        v = torch.tensor(float(v), dtype=torch.float64)
        out.append((v.log() if log_times and 2 <= i <= 5 else v).requires_grad_())
    return out


def from_log(params):
    return [p.exp() if 2 <= i <= 5 else p for i, p in enumerate(params)]


def central_gradient_jacobian(grad_fn, params, rel=1e-5):
    """∂(∇f)/∂θ_j by central differences of the first-order gradient (the C++ adjoint): the reference
    for every Hessian below (the first order itself is checked against the forward elsewhere)."""
    cols = []
    for j, p in enumerate(params):
        h = rel * max(1.0, abs(p.item()))
        up = [q.detach().clone() for q in params]
        dn = [q.detach().clone() for q in params]
        up[j] += h
        dn[j] -= h
        cols.append((grad_fn(up) - grad_fn(dn)) / (2 * h))
    return torch.stack(cols, dim=1)


def assert_close_nonzero(analytic, reference, rtol, atol_scale, what):
    """analytic ≈ reference entrywise (rtol, plus atol_scale·max|reference|), and the reference is far
    from zero, so that a zero or wrong result cannot pass."""
    scale = reference.abs().max().item()
    assert scale > 0, what
    torch.testing.assert_close(analytic, reference, rtol=rtol, atol=atol_scale * scale, msg=what)


# ------------------------------------------------------------------------------------------------
# SSL: Hessian, hvp, jacobian, jvp and dual numbers (hard gate)

def _ssl_loss(x, w, fb):
    def loss(*params):
        ct, cr, taf, tas, tsf, tss, fbv = from_log(params)
        return (w * dd.ssl_comp_gain(x, ct, cr, taf, tas, tsf, tss, fbv, fs=FS)).sum()
    return loss


@pytest.mark.parametrize("fb", [0.0, 0.5, 0.999])
def test_ssl_hessian_matches_differences_of_the_gradient(fb):
    x = ssl_program(3, 600, seed=1)
    w = torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, x.shape))
    values = ssl_values(fb)
    with torch.no_grad():
        g = dd.ssl_comp_gain(x, *values, fs=FS)
    assert (ssl_attack_flips(x, g, values[0], values[1], fb) >= 15).all()
    loss = _ssl_loss(x, w, fb)
    params = as_leaves(values)
    if fb == 0.0:
        params[6] = params[6].detach() + 2e-5  # the FD steps stay inside [0, 1]
        params[6].requires_grad_()
    H = torch.stack([torch.stack(row) for row in torch.autograd.functional.hessian(loss, tuple(params))])

    def grad_fn(ps):
        ps = [p.clone().requires_grad_() for p in ps]
        return torch.stack(torch.autograd.grad(loss(*ps), ps))
    ref = central_gradient_jacobian(grad_fn, params)
    assert_close_nonzero(H, ref, rtol=1e-5, atol_scale=1e-8, what=f"hessian fb={fb}")
    torch.testing.assert_close(H, H.T, rtol=1e-9, atol=1e-9 * H.abs().max().item())  # symmetric
    # The CT row is exactly zero (y is affine in CT with decisions fixed); every other diagonal entry is not.
    assert (H.diagonal()[1:6].abs() > 0).all()


def test_ssl_hessian_of_a_single_parameter_equals_the_second_difference_of_the_loss():
    # The check: the Hessian of Σ gain through ssl_comp_gain in one parameter (here the fast
    # attack time in seconds) against the plain second difference of the forward.
    x = ssl_program(1, 800, seed=3)
    values = ssl_values(0.5)

    def f(taf):
        v = list(values)
        v[2] = taf
        return dd.ssl_comp_gain(x, *v, fs=FS).sum()
    taf = torch.tensor(values[2], dtype=torch.float64)
    H = torch.autograd.functional.hessian(f, taf)
    h = 1e-3 * taf.item()
    fd = (f(taf + h) - 2 * f(taf) + f(taf - h)) / h ** 2
    assert abs(fd.item()) > 1e3
    assert H.item() == pytest.approx(fd.item(), rel=1e-4)


@pytest.mark.parametrize("fb", [0.0, 0.5, 0.999])
def test_ssl_hvp_vhp_jacobian_and_jvp_through_torch_autograd_functional(fb):
    x = ssl_program(2, 400, seed=4)
    w = torch.from_numpy(np.random.default_rng(5).uniform(-1, 1, x.shape))
    values = ssl_values(fb)
    params = tuple(p.detach() for p in as_leaves(values))
    loss = _ssl_loss(x, w, fb)
    v = tuple(torch.tensor(c, dtype=torch.float64) for c in (0.7, -0.3, 0.5, 0.2, -0.4, 0.6, 0.0 if fb == 0 else 0.1))
    H = torch.stack([torch.stack(row) for row in torch.autograd.functional.hessian(loss, params)])
    hv = torch.stack(torch.autograd.functional.hvp(loss, params, v)[1])
    vh = torch.stack(torch.autograd.functional.vhp(loss, params, v)[1])
    vv = torch.stack(v)
    torch.testing.assert_close(hv, H @ vv, rtol=1e-10, atol=1e-12 * H.abs().max().item())
    torch.testing.assert_close(vh, vv @ H, rtol=1e-10, atol=1e-12 * H.abs().max().item())
    assert hv.abs().max() > 0

    # jacobian and jvp of the gain with respect to the level (a (T, T) lower-triangular Jacobian per row).
    xs = x[:1, :150].clone()
    fn = lambda z: dd.ssl_comp_gain(z, *values, fs=FS)  # noqa: E731
    J = torch.autograd.functional.jacobian(fn, xs).reshape(150, 150)
    cols = []
    for j in range(150):
        e = torch.zeros_like(xs)
        e[0, j] = 1e-3  # y is affine in the level with decisions fixed
        cols.append(((fn(xs + e) - fn(xs - e)) / 2e-3).reshape(-1))
    Jfd = torch.stack(cols, dim=1)
    assert_close_nonzero(J, Jfd, rtol=1e-6, atol_scale=1e-9, what="jacobian")
    assert torch.equal(J, torch.tril(J))  # causal
    u = torch.from_numpy(np.random.default_rng(6).normal(size=xs.shape))
    _, jv = torch.autograd.functional.jvp(fn, xs, u)
    torch.testing.assert_close(jv.reshape(-1), J @ u.reshape(-1), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("entry", ["level", "audio"])
@pytest.mark.parametrize("fb", [0.0, 0.5, 0.999])
def test_ssl_forward_mode_dual_numbers_match_central_differences(entry, fb):
    if entry == "level":
        x = ssl_program(3, 500, seed=7)
        fn = lambda z, *p, zi: dd.ssl_comp_gain(z, *p, fs=FS, zi=zi, return_state=True)  # noqa: E731
        tx = torch.from_numpy(np.random.default_rng(8).uniform(-1, 1, x.shape))
    else:
        x = bursty_audio(3, 500, seed=7)
        fn = lambda z, *p, zi: dd.ssl_compress(z, *p, fs=FS, zi=zi, return_state=True)  # noqa: E731
        tx = 0.1 * x * torch.from_numpy(np.random.default_rng(8).uniform(-1, 1, x.shape))
    values = [torch.full((3,), float(v), dtype=torch.float64) for v in ssl_values(fb)]
    values[0] = torch.tensor([-20.0, -24.0, -16.0], dtype=torch.float64)
    zi = torch.tensor([[-2.0, -1.0], [0.0, 0.0], [-5.0, -3.0]], dtype=torch.float64)
    tangents = [torch.tensor(t, dtype=torch.float64) for t in
                ([0.5, -1.0, 0.3], [0.2, -0.1, 0.3], [-1e-5, 2e-5, 3e-5], [1e-4, -2e-4, 1e-4],
                 [1e-3, 2e-3, -1e-3], [0.1, -0.2, 0.3], [0.0, 0.0, 0.0] if fb == 0 else [1e-2, -1e-2, 1e-3])]
    tzi = torch.tensor([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]], dtype=torch.float64)

    def flat(z, params, zi_):
        outs = fn(z, *params, zi=zi_)
        return torch.cat([o.reshape(-1) for o in outs])
    with fwAD.dual_level():
        dual = flat(fwAD.make_dual(x, tx), [fwAD.make_dual(p, t) for p, t in zip(values, tangents)],
                    fwAD.make_dual(zi, tzi))
        analytic = fwAD.unpack_dual(dual).tangent
    h = 1e-5  # the recursion's rounding (~1e-14 dB) stays far below the tolerance over this step
    move = lambda s: flat(x + s * tx, [p + s * t for p, t in zip(values, tangents)], zi + s * tzi)  # noqa: E731
    fd = (-move(2 * h) + 8 * move(h) - 8 * move(-h) + move(-2 * h)) / (12 * h)
    assert_close_nonzero(analytic, fd, rtol=1e-5, atol_scale=1e-8, what=f"jvp {entry} fb={fb}")


@pytest.mark.parametrize("fb", [0.0, 0.5, 0.999])
def test_ssl_gradcheck_with_forward_mode_and_gradgradcheck(fb):
    x = ssl_program(2, 160, seed=9).requires_grad_()
    values = ssl_values(fb)
    if fb == 0.0:
        values[6] = 2e-5  # the FD steps stay inside [0, 1]
    params = as_leaves(values)
    zi = torch.tensor([[-2.0, -1.0], [-0.5, -0.2]], dtype=torch.float64, requires_grad=True)
    f = lambda z, *a: dd.ssl_comp_gain(z, *from_log(a[:7]), fs=FS, zi=a[7], return_state=True)  # noqa: E731
    args = (x, *params, zi)
    assert gradcheck(f, args, eps=1e-6, atol=1e-7, rtol=1e-6, check_forward_ad=True)
    assert gradgradcheck(f, args, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_ssl_compress_gradcheck_with_forward_mode_gradgradcheck_and_knee():
    x = bursty_audio(2, 150, seed=10).requires_grad_()
    params = as_leaves(ssl_values(0.5))
    knee = torch.tensor([6.0, 10.0], dtype=torch.float64, requires_grad=True)
    f = lambda z, *a: dd.ssl_compress(z, *from_log(a[:7]), fs=FS, knee=a[7])  # noqa: E731
    args = (x, *params, knee)
    assert gradcheck(f, args, eps=1e-6, atol=1e-7, rtol=1e-6, check_forward_ad=True)
    assert gradgradcheck(f, args, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_ssl_third_order_and_forward_over_reverse_raise():
    x = ssl_program(1, 100, seed=11)
    cr = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    values = ssl_values(0.5)
    g = dd.ssl_comp_gain(x, values[0], cr, *values[2:], fs=FS).sum()
    (d1,) = torch.autograd.grad(g, cr, create_graph=True)
    (d2,) = torch.autograd.grad(d1, cr, create_graph=True)  # second order: supported
    assert d2.item() != 0
    with pytest.raises(RuntimeError, match="ssl_comp_gain: third and higher derivatives are not supported"):
        torch.autograd.grad(d2, cr)


# ------------------------------------------------------------------------------------------------
# Sigmoid gate: sigmoid_core and compexp_gain_mode(ar_mode="sigmoid")

TOL = dict(eps=1e-6, atol=1e-8, rtol=1e-5)
TOL2 = dict(eps=1e-6, atol=1e-6, rtol=1e-5)


def _rows(*values):
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


def test_sigmoid_core_gradcheck_forward_mode_and_gradgradcheck():
    # Targets above −30 dB: gradgradcheck's two-point difference (eps 1e-6) has a truncation error of
    # order (eps/g)² relative, too large for the 1e-5 tolerance on targets near −40 dB.
    g = switching_level(3, 80, 21, lo_db=-25.0, hi_db=-2.0).clamp(max=0.999).requires_grad_()
    zi, aa, ar, k = _rows(1.0, 0.8, 0.5), _rows(0.3, 0.1, 0.5), _rows(0.05, 0.2, 0.02), _rows(0.3, 1.0, 2.5)
    f = lambda *a: dd.sigmoid_core(*a, return_state=True)  # noqa: E731
    assert gradcheck(f, (g, zi, aa, ar, k), check_forward_ad=True, **TOL)
    assert gradgradcheck(f, (g, zi, aa, ar, k), **TOL2)


def test_compexp_gain_mode_sigmoid_gradcheck_forward_mode_and_gradgradcheck():
    # Levels above −46 dB: gradcheck's two-point difference (eps 1e-6 absolute) is then accurate to the
    # 1e-5 tolerance through the steep expander (at −50 dB its truncation error alone reaches 1.4e-4).
    x = switching_level(3, 60, 22, lo_db=-40).requires_grad_()
    ct, cr, et, er = _rows(-20.0, -25.0, -15.0), _rows(4.0, 2.0, 8.0), _rows(-41.3, -40.3, -42.7), _rows(0.5, 0.7, 0.3)
    aa, ar, k, knee = _rows(0.3, 0.1, 0.5), _rows(0.05, 0.2, 0.02), _rows(0.7, 1.3, 2.0), _rows(1.0, 6.0, 3.0)
    zi = _rows(1.0, 0.6, 0.9)
    f = lambda x, ct, cr, et, er, aa, ar, k, knee, zi: dd.compexp_gain_mode(  # noqa: E731
        x, ct, cr, et, er, aa, ar, "sigmoid", k, knee=knee, zi=zi, return_state=True)
    args = (x, ct, cr, et, er, aa, ar, k, knee, zi)
    assert gradcheck(f, args, check_forward_ad=True, **TOL)
    assert gradgradcheck(f, args, **TOL2)


def test_compexp_gain_mode_sigmoid_hessian_matches_differences_of_the_gradient():
    # The case: torch.autograd.functional.hessian through compexp_gain_mode(..., "sigmoid").
    x = switching_level(2, 400, 23, lo_db=-60)
    w = torch.from_numpy(np.random.default_rng(24).uniform(-1, 1, x.shape))

    def loss(ct, cr, aa, ar, k):
        return (w * dd.compexp_gain_mode(x, ct, cr, -50.0, 0.5, aa, ar, "sigmoid", k)).sum()
    params = tuple(torch.tensor(v, dtype=torch.float64) for v in (-20.0, 4.0, 0.2, 0.02, 1.0))
    H = torch.stack([torch.stack(row) for row in torch.autograd.functional.hessian(loss, params)])

    def grad_fn(ps):
        ps = [p.clone().requires_grad_() for p in ps]
        return torch.stack(torch.autograd.grad(loss(*ps), ps))
    ref = central_gradient_jacobian(grad_fn, params, rel=1e-6)
    assert_close_nonzero(H, ref, rtol=1e-5, atol_scale=1e-8, what="sigmoid hessian")
    assert (H.diagonal().abs() > 0).all()
    # And one entry against the plain second difference of the loss.
    h = 1e-3
    fd = (loss(*params[:4], params[4] + h) - 2 * loss(*params) + loss(*params[:4], params[4] - h)) / h ** 2
    assert H[4, 4].item() == pytest.approx(fd.item(), rel=1e-4)


def test_sigmoid_third_order_raises():
    g = (switching_level(1, 50, 25) * 1.5).clamp(max=0.999)
    k = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    y = dd.sigmoid_core(g, 1.0, 0.2, 0.02, k).sum()
    (d1,) = torch.autograd.grad(y, k, create_graph=True)
    (d2,) = torch.autograd.grad(d1, k, create_graph=True)
    with pytest.raises(RuntimeError, match="sigmoid_core: third and higher derivatives are not supported"):
        torch.autograd.grad(d2, k)


# ------------------------------------------------------------------------------------------------
# Forward mode of the other processors (the hard gate, the detector, the curve, the limiter)

def test_forward_mode_of_every_other_processor():
    x = switching_level(3, 60, 26, lo_db=-40).requires_grad_()
    audio = bursty_audio(3, 60, 27).requires_grad_()
    ct, cr, et, er = _rows(-20.0, -25.0, -15.0), _rows(4.0, 2.0, 8.0), _rows(-41.3, -40.3, -42.7), _rows(0.5, 0.7, 0.3)
    at, rt, knee = _rows(0.3, 0.1, 0.5), _rows(0.05, 0.2, 0.02), _rows(1.0, 6.0, 3.0)
    cases = [
        (lambda x, ct, cr, et, er, at, rt, knee: dd.compexp_gain(x, ct, cr, et, er, at, rt, knee=knee,  # noqa: E731
                                                                  return_state=True),
         (x, ct, cr, et, er, at, rt, knee)),
        (lambda a, c: dd.avg(a, c, return_state=True), (audio, _rows(0.05, 0.5, 0.9))),
        (lambda lv, ct, cr, et, er, knee: dd.gain_curve(lv, ct, cr, et, er, knee),  # noqa: E731
         ((20 * torch.log10(x.detach())).requires_grad_(), ct, cr, et, er, _rows(6.0, 3.0, 10.0))),
        (lambda a, thr, at, rt: dd.limiter_gain(a, thr, at, rt, return_state=True),  # noqa: E731
         (audio, _rows(-6.0, -12.0, -3.0), _rows(0.2, 0.05, 0.5), _rows(0.01, 0.002, 0.05))),
    ]
    for fn, args in cases:
        assert gradcheck(fn, args, check_forward_ad=True, check_backward_ad=False, **TOL)


# ------------------------------------------------------------------------------------------------
# SSL soft gate

def test_ssl_soft_gate_gradcheck_including_k_and_forward_mode():
    x = ssl_program(3, 200, seed=31).requires_grad_()
    params = as_leaves(ssl_values(0.5))
    k = torch.tensor([0.5, 2.0, 8.0], dtype=torch.float64, requires_grad=True)
    zi = torch.tensor([[-2.0, -1.0], [0.0, 0.0], [-4.0, -2.0]], dtype=torch.float64, requires_grad=True)
    f = lambda z, *a: dd.ssl_comp_gain(z, *from_log(a[:7]), fs=FS, gate_k=a[7], zi=a[8],  # noqa: E731
                                       return_state=True)
    assert gradcheck(f, (x, *params, k, zi), eps=1e-6, atol=1e-7, rtol=1e-6, check_forward_ad=True)
    # The gate's sharpness gets a non-zero gradient on every row.
    f(x, *params, k, zi)[0].sum().backward()
    assert (k.grad != 0).all()


def test_ssl_soft_gate_audio_entry_gradcheck():
    x = bursty_audio(2, 120, seed=32).requires_grad_()
    params = as_leaves(ssl_values(0.999))
    k = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    f = lambda z, *a: dd.ssl_compress(z, *from_log(a[:7]), fs=FS, gate_k=a[7])  # noqa: E731
    assert gradcheck(f, (x, *params, k), eps=1e-6, atol=1e-7, rtol=1e-6, check_forward_ad=True)


def test_ssl_soft_gate_tends_to_the_hard_gate():
    x = ssl_program(2, 2000, seed=33)
    values = ssl_values(0.5)
    hard = dd.ssl_comp_gain(x, *values, fs=FS)
    errors = [(dd.ssl_comp_gain(x, *values, fs=FS, gate_k=k) - hard).abs().max().item() for k in (1, 10, 100, 1e4, 1e6)]
    assert errors[0] > 0.1
    assert all(b < a for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 1e-3
    # inf (the limit itself) is the hard gate, bit for bit; so are inf rows of a per-row k.
    assert torch.equal(dd.ssl_comp_gain(x, *values, fs=FS, gate_k=math.inf), hard)
    mixed = dd.ssl_comp_gain(x, *values, fs=FS, gate_k=torch.tensor([math.inf, 2.0], dtype=torch.float64))
    assert torch.equal(mixed[0], hard[0]) and not torch.equal(mixed[1], hard[1])


def test_ssl_soft_gate_second_order_raises_and_bad_k_is_refused():
    x = ssl_program(1, 100, seed=34)
    values = ssl_values(0.5)
    cr = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    g = dd.ssl_comp_gain(x, values[0], cr, *values[2:], fs=FS, gate_k=2.0).sum()
    with pytest.raises(RuntimeError, match="ssl_comp_gain: second derivatives .* soft gate"):
        torch.autograd.grad(g, cr, create_graph=True)
    with pytest.raises(RuntimeError, match="soft gate"):
        torch.autograd.functional.hessian(
            lambda c: dd.ssl_comp_gain(x, values[0], c, *values[2:], fs=FS, gate_k=2.0).sum(), cr.detach())
    (first,) = torch.autograd.grad(dd.ssl_comp_gain(x, values[0], cr, *values[2:], fs=FS, gate_k=2.0).sum(), cr)
    assert first.item() != 0
    for bad, exc in ((0.0, ValueError), (-1.0, ValueError), (float("nan"), ValueError), ("2", TypeError),
                     (torch.ones(5), ValueError)):
        with pytest.raises(exc, match="gate_k"):
            dd.ssl_comp_gain(x, *values, fs=FS, gate_k=bad)


def test_ssl_soft_gate_streaming_equals_batch():
    from differential_dynamics import streaming
    x = ssl_program(1, 3000, seed=35)
    values = ssl_values(0.5)
    batch = dd.ssl_comp_gain(x, *values, fs=FS, gate_k=2.5)
    proc = streaming.SSLGainProcessor(fs=FS, channels=1, dtype=torch.float64,
                                      **dict(zip(SSL_NAMES, values)), gate_k=2.5)
    pieces = [proc.process(x[:, lo:hi]) for lo, hi in ((0, 1), (1, 700), (700, 701), (701, 3000))]
    assert torch.equal(torch.cat(pieces, dim=1), batch)


# ------------------------------------------------------------------------------------------------
# The operators' second derivatives against mpmath at 40 digits

def test_operator_second_derivatives_against_high_precision():
    mpmath = pytest.importorskip("mpmath")
    from differential_dynamics import _core
    mp = mpmath.mp
    mp.dps = 40

    def operators(rates, Ts):
        a, b, c, d = [mp.mpf(r) for r in rates]
        aug = mp.matrix([[-(a + c), -a, a], [-b, -(b + d), b], [0, 0, 0]])
        E = mp.expm(aug * mp.mpf(Ts))
        return [E[0, 0], E[0, 1], E[1, 0], E[1, 1], E[0, 2], E[1, 2]]

    cases = []
    for fs in (22050.0, 96000.0):
        for ra in (820, 27e3, 270e3):
            for rel in ("auto", 180e3):
                p = dd.ssl_preset(ra, rel, 4, fs=fs)
                cases.append(((1 / p["T_attack_fast"], 1 / p["T_attack_slow"], 1 / p["T_shunt_fast"],
                               1 / p["T_shunt_slow"]), 1 / fs))
    # Nearly equal eigenvalues (series in δ²) and both sides of the series/eigenvalue switch at δ·Ts = 1.
    cases += [((1.0, 1.0, 20.0, 20.0), 1 / 44100), ((4.4e4, 4.4e4, 30.0, 30.0), 1 / 44100),
              ((4.5e4, 4.5e4, 30.0, 30.0), 1 / 44100), ((5e4, 3e3, 1e3, 2e5), 1 / 22050)]
    for rates, Ts in cases:
        d2 = _core.ssl_operator_second_derivatives(*rates, Ts)
        for q in range(4):
            for r in range(q, 4):
                # Second differences at 40 digits with steps 1e−9 of the scale the operators vary on,
                # max(R, 1/Ts) (the closed form is analytic in the rates, so a step beyond a small rate
                # is fine): truncation ~1e−18, rounding ~1e−40/h² relative.
                hq = mp.mpf(max(rates[q], 1 / Ts)) * mp.mpf("1e-9")
                hr = mp.mpf(max(rates[r], 1 / Ts)) * mp.mpf("1e-9")

                def at(sq, sr):
                    v = [mp.mpf(x) for x in rates]
                    v[q] += sq * hq
                    v[r] += sr * hr
                    return operators(v, Ts)
                pp, pm, mp_, mm = at(1, 1), at(1, -1), at(-1, 1), at(-1, -1)
                fd = [float((a - b - c + d) / (4 * hq * hr)) for a, b, c, d in zip(pp, pm, mp_, mm)]
                an = [d2["d2Ad"][q][r][0][0], d2["d2Ad"][q][r][0][1], d2["d2Ad"][q][r][1][0], d2["d2Ad"][q][r][1][1],
                      d2["d2Bd"][q][r][0], d2["d2Bd"][q][r][1]]
                scale = max(abs(v) for v in fd)
                assert scale > 0
                for i, (g, e) in enumerate(zip(an, fd)):
                    assert abs(g - e) <= 1e-8 * abs(e) + 1e-11 * scale, (rates, Ts, q, r, i, g, e)
