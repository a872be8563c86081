"""The LV2 rendering harness and the matching study's pieces: latency estimation, port mapping, the
report table, and (where scripts/setup_plugins.sh has installed the plugins) a render through LSP's
compressor that its family member reproduces at the plugin's own setting."""
import shutil
import subprocess

import numpy as np
import pytest
import torch

from differential_dynamics import lv2, matching
from differential_dynamics.family import FamilyCompressor, Topology
from differential_dynamics.signals import level_steps


@pytest.mark.parametrize("delay", [0, 1, 37, 500])
def test_latency_is_the_delay_of_a_positively_scaled_copy(delay):
    x = level_steps(2, 8000, seed=1)[..., :].numpy()
    gain = np.linspace(0.2, 1.0, 8000)
    y = np.zeros_like(x)
    y[:, delay:] = (x * gain)[:, : 8000 - delay]
    assert lv2.estimate_latency(x, y) == delay


def test_settings_map_onto_each_plugins_ports():
    calf = lv2.PLUGINS["calf"].controls(lv2.MODERATE)
    assert calf["threshold"] == pytest.approx(0.1) and calf["knee"] == 1.0 and calf["detection"] == 0.0
    lsp_fb = lv2.PLUGINS["lsp_fb"].controls(lv2.HARD)
    assert lsp_fb["al"] == pytest.approx(10 ** (-24 / 20)) and lsp_fb["sct"] == 1.0 and lsp_fb["cr"] == 10.0
    x42 = lv2.PLUGINS["x42"].controls(lv2.MODERATE)
    assert x42["Ratio"] == 1.0 and x42["attack"] == pytest.approx(0.01) and x42["release"] == pytest.approx(0.1)
    assert lv2.PLUGINS["zam"].controls(lv2.HARD)["thr"] == -24.0


def test_table_marks_the_best_model():
    target = {"plugin": "p", "setting": {"name": "s"}, "best": {"model": "b"},
              "models": [{"model": m, "esr": e, "gain_rmse_db": 0.1, "settings": dict(
                  threshold_db=-20, ratio=4, knee_db=1, attack_ms=10, release_ms=100, makeup_db=0)}
                  for m, e in (("a", 0.1), ("b", 0.01))]}
    table = matching.markdown_table([{"targets": [target]}])
    assert "| b | **1.0e-02 / 0.100** |" in table and "| a | 1.0e-01 / 0.100 |" in table


def _lsp_installed():
    if shutil.which("lv2apply") is None or shutil.which("lv2ls") is None:
        return False
    return lv2.PLUGINS["lsp"].uri in subprocess.run(["lv2ls"], capture_output=True, text=True).stdout.split()


@pytest.mark.skipif(not _lsp_installed(), reason="LSP LV2 compressor not installed (scripts/setup_plugins.sh)")
def test_lsp_render_is_reproduced_by_its_family_member():
    x = level_steps(1, 22050, seed=5, lo_db=-40, hi_db=-3).numpy()
    y, latency = lv2.render(lv2.PLUGINS["lsp"], lv2.MODERATE, x, 44100)
    assert latency == 0
    # LSP's coefficient reaches −3 dB in the given time: 1.7916× the time in our ms2coef convention
    model = FamilyCompressor(Topology.parse("ff-peak-level-linear-smooth_branching"), 44100, threshold_db=-20,
                             ratio=4, knee_db=1e-6, attack_ms=10 * 2.2 / 1.2279471772995156,
                             release_ms=100 * 2.2 / 1.2279471772995156)
    valid = torch.ones(x.shape, dtype=torch.float64)
    m = matching.metrics(model, torch.from_numpy(x), torch.from_numpy(y), valid)
    assert m["esr"] < 1e-6 and m["gain_rmse_db"] < 0.01
