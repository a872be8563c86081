"""Audio processors as nn.Modules (differential_dynamics.modules): shapes, an independent reference of
the whole chain, link, side chain, lookahead, makeup, mix, knobs in user units, gradients of every knob
against float64 finite differences on signals that switch attack/release many times, no tape and
bounded memory without gradients, errors."""
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

import differential_dynamics as dd
import differential_dynamics.modules as M
from differential_dynamics.modules import Compressor, Limiter, SSLCompressor

TOL = dict(eps=1e-6, atol=1e-8, rtol=1e-5)
FS = 1000.0  # a low rate: short signals still span many attack and release phases


def stereo(batch: int, length: int, seed: int, channels: int = 2) -> torch.Tensor:
    """Noise under loud/quiet bursts whose period differs per channel and batch item (the channels'
    levels cross, so a max link switches channel), no sample near zero."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    out = np.empty((batch, channels, length))
    for b in range(batch):
        for c in range(channels):
            period = 9 + 4 * c + 3 * b
            env = np.where((t // period) % 2 == 0, 0.9, 0.03) * (1 + 0.3 * np.sin(0.07 * t + c))
            v = env * rng.normal(0, 1, length)
            out[b, c] = np.where(np.abs(v) < 1e-3, 1e-3, v)
    return torch.tensor(out)


def direction_changes(gain: torch.Tensor) -> int:
    """Fewest sign changes of the gain's slope over the rows: each one is an attack/release switch."""
    d = torch.sign(torch.diff(gain.reshape(-1, gain.shape[-1]), dim=-1))
    d = d.masked_fill(d == 0, 1)
    return int((d[:, 1:] != d[:, :-1]).sum(dim=-1).min())


def functional_call(module, params, args, kwargs=None):
    try:
        from torch.func import functional_call as call
    except ImportError:  # torch 1.13
        from torch.nn.utils.stateless import functional_call as call
    return call(module, params, args, kwargs or {})


def gradcheck_module(module, x, sidechain=None, min_changes=8):
    """gradcheck of the output with respect to every raw parameter (and x when it requires grad)."""
    names = [n for n, p in module.named_parameters() if p.requires_grad]
    raws = tuple(getattr(module, n).detach().clone().requires_grad_() for n in names)

    def fn(x_, *raw):
        return functional_call(module, dict(zip(names, raw)), (x_,), {"sidechain": sidechain})

    with torch.no_grad():
        _, gain = module(x.detach(), sidechain, return_gain=True)
    assert direction_changes(gain) >= min_changes
    assert gradcheck(fn, (x,) + raws, **TOL)
    # Every raw parameter's gradient is clearly nonzero (gradcheck alone would accept a zero where the
    # true derivative is below atol).
    out = fn(x, *raws)
    grads = torch.autograd.grad(out.pow(2).sum(), raws)
    for n, g in zip(names, grads):
        assert g.abs().item() > 1e-4, n
    return names


# ------------------------------------------------------------------------------------------------
# Reference: the whole classical chain transcribed from docs/reference/modules.md (no library code)

def ref_knee(d, slope, knee):
    """Quadratic soft knee (Giannoulis, Massberg & Reiss 2012) on the distance d past the threshold."""
    if knee > 0 and abs(2 * d) <= knee:
        return -slope * (d + knee / 2) ** 2 / (2 * knee)
    return min(0.0, -slope * d)


def ref_compressor(x, threshold, ratio, attack_ms, release_ms, knee, makeup_db, mix, link, lookahead, fs,
                   detector_ms=20.0, detector="rms", exp_threshold=-1000.0, exp_ratio=1.0):
    coef = lambda ms: 1 - math.exp(-2200 / (ms * fs))  # noqa: E731
    at, rt, dc = coef(attack_ms), coef(release_ms), coef(detector_ms)
    B, C, T = x.shape
    y = np.zeros_like(x)
    gains = np.zeros_like(x)
    for b in range(B):
        level = np.abs(x[b]).copy()
        if detector == "rms":
            state = np.zeros(C)
            for t in range(T):
                state = dc * np.abs(x[b, :, t]) + (1 - dc) * state
                level[:, t] = state
        level = np.maximum(level, 1e-7)
        if link == "max":
            level = np.repeat(level.max(axis=0, keepdims=True), C, axis=0)
        elif link == "mean":
            level = np.repeat(level.mean(axis=0, keepdims=True), C, axis=0)
        for c in range(C):
            g_prev = 1.0
            for t in range(T):
                L = 20 * math.log10(level[c, t])
                g_db = min(ref_knee(L - threshold, 1 - 1 / ratio, knee),
                           ref_knee(exp_threshold - L, 1 / exp_ratio - 1, knee))
                f = 10 ** (g_db / 20)
                beta = at if f < g_prev else rt
                g_prev = (1 - beta) * g_prev + beta * f
                gains[b, c, t] = g_prev
                xd = x[b, c, t - lookahead] if t >= lookahead else 0.0
                y[b, c, t] = mix * (xd * g_prev * 10 ** (makeup_db / 20)) + (1 - mix) * xd
    return y, gains


