import os
import sys

import numpy as np
import pytest
import torch

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))

# The package under test: by default the one assembled in the build tree (build/python, or
# $DD_BUILD_DIR/python), so that a checkout runs without the .venv's .pth too. With
# DD_TEST_INSTALLED=1, the installed package (pip install .), which must not come from the checkout.
TEST_INSTALLED = os.environ.get("DD_TEST_INSTALLED", "0") not in ("", "0")
if not TEST_INSTALLED:
    sys.path.insert(0, os.path.join(REPO, os.environ.get("DD_BUILD_DIR", "build"), "python"))
else:
    import differential_dynamics as _installed

    _where = os.path.realpath(os.path.dirname(_installed.__file__))
    if os.path.commonpath([_where, REPO]) == REPO:
        raise RuntimeError(f"DD_TEST_INSTALLED=1 but differential_dynamics was imported from the checkout "
                           f"({_where}), not from an installed package")


def switching_level(rows: int, cols: int, seed: int, lo_db: float = -45.0, hi_db: float = -5.0) -> torch.Tensor:
    """Level (linear, > 0) jumping between loud and quiet with a per-row period plus noise: the
    smoothers switch between attack and release many times."""
    rng = np.random.default_rng(seed)
    t = np.arange(cols)
    rows_out = []
    for b in range(rows):
        period = 7 + 4 * b
        loud = (t // period) % 2 == 0
        db = np.where(loud, hi_db, lo_db) + rng.normal(0, 2.0, cols) + 3 * np.sin(0.05 * t)
        rows_out.append(10 ** (db / 20))
    return torch.tensor(np.stack(rows_out), dtype=torch.float64)


def bursty_audio(rows: int, cols: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(cols)
    out = []
    for b in range(rows):
        env = np.where((t // (9 + 3 * b)) % 2 == 0, 1.2, 0.1)
        v = env * rng.normal(0, 1, cols)
        v = np.where(np.abs(v) < 1e-3, 1e-3, v)
        out.append(v)
    return torch.tensor(np.stack(out), dtype=torch.float64)


def count_flips(f: torch.Tensor, y: torch.Tensor, zi: torch.Tensor) -> torch.Tensor:
    prev = torch.cat([zi.reshape(-1, 1), y[:, :-1]], dim=1)
    attack = f < prev
    return (attack[:, 1:] != attack[:, :-1]).sum(dim=1)


@pytest.fixture(autouse=True)
def _seed_and_restore_threads():
    import differential_dynamics as dd
    torch.manual_seed(0)  # gradcheck's random grad_outputs: same in every run and order
    yield
    dd.set_num_threads(0)
