"""The gating-variant comparison (differential_dynamics.gating): the sigmoid gate's RMSE against the
hard gate falls as k grows, the table and the PNG, the command line on signals and on a file."""
import os

import numpy as np
import pytest
import torch

from differential_dynamics import gating, probes

KS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@pytest.fixture(scope="module")
def results():
    return gating.compare_on_signals(("composite_program", "am_tone", "burst"), seconds=2.0, seed=3, ks=KS)


def test_sigmoid_rmse_falls_as_k_grows(results):
    for r in results:
        rmse = [r.rmse_db[f"sigmoid k={k:g}"] for k in KS]
        assert all(b < a for a, b in zip(rmse, rmse[1:])), (r.name, rmse)
        assert rmse[0] > 3 * rmse[-1] and rmse[-1] < 0.05  # a soft gate differs, a sharp one nearly agrees
        assert r.rmse_db["hard"] == 0.0
        assert r.rmse_db["ssl"] > rmse[-1]  # another model, not a gate of the same one
        assert (r.gains_db["hard"] < -1.0).any()  # the signal is compressed


def test_rmse_is_the_metric_over_active_samples(results):
    r = results[0]
    g, h = r.gains_db["sigmoid k=1"], r.gains_db["hard"]
    active = r.level_db > -100
    assert active.sum() > 0.5 * active.size
    expected = np.sqrt(np.mean((g[active] - h[active]) ** 2))
    assert r.rmse_db["sigmoid k=1"] == pytest.approx(expected, rel=1e-12)


def test_table_lists_every_variant_and_signal(results):
    table = gating.format_table(results)
    for r in results:
        assert r.name in table
    for v in ["hard", "ssl"] + [f"sigmoid k={k:g}" for k in KS]:
        assert v in table
    assert f"{results[0].rmse_db['sigmoid k=2']:.3f}" in table


def test_png_is_written_and_shows_traces(results, tmp_path):
    import matplotlib.image
    path = gating.plot_comparison(results, str(tmp_path / "sub" / "gating.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 1000 and image.shape[1] > 1000  # three signals, two panels each
    # Not blank: the black hard-gate trace and the red SSL trace are drawn.
    rgb = image[..., :3]
    assert (rgb.sum(axis=-1) < 0.3).mean() > 0.001
    assert ((rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.3) & (rgb[..., 2] < 0.3)).mean() > 0.0005


def test_command_line_on_signals_and_on_a_file(tmp_path, capsys):
    import soundfile
    out = tmp_path / "signals.png"
    assert gating.main(["--signals", "burst", "--seconds", "1", "--k", "0.5,4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sigmoid k=0.5" in printed and "sigmoid k=4" in printed and out.exists()
    stereo = torch.stack([probes.probe_audio("transient_churn", 1, seconds=1.0),
                          0.5 * probes.probe_audio("db_dither", 2, seconds=1.0)]).numpy()
    wav = tmp_path / "mix.flac"
    soundfile.write(str(wav), stereo.T, 44100)  # soundfile's (time, channels)
    out = tmp_path / "file.png"
    assert gating.main(["--file", str(wav), "--threshold", "-30", "--no-ssl", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mix.flac" in printed and "ssl" not in printed and out.exists()


def test_command_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    assert gating.main(["--file", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert "file: cannot read" in capsys.readouterr().err
    assert gating.main(["--signals", "nope", "--out", str(tmp_path / "x.png")]) == 2
    assert "name: unknown probe 'nope'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.png")
    with pytest.raises(ValueError, match="^ks: "):
        gating.compare_gates(torch.zeros(1000), ks=(1.0, -2.0))
