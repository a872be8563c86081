"""The package runs on the SIMD level DD_SIMD names (the suite runs once per level)."""
import os

import differential_dynamics as dd
from differential_dynamics import _core


def test_the_requested_simd_level_is_the_one_in_use():
    requested = os.environ.get("DD_SIMD")
    level = dd.simd_level()
    assert level in ("baseline", "avx2", "avx512")
    assert _core.simd_level_supported(level)
    if requested:
        assert level == requested
