"""differential_dynamics: differentiable dynamic range processing with exact gradients.

Drop-in for torchcomp: ``import differential_dynamics as torchcomp``. Reference: docs/reference/python.md.
"""
from . import _core
from .functional import (amp2db, avg, coef2ms, compexp_gain, compexp_gain_mode, compressor_core, db2amp, gain_curve,
                         get_num_threads, limiter_gain, ms2coef, set_num_threads, sigmoid_core)

__version__ = _core.version

__all__ = [
    "amp2db", "db2amp", "ms2coef", "coef2ms", "avg", "compressor_core", "compexp_gain", "compexp_gain_mode",
    "limiter_gain", "gain_curve", "sigmoid_core", "set_num_threads", "get_num_threads", "simd_level",
]

from .ssl import (SSL_ATTACK_MS, SSL_ATTACK_OHMS, SSL_RATIOS, SSL_RELEASE_OHMS, SSL_RELEASE_S,  # noqa: E402
                  ssl_comp_gain, ssl_compress, ssl_preset)
from . import audio, streaming  # noqa: E402

__all__ += ["ssl_comp_gain", "ssl_compress", "ssl_preset", "SSL_ATTACK_OHMS", "SSL_RELEASE_OHMS", "SSL_RATIOS",
            "SSL_ATTACK_MS", "SSL_RELEASE_S", "audio", "streaming"]


def simd_level() -> str:
    """The instruction set the kernels run on: "baseline", "avx2" or "avx512" (the best the CPU has,
    or the environment variable DD_SIMD's choice)."""
    return _core.simd_level()