@pytest.mark.parametrize("link", ["none", "max", "mean"])
@pytest.mark.parametrize("detector", ["rms", "peak"])
def test_compressor_matches_an_independent_reference(link, detector):
    x = stereo(2, 400, 1)
    comp = Compressor(-20.0, 3.0, 5.0, 40.0, knee_db=6.0, makeup_db=2.5, mix=0.8, link=link, lookahead_ms=7.0,
                      detector=detector, detector_ms=3.0, sample_rate=FS)
    y, g = comp(x, return_gain=True)
    y_ref, g_ref = ref_compressor(x.numpy(), -20.0, 3.0, 5.0, 40.0, 6.0, 2.5, 0.8, link, 7, FS, detector_ms=3.0,
                                  detector=detector)
    assert comp.latency == 7
    np.testing.assert_allclose(g.detach().numpy(), g_ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(y.detach().numpy(), y_ref, rtol=1e-12, atol=1e-15)
    assert direction_changes(g) >= 20


def test_expander_knobs_match_the_reference_curve():
    x = stereo(1, 300, 2) * 0.05
    comp = Compressor(-30.0, 4.0, 5.0, 40.0, exp_threshold_db=-35.0, exp_ratio=0.5, link="none", sample_rate=FS,
                      detector_ms=3.0)
    g = comp(x, return_gain=True)[1]
    _, g_ref = ref_compressor(x.numpy(), -30.0, 4.0, 5.0, 40.0, 0.0, 0.0, 1.0, "none", 0, FS, detector_ms=3.0,
                              exp_threshold=-35.0, exp_ratio=0.5)
    np.testing.assert_allclose(g.detach().numpy(), g_ref, rtol=1e-12)
    assert g.min() < 0.2  # the expander acts (the compressor alone would stay above 10^(−0.75·10/20))


def test_compressor_equals_the_library_functions_it_composes():
    x = stereo(1, 3000, 3, channels=1).reshape(1, 3000)
    comp = Compressor(-18.0, 4.0, 10.0, 100.0, knee_db=4.0, link="none", gate="sigmoid", k=0.8)
    y, g = comp(x, return_gain=True)
    level = dd.avg(x.abs(), dd.ms2coef(20.0, 44100)).clamp_min(1e-7)
    g_lib = dd.compexp_gain_mode(level, -18.0, 4.0, -1000.0, 1.0, dd.ms2coef(10.0, 44100), dd.ms2coef(100.0, 44100),
                                 "sigmoid", 0.8, knee=4.0)
    assert torch.equal(g, g_lib)
    assert torch.equal(y, x * g_lib)


def test_limiter_and_ssl_equal_the_library_functions_they_compose():
    x = stereo(2, 2000, 4)
    lim = Limiter(-6.0, 0.5, 30.0, link="none")
    y, g = lim(x, return_gain=True)
    g_lib = dd.limiter_gain(x.reshape(4, -1), -6.0, dd.ms2coef(0.5, 44100), dd.ms2coef(30.0, 44100)).reshape(x.shape)
    assert torch.equal(g, g_lib) and torch.equal(y, x * g_lib)
    ssl = SSLCompressor(-25.0, 4.0, attack_ms=3.0, release_ms="auto", link="none")
    y, g = ssl(x, return_gain=True)
    g_db, y_lib = dd.ssl_compress(x.reshape(4, -1), **dd.ssl_preset(27e3, "auto", 4, comp_thresh=-25.0))
    torch.testing.assert_close(g, (10 ** (g_db / 20)).reshape(x.shape), rtol=1e-14, atol=0)
    torch.testing.assert_close(y, y_lib.reshape(x.shape), rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_without_gradients_equal_the_cpp_audio_processors(dtype):
    from differential_dynamics import audio, probes
    x = torch.stack([probes.probe_audio("transient_churn", 1, seconds=1.5),
                     0.5 * probes.probe_audio("db_dither", 2, seconds=1.5)]).to(dtype)
    key = probes.probe_audio("random_steps", 3, seconds=1.5).to(dtype).reshape(1, -1)
    cases = [
        ("classical", dict(threshold_db=-30, ratio=4, attack_ms=5, release_ms=80, knee_db=6, makeup_db="auto", mix=0.7,
                           lookahead_ms=2), Compressor(-30, 4, 5, 80, knee_db=6, makeup_db="auto", mix=0.7,
                                                       lookahead_ms=2), None),
        ("classical", dict(threshold_db=-30, ratio=4, attack_ms=5, release_ms=80, gate="sigmoid", k=2.0,
                           detector="peak", link="mean"),
         Compressor(-30, 4, 5, 80, gate="sigmoid", k=2.0, detector="peak", link="mean"), None),
        ("classical", dict(threshold_db=-30, ratio=4, attack_ms=5, release_ms=80, link="none", exp_threshold_db=-50,
                           exp_ratio=0.5, detector_ms=7), Compressor(-30, 4, 5, 80, link="none", exp_threshold_db=-50,
                                                                     exp_ratio=0.5, detector_ms=7), key),
        ("limiter", dict(threshold_db=-6, attack_ms=0.5, release_ms=40, makeup_db="auto", lookahead_ms=1),
         Limiter(-6, 0.5, 40, makeup_db="auto", lookahead_ms=1), None),
        ("ssl", dict(threshold_db=-25, ratio=4, attack_ms=3, release_ms="auto", feedback=0.3, makeup_db=2, mix=0.5),
         SSLCompressor(-25, 4, 3, "auto", feedback=0.3, makeup_db=2, mix=0.5), None),
        ("ssl", dict(threshold_db=-25, ratio=10, attack_ms=4.5, release_ms=450, knee_db=4, link="none"),
         SSLCompressor(-25, 10, 4.5, 450, knee_db=4, link="none"), key),
    ]
    for model, settings, module, sidechain in cases:
        y_cpp, g_cpp = audio.process(x, model, fs=44100, sidechain=sidechain, return_gain=True, **settings)
        with torch.no_grad():
            y, g = module(x, sidechain, return_gain=True)
        y_cpp, g_cpp = torch.as_tensor(y_cpp), torch.as_tensor(g_cpp)
        if model == "ssl":
            # torch's log10 and exp may differ from the C library's in the last bit.
            tol = 1e-12 if dtype == torch.float64 else 1e-6
            torch.testing.assert_close(y, y_cpp, rtol=tol, atol=tol * 1e-3)
            torch.testing.assert_close(g, g_cpp, rtol=tol, atol=0)
        else:
            assert torch.equal(y, y_cpp) and torch.equal(g, g_cpp), (model, settings)


# ------------------------------------------------------------------------------------------------
# Link, side chain, lookahead, makeup, mix

@pytest.mark.parametrize("module", [Compressor(-30.0, 4.0), Limiter(-12.0), SSLCompressor(-30.0)])
def test_linked_channels_get_one_gain_and_unlinked_channels_their_own(module):
    x = stereo(1, 20000, 5)
    x[:, 1] = 0.1 * x[:, 0]  # the right channel: the left one 20 dB quieter
    module.link = "max"
    _, g = module(x, return_gain=True)
    assert torch.equal(g[:, 0], g[:, 1])
    module.link = "none"
    _, g_none = module(x, return_gain=True)
    assert (g_none[:, 0] - g_none[:, 1]).abs().max() > 0.05
    # max link: the loud channel's own gain.
    assert torch.equal(g[:, 0], g_none[:, 0])
    module.link = "mean"
    _, g_mean = module(x, return_gain=True)
    assert torch.equal(g_mean[:, 0], g_mean[:, 1]) and (g_mean[:, 0] >= g[:, 0] - 1e-12).all()
    assert (g_mean[:, 0] - g[:, 0]).max() > 0.01


def test_partial_link_interpolates_between_none_and_full():
    x = stereo(1, 3000, 6)
    x[:, 1] *= 0.2
    full = Compressor(-30.0, 4.0, link="max")(x, return_gain=True)[1]
    none = Compressor(-30.0, 4.0, link="none")(x, return_gain=True)[1]
    assert torch.equal(Compressor(-30.0, 4.0, link="max", link_amount=1.0)(x, return_gain=True)[1], full)
    assert torch.equal(Compressor(-30.0, 4.0, link="max", link_amount=0.0)(x, return_gain=True)[1], none)
    half = Compressor(-30.0, 4.0, link="max", link_amount=0.5)(x, return_gain=True)[1]
    assert (half[:, 1] < none[:, 1] - 1e-3).any() and (half[:, 1] > full[:, 1] + 1e-3).any()


def test_sidechain_drives_the_gain():
    x = stereo(2, 4000, 7)
    key = torch.zeros(2, 1, 4000, dtype=torch.float64)
    key[..., 2000:] = 0.9  # loud from the middle on
    for module in (Compressor(-20.0, 4.0), Limiter(-6.0), SSLCompressor(-20.0)):
        y, g = module(x, key, return_gain=True)
        assert torch.equal(y[..., :2000], x[..., :2000])  # silent key: unity gain
        assert g[..., -1].max() < 0.8
        assert torch.equal(g[:, 0], g[:, 1])
        # one key per channel
        y2, g2 = module(x, key.expand(2, 2, 4000), return_gain=True)
        assert torch.equal(g2, g)


def test_lookahead_delays_the_audio_against_the_gain():
    x = stereo(1, 5000, 8)
    base = Compressor(-20.0, 4.0, 2.0, 50.0)
    ahead = Compressor(-20.0, 4.0, 2.0, 50.0, lookahead_ms=1.0)
    assert ahead.latency == 44 and base.latency == 0  # round(44.1)
    y0, g0 = base(x, return_gain=True)
    y1, g1 = ahead(x, return_gain=True)
    assert torch.equal(g0, g1)
    assert torch.equal(y1[..., :44], torch.zeros_like(y1[..., :44]))
    assert torch.equal(y1[..., 44:], x[..., :-44] * g1[..., 44:])
    assert Compressor(lookahead_ms=0.5 * 1000 / 44100 + 1e-9).latency == 1  # half a sample rounds up
    names = [n for n, _ in ahead.named_parameters()]
    assert not any("lookahead" in n for n in names)  # an integer delay: no parameter, no gradient
    with pytest.raises(TypeError, match="lookahead_ms: .*integer delay"):
        M.compressor_audio(x, lookahead_ms=torch.tensor(1.0, requires_grad=True))


def test_makeup_fixed_and_automatic():
    x = stereo(1, 2000, 9)
    comp = Compressor(-24.0, 4.0, makeup_db="auto")
    assert comp.auto_makeup and comp.makeup_db == pytest.approx(9.0, abs=1e-12)  # −(0.75·(−24))/2
    assert "raw_makeup_db" not in dict(comp.named_parameters())
    y_auto, g = comp(x, return_gain=True)
    torch.testing.assert_close(y_auto, x * g * 10 ** (9 / 20), rtol=1e-14, atol=0)
    comp.knee_db = 60.0  # the knee reaches 0 dBFS: g(0) = −s·(d + W/2)²/(2W), d = 24
    assert comp.makeup_db == pytest.approx(0.5 * 0.75 * (24 + 30) ** 2 / 120, abs=1e-12)
    comp.makeup_db = 3.0
    assert not comp.auto_makeup and comp.makeup_db == 3.0 and "raw_makeup_db" in dict(comp.named_parameters())
    assert Limiter(-6.0, makeup_db="auto").makeup_db == pytest.approx(3.0)
    ssl = SSLCompressor(-20.0, 4.0, feedback=1.0, makeup_db="auto")
    assert ssl.makeup_db == pytest.approx(0.5 * 0.75 * 20 / 1.75)
    assert SSLCompressor(5.0, makeup_db="auto").makeup_db == 0.0  # threshold above full scale: no reduction


def test_the_input_and_the_sidechain_are_left_unchanged():
    for dtype in (torch.float64, torch.float32):
        x, key = stereo(1, 3000, 15).to(dtype), stereo(1, 3000, 16).to(dtype)
        x0, key0 = x.clone(), key.clone()
        for module in (Compressor(-30.0, mix=0.5, makeup_db=3.0), Limiter(-6.0, mix=0.3, lookahead_ms=1.0),
                       SSLCompressor(-20.0, makeup_db="auto", mix=0.8)):
            module(x, key)
            with torch.no_grad():
                module(x, key)
            assert torch.equal(x, x0) and torch.equal(key, key0)


def test_mix_blends_dry_and_wet():
    x = stereo(1, 2000, 10)
    _, g = Compressor(-30.0, 4.0)(x, return_gain=True)
    y0 = Compressor(-30.0, 4.0, mix=0.0, makeup_db=6.0)(x)
    assert torch.equal(y0, x)
    y = Compressor(-30.0, 4.0, mix=0.25, makeup_db=6.0)(x)
    torch.testing.assert_close(y, 0.25 * x * g * 10 ** (6 / 20) + 0.75 * x, rtol=1e-14, atol=1e-16)


# ------------------------------------------------------------------------------------------------
# Shapes and the (time, channels) trap

def test_shapes_follow_the_input():
    x = stereo(2, 500, 11)
    comp = Compressor(-20.0)
    assert comp(x).shape == (2, 2, 500)
    assert comp(x[0]).shape == (2, 500)
    assert comp(x[0, 0]).shape == (500,)
    assert torch.equal(comp(x[0]), comp(x[:1])[0])
    y_np = comp(x[0].numpy())
    assert isinstance(y_np, np.ndarray) and np.array_equal(y_np, comp(x[0]).detach().numpy())
    y32 = comp(x.float())
    assert y32.dtype == torch.float32 and (y32.double() - comp(x)).abs().max() < 1e-6


def test_time_channels_audio_is_refused_with_the_fix():
    audio = stereo(1, 44100, 12)[0].numpy().T  # soundfile.read's (time, channels)
    with pytest.raises(ValueError, match=r"x: shape \(44100, 2\) looks like \(time, channels\).*x\.T"):
        Compressor()(audio)
    with pytest.raises(ValueError, match=r"transpose"):
        Compressor()(torch.from_numpy(audio).unsqueeze(0))
    assert Compressor()(audio.T).shape == (2, 44100)  # the fix the message names


def test_no_tape_without_gradients_and_blocks_equal_one_call(monkeypatch):
    monkeypatch.setattr(M, "BLOCK_SAMPLES", 700)  # several blocks, the lookahead crossing their edges
    x = stereo(2, 5000, 13)
    for module in (Compressor(-25.0, 4.0, gate="sigmoid", k=1.5, lookahead_ms=30.0, makeup_db="auto", mix=0.7),
                   Compressor(-25.0, 4.0, link="none"), Limiter(-10.0, lookahead_ms=20.0),
                   SSLCompressor(-25.0, release_ms=300.0, link="mean", link_amount=0.3, makeup_db=1.0)):
        y, g = module(x, return_gain=True)
        assert y.requires_grad  # the knobs are parameters
        with torch.no_grad():
            y_ng, g_ng = module(x, return_gain=True)
        with torch.inference_mode():
            y_inf = module(x)
        module.requires_grad_(False)
        y_frozen = module(x)
        module.requires_grad_(True)
        assert y_ng.grad_fn is None and y_frozen.grad_fn is None and not y_inf.requires_grad
        assert torch.equal(y_ng, y) and torch.equal(g_ng, g) and torch.equal(y_inf, y) and torch.equal(y_frozen, y)


MEMORY_SCRIPT = textwrap.dedent("""
    import sys, torch
    import differential_dynamics.modules as M
    def status(field):  # kB; /proc/self/status's exact counters (statm's may lag by tens of MB)
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))
    name, mode = sys.argv[1], sys.argv[2]
    module = {"compressor": M.Compressor(makeup_db="auto", knee_db=6, lookahead_ms=5, mix=0.9),
              "limiter": M.Limiter(lookahead_ms=2, link="mean"),
              "ssl": M.SSLCompressor(release_ms=300.0, makeup_db=2.0)}[name]
    x = torch.empty(1, 2, 44100 * 120, dtype=torch.float32).uniform_(-0.5, 0.5)  # 2 minutes of stereo
    module(x[..., :5000].clone())  # imports and first-call allocations outside the measurement
    if mode == "frozen":
        module.requires_grad_(False)
    before = status("VmRSS")
    if mode == "no_grad":
        with torch.no_grad():
            y = module(x)
    else:
        y = module(x)
    peak = status("VmHWM")
    print((peak - before) / (x.numel() * x.element_size()))
""")


def memory_growth(name: str, mode: str) -> float:
    # Large allocations straight from mmap and back (no dynamic threshold): the RSS then follows the
    # memory in use, not what the C library keeps cached from earlier calls.
    env = dict(os.environ, OMP_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_="65536", MALLOC_ARENA_MAX="2")
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, name, mode], capture_output=True, text=True,
                         env=env, cwd=os.path.dirname(__file__), check=True)
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc (Linux) to read the RSS")
def test_memory_without_gradients_stays_under_twice_the_audio():
    # The measurement sees a tape: with gradients the same call keeps several copies of the signal.
    assert memory_growth("compressor", "grad") > 3.0
    assert memory_growth("compressor", "no_grad") < 2.0
    assert memory_growth("limiter", "frozen") < 2.0
    assert memory_growth("ssl", "no_grad") < 2.0


