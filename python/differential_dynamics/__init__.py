"""differential_dynamics: differentiable dynamic range processing with exact gradients.

Drop-in for torchcomp: ``import differential_dynamics as torchcomp``.
"""
from .functional import (amp2db, avg, coef2ms, compexp_gain, compexp_gain_mode, compressor_core, db2amp, gain_curve,
                         get_num_threads, limiter_gain, ms2coef, set_num_threads, sigmoid_core)

__version__ = "0.1.0"

__all__ = [
    "amp2db", "db2amp", "ms2coef", "coef2ms", "avg", "compressor_core", "compexp_gain", "compexp_gain_mode",
    "limiter_gain", "gain_curve", "sigmoid_core", "set_num_threads", "get_num_threads",
]

from .ssl import SSL_ATTACK_OHMS, SSL_RATIOS, SSL_RELEASE_OHMS, ssl_comp_gain, ssl_compress, ssl_preset  # noqa: E402

__all__ += ["ssl_comp_gain", "ssl_compress", "ssl_preset", "SSL_ATTACK_OHMS", "SSL_RELEASE_OHMS", "SSL_RATIOS"]
