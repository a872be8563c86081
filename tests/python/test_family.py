"""The model family (docs/derivations/family.md): the peak-detector and feedback kernels against plain
per-sample transcriptions, the smooth branching design against the library's hard smoother, every
gradient of every member (both kernels and every feed-forward composition) against float64 central
differences on signals whose decisions switch many times, valid-by-construction parameters, errors."""
import math

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

import differential_dynamics as dd
from differential_dynamics import family as fam
from differential_dynamics.family import FamilyCompressor, Topology

from conftest import bursty_audio, switching_level

DESIGNS = fam.DESIGNS
TOL = dict(eps=1e-6, atol=1e-6, rtol=1e-4)


# ------------------------------------------------------------------------------------------------
# Plain transcriptions (the table of docs/derivations/family.md, one sample at a time)

def detector_step(design, a, r, rest, c, y1, y):
    if design in ("branching", "smooth_branching"):
        attack = c > y
        target = c if (attack or design == "smooth_branching") else rest
        y = y + (a if attack else r) * (target - y)
        return y, y, attack
    q = y1 + r * ((c if design == "smooth_decoupled" else rest) - y1)
    took = c > q
    y1 = c if took else q
    return y1, y + a * (y1 - y), took


def reference_detector(c, design, a, r, rest, zi):
    out = np.empty_like(c)
    for b in range(c.shape[0]):
        y1, y = zi
        for t in range(c.shape[1]):
            y1, y, _ = detector_step(design, a, r, rest, c[b, t], y1, y)
            out[b, t] = y
    return out


def curve_db(level, ct, cr, knee):
    d = level - ct
    s = 1 - 1 / cr
    if 2 * d <= -knee:
        return 0.0
    if 2 * d >= knee:
        return -s * d
    return -s * (d + knee / 2) ** 2 / (2 * knee)


def level_db(u, rms):
    floor = 1e-14 if rms else 1e-7
    return (10 if rms else 20) * math.log10(max(u, floor))


def reference_gain(x, topo, ct, cr, knee, a, r):
    """Any member (feed-forward or feedback) sample by sample."""
    rms = topo.detector == "rms"
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        o, y1, y = 0.0, topo.rest, topo.rest
        for t in range(x.shape[1]):
            src = o if topo.feedback else x[b, t]
            u = src * src if rms else abs(src)
            if topo.ballistics == "level":
                c = u if topo.domain == "linear" else level_db(u, rms)
                y1, y, _ = detector_step(topo.design, a, r, topo.rest, c, y1, y)
                lev = level_db(y, rms) if topo.domain == "linear" else y
                g = 10 ** (curve_db(lev, ct, cr, knee) / 20)
            else:
                gdb = curve_db(level_db(u, rms), ct, cr, knee)
                c = -gdb if topo.domain == "log" else 1 - 10 ** (gdb / 20)
                y1, y, _ = detector_step(topo.design, a, r, topo.rest, c, y1, y)
                g = 10 ** (-y / 20) if topo.domain == "log" else 1 - y
            out[b, t] = g
            o = x[b, t] * g
    return out


def count_detector_flips(c, design, a, r, rest, zi):
    flips = 0
    for b in range(c.shape[0]):
        y1, y = zi
        prev = None
        for t in range(c.shape[1]):
            y1, y, d = detector_step(design, a, r, rest, c[b, t], y1, y)
            flips += prev is not None and d != prev
            prev = d
    return flips


# ------------------------------------------------------------------------------------------------
# Peak detectors

@pytest.mark.parametrize("design", DESIGNS)
def test_peak_detector_matches_transcription(design):
    c = switching_level(2, 400, seed=1).numpy()
    y = fam.peak_detector(c, design, 0.3, 0.05, rest=0.0, zi=np.array([0.2, 0.1]))
    np.testing.assert_allclose(y, reference_detector(c, design, 0.3, 0.05, 0.0, (0.2, 0.1)), rtol=1e-13, atol=1e-15)
    assert count_detector_flips(c, design, 0.3, 0.05, 0.0, (0.2, 0.1)) > 40


