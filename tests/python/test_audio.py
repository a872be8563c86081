"""Audio processors from Python (differential_dynamics.audio): shapes and dtypes kept, (time, channels)
refused, linked channels share one gain, streaming over random block splits equals the batch bit for bit,
lookahead latency, makeup/mix against a numpy transcription, side chain, the SSL front panel of
ssl_preset, errors that name the argument."""
import math

import numpy as np
import pytest
import torch

import differential_dynamics as dd
from differential_dynamics import audio

FS = 44100

SETTINGS = {
    "classical": dict(threshold_db=-26, ratio=5, knee_db=4, attack_ms=2, release_ms=40, makeup_db="auto", mix=0.8,
                      lookahead_ms=1.5, max_lookahead_ms=3),
    "limiter": dict(threshold_db=-9, attack_ms=0.3, release_ms=30, makeup_db=2.5, mix=0.9, lookahead_samples=22),
    "ssl": dict(threshold_db=-24, ratio=4, attack_ms=1, release_ms="auto", feedback=0.3, makeup_db="auto", mix=0.6,
                lookahead_ms=2),
}
CLASSES = {"classical": audio.Compressor, "limiter": audio.Limiter, "ssl": audio.SSLCompressor}


def program(channels: int, n: int, seed: int, dtype=np.float32, scale: float = 1.0) -> np.ndarray:
    """(channels, n) noise bursts, loud and quiet in turn with a per-channel period and level."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    rows = []
    for c in range(channels):
        envelope = np.where((t // (700 + 450 * c)) % 2 == 0, 0.8 / (c + 1), 0.02)
        rows.append(scale * envelope * np.tanh(rng.normal(0, 1, n)))
    return np.stack(rows).astype(dtype)


def stream(proc, x, seed, max_len, sidechain=None):
    """x through a streaming processor in blocks of random lengths in [1, max_len]: (y, gain)."""
    rng = np.random.default_rng(seed)
    ys, gs = [], []
    t = 0
    while t < x.shape[-1]:
        m = int(rng.integers(1, max_len + 1))
        key = None if sidechain is None else sidechain[..., t:t + m]
        y, g = proc.process(x[..., t:t + m], sidechain=key, return_gain=True)
        ys.append(y)
        gs.append(g)
        t += m
    return np.concatenate(ys, axis=-1), np.concatenate(gs, axis=-1)


# ------------------------------------------------------------------------------------------------
# Shapes

@pytest.mark.parametrize("model", audio.MODELS)
def test_stereo_keeps_channels_dtype_and_length_numpy_and_torch(model):
    for dtype in (np.float32, np.float64):
        x = program(2, 5000, 1, dtype)
        y = audio.process(x, model, FS, **SETTINGS[model])
        assert isinstance(y, np.ndarray) and y.shape == x.shape and y.dtype == x.dtype
        assert np.all(np.isfinite(y)) and not np.array_equal(y, x)
        xt = torch.from_numpy(x).requires_grad_(dtype == np.float64)
        yt = audio.process(xt, model, FS, **SETTINGS[model])
        assert isinstance(yt, torch.Tensor) and yt.dtype == xt.dtype and not yt.requires_grad
        np.testing.assert_array_equal(yt.numpy(), y)
    mono = program(1, 3000, 2)[0]
    assert audio.process(mono, model, FS, **SETTINGS[model]).shape == mono.shape
    batch = np.stack([program(2, 3000, 3), program(2, 3000, 4)])  # (batch, channels, time): independent
    yb = audio.process(batch, model, FS, **SETTINGS[model])
    assert yb.shape == batch.shape
    np.testing.assert_array_equal(yb[1], audio.process(batch[1], model, FS, **SETTINGS[model]))


def test_time_channels_is_refused_with_how_to_fix_it():
    x = program(2, 5000, 5).T.copy()  # (time, channels), as soundfile.read returns it
    with pytest.raises(ValueError, match=r"^x: shape \(5000, 2\) looks like \(time, channels\).*x\.T.*transpose"):
        audio.process(x, "classical", FS)
    with pytest.raises(ValueError, match=r"^x: .*time, channels"):
        audio.process(torch.from_numpy(x[None]), "ssl", FS)
    proc = audio.Compressor(FS, channels=2)
    with pytest.raises(ValueError, match=r"^block: expected shape \(2, n\), got \(300, 2\).*x\.T"):
        proc.process(x[:300])
    assert audio.process(x.T, "classical", FS).shape == (2, 5000)  # the fix works


# ------------------------------------------------------------------------------------------------
# Link, streaming

@pytest.mark.parametrize("model", audio.MODELS)
def test_linked_channels_get_one_gain(model):
    x = program(2, 6000, 6)
    for link in ("max", "mean", "none"):
        _, gain = audio.process(x, model, FS, return_gain=True, **{**SETTINGS[model], "link": link})
        assert np.array_equal(gain[0], gain[1]) == (link != "none"), link
        assert gain.min() < 0.9


@pytest.mark.parametrize("model", audio.MODELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_block_splits_equal_the_batch_bit_for_bit(model, dtype):
    x = program(2, 20000, 7, dtype)
    key = program(2, 20000, 8, dtype, scale=1.5)
    for sidechain in (None, key, key[:1]):
        y, g = audio.process(x, model, FS, sidechain=sidechain, return_gain=True, **SETTINGS[model])
        for seed, max_len in ((1, 1), (2, 50), (3, 4096)):
            if max_len == 1 and sidechain is not None:
                continue  # one-sample blocks of 20000 samples once per model and dtype is enough
            proc = CLASSES[model](FS, channels=2, max_block=512, dtype=dtype, **SETTINGS[model])
            ys, gs = stream(proc, x, seed, max_len, sidechain)
            assert ys.dtype == dtype
            assert ys.tobytes() == y.tobytes(), (seed, max_len)
            assert gs.tobytes() == g.tobytes(), (seed, max_len)


def test_state_delay_line_and_reset():
    x = program(2, 6000, 9)
    s = SETTINGS["ssl"]
    whole = audio.process(x, "ssl", FS, **s)
    a = audio.SSLCompressor(FS, channels=2, **s)
    first = a.process(x[:, :2345])
    assert a.state.shape == (2, 2) and a.delay_line.shape == (2, 88) and a.latency == 88
    b = audio.SSLCompressor(FS, channels=2, **s)
    b.state, b.delay_line = a.state, a.delay_line
    np.testing.assert_array_equal(np.concatenate([first, b.process(x[:, 2345:])], axis=1), whole)
    b.reset()
    np.testing.assert_array_equal(b.process(x), whole)


def test_settings_change_between_blocks():
    x = program(2, 8000, 10)
    proc = audio.Compressor(FS, channels=2, **SETTINGS["classical"])
    head = proc.process(x[:, :4000])
    proc.set_settings(threshold_db=-40, makeup_db=1.5, lookahead_ms=2.5)
    assert proc.settings["threshold_db"] == -40 and proc.settings["auto_makeup"] is False
    assert proc.makeup_db == 1.5 and proc.latency == round(2.5 * FS / 1000)
    tail = proc.process(x[:, 4000:])
    unchanged = audio.process(x, "classical", FS, **SETTINGS["classical"])
    np.testing.assert_array_equal(head, unchanged[:, :4000])
    assert np.abs(tail - unchanged[:, 4000:]).max() > 0.01
    with pytest.raises(ValueError, match="^lookahead_ms: exceeds the delay line"):
        proc.set_settings(lookahead_ms=10)


# ------------------------------------------------------------------------------------------------
# Lookahead, makeup, mix, side chain

@pytest.mark.parametrize("model", audio.MODELS)
def test_lookahead_delays_an_impulse_by_the_latency(model):
    for lookahead in (0, 1, 240, 1000):
        x = np.zeros((2, 3000), np.float64)
        x[0, 100], x[1, 107] = 0.5, -0.25
        settings = dict(threshold_db=0, lookahead_samples=lookahead)  # the impulse stays below: gain 1
        y = audio.process(x, model, 48000, **settings)
        expected = np.zeros_like(x)
        if 100 + lookahead < 3000:
            expected[0, 100 + lookahead] = 0.5
        if 107 + lookahead < 3000:
            expected[1, 107 + lookahead] = -0.25
        np.testing.assert_array_equal(y, expected)
        proc = CLASSES[model](48000, channels=2, dtype=np.float64, **settings)
        assert proc.latency == lookahead
        np.testing.assert_array_equal(np.concatenate([proc.process(x[:, t:t + 1]) for t in range(3000)], axis=1),
                                      expected)
    assert CLASSES[model](48000, lookahead_ms=5).latency == 240


def chain_reference(x, gain, lookahead, makeup_db, mix):
    """y = mix·(x[t−L]·g·m) + (1 − mix)·x[t−L] in float64, rounded once to x's dtype."""
    xd = np.zeros(x.shape, np.float64)
    xd[:, lookahead:] = x[:, :x.shape[1] - lookahead]
    m = 10.0 ** (makeup_db / 20.0)
    return (mix * (xd * gain.astype(np.float64) * m) + (1.0 - mix) * xd).astype(x.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_makeup_and_mix_follow_the_plain_formula(dtype):
    x = program(2, 5000, 11, dtype)
    s = {k: v for k, v in SETTINGS["classical"].items() if k != "lookahead_ms"}
    s.update(makeup_db=4.5, mix=0.3, lookahead_samples=7)
    y, g = audio.process(x, "classical", FS, return_gain=True, **s)
    assert y.tobytes() == chain_reference(x, g, 7, 4.5, 0.3).tobytes()
    y, _ = audio.process(x, "classical", FS, return_gain=True, **dict(s, mix=0.0))
    assert y.tobytes() == chain_reference(x, np.ones_like(x), 7, 0.0, 1.0).tobytes()  # dry: the delayed input
    # Automatic makeup: half the static reduction at 0 dBFS.
    assert audio.Compressor(FS, threshold_db=-24, ratio=4, makeup_db="auto").makeup_db == pytest.approx(9.0)
    assert audio.Limiter(FS, threshold_db=-6, makeup_db="auto").makeup_db == pytest.approx(3.0)
    ssl = audio.SSLCompressor(FS, threshold_db=-20, ratio=4, feedback=0.5, makeup_db="auto")
    assert ssl.makeup_db == pytest.approx(0.5 * 0.75 * 20 / 1.375)
    y, g = audio.process(x, "ssl", FS, return_gain=True, **dict(SETTINGS["ssl"], threshold_db=-20, feedback=0.5))
    assert y.tobytes() == chain_reference(x, g, 88, ssl.makeup_db, 0.6).tobytes()


def test_glide_ramps_makeup_and_mix_over_the_next_block():
    x = program(2, 2277, 12, np.float64)
    proc = audio.Limiter(FS, channels=2, dtype=np.float64, threshold_db=-9, glide=True)
    y1, g1 = proc.process(x[:, :1000], return_gain=True)
    proc.set_settings(makeup_db=6.0, mix=0.5)
    y2, g2 = proc.process(x[:, 1000:1777], return_gain=True)
    y3, g3 = proc.process(x[:, 1777:], return_gain=True)
    np.testing.assert_array_equal(y1, x[:, :1000] * g1)
    r = np.arange(1, 778) / 777.0
    m1 = 10.0 ** (6.0 / 20.0)
    m, w = 1.0 * (1.0 - r) + m1 * r, 1.0 * (1.0 - r) + 0.5 * r
    xd = x[:, 1000:1777]
    np.testing.assert_array_equal(y2, w * (xd * g2 * m) + (1.0 - w) * xd)
    np.testing.assert_array_equal(y3, 0.5 * (x[:, 1777:] * g3 * m1) + 0.5 * x[:, 1777:])


@pytest.mark.parametrize("model", audio.MODELS)
def test_the_side_chain_drives_the_gain(model):
    n = 6000
    x = (0.005 * np.sin(0.01 * np.arange(2 * n))).reshape(2, n)  # far below every threshold
    key = program(1, n, 13, np.float64)
    s = {k: v for k, v in SETTINGS[model].items() if k != "lookahead_samples"}
    s.update(lookahead_ms=0, mix=1.0, makeup_db=0.0)
    _, plain = audio.process(x, model, FS, return_gain=True, **s)
    assert np.all(plain == 1.0)
    y, keyed = audio.process(x, model, FS, sidechain=key, return_gain=True, **s)
    _, as_input = audio.process(np.repeat(key, 2, axis=0), model, FS, return_gain=True, **s)
    np.testing.assert_array_equal(keyed, as_input)
    assert keyed.min() < 0.7
    np.testing.assert_array_equal(y, x * keyed)
    mono = audio.process(x[:1], model, FS, sidechain=key, **s)  # a mono key for a mono signal
    np.testing.assert_array_equal(mono, y[:1])


# ------------------------------------------------------------------------------------------------
# SSL front panel (ssl_preset)

def test_ssl_front_panel_positions_are_the_hardware_values():
    assert dd.SSL_ATTACK_MS == (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
    assert dd.SSL_RELEASE_S == (0.1, 0.3, 0.6, 1.2)
    for ms, ohms in zip(dd.SSL_ATTACK_MS, dd.SSL_ATTACK_OHMS):
        for s, shunt in list(zip(dd.SSL_RELEASE_S, dd.SSL_RELEASE_OHMS)) + [("auto", "auto")]:
            for ratio in (2, 4, 10):
                assert dd.ssl_preset(attack_ms=ms, release_s=s, ratio=ratio, fs=48000) == \
                    dd.ssl_preset(ohms, shunt, ratio, fs=48000)
    p = dd.ssl_preset(attack_ms=30, release_s=1.2, ratio=10)
    assert p["T_attack_fast"] == 270e3 * 0.47e-6 and p["T_shunt_fast"] == 1.2e6 * 0.47e-6
    # The other knob in the circuit's form.
    assert dd.ssl_preset(attack_ms=3, release=560e3) == dd.ssl_preset(27e3, 560e3)
    assert dd.ssl_preset(8200, release_s=0.3) == dd.ssl_preset(8200, 270e3)
    assert dd.ssl_preset() == dd.ssl_preset(820, "auto", 4)  # the ohm form's defaults stay


def test_ssl_front_panel_interpolates_in_log_log():
    p = dd.ssl_preset(attack_ms=math.sqrt(0.1 * 0.3), release_s=math.sqrt(0.6 * 1.2), ratio=3)
    assert p["T_attack_fast"] == pytest.approx(math.sqrt(820 * 2700) * 0.47e-6, rel=1e-12)
    assert p["T_shunt_fast"] == pytest.approx(math.sqrt(560e3 * 1.2e6) * 0.47e-6, rel=1e-12)
    assert p["comp_ratio"] == 3.0
    taf = [dd.ssl_preset(attack_ms=ms)["T_attack_fast"] for ms in np.geomspace(0.1, 30, 200)]
    assert np.all(np.diff(taf) > 0)


def test_ssl_front_panel_errors_name_the_argument():
    cases = [(dict(attack_ms=0.05), ValueError, "^attack_ms: must be in"),
             (dict(attack_ms=31), ValueError, "^attack_ms"),
             (dict(release_s=2.0), ValueError, "^release_s: must be in"),
             (dict(release_s=0), ValueError, "^release_s"),
             (dict(release_s="slow"), ValueError, "^release_s"),
             (dict(attack_ms=1, ratio=1.0), ValueError, "^ratio"),
             (dict(attack_ms=1, attack_ohms=820), TypeError, "^attack_ms: give"),
             (dict(release_s=0.1, release="auto"), TypeError, "^release_s: give"),
             (dict(attack_ms="fast"), TypeError, "^attack_ms: expected a number"),
             (dict(attack_ms=1, release=123), ValueError, "^release: must be one of")]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            dd.ssl_preset(**kwargs)


# ------------------------------------------------------------------------------------------------
# Errors

def test_errors_name_the_argument():
    x = program(2, 1000, 14)
    cases = [
        (lambda: audio.process(x, "fancy", FS), ValueError, "^model:"),
        (lambda: audio.process(x, "classical", 0), ValueError, "^fs:"),
        (lambda: audio.process(x, "classical", FS, mix=1.5), ValueError, "^mix:"),
        (lambda: audio.process(x, "classical", FS, ratio=0.5), ValueError, "^ratio:"),
        (lambda: audio.process(x, "classical", FS, link="stereo"), ValueError, "^link:"),
        (lambda: audio.process(x, "classical", FS, detector=3), TypeError, "^detector:"),
        (lambda: audio.process(x, "classical", FS, glide=1), TypeError, "^glide:"),
        (lambda: audio.process(x, "classical", FS, makeup_db="loud"), ValueError, "^makeup_db:"),
        (lambda: audio.process(x, "classical", FS, feedback=0.5), TypeError, "^feedback: not a setting"),
        (lambda: audio.process(x, "classical", FS, attack_ms=1e-6), ValueError, "^attack_ms:"),
        (lambda: audio.process(x, "classical", FS, lookahead_samples=-1), ValueError, "^lookahead_samples:"),
        (lambda: audio.process(x, "classical", FS, lookahead_samples=3, lookahead_ms=1), TypeError,
         "^lookahead_samples:"),
        (lambda: audio.process(x, "limiter", FS, threshold_db=3), ValueError, "^threshold_db:"),
        (lambda: audio.process(x, "ssl", FS, attack_ms=50), ValueError, "^attack_ms:"),
        (lambda: audio.process(x, "ssl", FS, release_ms=50), ValueError, "^release_ms:"),
        (lambda: audio.process(x.astype(np.int16), "classical", FS), TypeError, "^x: dtype int16"),
        (lambda: audio.process(np.zeros((2, 0), np.float32), "classical", FS), ValueError, "^x:"),
        (lambda: audio.process(np.where(x > 0.5, np.nan, x), "classical", FS), ValueError, "^x: contains NaN"),
        (lambda: audio.process(x, "classical", FS, sidechain=x[:, :10]), ValueError, "^sidechain:"),
        (lambda: audio.process(x, "classical", FS, sidechain=x.astype(np.float64)), TypeError, "^sidechain:"),
        (lambda: audio.process(x, "classical", FS, sidechain=np.where(x > 0.5, np.inf, x)), ValueError,
         "^sidechain: contains"),
        (lambda: audio.process([0.1, 0.2], "classical", FS), TypeError, "^x:"),
        (lambda: audio.Compressor(FS, channels=2.0), TypeError, "^channels:"),
        (lambda: audio.Compressor(FS, dtype=np.int32), TypeError, "^dtype:"),
        (lambda: audio.Compressor(FS, channels=2).process(np.where(x > 0.5, np.nan, x)), ValueError,
         "^block: contains NaN"),
        (lambda: audio.Compressor(FS, channels=2).process(x.astype(np.float64)), TypeError, "^block:"),
        (lambda: audio.Compressor(FS, channels=2).process(x, sidechain=x[:, :5]), ValueError, "^sidechain:"),
        (lambda: audio.Compressor(FS, channels=2).set_settings(knee_db=-1), ValueError, "^knee_db:"),
    ]
    for call, error, match in cases:
        with pytest.raises(error, match=match):
            call()
