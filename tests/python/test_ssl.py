"""SSL bus compressor (docs/reference/ssl.md, docs/derivations/ssl.md) from Python: gradcheck in float64 for every differentiable input
on programs with many attack/release flips, an independent scipy reference of the forward, the
operator derivatives against high-precision (mpmath) finite differences, float32, threads, presets,
numpy, errors."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch.autograd import gradcheck

import differential_dynamics as dd
from differential_dynamics import _core

FS = 44100.0
NAMES = ["comp_thresh", "comp_ratio", "T_attack_fast", "T_attack_slow", "T_shunt_fast", "T_shunt_slow",
         "feedback_coeff"]


def program(rows: int, cols: int, fs: float, seed: int) -> np.ndarray:
    """Detector levels (dB): square wave, bursts and a step with 1 dB noise (many attack/release flips)."""
    rng = np.random.default_rng(seed)
    t = np.arange(cols)
    out = []
    for b in range(rows):
        sec = np.mod(t / fs, 0.1)
        period = int(fs * (0.004 + 0.002 * b))
        square = np.where((t // period) % 2 == 0, -3.0, -40.0)
        bursts = np.where(np.mod(sec, 0.01) < 0.002, 0.0, -50.0)
        step = np.where(sec < 0.08, -8.0, -35.0)
        db = np.where(sec < 0.03, square, np.where(sec < 0.06, bursts, step))
        out.append(db + rng.normal(0, 1.0, cols))
    return np.stack(out)


def row_params(fb, fs=FS, bypassed=False):
    """Three rows: the hardware auto release, random time constants, a fixed release (per-row tensors).

    The fixed-release preset bypasses the slow capacitor (T_as = 1e4 s, T_ss = one sample): those two
    time constants then have no visible effect (∂y/∂log T ~ 1e−9 dB, below any FD's resolution), so
    unless `bypassed` the row keeps the fixed release but a slow capacitor that is actually used."""
    auto = dd.ssl_preset(820, "auto", 4, comp_thresh=-20, feedback_coeff=fb, fs=fs)
    fixed = dd.ssl_preset(2700, 180e3, 2, comp_thresh=-24, feedback_coeff=fb, fs=fs)
    if not bypassed:
        fixed.update(T_attack_slow=0.04, T_shunt_slow=3 / fs)
    rand = dict(comp_thresh=-17.0, comp_ratio=6.5, T_attack_fast=1.1e-3, T_attack_slow=9e-3, T_shunt_fast=0.11,
                T_shunt_slow=1.7, feedback_coeff=fb)
    rows = [auto, rand, fixed]
    return {n: torch.tensor([r[n] for r in rows], dtype=torch.float64) for n in NAMES}


def attack_mask(x_db: np.ndarray, gain: np.ndarray, p) -> np.ndarray:
    """The attack decisions (docs/derivations/ssl.md) recomputed from the output: attack_t = a_t < y_{t−1}."""
    y_prev = np.concatenate([np.zeros((gain.shape[0], 1)), gain[:, :-1]], axis=1)
    col = lambda v: np.asarray(v, dtype=np.float64).reshape(-1, 1)  # noqa: E731
    s = 1 - 1 / col(p["comp_ratio"])
    d = x_db + col(p["feedback_coeff"]) * y_prev
    a = np.minimum(0.0, s * (col(p["comp_thresh"]) - d))
    return a < y_prev


def flips(mask: np.ndarray) -> np.ndarray:
    return (mask[:, 1:] != mask[:, :-1]).sum(axis=1)


# ------------------------------------------------------------------------------------------------
# Independent reference (scipy.linalg.expm; shares nothing with the kernels)

def ref_ssl(x_db: np.ndarray, ct, cr, taf, tas, tsf, tss, fb, fs) -> np.ndarray:
    h = 1.0 / fs
    a, b, c, d = 1 / taf, 1 / tas, 1 / tsf, 1 / tss
    A = np.array([[-(a + c), -a], [-b, -(b + d)]])
    B = np.array([a, b])
    aug = np.zeros((3, 3))
    aug[:2, :2] = A
    aug[:2, 2] = B
    E = scipy.linalg.expm(aug * h)  # [[Ad, Bd], [0, 1]]
    Ad, Bd = E[:2, :2], E[:2, 2]
    Ar = np.diag([math.exp(-c * h), math.exp(-d * h)])
    s = 1 - 1 / cr
    x = np.zeros(2)
    y = 0.0
    out = np.empty_like(x_db)
    for t, level in enumerate(x_db):
        dt = level + fb * y
        at = min(0.0, s * (ct - dt))
        x = Ad @ x + Bd * at if at < y else Ar @ x
        y = x[0] + x[1]
        out[t] = y
    return out


@pytest.mark.parametrize("fs", [22050.0, 44100.0, 96000.0])
@pytest.mark.parametrize("fb", [0.0, 0.5, 0.999])
def test_forward_matches_independent_reference(fs, fb):
    p = row_params(fb, fs, bypassed=True)
    x = program(3, int(0.1 * fs), fs, seed=1)
    g = dd.ssl_comp_gain(torch.from_numpy(x), *(p[n] for n in NAMES), fs=fs).numpy()
    assert (flips(attack_mask(x, g, p)) >= 20).all()
    for b in range(3):
        r = ref_ssl(x[b], *(float(p[n][b]) for n in NAMES), fs)
        np.testing.assert_allclose(g[b], r, rtol=0, atol=1e-11)
    assert g.min() < -3.0


# ------------------------------------------------------------------------------------------------
# Gradients

# gradcheck's central difference with step 1e−5: truncation ~1e−10 relative, and the rounding noise
# of a few-hundred-step recursion (≈1e−13 dB per output) stays ≈1e−8 per Jacobian entry; the entries
# checked reach 1…10, so atol = 1e−7 with rtol = 1e−6 rejects any wrong or missing gradient term.
GC = dict(eps=1e-5, atol=1e-7, rtol=1e-6)


def _log_time(fn):
    """Time constants enter gradcheck as log(T), so that its absolute FD step (1e−6) is the same small
    relative step on every time constant, from T_af ≈ 0.4 ms to the bypassed T_as = 1e4 s. What is
    checked is still the kernel's gradient w.r.t. T (chained by autograd through exp: ∂/∂log T = T·∂/∂T)."""
    def wrapped(x, ct, cr, taf, tas, tsf, tss, fb, *rest):
        return fn(x, ct, cr, taf.exp(), tas.exp(), tsf.exp(), tss.exp(), fb, *rest)
    return wrapped


def _log_params(values):
    """[CT, CR, log T_af, log T_as, log T_sf, log T_ss, fb] as leaf tensors requiring grad."""
    out = []
    for i, v in enumerate(values):
        v = torch.as_tensor(v, dtype=torch.float64).clone()
        out.append((v.log() if 2 <= i <= 5 else v).requires_grad_())
    return out


@pytest.mark.parametrize("fb", [0.0, 0.5, 0.999])
@pytest.mark.parametrize("fs", [22050.0, 96000.0])
def test_gradcheck_all_inputs(fb, fs):
    p = row_params(fb, fs)
    x_np = program(3, 500, fs, seed=2)
    x = torch.from_numpy(x_np).requires_grad_()
    values = [p[k] for k in NAMES]
    if fb == 0.0:
        # fb = 0 is the boundary of [0, 1]: gradcheck's central difference would step outside; shift it
        # by 2e−5 (the kernel's derivative at fb = 0 itself is checked one-sided in the C++ tests).
        values[6] = values[6] + 2e-5
    params = _log_params(values)
    f = _log_time(lambda *a: dd.ssl_comp_gain(*a, fs=fs))
    with torch.no_grad():
        g = f(x, *params).numpy()
    assert (flips(attack_mask(x_np, g, {k: v.numpy() for k, v in zip(NAMES, values)})) >= 10).all()
    assert gradcheck(f, (x, *params), **GC)


def test_gradcheck_constant_level_stays_in_attack():
    p = row_params(0.5)
    x = torch.full((3, 200), -4.0, dtype=torch.float64, requires_grad=True)
    values = [p[k] for k in NAMES]
    params = _log_params(values)
    f = _log_time(lambda *a: dd.ssl_comp_gain(*a, fs=FS))
    with torch.no_grad():
        g = f(x, *params).numpy()
    assert attack_mask(x.detach().numpy(), g, {k: v.numpy() for k, v in zip(NAMES, values)}).all()
    assert gradcheck(f, (x, *params), **GC)


def test_gradcheck_knee_and_scalar_parameters():
    fs = 44100.0
    t = np.arange(400)
    x_np = (-20 - 14 * np.cos(2 * np.pi * 200 * t / fs))[None, :] + np.random.default_rng(3).normal(0, 0.3, (2, 400))
    x = torch.from_numpy(x_np).requires_grad_()
    scalars = _log_params([-20.0, 4.0, 3.854e-4, 5.576e-3, 0.085, 2.0, 0.3])
    knee = torch.tensor([6.0, 10.0], dtype=torch.float64, requires_grad=True)
    f = _log_time(lambda *a: dd.ssl_comp_gain(*a[:8], fs=fs, knee=a[8]))
    assert gradcheck(f, (x, *scalars, knee), **GC)
    out = f(x, *scalars, knee)
    out.sum().backward()
    for s in scalars:
        assert s.grad.shape == s.shape and s.grad != 0  # scalar parameters get scalar gradients
    assert (knee.grad != 0).all()


def test_gradcheck_audio_entry():
    fs = 44100.0
    rng = np.random.default_rng(4)
    env = np.where((np.arange(250) // 50) % 2 == 0, 0.9, 0.03)
    x_np = env * rng.normal(0, 1, (2, 250))
    x_np = np.where(np.abs(x_np) < 1e-3, 1e-3, x_np)
    x = torch.from_numpy(x_np).requires_grad_()
    p = dd.ssl_preset(820, "auto", 4, comp_thresh=-20, feedback_coeff=0.5)
    params = _log_params([p[k] for k in NAMES])
    f = _log_time(lambda *a: dd.ssl_compress(*a, fs=fs))
    assert gradcheck(f, (x, *params), **GC)
    # Only one of the two outputs used: the other's gradient is None inside backward.
    xg = x.detach().clone().requires_grad_()
    dd.ssl_compress(xg, **p)[1].sum().backward()
    assert torch.isfinite(xg.grad).all() and (xg.grad != 0).any()


def test_audio_entry_values_and_detector_floor():
    x = torch.tensor([[0.5, -0.25, 0.0, 1e-9, 0.8] * 40], dtype=torch.float64, requires_grad=True)
    p = dd.ssl_preset(820, "auto", 4, comp_thresh=-20)
    gain, y = dd.ssl_compress(x, **p)
    level = 20 * torch.log10(torch.clamp(x.detach().abs(), min=1e-7))
    torch.testing.assert_close(gain, dd.ssl_comp_gain(level, **p), rtol=0, atol=1e-12)
    torch.testing.assert_close(y, 10 ** (gain / 20) * x, rtol=1e-14, atol=1e-15)
    w = torch.randn_like(x)
    (y * w).sum().backward()
    under = (x.detach().abs() < 1e-7)
    # Under the floor: no path through the detector, only y = db2amp(g)·x directly.
    torch.testing.assert_close(x.grad[under], (w * 10 ** (gain.detach() / 20))[under], rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------------------------
# Operators: closed form and derivatives against mpmath at 40 digits

def test_operators_against_high_precision():
    mpmath = pytest.importorskip("mpmath")
    mp = mpmath.mp
    mp.dps = 40

    def operators(rates, Ts):
        a, b, c, d = [mp.mpf(r) for r in rates]
        aug = mp.matrix([[-(a + c), -a, a], [-b, -(b + d), b], [0, 0, 0]])
        E = mp.expm(aug * mp.mpf(Ts))
        return [E[0, 0], E[0, 1], E[1, 0], E[1, 1], E[0, 2], E[1, 2]]

    cases = []
    for fs in (22050.0, 44100.0, 96000.0):
        for ra in (820, 27e3, 270e3):
            for rel in ("auto", 180e3):
                p = dd.ssl_preset(ra, rel, 4, fs=fs)
                cases.append(((1 / p["T_attack_fast"], 1 / p["T_attack_slow"], 1 / p["T_shunt_fast"],
                               1 / p["T_shunt_slow"]), 1 / fs))
    cases += [((1.0, 1.0, 20.0, 20.0), 1 / 44100), ((4.41, 4.41, 30.0, 30.0), 1 / 44100),
              ((5e4, 3e3, 1e3, 2e5), 1 / 22050)]
    for rates, Ts in cases:
        ops = _core.ssl_operators(*rates, Ts)["attack"]
        exact = operators(rates, Ts)
        got = [ops["Ad"][0][0], ops["Ad"][0][1], ops["Ad"][1][0], ops["Ad"][1][1], ops["Bd"][0], ops["Bd"][1]]
        scale = max(abs(float(e)) for e in exact[4:])
        for i, (g, e) in enumerate(zip(got, exact)):
            tol = 2e-15 if i < 4 else 1e-13 * scale
            assert abs(g - float(e)) <= tol, (rates, Ts, i, g, float(e))
        for q in range(4):
            # Central difference at 40 digits with step 1e−12·R: error ~1e−24 relative.
            h = mp.mpf(rates[q]) * mp.mpf("1e-12")
            up = list(rates)
            dn = list(rates)
            up[q] = mp.mpf(rates[q]) + h
            dn[q] = mp.mpf(rates[q]) - h
            eu, ed = operators(up, Ts), operators(dn, Ts)
            fd = [float((u - v) / (2 * h)) for u, v in zip(eu, ed)]
            an = [ops["dAd"][q][0][0], ops["dAd"][q][0][1], ops["dAd"][q][1][0], ops["dAd"][q][1][1],
                  ops["dBd"][q][0], ops["dBd"][q][1]]
            dscale = max(abs(v) for v in fd)
            for i, (g, e) in enumerate(zip(an, fd)):
                assert abs(g - e) <= 1e-9 * abs(e) + 1e-12 * dscale, (rates, Ts, q, i, g, e)


# ------------------------------------------------------------------------------------------------
# Precision, threads, shapes

def test_float32_agrees_with_float64():
    x64 = torch.from_numpy(program(3, 6000, FS, seed=5))
    x32 = x64.float()
    p = row_params(0.5)
    p32 = {k: v.float().requires_grad_() for k, v in p.items()}
    p64 = {k: v.float().double().requires_grad_() for k, v in p.items()}  # the same float32-rounded values
    xa = x32.clone().requires_grad_()
    xb = x32.double().requires_grad_()
    g32 = dd.ssl_comp_gain(xa, **p32)
    g64 = dd.ssl_comp_gain(xb, **p64)
    assert g32.dtype == torch.float32
    torch.testing.assert_close(g32.double(), g64.detach(), rtol=2e-6, atol=2e-6)
    w = torch.randn_like(g64)
    (g32 * w.float()).sum().backward()
    (g64 * w).sum().backward()
    torch.testing.assert_close(xa.grad.double(), xb.grad, rtol=1e-4, atol=1e-6)
    for k in NAMES:
        torch.testing.assert_close(p32[k].grad.double(), p64[k].grad, rtol=1e-4, atol=1e-6 * p64[k].grad.abs().max())


def test_results_do_not_depend_on_threads():
    x = torch.from_numpy(program(6, 5000, FS, seed=6)).requires_grad_()
    p = {k: v.repeat(2).requires_grad_() for k, v in row_params(0.5).items()}
    out = []
    for threads in (1, 2):
        dd.set_num_threads(threads)
        for v in [x, *p.values()]:
            v.grad = None
        g = dd.ssl_comp_gain(x, **p)
        (g * torch.linspace(-1, 1, g.shape[1], dtype=torch.float64)).sum().backward()
        out.append([g.detach().clone(), x.grad.clone(), *(v.grad.clone() for v in p.values())])
    for a, b in zip(*out):
        assert torch.equal(a, b)


def test_numpy_and_one_dimensional_inputs():
    x = program(1, 800, FS, seed=7)[0]
    p = dd.ssl_preset(8200, 560e3, 10, comp_thresh=-25)
    g = dd.ssl_comp_gain(x, **p)
    assert isinstance(g, np.ndarray) and g.shape == (800,)
    gt = dd.ssl_comp_gain(torch.from_numpy(x), **p)
    assert gt.shape == (800,)
    np.testing.assert_array_equal(g, gt.numpy())
    gain, y = dd.ssl_compress(np.sin(np.arange(800) * 0.05), **p)
    assert isinstance(gain, np.ndarray) and isinstance(y, np.ndarray)


# ------------------------------------------------------------------------------------------------
# Presets

def test_presets():
    p = dd.ssl_preset(820, "auto", 4)
    assert p["T_attack_fast"] == pytest.approx(820 * 0.47e-6, rel=1e-12)
    assert p["T_attack_slow"] == pytest.approx(820 * 6.8e-6, rel=1e-12)
    assert p["T_shunt_fast"] == pytest.approx(0.04277, rel=1e-12)
    assert p["T_shunt_slow"] == pytest.approx(5.1, rel=1e-12)
    assert p["comp_ratio"] == 4 and p["fs"] == 44100
    f = dd.ssl_preset(270e3, 1.2e6, 10, fs=48000, comp_thresh=-10, feedback_coeff=1.0)
    assert f["T_shunt_fast"] == pytest.approx(1.2e6 * 0.47e-6)
    assert f["T_shunt_slow"] == pytest.approx(1 / 48000)
    assert f["T_attack_slow"] >= 1e3
    assert f["comp_thresh"] == -10 and f["feedback_coeff"] == 1.0
    assert set(dd.SSL_ATTACK_OHMS) == {820, 2700, 8200, 27e3, 82e3, 270e3}
    assert set(dd.SSL_RELEASE_OHMS) == {180e3, 270e3, 560e3, 1.2e6}
    assert set(dd.SSL_RATIOS) == {2, 4, 10}
    for kwargs, name in [(dict(attack_ohms=1000), "attack_ohms"), (dict(release=100e3), "^release: must be \"auto\" or one of"),
                         (dict(release="slow"), "release"), (dict(ratio=3), "ratio"), (dict(fs=0), "fs"),
                         (dict(feedback_coeff=1.5), "feedback_coeff")]:
        with pytest.raises(ValueError, match=name):
            dd.ssl_preset(**kwargs)


# ------------------------------------------------------------------------------------------------
# Errors

GOOD = dict(comp_thresh=-20.0, comp_ratio=4.0, T_attack_fast=1e-3, T_attack_slow=1e-2, T_shunt_fast=0.05,
            T_shunt_slow=5.0, feedback_coeff=0.5)


@pytest.mark.parametrize("name,value", [
    ("comp_ratio", 1.0), ("comp_ratio", 0.5), ("comp_ratio", float("nan")),
    ("T_attack_fast", 0.0), ("T_attack_slow", -1e-3), ("T_shunt_fast", float("nan")), ("T_shunt_slow", 0.0),
    ("feedback_coeff", -0.1), ("feedback_coeff", 1.01), ("feedback_coeff", float("inf")),
    ("comp_thresh", float("nan")),
])
def test_bad_parameters_raise_value_error_naming_the_argument(name, value):
    x = torch.full((2, 50), -10.0, dtype=torch.float64)
    with pytest.raises(ValueError, match=name):
        dd.ssl_comp_gain(x, **{**GOOD, name: value})
    with pytest.raises(ValueError, match=name):
        dd.ssl_compress(x, **{**GOOD, name: value})


def test_bad_inputs():
    x = torch.full((2, 50), -10.0, dtype=torch.float64)
    for fs in (0, -44100, float("nan")):
        with pytest.raises(ValueError, match="fs"):
            dd.ssl_comp_gain(x, **GOOD, fs=fs)
    with pytest.raises(TypeError, match="fs"):
        dd.ssl_comp_gain(x, **GOOD, fs="44100")
    bad = x.clone()
    bad[1, 7] = float("nan")
    with pytest.raises(ValueError, match="x_peak_dB"):
        dd.ssl_comp_gain(bad, **GOOD)
    with pytest.raises(ValueError, match="x"):
        dd.ssl_compress(bad, **GOOD)
    with pytest.raises(TypeError, match="x_peak_dB"):
        dd.ssl_comp_gain(x.to(torch.int32), **GOOD)
    with pytest.raises(ValueError, match="comp_thresh"):
        dd.ssl_comp_gain(x, **{**GOOD, "comp_thresh": torch.zeros(3)})
    with pytest.raises(ValueError, match="knee"):
        dd.ssl_comp_gain(x, **GOOD, knee=-1.0)
    with pytest.raises(ValueError, match="x_peak_dB"):
        dd.ssl_comp_gain(torch.zeros(2, 0, dtype=torch.float64), **GOOD)