# ------------------------------------------------------------------------------------------------
# Knobs in user units

def test_knobs_read_and_write_in_user_units_and_round_trip():
    comp = Compressor(-18.5, 3.0, 7.0, 150.0, knee_db=0.0, mix=1.0, makeup_db=1.5, gate="sigmoid", k=0.5,
                      exp_threshold_db=-50.0, exp_ratio=1.0)
    values = dict(threshold_db=-18.5, ratio=3.0, attack_ms=7.0, release_ms=150.0, knee_db=0.0, mix=1.0,
                  makeup_db=1.5, k=0.5, exp_threshold_db=-50.0, exp_ratio=1.0, detector_ms=20.0)
    for name, v in values.items():
        assert getattr(comp, name) == pytest.approx(v, rel=1e-14, abs=1e-14), name
    for name, v in dict(ratio=1.0001, mix=0.0, knee_db=12.0, attack_ms=0.05, exp_ratio=0.25, threshold_db=3.0,
                        k=40.0).items():
        setattr(comp, name, v)
        assert getattr(comp, name) == pytest.approx(v, rel=1e-12), name
    comp.ratio = 1000.0
    assert comp.ratio == pytest.approx(1000.0, rel=1e-14)
    knobs = comp.knobs()
    assert set(knobs) == set(values) and all(isinstance(v, torch.Tensor) for v in knobs.values())
    state = comp.state_dict()
    other = Compressor(gate="sigmoid", exp_threshold_db=-60.0, exp_ratio=0.5, makeup_db=0.0)
    other.load_state_dict(state)
    assert other.ratio == pytest.approx(1000.0) and other.mix == 0.0