def test_smooth_branching_is_the_library_hard_smoother():
    c = switching_level(3, 2000, seed=2)
    y = fam.peak_detector(c, "smooth_branching", 0.2, 0.01, zi=torch.tensor([0.5, 0.5]))
    # compressor_core attacks where its input falls: our release is its `at`
    ref = dd.compressor_core(c, 0.5, 0.01, 0.2)
    torch.testing.assert_close(y, ref, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("rest", [0.0, -140.0])
def test_peak_detector_gradients(design, rest):
    c = switching_level(2, 120, seed=3)
    if rest != 0.0:
        c = 20 * torch.log10(c)  # a level in dB, releasing toward −140 dB
    c.requires_grad_(True)
    a = torch.tensor([0.3, 0.2], dtype=torch.float64, requires_grad=True)
    r = torch.tensor([0.05, 0.1], dtype=torch.float64, requires_grad=True)
    zi = torch.tensor([[c[0, 0].item() * 0.5, c[0, 0].item() * 0.4], [rest + 1.0, rest + 2.0]], dtype=torch.float64,
                      requires_grad=True)
    fn = lambda c_, a_, r_, z_: fam.peak_detector(c_, design, a_, r_, rest=rest, zi=z_, return_state=True)  # noqa
    assert gradcheck(fn, (c, a, r, zi), **TOL)


@pytest.mark.parametrize("design", DESIGNS)
def test_peak_detector_gradient_is_not_zero_where_it_should_not_be(design):
    c = switching_level(1, 300, seed=4)
    a = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    r = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    fam.peak_detector(c, design, a, r).sum().backward()
    assert abs(a.grad.item()) > 1e-3 and abs(r.grad.item()) > 1e-3


def test_peak_detector_float32_follows_float64():
    c = switching_level(2, 3000, seed=5)
    for design in DESIGNS:
        y64 = fam.peak_detector(c, design, 0.1, 0.01)
        y32 = fam.peak_detector(c.float(), design, 0.1, 0.01)
        torch.testing.assert_close(y32.double(), y64, rtol=1e-6, atol=1e-7)


def test_peak_detector_state_continues_a_signal():
    c = switching_level(2, 1000, seed=6)
    for design in DESIGNS:
        whole = fam.peak_detector(c, design, 0.2, 0.02)
        first, state = fam.peak_detector(c[:, :400], design, 0.2, 0.02, return_state=True)
        second = fam.peak_detector(c[:, 400:], design, 0.2, 0.02, zi=state)
        torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------
# Every member: forward against the transcription, gradients against central differences

ALL = list(fam.all_topologies())


def test_family_has_every_axis():
    assert len(ALL) == 64
    assert len({t.name for t in ALL}) == 64
    for t in ALL:
        assert Topology.parse(t.name) == t


PARAMS = dict(ct=-18.0, cr=5.0, knee=4.0, a=0.3, r=0.04)


@pytest.mark.parametrize("topo", ALL, ids=lambda t: t.name)
def test_member_matches_transcription(topo):
    x = bursty_audio(2, 300, seed=7).numpy() * 0.5
    p = PARAMS
    g = fam.family_gain(x, topo, p["ct"], p["cr"], p["knee"], p["a"], p["r"])
    ref = reference_gain(x, topo, p["ct"], p["cr"], p["knee"], p["a"], p["r"])
    np.testing.assert_allclose(g, ref, rtol=1e-11, atol=1e-13)
    assert np.ptp(ref) > 0.1  # it compresses, and not uniformly


@pytest.mark.parametrize("topo", ALL, ids=lambda t: t.name)
def test_member_gradients(topo):
    x = (bursty_audio(2, 70, seed=8) * 0.5).requires_grad_(True)
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in ([-18.0, -22.0], [5.0, 3.0],
                                                                                 [4.0, 2.5], [0.3, 0.2],
                                                                                 [0.04, 0.08])]
    assert gradcheck(lambda x_, *p: fam.family_gain(x_, topo, *p), (x, *params), **TOL)


@pytest.mark.parametrize("topo", [t for t in ALL if t.feedback], ids=lambda t: t.name)
def test_feedback_kernel_state_gradients(topo):
    x = bursty_audio(2, 60, seed=9) * 0.5
    rest = topo.rest
    zi = torch.tensor([[0.3, rest + 0.5, rest + 0.2], [-0.2, rest + 0.1, rest + 0.3]], dtype=torch.float64,
                      requires_grad=True)
    ps = [torch.tensor([v, v], dtype=torch.float64) for v in (-18.0, 5.0, 4.0, 0.3, 0.04)]
    fn = lambda z: fam.FeedbackGain.apply(x, *ps, z, topo)  # noqa: E731
    assert gradcheck(fn, (zi,), **TOL)


# ------------------------------------------------------------------------------------------------
# FamilyCompressor

