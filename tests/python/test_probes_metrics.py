"""Python access to the seeded probes and the metrics (differential_dynamics.probes, .metrics): every
kind deterministic per seed and different across seeds, in range; metrics against hand-computed and
numpy values; shapes and errors."""
import math

import pytest
import torch

import differential_dynamics as dd
from differential_dynamics import metrics, probes


def test_catalogue_splits_signals_and_probes():
    assert "composite_program" in probes.CLASSIC_SIGNALS and "tone" in probes.CLASSIC_SIGNALS
    assert "release_drops" in probes.IDENTIFICATION_PROBES and "random_steps" in probes.IDENTIFICATION_PROBES
    assert len(probes.CLASSIC_SIGNALS) == 9 and len(probes.IDENTIFICATION_PROBES) == 14
    assert all(p.summary for p in probes.PROBE_CATALOG)


@pytest.mark.parametrize("name", [p.name for p in probes.PROBE_CATALOG])
def test_every_kind_is_deterministic_per_seed_and_in_range(name):
    a = probes.make_probe(name, 5, 16000.0, 16000, threshold_db=-30.0)
    b = probes.make_probe(name, 5, 16000.0, 16000, threshold_db=-30.0)
    c = probes.make_probe(name, 6, 16000.0, 16000, threshold_db=-30.0)
    assert a.shape == (16000,) and a.dtype == torch.float64
    assert torch.equal(a, b) and not torch.equal(a, c)
    low = -1.0 if name in probes.CLASSIC_SIGNALS else 0.0
    assert a.min() >= low and a.max() <= 1.0
    x = probes.probe_audio(name, 5, 16000.0, 16000, threshold_db=-30.0)
    assert x.abs().max() <= 1.0
    if name in probes.IDENTIFICATION_PROBES:
        assert torch.equal(x.abs(), a)  # the sign-noise carrier: |x| is the envelope


def test_seed_lists_give_rows_and_seconds_give_lengths():
    rows = probes.make_probe("db_dither", [1, 2, 3], 8000.0, seconds=0.5)
    assert rows.shape == (3, 4000)
    assert torch.equal(rows[1], probes.make_probe("db_dither", 2, 8000.0, seconds=0.5))
    sine = probes.render_probe_audio(torch.full((2, 800), 0.5, dtype=torch.float64), "sine", 0, 8000.0, 1000.0)
    assert sine.shape == (2, 800) and sine.abs().max() == pytest.approx(0.5, abs=1e-12)
    assert torch.equal(probes.render_probe_audio(torch.full((10,), 0.25), "none"), torch.full((10,), 0.25,
                                                                                               dtype=torch.float64))


def test_probe_mix_segments_reproduce_the_envelope():
    env, segments = probes.probe_mix(7, 8000.0, seconds=12.0, kinds=["release_drops", "random_steps"])
    assert env.shape == (96000,) and len(segments) >= 3
    assert {s["kind"] for s in segments} <= {"release_drops", "random_steps"}
    for s in segments:
        part = probes.make_probe(s["kind"], s["seed"], 8000.0, s["length"])
        assert torch.equal(env[s["start"]:s["start"] + s["length"]], part)
    assert segments[-1]["start"] + segments[-1]["length"] == 96000


def test_probe_errors_name_the_argument():
    with pytest.raises(ValueError, match="^name: unknown probe"):
        probes.make_probe("sweep", 1, length=10)
    with pytest.raises(TypeError, match="^seed: "):
        probes.make_probe("tone", 1.5, length=10)
    with pytest.raises(ValueError, match="^seed: "):
        probes.make_probe("tone", -1, length=10)
    with pytest.raises(TypeError, match="^length: give"):
        probes.make_probe("tone", 1)
    with pytest.raises(ValueError, match="^fs: "):
        probes.make_probe("tone", 1, fs=0.0, length=10)
    with pytest.raises(ValueError, match="threshold_db"):
        probes.make_probe("release_drops", 1, length=10, threshold_db=5.0)
    with pytest.raises(ValueError, match="^carrier: "):
        probes.render_probe_audio(torch.zeros(4), "square")
    with pytest.raises(ValueError, match="envelope"):
        probes.render_probe_audio(torch.full((4,), 1.5))
    with pytest.raises(ValueError, match="^kinds: 'tone' is a classic signal"):
        probes.probe_mix(1, length=100, kinds=["tone"])


# ------------------------------------------------------------------------------------------------
def test_metrics_against_hand_computed_values():
    g = torch.tensor([0.0, -1, -2, -2, -1, -1, -3, -2])
    assert metrics.flip_rate(g, 8.0) == pytest.approx(3.0)  # 8 samples at 8 Hz, flips at t = 4, 6, 7
    assert metrics.flip_rate(torch.stack([g, -g]), 8.0).tolist() == pytest.approx([3.0, 3.0])
    assert metrics.average_gain_reduction_db(g) == pytest.approx(1.5)
    level = torch.tensor([-20.0, -150, -20, -20, -20, -20, -20, -20])  # one inactive sample
    assert metrics.average_gain_reduction_db(g, level) == pytest.approx(11 / 7)  # without t = 1
    h = g + torch.tensor([1.0, 100, 0, 0, 0, 0, 0, -1])
    assert metrics.gain_rmse_db(g, h, level) == pytest.approx(math.sqrt(2 / 7))
    assert metrics.gain_rmse_db(g.numpy(), h.numpy()) == pytest.approx(math.sqrt((1 + 1e4 + 1) / 8))
    assert metrics.near_threshold_occupancy(torch.tensor([-20.0, -23, -26, -150]), -21.0) == pytest.approx(2 / 3)
    y = torch.tensor([1.0, -2.0, 3.0])
    assert metrics.esr(y, y * 0.9) == pytest.approx(0.01)


def test_rise_time_of_a_one_pole_step():
    alpha, edge = 0.01, 100
    x = torch.zeros(3000, dtype=torch.float64)
    x[edge:] = 1
    y = dd.avg(x, alpha)
    assert metrics.rise_time_63(y, edge, 1000.0) == pytest.approx(math.ceil(-1 / math.log(1 - alpha)) / 1000.0)
    falling = metrics.rise_time_63(torch.stack([y, 1 - y]), edge, 1000.0)
    assert falling.tolist() == pytest.approx([0.1, 0.1])


def test_metric_errors_name_the_argument():
    g = torch.zeros(4)
    with pytest.raises(ValueError, match="^level_db: "):
        metrics.gain_rmse_db(g, g, torch.full((4,), -120.0))  # no active sample
    with pytest.raises(ValueError, match="^gain_b_db: shape"):
        metrics.gain_rmse_db(g, torch.zeros(5))
    with pytest.raises(ValueError, match="^y: "):
        metrics.esr(g, g)
    with pytest.raises(ValueError, match="^edge: "):
        metrics.rise_time_63(torch.arange(5.0), 0, 1.0)
    with pytest.raises(ValueError, match="^trace: expected one trace"):
        metrics.rise_time_63(torch.zeros(2, 2, 5), 1, 1.0)
    with pytest.raises(TypeError, match="^gain_db: expected"):
        metrics.flip_rate([0.0, 1.0], 1.0)