def test_switching_makeup_and_release_modes_adds_and_removes_their_parameters():
    ssl = SSLCompressor(-20.0, attack_ms=3.0)
    assert ssl.release_ms == "auto" and "raw_release_ms" not in dict(ssl.named_parameters())
    assert "release_ms='auto'" in repr(ssl)
    x = stereo(1, 3000, 17)
    y_auto = ssl(x)
    ssl.release_ms = 600.0
    assert ssl.release_ms == 600.0 and "raw_release_ms" in dict(ssl.named_parameters())
    assert float(ssl.time_constants()["T_shunt_fast"]) == dd.ssl_preset(27e3, 560e3, 4)["T_shunt_fast"]
    assert not torch.equal(ssl(x), y_auto)
    ssl.release_ms = "auto"
    assert torch.equal(ssl(x), y_auto)
    comp = Compressor(makeup_db="auto")
    comp.makeup_db = 2.0
    comp.makeup_db = "auto"
    assert comp.auto_makeup and "raw_makeup_db" not in dict(comp.named_parameters())


@pytest.mark.parametrize("seed", range(3))
def test_every_raw_value_gives_valid_knobs(seed):
    gen = torch.Generator().manual_seed(seed)
    x = stereo(1, 500, 14)
    for module in (Compressor(gate="sigmoid", exp_threshold_db=-50.0, exp_ratio=0.5, link_amount=0.5),
                   Limiter(link_amount=0.2), SSLCompressor(release_ms=300.0, link_amount=0.9),
                   SSLCompressor(time_constants=dict(T_attack_fast=1e-3, T_attack_slow=1e-2, T_shunt_fast=0.05,
                                                     T_shunt_slow=2.0))):
        with torch.no_grad():
            for p in module.parameters():
                # Raw values far from the defaults (times from 7e-3 to 150 of their unit).
                p.copy_(torch.rand((), generator=gen, dtype=p.dtype) * 10 - 5)
        k = {n: float(v) for n, v in module.knobs().items()}
        for n in ("mix", "link_amount", "feedback"):
            if n in k:
                assert 0.0 <= k[n] <= 1.0
        assert k.get("ratio", 2.0) > 1 and k.get("knee_db", 0.0) >= 0 and 0 < k.get("exp_ratio", 1.0) <= 1
        if isinstance(module, Limiter):
            assert k["threshold_db"] <= 0
        y = module(x)
        assert torch.isfinite(y).all()