def test_every_iterate_is_valid():
    x = bursty_audio(1, 500, seed=10) * 0.5
    gen = torch.Generator().manual_seed(0)
    for topo in (Topology.parse("ff-peak-gain-log-smooth_decoupled"), Topology.parse("fb-rms-level-linear-branching")):
        m = FamilyCompressor(topo, 44100)
        for _ in range(20):
            with torch.no_grad():
                for p in m.parameters():
                    p.copy_(torch.randn((), generator=gen, dtype=torch.float64) * 60)
            y = m(x)
            s = m.settings()
            assert torch.isfinite(y).all()
            assert s["ratio"] > 1 and s["knee_db"] >= 0 and 0.01 * (1 - 1e-12) <= s["attack_ms"] <= 5000 * (1 + 1e-12)


def test_compressor_settings_round_trip_and_gradients():
    m = FamilyCompressor(Topology.parse("ff-rms-level-linear-smooth_branching"), 44100, threshold_db=-8, ratio=3.5,
                         knee_db=6, attack_ms=7, release_ms=120, makeup_db=1.5)
    s = m.settings()
    for k, v in dict(threshold_db=-8, ratio=3.5, knee_db=6, attack_ms=7, release_ms=120, makeup_db=1.5).items():
        assert s[k] == pytest.approx(v, rel=1e-9)
    x = bursty_audio(1, 2000, seed=11) * 0.5  # smoothed level about −7 dB: inside the knee
    m(x).pow(2).sum().backward()
    for p in m.parameters():
        assert p.grad is not None and torch.isfinite(p.grad) and p.grad.abs() > 0


# ------------------------------------------------------------------------------------------------
# Errors

def test_errors_name_the_argument():
    x = bursty_audio(1, 50, seed=12)
    with pytest.raises(ValueError, match="^design"):
        fam.peak_detector(x.abs(), "fast", 0.1, 0.1)
    with pytest.raises(ValueError, match="^attack"):
        fam.peak_detector(x.abs(), "decoupled", 1.5, 0.1)
    with pytest.raises(ValueError, match="^detector"):
        Topology("loud")
    with pytest.raises(ValueError, match="^name"):
        Topology.parse("ff-peak-level")
    with pytest.raises(ValueError, match="^comp_ratio"):
        fam.family_gain(x, Topology(), -20, 1.0, 1.0, 0.1, 0.1)
    with pytest.raises(ValueError, match="^ratio"):
        FamilyCompressor(Topology(), ratio=0.5)
    with pytest.raises(TypeError, match="^topology"):
        fam.family_gain(x, "ff-peak-level-linear-decoupled", -20, 4, 1, 0.1, 0.1)


@pytest.mark.parametrize("name", ["ff-peak-gain-log-decoupled", "fb-peak-level-linear-smooth_branching"])
def test_second_order_raises(name):
    x = (bursty_audio(1, 50, seed=13) * 0.5).requires_grad_(True)
    ct = torch.tensor(-20.0, dtype=torch.float64, requires_grad=True)
    g = fam.family_gain(x, Topology.parse(name), ct, 4.0, 1.0, 0.2, 0.05).sum()
    with pytest.raises(RuntimeError, match="second derivatives"):
        torch.autograd.grad(g, x, create_graph=True)


# ------------------------------------------------------------------------------------------------
# The fitting tool learns a family member

def test_fit_tool_recovers_a_family_member():
    import warnings

    from differential_dynamics.fit import fit
    from differential_dynamics.fit.family_model import Family
    from differential_dynamics.fit.models import teacher
    from differential_dynamics.signals import level_steps

    x = level_steps(2, 22050, seed=3, lo_db=-40, hi_db=-3)
    model = Family("ff-peak-gain-log-smooth_decoupled")
    theta = {"threshold_db": -20.0, "ratio": 4.0, "knee_db": 2.0, "attack_ms": 3.0, "release_ms": 120.0}
    gain_db, _ = teacher(model, x, theta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fallback from Levenberg–Marquardt to L-BFGS is announced
        r = fit(model, x, gain_db, starts=2, screen_steps=20, steps=40, refine_steps=30, progress=False)
    assert r.method.endswith("lbfgs")
    assert r.train_rmse_db < 0.01
    assert abs(r.values["threshold_db"] - theta["threshold_db"]) < 0.05
    for name in ("ratio", "attack_ms", "release_ms"):
        assert r.values[name] == pytest.approx(theta[name], rel=0.02), name