def test_bad_knob_values_name_the_knob():
    comp = Compressor()
    for name, value, kind in [("ratio", 1.0, ValueError), ("attack_ms", -1.0, ValueError), ("mix", 1.5, ValueError),
                              ("knee_db", -3.0, ValueError), ("threshold_db", float("nan"), ValueError),
                              ("release_ms", "fast", TypeError)]:
        with pytest.raises(kind, match=f"^{name}: "):
            setattr(comp, name, value)
    with pytest.raises(ValueError, match=r"^threshold_db: must be in \[-1e4, 0\]"):
        Limiter(3.0)
    with pytest.raises(ValueError, match="^feedback: must be in"):
        SSLCompressor(feedback=1.2)
    with pytest.raises(TypeError, match="^ratio: a module knob is set from a value"):
        comp.ratio = torch.tensor(3.0, requires_grad=True)
    with pytest.raises(ValueError, match="^attack_ms: too short for the sample rate"):
        Compressor(attack_ms=1e-9)(stereo(1, 100, 1))
    with pytest.raises(ValueError, match="^link: "):
        Compressor(link="stereo")
    with pytest.raises(ValueError, match="^detector: "):
        Compressor(detector="true-rms")
    with pytest.raises(ValueError, match="^k: "):
        Compressor(k=2.0)  # k without the sigmoid gate
    with pytest.raises(ValueError, match="^makeup_db: "):
        Compressor(makeup_db="automatic")
    with pytest.raises(ValueError, match="^link_amount: "):
        M.compressor_audio(stereo(1, 100, 1), link="none", link_amount=0.5)
    with pytest.raises(ValueError, match="^sidechain: must have x's length"):
        comp(stereo(1, 100, 1), stereo(1, 99, 1))
    with pytest.raises(ValueError, match="^sidechain: must have 1 or x's 2 channels"):
        comp(stereo(1, 100, 1), stereo(1, 100, 1, channels=3))
    bad = stereo(1, 100, 1)
    bad[0, 1, 50] = float("nan")
    with pytest.raises(ValueError, match="^x: contains NaN"):
        comp(bad)
    with pytest.raises(ValueError, match="^x: signal is empty"):
        comp(torch.zeros(2, 0))
    with pytest.raises(TypeError, match="^x: dtype"):
        comp(torch.zeros(2, 10, dtype=torch.int32))
    with pytest.raises(ValueError, match="^threshold_db: must be a number or have shape \\(2,\\)"):
        M.compressor_audio(stereo(2, 100, 1), threshold_db=torch.zeros(3))
    with pytest.raises(AttributeError, match="^release_ms: this SSLCompressor is set by its time constants"):
        SSLCompressor(time_constants=dict(T_attack_fast=1e-3, T_attack_slow=1e-2, T_shunt_fast=0.05,
                                          T_shunt_slow=2.0)).release_ms = 300.0


# ------------------------------------------------------------------------------------------------
# SSL front panel

def test_ssl_front_panel_positions_are_the_hardware_presets_bit_for_bit():
    for ms, ohms in zip(dd.SSL_ATTACK_MS, dd.SSL_ATTACK_OHMS):
        for release_ms, release in [("auto", "auto")] + [(1000 * s, r) for s, r in zip(dd.SSL_RELEASE_S,
                                                                                        dd.SSL_RELEASE_OHMS)]:
            ssl = SSLCompressor(attack_ms=ms, release_ms=release_ms, sample_rate=48000)
            preset = dd.ssl_preset(ohms, release, 4, fs=48000)
            tc = ssl.time_constants()
            for n in M._TIME_CONSTANTS:
                assert float(tc[n]) == preset[n], (ms, release_ms, n)
    with pytest.raises(ValueError, match="^release_ms: "):
        SSLCompressor(release_ms="slow")


def test_ssl_front_panel_interpolates_resistors_in_log_domain():
    tc = M.ssl_time_constants(math.sqrt(0.1 * 0.3), math.sqrt(300.0 * 600.0))
    cf = dd.ssl_preset(820, "auto", 4)["T_attack_fast"] / 820
    assert float(tc["T_attack_fast"]) == pytest.approx(math.sqrt(820 * 2700) * cf, rel=1e-13)
    assert float(tc["T_shunt_fast"]) == pytest.approx(math.sqrt(270e3 * 560e3) * cf, rel=1e-13)
    # Outside the panel's range: the end segment's line continues (positive, monotone).
    lo, hi = M.ssl_time_constants(0.05, "auto"), M.ssl_time_constants(60.0, 2400.0)
    assert 0 < float(lo["T_attack_fast"]) < 820 * cf and float(hi["T_attack_fast"]) > 270e3 * cf
    assert float(hi["T_shunt_fast"]) > 1.2e6 * cf


# ------------------------------------------------------------------------------------------------
# Gradients: float64 finite differences on switching signals

def test_compressor_gradcheck_every_knob_and_the_audio():
    x = stereo(2, 90, 20).requires_grad_()
    comp = Compressor(-22.0, 3.0, 4.0, 25.0, knee_db=5.0, exp_threshold_db=-32.0, exp_ratio=0.6, detector_ms=2.0,
                      makeup_db=1.5, mix=0.7, link="max", link_amount=0.6, lookahead_ms=3.0, sample_rate=FS)
    names = gradcheck_module(comp, x)
    assert set(names) == {"raw_threshold_db", "raw_ratio", "raw_attack_ms", "raw_release_ms", "raw_knee_db",
                          "raw_exp_threshold_db", "raw_exp_ratio", "raw_detector_ms", "raw_makeup_db", "raw_mix",
                          "raw_link_amount"}


def test_compressor_sigmoid_gate_peak_detector_auto_makeup_gradcheck():
    x = stereo(2, 90, 21).requires_grad_()
    comp = Compressor(-22.0, 3.0, 4.0, 25.0, knee_db=8.0, detector="peak", gate="sigmoid", k=0.7,
                      makeup_db="auto", mix=0.6, link="mean", sample_rate=FS)
    names = gradcheck_module(comp, x)
    assert "raw_k" in names and "raw_makeup_db" not in names


def test_compressor_gradcheck_with_a_sidechain_and_no_link():
    x = stereo(2, 80, 22).requires_grad_()
    key = stereo(2, 80, 23).requires_grad_()
    # mix inside (0, 1): at mix = 1 (its reflection's kink) a central difference is 0, the gradient the
    # one-sided derivative from inside [0, 1].
    comp = Compressor(-20.0, 4.0, 3.0, 30.0, knee_db=3.0, mix=0.9, link="none", detector_ms=2.0, sample_rate=FS)
    names = [n for n, _ in comp.named_parameters()]
    raws = tuple(getattr(comp, n).detach().clone().requires_grad_() for n in names)
    fn = lambda x_, k_, *r: functional_call(comp, dict(zip(names, r)), (x_, k_))  # noqa: E731
    assert gradcheck(fn, (x, key) + raws, **TOL)
    gk = torch.autograd.grad(fn(x, key, *raws).sum(), key)[0]
    assert gk.abs().max() > 1e-3


def test_compressor_knobs_in_user_units_gradcheck_per_batch_item():
    x = stereo(2, 90, 24)
    knob = lambda *v: torch.tensor(v, dtype=torch.float64, requires_grad=True)  # noqa: E731
    args = (knob(-22.0, -18.0), knob(3.0, 5.0), knob(4.0, 6.0), knob(25.0, 40.0), knob(5.0, 2.0), knob(1.0, -2.0),
            knob(0.7, 0.4), knob(0.5, 0.8))

    def fn(ct, cr, a, r, knee, makeup, mix, amount):
        return M.compressor_audio(x, ct, cr, a, r, knee_db=knee, makeup_db=makeup, mix=mix, link_amount=amount,
                                  detector_ms=2.0, sample_rate=FS)
    assert gradcheck(fn, args, **TOL)
    grads = torch.autograd.grad(fn(*args).pow(2).sum(), args)
    assert all((g.abs() > 1e-5).all() for g in grads)


def test_limiter_gradcheck_every_knob_and_the_audio():
    x = stereo(2, 90, 25).requires_grad_()
    lim = Limiter(-8.0, 1.5, 20.0, makeup_db=2.0, mix=0.8, link="max", link_amount=0.5, lookahead_ms=2.0,
                  sample_rate=FS)
    names = gradcheck_module(lim, x)
    assert set(names) == {"raw_threshold_db", "raw_attack_ms", "raw_release_ms", "raw_makeup_db", "raw_mix",
                          "raw_link_amount"}
    auto = Limiter(-8.0, 1.5, 20.0, makeup_db="auto", mix=0.9, link="mean", sample_rate=FS)
    gradcheck_module(auto, x)


@pytest.mark.parametrize("release_ms, feedback", [("auto", 0.0), ("auto", 0.5), (450.0, 0.999)])
def test_ssl_panel_gradcheck_every_knob_and_the_audio(release_ms, feedback):
    x = stereo(2, 90, 26).requires_grad_()
    # Between switch positions (the panel's map has kinks at them) and at a fast rate for the circuit.
    ssl = SSLCompressor(-22.0, 3.0, attack_ms=4.5, release_ms=release_ms, feedback=feedback, knee_db=4.0,
                        makeup_db=1.0, mix=0.75, link="max", link_amount=0.7, lookahead_ms=0.1, sample_rate=48000.0)
    if feedback == 0.0:
        # The reflection's kink: a central difference there is 0 (see the one-sided test below).
        ssl.raw_feedback.requires_grad_(False)
    names = gradcheck_module(ssl, x * 3, min_changes=6)
    assert "raw_attack_ms" in names and ("raw_release_ms" in names) == (release_ms != "auto")


def test_knobs_at_the_ends_of_their_range_get_the_one_sided_derivative_from_inside():
    x = stereo(1, 200, 30) * 3
    for module, knob, inward in [(SSLCompressor(-22.0, 3.0, attack_ms=4.5, sample_rate=8000.0), "feedback", 1.0),
                                 (Compressor(-22.0, 3.0, 4.0, 25.0, sample_rate=FS), "mix", -1.0),
                                 (Compressor(-22.0, 3.0, 4.0, 25.0, knee_db=0.0, sample_rate=FS), "knee_db", 1.0),
                                 (Limiter(0.0, 1.0, 20.0, sample_rate=FS), "threshold_db", -1.0)]:
        raw = getattr(module, "raw_" + knob)
        loss = lambda: module(x).pow(2).sum()  # noqa: E731
        (grad,) = torch.autograd.grad(loss(), raw)
        with torch.no_grad():
            f0 = loss()
            start = getattr(module, knob)
            h = 1e-7
            setattr(module, knob, start + inward * h)
            f1 = loss()
            setattr(module, knob, start)
        one_sided = (f1 - f0) / (inward * h)  # d loss / d value from inside; value = raw on the inside branch
        assert abs(float(grad) - float(one_sided)) <= 1e-4 * abs(float(one_sided)) + 1e-7, knob
        if knob != "knee_db":  # the knee's derivative at 0 is 0 (no level sits exactly at the threshold)
            assert abs(float(grad)) > 1e-3, knob


def test_ssl_time_constant_gradcheck_and_auto_makeup():
    x = stereo(2, 150, 27).requires_grad_()
    # Levels around the threshold: the knee acts only where the gate attacks near it (a hammered gain
    # releases through the knee's region and the knee's derivative is 0).
    ssl = SSLCompressor(-1.0, 3.0, feedback=0.3, knee_db=8.0, makeup_db="auto", mix=0.9, link="mean",
                        sample_rate=8000.0,
                        time_constants=dict(T_attack_fast=4e-4, T_attack_slow=6e-3, T_shunt_fast=0.02,
                                            T_shunt_slow=0.4))
    names = gradcheck_module(ssl, x, min_changes=6)
    assert {"raw_T_attack_fast", "raw_T_attack_slow", "raw_T_shunt_fast", "raw_T_shunt_slow"} <= set(names)


def test_second_derivatives_raise():
    x = stereo(1, 300, 29).requires_grad_()
    y = Compressor(-25.0, 4.0, mix=0.5)(x)
    with pytest.raises(RuntimeError, match="second derivatives .* not supported"):
        torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)


def test_float32_audio_with_float64_knobs_gets_gradients():
    x = stereo(1, 3000, 28).float().requires_grad_()
    comp = Compressor(-25.0, 4.0, knee_db=3.0, makeup_db=1.0, mix=0.9)
    y = comp(x)
    assert y.dtype == torch.float32
    y.pow(2).sum().backward()
    assert x.grad.dtype == torch.float32 and x.grad.abs().max() > 0
    assert all(p.grad is not None and p.grad.dtype == torch.float64 and p.grad != 0 for p in comp.parameters())
