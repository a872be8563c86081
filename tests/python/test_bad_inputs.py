"""Bad input, case by case, for every public Python function: each case runs in a subprocess (a
runner per pytest worker, tests/python/case_runner.py), so that a crash or a hang fails the case that
caused it instead of killing pytest. A case is a snippet and what must happen: an exception of the
given type whose message starts with the argument's name ("name: ..."), or no exception (the snippet
then checks the values itself: bad-looking input that must work, e.g. numpy scalars, non-contiguous
tensors). The C++ API's cases are in tests/cpp/core/test_errors.cpp; the ddyn command line's at the
end of this file.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from typing import List, NamedTuple, Optional

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.realpath(os.path.join(HERE, "..", ".."))
BUILD = os.path.join(REPO, os.environ.get("DD_BUILD_DIR", "build"))
CASE_TIMEOUT_S = 60.0

# Names every snippet sees (besides np, torch, dd, F = functional, audio, family, metrics, modules,
# probes, streaming): small signals that switch attack/release, and checks.
PRELUDE = r'''
import math
import warnings
_rng = np.random.default_rng(0)
T = 64
_t = np.arange(T)
x = torch.tensor(10 ** ((np.where((_t // 7) % 2 == 0, -6.0, -40.0)[None, :] + _rng.normal(0, 2, (2, T))) / 20))
x32 = x.float()
db = 20 * torch.log10(x)
a = torch.tensor(_rng.normal(0, 0.5, (2, T))) * (x / x.max())
audio3 = a.reshape(1, 2, T).clone()
CE = (-20.0, 4.0, -60.0, 0.5)
SSL = dict(comp_thresh=-20.0, comp_ratio=4.0, T_attack_fast=3.85e-4, T_attack_slow=5.58e-3,
           T_shunt_fast=0.0428, T_shunt_slow=5.1, feedback_coeff=0.0)
SSL_ARGS = tuple(SSL.values())

def finite(*ts):
    for t in ts:
        t = torch.as_tensor(t)
        assert torch.isfinite(t).all(), t

def grads_finite(fn, *params, dtype=torch.float64):
    """fn(*leaves) for leaves = params as float tensors with gradients; output and gradients finite."""
    leaves = [torch.tensor(p, dtype=dtype, requires_grad=True) if not isinstance(p, torch.Tensor)
              else p.detach().clone().requires_grad_(True) for p in params]
    out = fn(*leaves)
    outs = out if isinstance(out, tuple) else (out,)
    finite(*outs)
    sum(o.sum() for o in outs).backward()
    for i, leaf in enumerate(leaves):
        assert leaf.grad is not None, i
        assert torch.isfinite(leaf.grad).all(), (i, leaf.grad)
    return out
'''


class Case(NamedTuple):
    id: str
    code: str
    exc: Optional[str]  # None: must run without an exception
    arg: Optional[str]  # the message must start with "arg:"


def bad(id: str, code: str, exc: str, arg: str) -> Case:
    return Case(id, code, exc, arg)


def good(id: str, code: str) -> Case:
    return Case(id, code, None, None)


CASES: List[Case] = []

# ------------------------------------------------------------------------------------------------
# compexp_gain / compexp_gain_mode / gain_curve: values

CASES += [
    bad("compexp nan signal", "y = x.clone(); y[1, 5] = float('nan'); dd.compexp_gain(y, *CE, 0.1, 0.01)",
        "ValueError", "x_rms"),
    bad("compexp inf signal", "y = x.clone(); y[0, 0] = float('inf'); dd.compexp_gain(y, *CE, 0.1, 0.01)",
        "ValueError", "x_rms"),
    bad("compexp zero level", "y = x.clone(); y[0, 3] = 0; dd.compexp_gain(y, *CE, 0.1, 0.01)", "ValueError", "x_rms"),
    bad("compexp negative level f32", "y = x32.clone(); y[0, 3] = -1; dd.compexp_gain(y, *CE, 0.1, 0.01)",
        "ValueError", "x_rms"),
    bad("compexp nan threshold", "dd.compexp_gain(x, float('nan'), 4.0, -60.0, 0.5, 0.1, 0.01)", "ValueError",
        "comp_thresh"),
    bad("compexp inf exp_thresh", "dd.compexp_gain(x, -20.0, 4.0, -math.inf, 0.5, 0.1, 0.01)", "ValueError",
        "exp_thresh"),
    bad("compexp ratio 1", "dd.compexp_gain(x, -20.0, 1.0, -60.0, 0.5, 0.1, 0.01)", "ValueError", "comp_ratio"),
    bad("compexp ratio below 1", "dd.compexp_gain(x, -20.0, 0.5, -60.0, 0.5, 0.1, 0.01)", "ValueError", "comp_ratio"),
    bad("compexp ratio negative", "dd.compexp_gain(x, -20.0, -4.0, -60.0, 0.5, 0.1, 0.01)", "ValueError",
        "comp_ratio"),
    bad("compexp ratio 1+eps rounds to 1 in f32", "dd.compexp_gain(x32, -20.0, 1 + 1e-9, -60.0, 0.5, 0.1, 0.01)",
        "ValueError", "comp_ratio"),
    bad("compexp ratio inf", "dd.compexp_gain(x, -20.0, math.inf, -60.0, 0.5, 0.1, 0.01)", "ValueError", "comp_ratio"),
    good("compexp ratio absurd but finite: limiting, finite gradients",
         "g = grads_finite(lambda r: dd.compexp_gain(x, -20.0, r, -60.0, 0.5, 0.1, 0.01), 1e300)\n"
         "assert float(g.min()) < 0.5"),
    bad("compexp exp_ratio 0", "dd.compexp_gain(x, -20.0, 4.0, -60.0, 0.0, 0.1, 0.01)", "ValueError", "exp_ratio"),
    bad("compexp exp_ratio > 1", "dd.compexp_gain(x, -20.0, 4.0, -60.0, 1.5, 0.1, 0.01)", "ValueError", "exp_ratio"),
    bad("compexp exp_ratio negative", "dd.compexp_gain(x, -20.0, 4.0, -60.0, -0.5, 0.1, 0.01)", "ValueError",
        "exp_ratio"),
    bad("compexp exp_ratio 1e-30 float32", "dd.compexp_gain(x32, -20.0, 4.0, -10.0, 1e-30, 0.1, 0.01)", "ValueError",
        "exp_ratio"),
    bad("compexp exp_ratio 1e-30 float64", "dd.compexp_gain(x, -20.0, 4.0, -10.0, 1e-30, 0.1, 0.01)", "ValueError",
        "exp_ratio"),
    good("compexp exp_ratio at its bound: finite gradients f32",
         "grads_finite(lambda er: dd.compexp_gain(x32, -20.0, 4.0, -10.0, er, 0.1, 0.01), 1e-6,"
         " dtype=torch.float32)"),
    good("compexp exp_ratio at its bound with knee: finite gradients f32",
         "grads_finite(lambda er, w: dd.compexp_gain(x32, -20.0, 4.0, -10.0, er, 0.1, 0.01, knee=w), 1e-6, 12.0,"
         " dtype=torch.float32)"),
    bad("compexp knee negative", "dd.compexp_gain(x, *CE, 0.1, 0.01, knee=-1.0)", "ValueError", "knee"),
    bad("compexp knee 1e20", "dd.compexp_gain(x, *CE, 0.1, 0.01, knee=1e20)", "ValueError", "knee"),
    bad("compexp knee nan", "dd.compexp_gain(x, *CE, 0.1, 0.01, knee=float('nan'))", "ValueError", "knee"),
    good("compexp knee at its bound: finite gradients f32",
         "grads_finite(lambda w: dd.compexp_gain(x32, -20.0, 4.0, -60.0, 0.5, 0.1, 0.01, knee=w), 1000.0,"
         " dtype=torch.float32)"),
    bad("compexp threshold -1e30", "dd.compexp_gain(x, -1e30, 4.0, -60.0, 0.5, 0.1, 0.01)", "ValueError",
        "comp_thresh"),
    bad("compexp exp_thresh +1e30", "dd.compexp_gain(x, -20.0, 4.0, 1e30, 0.5, 0.1, 0.01)", "ValueError",
        "exp_thresh"),
    good("compexp thresholds at their bounds: finite gradients f32",
         "grads_finite(lambda c, e: dd.compexp_gain(x32, c, 4.0, e, 0.1, 0.1, 0.01, knee=6.0), -1e4, 1e4,"
         " dtype=torch.float32)\n"
         "grads_finite(lambda c, e: dd.compexp_gain(x32, c, 4.0, e, 0.1, 0.1, 0.01), 1e4, -1e4,"
         " dtype=torch.float32)"),
    good("compexp torchcomp's disabled expander (-1000 dB, ratio 1)",
         "g = dd.compexp_gain(x, -20.0, 4.0, -1000.0, 1.0, 0.1, 0.01); finite(g); assert (g <= 1).all()"),
    bad("compexp at 0", "dd.compexp_gain(x, *CE, 0.0, 0.01)", "ValueError", "at"),
    bad("compexp at 1", "dd.compexp_gain(x, *CE, 1.0, 0.01)", "ValueError", "at"),
    bad("compexp rt negative", "dd.compexp_gain(x, *CE, 0.1, -0.01)", "ValueError", "rt"),
    bad("compexp rt nan", "dd.compexp_gain(x, *CE, 0.1, float('nan'))", "ValueError", "rt"),
    bad("compexp at per row wrong count", "dd.compexp_gain(x, *CE, torch.tensor([0.1, 0.2, 0.3]), 0.01)",
        "ValueError", "at"),
    bad("compexp at (B,1) shape", "dd.compexp_gain(x, *CE, torch.tensor([[0.1], [0.2]]), 0.01)", "ValueError", "at"),
    bad("compexp zi nan", "dd.compexp_gain(x, *CE, 0.1, 0.01, zi=float('nan'))", "ValueError", "zi"),
    bad("compexp zi wrong rows", "dd.compexp_gain(x, *CE, 0.1, 0.01, zi=torch.ones(3))", "ValueError", "zi"),
    bad("compexp huge python int threshold", "dd.compexp_gain(x, -2**1100, 4.0, -60.0, 0.5, 0.1, 0.01)",
        "ValueError", "comp_thresh"),
    bad("compexp huge python int ratio", "dd.compexp_gain(x, -20.0, 2**1100, -60.0, 0.5, 0.1, 0.01)",
        "ValueError", "comp_ratio"),
    bad("compexp threshold beyond float32 for a f32 signal", "dd.compexp_gain(x32, -1e300, 4.0, -60.0, 0.5, 0.1, 0.01)",
        "ValueError", "comp_thresh"),
    good("compexp numpy scalars as parameters keep the signal's dtype",
         "g = dd.compexp_gain(x32, np.float32(-20), np.int64(4), np.float64(-60), np.float32(0.5), np.float32(0.1),"
         " np.float64(0.01)); assert g.dtype == torch.float32\n"
         "h = dd.compexp_gain(x32, -20.0, 4.0, -60.0, 0.5, 0.1, 0.01); assert torch.equal(g, h)"),
    good("compexp integer parameters", "g = dd.compexp_gain(x, -20, 4, -60, 1, 0.1, 0.01); finite(g)"),
    good("compexp non-contiguous signal equals contiguous",
         "big = torch.cat([x, x], dim=1)[:, ::2]; assert not big.is_contiguous()\n"
         "assert torch.equal(dd.compexp_gain(big, *CE, 0.1, 0.01), dd.compexp_gain(big.contiguous(), *CE, 0.1, 0.01))"),
    good("compexp transposed (non-contiguous) signal equals contiguous",
         "xt = x.t().contiguous().t(); assert not xt.is_contiguous()\n"
         "assert torch.equal(dd.compexp_gain(xt, *CE, 0.1, 0.01), dd.compexp_gain(x, *CE, 0.1, 0.01))"),
    good("compexp non-contiguous per-row parameter",
         "at = torch.tensor([0.1, 0.5, 0.2, 0.6])[::2]; assert not at.is_contiguous()\n"
         "assert torch.equal(dd.compexp_gain(x, *CE, at, 0.01), dd.compexp_gain(x, *CE, at.contiguous(), 0.01))"),
    good("compexp gradients reach a non-contiguous leaf",
         "leaf = torch.cat([x, x], dim=1).requires_grad_(True); dd.compexp_gain(leaf[:, ::2], *CE, 0.1, 0.01).sum()"
         ".backward(); finite(leaf.grad); assert (leaf.grad[:, 1::2] == 0).all() and (leaf.grad[:, ::2] != 0).any()"),
    good("compexp 1-D signal gives 1-D output", "g = dd.compexp_gain(x[0], *CE, 0.1, 0.01); assert g.shape == (T,)"),
    good("compexp numpy in, numpy out (float32 kept)",
         "g = dd.compexp_gain(x32.numpy(), *CE, 0.1, 0.01); assert isinstance(g, np.ndarray) and g.dtype == np.float32"),
]

# compexp: dtypes, layouts, shapes
CASES += [
    bad("compexp int signal", "dd.compexp_gain(torch.ones(2, 8, dtype=torch.int64), *CE, 0.1, 0.01)", "TypeError",
        "x_rms"),
    bad("compexp float16 signal", "dd.compexp_gain(x.half(), *CE, 0.1, 0.01)", "TypeError", "x_rms"),
    bad("compexp bfloat16 signal", "dd.compexp_gain(x.bfloat16(), *CE, 0.1, 0.01)", "TypeError", "x_rms"),
    bad("compexp complex signal", "dd.compexp_gain(x.to(torch.complex128), *CE, 0.1, 0.01)", "TypeError", "x_rms"),
    bad("compexp bool signal", "dd.compexp_gain(x > 0, *CE, 0.1, 0.01)", "TypeError", "x_rms"),
    bad("compexp numpy int signal", "dd.compexp_gain(np.ones((2, 8), dtype=np.int32), *CE, 0.1, 0.01)", "TypeError",
        "x_rms"),
    bad("compexp numpy float16 signal", "dd.compexp_gain(np.ones((2, 8), dtype=np.float16), *CE, 0.1, 0.01)",
        "TypeError", "x_rms"),
    bad("compexp list signal", "dd.compexp_gain([[0.1, 0.2]], *CE, 0.1, 0.01)", "TypeError", "x_rms"),
    bad("compexp 0-d signal", "dd.compexp_gain(torch.tensor(0.5, dtype=torch.float64), *CE, 0.1, 0.01)", "ValueError",
        "x_rms"),
    bad("compexp 3-d signal", "dd.compexp_gain(x.reshape(1, 2, T), *CE, 0.1, 0.01)", "ValueError", "x_rms"),
    bad("compexp empty signal (2, 0)", "dd.compexp_gain(torch.ones(2, 0, dtype=torch.float64), *CE, 0.1, 0.01)",
        "ValueError", "x_rms"),
    bad("compexp empty signal (0, 5)", "dd.compexp_gain(torch.ones(0, 5, dtype=torch.float64), *CE, 0.1, 0.01)",
        "ValueError", "x_rms"),
    bad("compexp empty 1-D signal", "dd.compexp_gain(torch.ones(0, dtype=torch.float64), *CE, 0.1, 0.01)",
        "ValueError", "x_rms"),
    bad("compexp sparse signal", "dd.compexp_gain(x.to_sparse(), *CE, 0.1, 0.01)", "TypeError", "x_rms"),
    bad("compexp meta signal", "dd.compexp_gain(torch.empty(2, T, device='meta', dtype=torch.float64), *CE, 0.1, 0.01)",
        "ValueError", "x_rms"),
    bad("compexp meta parameter", "dd.compexp_gain(x, *CE, torch.empty(2, device='meta'), 0.01)", "ValueError", "at"),
    bad("compexp sparse parameter", "dd.compexp_gain(x, *CE, torch.tensor([0.1, 0.2]).to_sparse(), 0.01)",
        "TypeError", "at"),
    bad("compexp complex parameter", "dd.compexp_gain(x, *CE, torch.tensor(0.1j), 0.01)", "TypeError", "at"),
    bad("compexp bool parameter", "dd.compexp_gain(x, *CE, True, 0.01)", "TypeError", "at"),
    bad("compexp string parameter", "dd.compexp_gain(x, '-20', 4.0, -60.0, 0.5, 0.1, 0.01)", "TypeError",
        "comp_thresh"),
    bad("compexp None parameter", "dd.compexp_gain(x, *CE, None, 0.01)", "TypeError", "at"),
    bad("compexp bool tensor parameter", "dd.compexp_gain(x, *CE, torch.tensor([True, False]), 0.01)", "TypeError",
        "at"),
    bad("compexp float16 tensor parameter is fine but 0 is not",
        "dd.compexp_gain(x, *CE, torch.tensor(0.0, dtype=torch.float16), 0.01)", "ValueError", "at"),
]

# compexp_gain_mode, gain_curve, sigmoid_core, compressor_core, avg, limiter_gain
CASES += [
    bad("mode: k in hard mode", "dd.compexp_gain_mode(x, *CE, 0.1, 0.01, 'hard', 2.0)", "ValueError", "k"),
    bad("mode: unknown ar_mode", "dd.compexp_gain_mode(x, *CE, 0.1, 0.01, 'soft')", "ValueError", "ar_mode"),
    bad("mode: ar_mode not a string", "dd.compexp_gain_mode(x, *CE, 0.1, 0.01, 1)", "TypeError", "ar_mode"),
    bad("mode: k = 0", "dd.compexp_gain_mode(x, *CE, 0.1, 0.01, 'sigmoid', 0.0)", "ValueError", "k"),
    bad("mode: k < 0", "dd.compexp_gain_mode(x, *CE, 0.1, 0.01, 'sigmoid', -1.0)", "ValueError", "k"),
    bad("mode: k nan", "dd.compexp_gain_mode(x, *CE, 0.1, 0.01, 'sigmoid', float('nan'))", "ValueError", "k"),
    bad("mode: k inf", "dd.compexp_gain_mode(x, *CE, 0.1, 0.01, 'sigmoid', math.inf)", "ValueError", "k"),
    bad("mode: k 1e30", "dd.compexp_gain_mode(x, *CE, 0.1, 0.01, 'sigmoid', 1e30)", "ValueError", "k"),
    good("mode: k at its bound: finite gradients f32 and f64",
         "grads_finite(lambda k: dd.compexp_gain_mode(x32, *CE, 0.1, 0.01, 'sigmoid', k), 1e6, dtype=torch.float32)\n"
         "grads_finite(lambda k: dd.compexp_gain_mode(x, *CE, 0.1, 0.01, 'sigmoid', k), 1e6)"),
    good("mode: tiny k: finite gradients", "grads_finite(lambda k: dd.compexp_gain_mode(x32, *CE, 0.1, 0.01,"
         " 'sigmoid', k), 1e-6, dtype=torch.float32)"),
    bad("mode: alpha_a out of range", "dd.compexp_gain_mode(x, *CE, 1.5, 0.01, 'sigmoid')", "ValueError", "alpha_a"),
    bad("mode: alpha_r nan", "dd.compexp_gain_mode(x, *CE, 0.1, float('nan'), 'hard')", "ValueError", "alpha_r"),
    bad("mode: sigmoid zero level", "y = x.clone(); y[1, 1] = 0; dd.compexp_gain_mode(y, *CE, 0.1, 0.01, 'sigmoid')",
        "ValueError", "x_rms"),
    good("mode: hard equals compexp_gain",
         "assert torch.equal(dd.compexp_gain_mode(x, *CE, 0.1, 0.01), dd.compexp_gain(x, *CE, 0.1, 0.01))"),
    bad("gain_curve nan level", "y = db.clone(); y[0, 0] = float('nan'); dd.gain_curve(y, -20.0, 4.0)", "ValueError",
        "level_db"),
    bad("gain_curve ratio 1", "dd.gain_curve(db, -20.0, 1.0)", "ValueError", "comp_ratio"),
    bad("gain_curve knee 1e20", "dd.gain_curve(db, -20.0, 4.0, knee=1e20)", "ValueError", "knee"),
    bad("gain_curve exp_ratio 1e-30", "dd.gain_curve(db.float(), -20.0, 4.0, -30.0, 1e-30)", "ValueError",
        "exp_ratio"),
    bad("gain_curve int level", "dd.gain_curve(db.long(), -20.0, 4.0)", "TypeError", "level_db"),
    good("gain_curve level -1e30 (a level of zero): finite",
         "y = db.clone(); y[0, 0] = -1e30; g = grads_finite(lambda c: dd.gain_curve(y, c, 4.0, -60.0, 0.5, 6.0), -20.0)"),
    bad("sigmoid_core zero target", "g = x.clone(); g[0, 0] = 0; dd.sigmoid_core(g, 1.0, 0.1, 0.01, 1.0)", "ValueError",
        "g"),
    bad("sigmoid_core zi 0", "dd.sigmoid_core(x, 0.0, 0.1, 0.01, 1.0)", "ValueError", "zi"),
    bad("sigmoid_core zi required", "dd.sigmoid_core(x, None, 0.1, 0.01, 1.0)", "ValueError", "zi"),
    bad("sigmoid_core k inf", "dd.sigmoid_core(x, 1.0, 0.1, 0.01, math.inf)", "ValueError", "k"),
    bad("sigmoid_core k 1e7", "dd.sigmoid_core(x, 1.0, 0.1, 0.01, 1e7)", "ValueError", "k"),
    bad("sigmoid_core alpha_a 0", "dd.sigmoid_core(x, 1.0, 0.0, 0.01, 1.0)", "ValueError", "alpha_a"),
    bad("compressor_core nan input", "y = x.clone(); y[1, 2] = float('nan'); dd.compressor_core(y, 1.0, 0.1, 0.01)",
        "ValueError", "x"),
    bad("compressor_core zi required", "dd.compressor_core(x, None, 0.1, 0.01)", "ValueError", "zi"),
    bad("compressor_core zi inf", "dd.compressor_core(x, math.inf, 0.1, 0.01)", "ValueError", "zi"),
    bad("compressor_core at 1", "dd.compressor_core(x, 1.0, 1.0, 0.01)", "ValueError", "at"),
    good("compressor_core negative input is fine (any envelope)",
         "y = dd.compressor_core(-x, 0.0, 0.1, 0.01); finite(y); assert (y < 0).all()"),
    bad("avg coef 0", "dd.avg(x, 0.0)", "ValueError", "avg_coef"),
    bad("avg coef 1.5", "dd.avg(x, 1.5)", "ValueError", "avg_coef"),
    good("avg coef 1 copies the input", "assert torch.equal(dd.avg(x, 1.0), x)"),
    bad("avg inf input", "y = x.clone(); y[0, -1] = -math.inf; dd.avg(y, 0.1)", "ValueError", "rms"),
    bad("avg zi wrong shape", "dd.avg(x, 0.1, zi=torch.zeros(2, 1))", "ValueError", "zi"),
    bad("avg int64 tensor", "dd.avg(torch.ones(2, 4, dtype=torch.int64), 0.1)", "TypeError", "rms"),
    bad("limiter threshold > 0", "dd.limiter_gain(a, 1.0, 0.1, 0.01)", "ValueError", "threshold"),
    bad("limiter threshold nan", "dd.limiter_gain(a, float('nan'), 0.1, 0.01)", "ValueError", "threshold"),
    bad("limiter threshold -1e30", "dd.limiter_gain(a, -1e30, 0.1, 0.01)", "ValueError", "threshold"),
    good("limiter threshold at its bound: finite gradients f32",
         "grads_finite(lambda t: dd.limiter_gain(a.float(), t, 0.1, 0.01), -1e4, dtype=torch.float32)"),
    bad("limiter at 0", "dd.limiter_gain(a, -6.0, 0.0, 0.01)", "ValueError", "at"),
    bad("limiter nan input", "y = a.clone(); y[0, 1] = float('nan'); dd.limiter_gain(y, -6.0, 0.1, 0.01)",
        "ValueError", "x"),
    bad("limiter zi wrong size", "dd.limiter_gain(a, -6.0, 0.1, 0.01, zi=torch.zeros(3))", "ValueError", "zi"),
    bad("limiter zi negative peak", "dd.limiter_gain(a, -6.0, 0.1, 0.01, zi=torch.tensor([-1.0, 1.0]))",
        "ValueError", "zi"),
    good("limiter silence: gain 1, finite gradients",
         "g = grads_finite(lambda s: dd.limiter_gain(s, -6.0, 0.1, 0.01), torch.zeros(2, T, dtype=torch.float64));"
         " assert (g == 1).all()"),
]

# ------------------------------------------------------------------------------------------------
# SSL: ssl_comp_gain, ssl_compress, ssl_preset

CASES += [
    bad("ssl nan level", "y = db.clone(); y[0, 4] = float('nan'); dd.ssl_comp_gain(y, **SSL)", "ValueError",
        "x_peak_dB"),
    bad("ssl inf level", "y = db.clone(); y[0, 4] = math.inf; dd.ssl_comp_gain(y, **SSL)", "ValueError", "x_peak_dB"),
    good("ssl level -1e30 dB (silence) is accepted: finite, gain 0 dB",
         "y = db.clone(); y[:, :] = -1e30; g = grads_finite(lambda c: dd.ssl_comp_gain(y, c, *SSL_ARGS[1:]), -20.0);"
         " assert (g == 0).all()"),
    bad("ssl ratio 1", "dd.ssl_comp_gain(db, **{**SSL, 'comp_ratio': 1.0})", "ValueError", "comp_ratio"),
    bad("ssl ratio nan", "dd.ssl_comp_gain(db, **{**SSL, 'comp_ratio': float('nan')})", "ValueError", "comp_ratio"),
    bad("ssl T_attack_fast 0", "dd.ssl_comp_gain(db, **{**SSL, 'T_attack_fast': 0.0})", "ValueError", "T_attack_fast"),
    bad("ssl T_attack_slow negative", "dd.ssl_comp_gain(db, **{**SSL, 'T_attack_slow': -1e-3})", "ValueError",
        "T_attack_slow"),
    bad("ssl T_shunt_fast inf", "dd.ssl_comp_gain(db, **{**SSL, 'T_shunt_fast': math.inf})", "ValueError",
        "T_shunt_fast"),
    bad("ssl T_shunt_slow nan", "dd.ssl_comp_gain(db, **{**SSL, 'T_shunt_slow': float('nan')})", "ValueError",
        "T_shunt_slow"),
    bad("ssl feedback 1.5", "dd.ssl_comp_gain(db, **{**SSL, 'feedback_coeff': 1.5})", "ValueError", "feedback_coeff"),
    bad("ssl feedback -0.1", "dd.ssl_comp_gain(db, **{**SSL, 'feedback_coeff': -0.1})", "ValueError",
        "feedback_coeff"),
    bad("ssl fs 0", "dd.ssl_comp_gain(db, **SSL, fs=0)", "ValueError", "fs"),
    bad("ssl fs nan", "dd.ssl_comp_gain(db, **SSL, fs=float('nan'))", "ValueError", "fs"),
    bad("ssl fs string", "dd.ssl_comp_gain(db, **SSL, fs='44100')", "TypeError", "fs"),
    good("ssl fs numpy int64", "g = dd.ssl_comp_gain(db, **SSL, fs=np.int64(44100));"
         " assert torch.equal(g, dd.ssl_comp_gain(db, **SSL))"),
    bad("ssl knee negative", "dd.ssl_comp_gain(db, **SSL, knee=-3.0)", "ValueError", "knee"),
    bad("ssl knee 1e20", "dd.ssl_comp_gain(db, **SSL, knee=1e20)", "ValueError", "knee"),
    bad("ssl threshold 1e30", "dd.ssl_comp_gain(db, **{**SSL, 'comp_thresh': 1e30})", "ValueError", "comp_thresh"),
    bad("ssl gate_k 0", "dd.ssl_comp_gain(db, **SSL, gate_k=0.0)", "ValueError", "gate_k"),
    bad("ssl gate_k negative", "dd.ssl_comp_gain(db, **SSL, gate_k=-1.0)", "ValueError", "gate_k"),
    bad("ssl gate_k nan", "dd.ssl_comp_gain(db, **SSL, gate_k=float('nan'))", "ValueError", "gate_k"),
    bad("ssl gate_k -inf", "dd.ssl_comp_gain(db, **SSL, gate_k=-math.inf)", "ValueError", "gate_k"),
    bad("ssl gate_k 1e30", "dd.ssl_comp_gain(db, **SSL, gate_k=1e30)", "ValueError", "gate_k"),
    good("ssl gate_k inf is the hard gate",
         "assert torch.equal(dd.ssl_comp_gain(db, **SSL, gate_k=math.inf), dd.ssl_comp_gain(db, **SSL))"),
    good("ssl gate_k at its bound: finite gradients",
         "grads_finite(lambda k: dd.ssl_comp_gain(db, **SSL, gate_k=k), 1e6)"),
    bad("ssl gate_k per row wrong count", "dd.ssl_comp_gain(db, **SSL, gate_k=torch.ones(3))", "ValueError", "gate_k"),
    bad("ssl zi wrong shape", "dd.ssl_comp_gain(db, **SSL, zi=torch.zeros(2, 3))", "ValueError", "zi"),
    bad("ssl zi nan", "dd.ssl_comp_gain(db, **SSL, zi=torch.tensor([float('nan'), 0.0]))", "ValueError", "zi"),
    bad("ssl complex level", "dd.ssl_comp_gain(db.to(torch.complex64), **SSL)", "TypeError", "x_peak_dB"),
    bad("ssl 3-d level", "dd.ssl_comp_gain(db.reshape(2, 1, T), **SSL)", "ValueError", "x_peak_dB"),
    bad("ssl per-row threshold mismatch", "dd.ssl_comp_gain(db, **{**SSL, 'comp_thresh': torch.tensor([-20.0] * 3)})",
        "ValueError", "comp_thresh"),
    good("ssl extreme but valid time constants: finite gradients",
         "grads_finite(lambda a, b: dd.ssl_comp_gain(db, -20.0, 4.0, a, 1e4, b, 1e-9, 0.5), 1e-9, 1e4)"),
    good("ssl time constants of one sample and of hours: finite gradients f32",
         "grads_finite(lambda a, b, c, d: dd.ssl_comp_gain(db.float(), -20.0, 4.0, a, b, c, d, 0.999),"
         " 1 / 44100, 3600.0, 1 / 44100, 3600.0, dtype=torch.float32)"),
    bad("ssl time constant 1e-30", "dd.ssl_comp_gain(db, **{**SSL, 'T_attack_fast': 1e-30})", "ValueError",
        "T_attack_fast"),
    good("ssl time constants of 1e30 s (a capacitor that never charges): finite gradients f32",
         "grads_finite(lambda a, b: dd.ssl_comp_gain(db.float(), -20.0, 4.0, 3.85e-4, a, 0.0428, b, 0.5), 1e30, 1e30,"
         " dtype=torch.float32)"),
    good("ssl non-contiguous level",
         "big = torch.cat([db, db], dim=1)[:, ::2]; assert torch.equal(dd.ssl_comp_gain(big, **SSL),"
         " dd.ssl_comp_gain(big.contiguous(), **SSL))"),
    bad("ssl_compress nan audio", "y = a.clone(); y[1, 1] = float('nan'); dd.ssl_compress(y, **SSL)", "ValueError", "x"),
    bad("ssl_compress int audio", "dd.ssl_compress(torch.zeros(2, 8, dtype=torch.int16), **SSL)", "TypeError", "x"),
    bad("ssl_compress empty audio", "dd.ssl_compress(torch.zeros(1, 0, dtype=torch.float64), **SSL)", "ValueError",
        "x"),
    good("ssl_compress silence: finite gradients for the audio",
         "z = torch.zeros(2, T, dtype=torch.float64, requires_grad=True); g, y = dd.ssl_compress(z, **SSL);"
         " (g.sum() + y.sum()).backward(); finite(g, y, z.grad)"),
    bad("ssl_compress gate_k string", "dd.ssl_compress(a, **SSL, gate_k='soft')", "TypeError", "gate_k"),
    bad("ssl_preset attack ohms off the switch", "dd.ssl_preset(attack_ohms=1000)", "ValueError", "attack_ohms"),
    bad("ssl_preset release string", "dd.ssl_preset(release='fast')", "ValueError", "release"),
    bad("ssl_preset release 0", "dd.ssl_preset(release=0)", "ValueError", "release"),
    bad("ssl_preset ratio 1", "dd.ssl_preset(ratio=1)", "ValueError", "ratio"),
    bad("ssl_preset ratio nan", "dd.ssl_preset(ratio=float('nan'))", "ValueError", "ratio"),
    bad("ssl_preset attack_ms out of the panel", "dd.ssl_preset(attack_ms=100)", "ValueError", "attack_ms"),
    bad("ssl_preset attack_ms nan", "dd.ssl_preset(attack_ms=float('nan'))", "ValueError", "attack_ms"),
    bad("ssl_preset release_s out of the panel", "dd.ssl_preset(release_s=5.0)", "ValueError", "release_s"),
    bad("ssl_preset both attack forms", "dd.ssl_preset(attack_ohms=820, attack_ms=1)", "TypeError", "attack_ms"),
    bad("ssl_preset feedback 2", "dd.ssl_preset(feedback_coeff=2)", "ValueError", "feedback_coeff"),
    bad("ssl_preset threshold inf", "dd.ssl_preset(comp_thresh=math.inf)", "ValueError", "comp_thresh"),
    bad("ssl_preset threshold 1e30", "dd.ssl_preset(comp_thresh=1e30)", "ValueError", "comp_thresh"),
    bad("ssl_preset fs negative", "dd.ssl_preset(fs=-44100)", "ValueError", "fs"),
    bad("ssl_preset ratio bool", "dd.ssl_preset(ratio=True)", "TypeError", "ratio"),
    good("ssl_preset numpy scalars", "p = dd.ssl_preset(attack_ms=np.float32(3), release_s=np.float64(0.3),"
         " ratio=np.int64(4), fs=np.int64(48000)); q = dd.ssl_preset(attack_ms=3, release_s=0.3, ratio=4, fs=48000);"
         " assert p == q"),
    good("ssl_preset output works in ssl_comp_gain", "finite(dd.ssl_comp_gain(db, **dd.ssl_preset(attack_ms=30,"
         " release_s=1.2, ratio=10)))"),
]

# ------------------------------------------------------------------------------------------------
# Conversions and threads

CASES += [
    bad("ms2coef inf", "dd.ms2coef(math.inf)", "ValueError", "ms"),
    bad("ms2coef 0", "dd.ms2coef(0.0)", "ValueError", "ms"),
    bad("ms2coef negative tensor", "dd.ms2coef(torch.tensor([10.0, -1.0]))", "ValueError", "ms"),
    bad("ms2coef sr 0", "dd.ms2coef(10.0, 0)", "ValueError", "sr"),
    bad("ms2coef sr inf", "dd.ms2coef(10.0, math.inf)", "ValueError", "sr"),
    bad("ms2coef string", "dd.ms2coef('10')", "TypeError", "ms"),
    bad("ms2coef complex", "dd.ms2coef(torch.tensor(1j))", "TypeError", "ms"),
    bad("ms2coef huge int", "dd.ms2coef(2**1100)", "ValueError", "ms"),
    good("ms2coef spec example", "assert abs(dd.ms2coef(10, 44100) - 0.0049762) < 1e-7"),
    good("ms2coef numpy float32 scalar keeps its type",
         "c = dd.ms2coef(np.float32(5)); assert type(c) is np.float32, type(c)\n"
         "assert abs(float(c) - dd.ms2coef(5.0)) <= 1e-7 * dd.ms2coef(5.0)"),
    good("ms2coef numpy int64 sample rate", "assert dd.ms2coef(10.0, np.int64(44100)) == dd.ms2coef(10.0, 44100)"),
    good("ms2coef float32 tensor: accurate to float32 rounding (no cancellation)",
         "ms = torch.tensor([1e-3, 0.1, 10.0, 1e3, 1e6, 1e9], dtype=torch.float32)\n"
         "c = dd.ms2coef(ms); assert c.dtype == torch.float32\n"
         "exact = -torch.expm1(-2200.0 / (ms.double() * 44100)); assert torch.allclose(c.double(), exact, rtol=1e-7,"
         " atol=0)"),
    good("ms2coef int tensor", "c = dd.ms2coef(torch.tensor([10, 20])); assert c.is_floating_point(); finite(c)"),
    bad("coef2ms 1", "dd.coef2ms(1.0)", "ValueError", "coef"),
    bad("coef2ms 0", "dd.coef2ms(0.0)", "ValueError", "coef"),
    bad("coef2ms nan array", "dd.coef2ms(np.array([0.5, np.nan]))", "ValueError", "coef"),
    good("coef2ms inverts ms2coef in float32", "ms = torch.tensor([0.5, 10.0, 500.0]);"
         " assert torch.allclose(dd.coef2ms(dd.ms2coef(ms)), ms, rtol=1e-4)"),
    bad("amp2db -1", "dd.amp2db(-1.0)", "ValueError", "x"),
    bad("amp2db 0", "dd.amp2db(0)", "ValueError", "x"),
    bad("amp2db nan tensor", "dd.amp2db(torch.tensor([1.0, float('nan')]))", "ValueError", "x"),
    bad("amp2db inf", "dd.amp2db(math.inf)", "ValueError", "x"),
    good("amp2db numpy float32 scalar keeps its type", "v = dd.amp2db(np.float32(10)); assert type(v) is np.float32;"
         " assert v == np.float32(20)"),
    bad("db2amp inf", "dd.db2amp(math.inf)", "ValueError", "x"),
    bad("db2amp overflow", "dd.db2amp(7000.0)", "ValueError", "x"),
    bad("db2amp bool", "dd.db2amp(True)", "TypeError", "x"),
    good("db2amp -inf is not finite but -1e4 dB is 0", "assert dd.db2amp(-1e4) == 0.0"),
    bad("db2amp -inf", "dd.db2amp(-math.inf)", "ValueError", "x"),
    bad("set_num_threads 16777216", "dd.set_num_threads(16777216)", "ValueError", "threads"),
    bad("set_num_threads 2**40", "dd.set_num_threads(2**40)", "ValueError", "threads"),
    bad("set_num_threads -1", "dd.set_num_threads(-1)", "ValueError", "threads"),
    bad("set_num_threads float", "dd.set_num_threads(2.0)", "TypeError", "threads"),
    bad("set_num_threads bool", "dd.set_num_threads(True)", "TypeError", "threads"),
    bad("set_num_threads None", "dd.set_num_threads(None)", "TypeError", "threads"),
    good("set_num_threads numpy int and results do not change",
         "g1 = dd.compexp_gain(x, *CE, 0.1, 0.01); dd.set_num_threads(np.int64(3)); assert dd.get_num_threads() == 3;"
         " assert torch.equal(dd.compexp_gain(x, *CE, 0.1, 0.01), g1)"),
]

# ------------------------------------------------------------------------------------------------
# Streaming processors

CASES += [
    bad("stream channels 0", "streaming.HardSmootherProcessor(channels=0)", "ValueError", "channels"),
    bad("stream channels float", "streaming.HardSmootherProcessor(channels=2.0)", "TypeError", "channels"),
    bad("stream max_block 0", "streaming.AvgProcessor(max_block=0)", "ValueError", "max_block"),
    bad("stream max_block huge", "streaming.AvgProcessor(max_block=2**40)", "ValueError", "max_block"),
    bad("stream fs nan", "streaming.AvgProcessor(fs=float('nan'))", "ValueError", "fs"),
    bad("stream dtype float16", "streaming.AvgProcessor(dtype=np.float16)", "TypeError", "dtype"),
    bad("stream bad setting value", "streaming.CompexpProcessor(comp_ratio=0.5)", "ValueError", "comp_ratio"),
    bad("stream nan setting", "streaming.CompexpProcessor(at=float('nan'))", "ValueError", "at"),
    bad("stream unknown setting", "streaming.CompexpProcessor(ratio=4.0)", "ValueError", "ratio"),
    bad("stream block wrong channels", "p = streaming.CompexpProcessor(channels=2); p.process(np.ones((3, 8),"
        " np.float32))", "ValueError", "block"),
    bad("stream block wrong dtype", "p = streaming.CompexpProcessor(); p.process(np.ones((1, 8), np.float64))",
        "TypeError", "block"),
    bad("stream block int", "p = streaming.CompexpProcessor(); p.process(np.ones((1, 8), np.int32))", "TypeError",
        "block"),
    bad("stream block 3-d", "p = streaming.AvgProcessor(); p.process(np.ones((1, 1, 8), np.float32))", "ValueError",
        "block"),
    bad("stream block list", "p = streaming.AvgProcessor(); p.process([0.1, 0.2])", "TypeError", "block"),
    bad("stream block nan", "p = streaming.AvgProcessor(); p.process(np.array([[0.1, np.nan]], np.float32))",
        "ValueError", "x"),
    bad("stream compexp zero level", "p = streaming.CompexpProcessor(); p.process(np.zeros((1, 4), np.float32))",
        "ValueError", "x_rms"),
    good("stream non-contiguous block equals contiguous",
         "p = streaming.CompexpProcessor(dtype=np.float64); q = streaming.CompexpProcessor(dtype=np.float64)\n"
         "blk = np.repeat(x.numpy()[:1], 2, axis=1)[:, ::2]; assert not blk.flags.c_contiguous\n"
         "assert np.array_equal(p.process(blk), q.process(np.ascontiguousarray(blk)))"),
    good("stream empty block does nothing", "p = streaming.AvgProcessor(); y = p.process(np.zeros((1, 0), np.float32));"
         " assert y.shape == (1, 0)"),
    bad("stream state wrong size", "p = streaming.LimiterProcessor(channels=2); p.state = np.zeros((2, 1))",
        "ValueError", "state"),
    bad("stream state nan", "p = streaming.AvgProcessor(); p.state = np.array([[np.nan]])", "ValueError", "state"),
    bad("stream state wrong channels", "p = streaming.SSLGainProcessor(channels=1); p.state = np.zeros((2, 2))",
        "ValueError", "state"),
    bad("stream sigmoid state 0", "p = streaming.SigmoidSmootherProcessor(); p.state = np.zeros((1, 1))", "ValueError",
        "state"),
    bad("stream set_settings channel out of range", "p = streaming.AvgProcessor(channels=2);"
        " p.set_settings(channel=5, coef=0.5)", "ValueError", "channel"),
    bad("stream ssl sidechain wrong shape", "p = streaming.SSLProcessor(channels=2);"
        " p.process(np.zeros((2, 8), np.float32), sidechain=np.zeros((2, 4), np.float32))", "ValueError", "sidechain"),
    bad("stream ssl gate_k 0", "streaming.SSLGainProcessor(gate_k=0.0)", "ValueError", "gate_k"),
]

# ------------------------------------------------------------------------------------------------
# Audio: differential_dynamics.audio (C++ processors) and the nn.Modules (modules.py)

CASES += [
    bad("audio.process unknown model", "audio.process(a.numpy(), 'opto')", "ValueError", "model"),
    bad("audio.process fs 0", "audio.process(a.numpy(), fs=0)", "ValueError", "fs"),
    bad("audio.process nan audio", "y = a.numpy().copy(); y[0, 3] = np.nan; audio.process(y)", "ValueError", "x"),
    bad("audio.process (time, channels)", "audio.process(np.zeros((512, 2), np.float32))", "ValueError", "x"),
    bad("audio.process 4-d", "audio.process(np.zeros((1, 1, 2, 8), np.float32))", "ValueError", "x"),
    bad("audio.process int audio", "audio.process(np.zeros((2, 8), np.int16))", "TypeError", "x"),
    bad("audio.process empty", "audio.process(np.zeros((2, 0), np.float32))", "ValueError", "x"),
    bad("audio.process ratio 1", "audio.process(a.numpy(), ratio=1.0)", "ValueError", "ratio"),
    bad("audio.process unknown setting", "audio.process(a.numpy(), treshold_db=-20)", "TypeError", "treshold_db"),
    bad("audio.process bad link", "audio.process(a.numpy(), link='min')", "ValueError", "link"),
    bad("audio.process mix 2", "audio.process(a.numpy(), mix=2.0)", "ValueError", "mix"),
    bad("audio.process ssl attack off panel", "audio.process(a.numpy(), 'ssl', attack_ms=100.0)", "ValueError",
        "attack_ms"),
    bad("audio.process limiter threshold > 0", "audio.process(a.numpy(), 'limiter', threshold_db=3.0)", "ValueError",
        "threshold_db"),
    bad("audio.process sidechain dtype", "audio.process(a.numpy(), sidechain=a.numpy().astype(np.float32))",
        "TypeError", "sidechain"),
    bad("audio.process sidechain shape", "audio.process(a.numpy(), sidechain=a.numpy()[:, :10])", "ValueError",
        "sidechain"),
    good("audio.process non-contiguous input equals contiguous",
         "big = np.repeat(a.numpy(), 2, axis=1)[:, ::2]; assert not big.flags.c_contiguous\n"
         "assert np.array_equal(audio.process(big), audio.process(np.ascontiguousarray(big)))"),
    good("audio.process numpy int sample rate", "assert np.array_equal(audio.process(a.numpy(), fs=np.int64(44100)),"
         " audio.process(a.numpy()))"),
    bad("audio.Compressor block channels", "c = audio.Compressor(channels=2); c.process(np.zeros((1, 8), np.float32))",
        "ValueError", "block"),
    bad("audio.Compressor bad setting", "audio.Compressor(attack_ms=-1.0)", "ValueError", "attack_ms"),
    bad("audio.SSLCompressor bad release", "audio.SSLCompressor(release_ms=5000.0)", "ValueError", "release_ms"),
    bad("audio.Limiter state wrong size", "l = audio.Limiter(channels=2); l.state = np.zeros((5,))", "ValueError",
        "state"),
    bad("modules.Compressor ratio 1", "modules.Compressor(ratio=1.0)", "ValueError", "ratio"),
    bad("modules.Compressor attack 0", "modules.Compressor(attack_ms=0.0)", "ValueError", "attack_ms"),
    bad("modules.Compressor nan threshold", "modules.Compressor(threshold_db=float('nan'))", "ValueError",
        "threshold_db"),
    bad("modules.Compressor k with hard gate", "modules.Compressor(k=2.0)", "ValueError", "k"),
    bad("modules.Compressor k 0 sigmoid", "modules.Compressor(gate='sigmoid', k=0.0)", "ValueError", "k"),
    bad("modules.Compressor bad gate", "modules.Compressor(gate='soft')", "ValueError", "gate"),
    bad("modules.Compressor bad detector", "modules.Compressor(detector='lufs')", "ValueError", "detector"),
    bad("modules.Compressor knee 1e20", "modules.Compressor(knee_db=1e20)", "ValueError", "knee_db"),
    bad("modules.Compressor mix -1", "modules.Compressor(mix=-1.0)", "ValueError", "mix"),
    bad("modules.Compressor lookahead negative", "modules.Compressor(lookahead_ms=-1.0)", "ValueError",
        "lookahead_ms"),
    bad("modules.Compressor sample_rate 0", "modules.Compressor(sample_rate=0)", "ValueError", "sample_rate"),
    bad("modules.Compressor nan audio", "y = audio3.clone(); y[0, 0, 0] = float('nan'); modules.Compressor()(y)",
        "ValueError", "x"),
    bad("modules.Compressor int audio", "modules.Compressor()(torch.zeros(1, 2, 8, dtype=torch.int32))", "TypeError",
        "x"),
    bad("modules.Compressor 4-d audio", "modules.Compressor()(torch.zeros(1, 1, 2, 8, dtype=torch.float64))",
        "ValueError", "x"),
    bad("modules.Compressor (time, channels) audio", "modules.Compressor()(torch.zeros(1, 512, 2, dtype=torch.float64))",
        "ValueError", "x"),
    bad("modules.Compressor sidechain shape", "modules.Compressor()(audio3, audio3[..., :5])", "ValueError",
        "sidechain"),
    bad("modules.Compressor attribute set out of range", "c = modules.Compressor(); c.ratio = 0.5", "ValueError",
        "ratio"),
    good("modules.Compressor silence: finite output and gradients",
         "c = modules.Compressor(); z = torch.zeros(1, 2, T, dtype=torch.float64, requires_grad=True)\n"
         "y = c(z); y.sum().backward(); finite(y, z.grad, *(p.grad for p in c.parameters() if p.grad is not None))"),
    good("modules.Compressor sigmoid gate: finite gradients on switching audio",
         "c = modules.Compressor(gate='sigmoid', k=3.0, knee_db=6.0); y = c(audio3); y.sum().backward()\n"
         "finite(y, *(p.grad for p in c.parameters()))"),
    good("modules.compressor_audio non-contiguous input equals contiguous",
         "big = torch.cat([audio3, audio3], dim=-1)[..., ::2]\n"
         "assert torch.equal(modules.compressor_audio(big), modules.compressor_audio(big.contiguous()))"),
    bad("modules.compressor_audio makeup 1e4 dB (overflows)", "modules.compressor_audio(audio3, makeup_db=1e4)",
        "ValueError", "makeup_db"),
    bad("modules.Compressor makeup 1e300", "modules.Compressor(makeup_db=1e300)", "ValueError", "makeup_db"),
    good("modules.Compressor makeup 100 dB: finite", "finite(modules.Compressor(makeup_db=100.0)(audio3))"),
    bad("modules.Limiter threshold > 0", "modules.Limiter(threshold_db=1.0)", "ValueError", "threshold_db"),
    bad("modules.limiter_audio release inf", "modules.limiter_audio(audio3, release_ms=math.inf)", "ValueError",
        "release_ms"),
    bad("modules.SSLCompressor feedback 2", "modules.SSLCompressor(feedback=2.0)", "ValueError", "feedback"),
    bad("modules.SSLCompressor time constants and panel",
        "modules.SSLCompressor(attack_ms=1.0, time_constants=dict(T_attack_fast=1e-3, T_attack_slow=1e-2,"
        " T_shunt_fast=0.05, T_shunt_slow=5.0))", "ValueError", "time_constants"),
    bad("modules.SSLCompressor time constants keys", "modules.SSLCompressor(time_constants=dict(T_attack_fast=1e-3))",
        "ValueError", "time_constants"),
    bad("modules.ssl_audio attack 0", "modules.ssl_audio(audio3, attack_ms=0.0)", "ValueError", "attack_ms"),
    bad("modules.ssl_audio release string", "modules.ssl_audio(audio3, release_ms='slow')", "ValueError",
        "release_ms"),
    bad("modules.ssl_audio knob wrong batch", "modules.ssl_audio(audio3, threshold_db=torch.tensor([-20.0, -10.0]))",
        "ValueError", "threshold_db"),
    good("modules.SSLCompressor: finite output and gradients",
         "c = modules.SSLCompressor(feedback=0.5); y = c(audio3); y.sum().backward()\n"
         "finite(y, *(p.grad for p in c.parameters() if p.grad is not None))"),
]

# ------------------------------------------------------------------------------------------------
# Family, probes, metrics

CASES += [
    bad("family unknown topology", "family.Topology.parse('ff-peak-gain-log-magic')", "ValueError", "design"),
    bad("family topology not a Topology", "family.family_gain(a, 'ff-peak-gain-log-branching', -20.0, 4.0, 0.0, 0.1,"
        " 0.01)", "TypeError", "topology"),
    bad("family_gain ratio 1", "family.family_gain(a, family.Topology.parse('ff-peak-gain-log-branching'), -20.0, 1.0,"
        " 0.0, 0.1, 0.01)", "ValueError", "comp_ratio"),
    bad("family_gain nan audio", "y = a.clone(); y[0, 0] = float('nan'); family.family_gain(y,"
        " family.Topology.parse('fb-rms-level-linear-decoupled'), -20.0, 4.0, 0.0, 0.1, 0.01)", "ValueError", "x"),
    bad("family_gain knee 1e20", "family.family_gain(a, family.Topology.parse('ff-peak-gain-log-branching'), -20.0,"
        " 4.0, 1e20, 0.1, 0.01)", "ValueError", "knee"),
    bad("family_gain attack 1", "family.family_gain(a, family.Topology.parse('ff-peak-gain-log-branching'), -20.0,"
        " 4.0, 0.0, 1.0, 0.01)", "ValueError", "attack"),
    good("family_gain every topology on silence: finite output and gradients",
         "z = torch.zeros(1, 32, dtype=torch.float64)\n"
         "for t in family.all_topologies():\n"
         "    grads_finite(lambda s, c, r, w, at, rt: family.family_gain(s, t, c, r, w, at, rt), z, -20.0, 4.0, 3.0,"
         " 0.1, 0.01)"),
    bad("peak_detector unknown design", "family.peak_detector(a.abs(), 'fast', 0.1, 0.01)", "ValueError", "design"),
    bad("peak_detector release 0", "family.peak_detector(a.abs(), 'branching', 0.1, 0.0)", "ValueError", "release"),
    bad("peak_detector rest nan", "family.peak_detector(a.abs(), 'branching', 0.1, 0.01, rest=float('nan'))",
        "ValueError", "rest"),
    bad("FamilyCompressor ratio 1", "family.FamilyCompressor(family.Topology.parse('ff-peak-gain-log-branching'),"
        " ratio=1.0)", "ValueError", "ratio"),
    bad("FamilyCompressor attack out of range", "family.FamilyCompressor(family.Topology.parse("
        "'ff-peak-gain-log-branching'), attack_ms=1e6)", "ValueError", "attack_ms"),
    bad("FamilyCompressor fs 0", "family.FamilyCompressor(family.Topology.parse('ff-peak-gain-log-branching'), fs=0)",
        "ValueError", "fs"),
    bad("make_probe unknown", "probes.make_probe('chirp', 0, length=100)", "ValueError", "name"),
    bad("make_probe seed negative", "probes.make_probe('tone', -1, length=100)", "ValueError", "seed"),
    bad("make_probe seed float", "probes.make_probe('tone', 1.5, length=100)", "TypeError", "seed"),
    bad("make_probe length 0", "probes.make_probe('tone', 0, length=0)", "ValueError", "length"),
    bad("make_probe length and seconds", "probes.make_probe('tone', 0, length=10, seconds=1.0)", "TypeError", "length"),
    bad("make_probe fs inf", "probes.make_probe('tone', 0, fs=math.inf, length=10)", "ValueError", "fs"),
    bad("make_probe threshold_db nan", "probes.make_probe('release_drops', 0, length=4410, threshold_db=float('nan'))",
        "ValueError", "threshold_db"),
    bad("make_probe threshold_db out of range", "probes.make_probe('release_drops', 0, length=4410, threshold_db=20.0)",
        "ValueError", "threshold_db"),
    bad("make_probe huge length", "probes.make_probe('tone', 0, length=2**62)", "ValueError", "length"),
    good("make_probe numpy int seed and length", "p = probes.make_probe('tone', np.int64(3), length=np.int64(100));"
         " assert torch.equal(p, probes.make_probe('tone', 3, length=100))"),
    bad("render_probe_audio bad carrier", "probes.render_probe_audio(torch.ones(10), 'square')", "ValueError", "carrier"),
    bad("render_probe_audio nan envelope", "probes.render_probe_audio(torch.tensor([0.5, float('nan')]))", "ValueError",
        "envelope"),
    bad("render_probe_audio frequency above Nyquist", "probes.render_probe_audio(torch.ones(10), 'sine',"
        " frequency=30000.0)", "ValueError", "frequency"),
    bad("probe_mix kinds classic", "probes.probe_mix(0, length=4410, kinds=['tone'])", "ValueError", "kinds"),
    bad("probe_mix min > max seconds", "probes.probe_mix(0, length=4410, min_seconds=3.0, max_seconds=1.0)",
        "ValueError", "min_seconds"),
    bad("gain_rmse_db shape mismatch", "metrics.gain_rmse_db(np.zeros(10), np.zeros(11))", "ValueError", "gain_b_db"),
    bad("gain_rmse_db nan", "metrics.gain_rmse_db(np.array([0.0, np.nan]), np.zeros(2))", "ValueError", "gain_a_db"),
    bad("gain_rmse_db list", "metrics.gain_rmse_db([0.0], np.zeros(1))", "TypeError", "gain_a_db"),
    bad("gain_rmse_db complex", "metrics.gain_rmse_db(np.zeros(2, complex), np.zeros(2))", "TypeError", "gain_a_db"),
    bad("gain_rmse_db empty", "metrics.gain_rmse_db(np.zeros(0), np.zeros(0))", "ValueError", "gain_a_db"),
    bad("gain_rmse_db nothing active", "metrics.gain_rmse_db(np.zeros(3), np.zeros(3), np.full(3, -200.0))",
        "ValueError", "level_db"),
    bad("esr silent reference", "metrics.esr(np.zeros(4), np.ones(4))", "ValueError", "y"),
    bad("esr inf", "metrics.esr(np.array([1.0, np.inf]), np.ones(2))", "ValueError", "y"),
    bad("rise_time_63 edge negative", "metrics.rise_time_63(np.ones(10), -1)", "ValueError", "edge"),
    bad("rise_time_63 edge beyond the trace", "metrics.rise_time_63(np.ones(10), 50)", "ValueError", "edge"),
    bad("rise_time_63 edge float", "metrics.rise_time_63(np.ones(10), 2.0)", "TypeError", "edge"),
    bad("flip_rate fs 0", "metrics.flip_rate(np.zeros(10), fs=0.0)", "ValueError", "fs"),
    bad("flip_rate 3-d", "metrics.flip_rate(np.zeros((1, 1, 10)))", "ValueError", "gain_db"),
    bad("near_threshold_occupancy half width negative", "metrics.near_threshold_occupancy(np.zeros(10), -20.0, -3.0)",
        "ValueError", "half_width_db"),
    bad("average_gain_reduction_db nan", "metrics.average_gain_reduction_db(np.array([np.nan]))", "ValueError",
        "gain_db"),
]

# ------------------------------------------------------------------------------------------------
# Derivative orders that are refused raise (never zeros)

_SECOND = ("(g,) = torch.autograd.grad(out.sum(), p, create_graph=True)\n"
           "torch.autograd.grad(g.sum(), p)\n")
_THIRD = ("(g,) = torch.autograd.grad(out.sum(), p, create_graph=True)\n"
          "(h,) = torch.autograd.grad((g * g).sum(), p, create_graph=True)\n"
          "torch.autograd.grad(h.sum(), p)\n")
CASES += [
    bad("ssl third order", "p = torch.tensor(-20.0, dtype=torch.float64, requires_grad=True)\n"
        "out = dd.ssl_comp_gain(db, p, *SSL_ARGS[1:])\n" + _THIRD, "RuntimeError", "ssl_comp_gain"),
    bad("ssl_compress third order", "p = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)\n"
        "out = dd.ssl_compress(a, -20.0, p, *SSL_ARGS[2:])[1]\n" + _THIRD, "RuntimeError", "ssl_compress"),
    bad("ssl soft gate second order", "p = torch.tensor(-20.0, dtype=torch.float64, requires_grad=True)\n"
        "out = dd.ssl_comp_gain(db, p, *SSL_ARGS[1:], gate_k=2.0)\n" + _SECOND, "RuntimeError", "ssl_comp_gain"),
    bad("ssl hessian of the soft gate", "f = lambda c: dd.ssl_comp_gain(db, c, *SSL_ARGS[1:], gate_k=2.0).sum()\n"
        "torch.autograd.functional.hessian(f, torch.tensor(-20.0, dtype=torch.float64))", "RuntimeError",
        "ssl_comp_gain"),
    bad("sigmoid third order", "p = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)\n"
        "out = dd.compexp_gain_mode(x, *CE, p, 0.01, 'sigmoid', 2.0)\n" + _THIRD, "RuntimeError", "compexp_gain_mode"),
    bad("sigmoid_core third order", "p = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)\n"
        "out = dd.sigmoid_core(x, 1.0, 0.1, 0.01, p)\n" + _THIRD, "RuntimeError", "sigmoid_core"),
    bad("family second order", "p = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)\n"
        "out = family.family_gain(a, family.Topology.parse('ff-peak-level-log-decoupled'), -20.0, 4.0, 0.0, p, 0.01)\n"
        + _SECOND, "RuntimeError", "peak_detector"),
    bad("family feedback second order", "p = torch.tensor(-20.0, dtype=torch.float64, requires_grad=True)\n"
        "out = family.family_gain(a, family.Topology.parse('fb-peak-level-log-decoupled'), p, 4.0, 0.0, 0.1, 0.01)\n"
        + _SECOND, "RuntimeError", "feedback_compressor_gain"),
    bad("family forward mode", "import torch.autograd.forward_ad as fwAD\n"
        "with fwAD.dual_level():\n"
        "    p = fwAD.make_dual(torch.tensor(-20.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))\n"
        "    family.family_gain(a, family.Topology.parse('fb-peak-level-log-decoupled'), p, 4.0, 0.0, 0.1, 0.01)",
        "RuntimeError", "feedback_compressor_gain"),
    bad("modules forward mode without requires_grad (was: zero tangents)", "import torch.autograd.forward_ad as fwAD\n"
        "with fwAD.dual_level():\n"
        "    m = fwAD.make_dual(torch.tensor(3.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))\n"
        "    modules.ssl_audio(audio3, makeup_db=m)", "RuntimeError", "the audio modules' output mix"),
    bad("modules second order", "c = modules.Compressor(); y = c(audio3)\n"
        "(g,) = torch.autograd.grad(y.sum(), c.raw_ratio, create_graph=True)\n"
        "torch.autograd.grad(g.sum(), c.raw_ratio)", "RuntimeError", "the audio modules' output mix"),
    bad("ssl forward over reverse", "import torch.autograd.forward_ad as fwAD\n"
        "p = torch.tensor(-20.0, dtype=torch.float64)\n"
        "with fwAD.dual_level():\n"
        "    q = fwAD.make_dual(p.detach(), torch.tensor(1.0, dtype=torch.float64)).requires_grad_(True)\n"
        "    torch.autograd.grad(dd.ssl_comp_gain(db, q, *SSL_ARGS[1:]).sum(), q, create_graph=True)",
        "RuntimeError", "ssl_comp_gain"),
    good("compexp hard gate third order is exact (a composition of differentiable kernels)",
         "p = torch.tensor(-20.0, dtype=torch.float64, requires_grad=True)\n"
         "out = dd.compexp_gain(x, p, 4.0, -60.0, 0.5, 0.1, 0.01, knee=6.0)\n"
         "(g,) = torch.autograd.grad(out.sum(), p, create_graph=True)\n"
         "(h,) = torch.autograd.grad(g, p, create_graph=True)\n"
         "(t3,) = torch.autograd.grad(h, p)\n"
         "def hess(c):\n"
         "    q = torch.tensor(c, dtype=torch.float64, requires_grad=True)\n"
         "    (gq,) = torch.autograd.grad(dd.compexp_gain(x, q, 4.0, -60.0, 0.5, 0.1, 0.01, knee=6.0).sum(), q,"
         " create_graph=True)\n"
         "    return torch.autograd.grad(gq, q)[0]\n"
         "e = 1e-4; fd = (hess(-20.0 + e) - hess(-20.0 - e)) / (2 * e)\n"
         "assert abs(float(fd)) > 1e-6 and abs(float(t3 - fd)) <= 1e-5 * abs(float(fd)), (t3, fd)"),
]


# ------------------------------------------------------------------------------------------------
# The runner

class _Runner:
    """A case_runner.py subprocess; restarted after a case that killed it."""

    def __init__(self):
        self.proc: Optional[subprocess.Popen] = None
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.stderr = tempfile.TemporaryFile(mode="w+")

    def _start(self):
        env = dict(os.environ)
        if os.environ.get("DD_TEST_INSTALLED", "0") in ("", "0"):
            env["DD_CASE_RUNNER_PATH"] = os.path.join(BUILD, "python")
        env["DD_CASE_RUNNER_PRELUDE"] = PRELUDE
        env.setdefault("OMP_NUM_THREADS", "1")
        self.stderr.seek(0)
        self.stderr.truncate()
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "case_runner.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc, self.lines), daemon=True).start()
        ready = self._next(120.0)
        if ready is None or json.loads(ready)["outcome"] != "ready":
            raise RuntimeError(f"case runner did not start: {self._stderr_tail()}")

    @staticmethod
    def _read(proc, lines):
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def _next(self, timeout: float) -> Optional[str]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def _stderr_tail(self) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()[-3000:]

    def run(self, code: str) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps({"code": code}) + "\n")
        self.proc.stdin.flush()
        line = self._next(CASE_TIMEOUT_S)
        if line is None:  # died (crash) or hung
            if self.proc.poll() is None:
                self.proc.kill()
            status = self.proc.wait()
            result = {"outcome": "crashed", "status": status, "stderr": self._stderr_tail()}
            self.proc = None
            return result
        return json.loads(line)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


@pytest.fixture(scope="module")
def runner():
    r = _Runner()
    yield r
    r.close()


def _check(case: Case, result: dict) -> None:
    where = f"case {case.id!r}:\n{case.code}\n"
    if result["outcome"] == "crashed":
        pytest.fail(f"{where}the process died (status {result['status']}) or hung\n{result['stderr']}")
    if case.exc is None:
        if result["outcome"] != "ok":
            pytest.fail(f"{where}raised {result['type']}: {result['message']}\n{result['traceback']}")
        return
    if result["outcome"] == "ok":
        pytest.fail(f"{where}no error (expected {case.exc} naming {case.arg!r})")
    if case.exc not in result["bases"]:
        pytest.fail(f"{where}raised {result['type']} (expected {case.exc}): {result['message']}\n{result['traceback']}")
    if not result["message"].startswith(case.arg + ":"):
        pytest.fail(f"{where}the message does not start with {case.arg + ':'!r}: {result['message']!r}")


def test_the_battery_is_large_and_its_ids_unique():
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids), [i for i in ids if ids.count(i) > 1]
    assert len(CASES) >= 150, len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(runner, case):
    _check(case, runner.run(case.code))


def test_a_crash_fails_its_case_and_the_next_case_runs(runner):
    result = runner.run("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    assert result["outcome"] == "crashed" and result["status"] != 0
    assert runner.run("assert dd.ms2coef(10.0) > 0") == {"outcome": "ok"}


# ------------------------------------------------------------------------------------------------
# The command line: bad arguments give exit status != 0 and one error line, never a crash

DDYN = os.path.join(BUILD, "apps", "ddyn", "ddyn")

CLI_CASES = [
    ("no command", [], None),
    ("unknown command", ["compres", "{wav}", "{out}"], None),
    ("missing input", ["compress", "{dir}/missing.wav", "{out}"], "IN"),
    ("input is a directory", ["compress", "{dir}", "{out}"], "IN"),
    ("input is not audio", ["compress", "{txt}", "{out}"], "IN"),
    ("empty input", ["compress", "{empty}", "{out}"], "IN"),
    ("output over input", ["compress", "{wav}", "{wav}"], None),
    ("ratio 0.5", ["compress", "{wav}", "{out}", "--ratio", "0.5"], "--ratio"),
    ("ratio nan", ["compress", "{wav}", "{out}", "--ratio", "nan"], "--ratio"),
    ("threshold inf", ["compress", "{wav}", "{out}", "--threshold", "inf"], "--threshold"),
    ("threshold 1e30", ["compress", "{wav}", "{out}", "--threshold", "1e30"], "--threshold"),
    ("knee 1e20", ["compress", "{wav}", "{out}", "--knee", "1e20"], "--knee"),
    ("exp-ratio 1e-30", ["compress", "{wav}", "{out}", "--exp-threshold", "-50", "--exp-ratio", "1e-30"],
     "--exp-ratio"),
    ("sigmoid-k 1e30", ["compress", "{wav}", "{out}", "--gate", "sigmoid", "--sigmoid-k", "1e30"], "--sigmoid-k"),
    ("attack negative", ["compress", "{wav}", "{out}", "--attack", "-5ms"], "--attack"),
    ("attack unknown unit", ["compress", "{wav}", "{out}", "--attack", "5parsec"], "--attack"),
    ("release empty", ["compress", "{wav}", "{out}", "--release", ""], "--release"),
    ("mix 150%", ["compress", "{wav}", "{out}", "--mix", "150%"], "--mix"),
    ("makeup huge", ["compress", "{wav}", "{out}", "--makeup", "1e9"], "--makeup"),
    ("lookahead negative", ["compress", "{wav}", "{out}", "--lookahead", "-1"], "--lookahead"),
    ("block 0", ["compress", "{wav}", "{out}", "--block", "0"], "--block"),
    ("block huge", ["compress", "{wav}", "{out}", "--block", "99999999999999999999"], "--block"),
    ("ssl attack off the panel", ["compress", "{wav}", "{out}", "--model", "ssl", "--attack", "100ms"], "--attack"),
    ("ssl feedback 2", ["compress", "{wav}", "{out}", "--model", "ssl", "--feedback", "2"], "--feedback"),
    ("limiter threshold > 0", ["compress", "{wav}", "{out}", "--model", "limiter", "--threshold", "3"],
     "--threshold"),
    ("unknown model", ["compress", "{wav}", "{out}", "--model", "opto"], "--model"),
    ("unknown option", ["compress", "{wav}", "{out}", "--ratoi", "4"], None),
    ("bad output extension", ["compress", "{wav}", "{dir}/out.xyz"], "OUT"),
    ("sidechain missing", ["compress", "{wav}", "{out}", "--sidechain", "{dir}/nope.wav"], "--sidechain"),
    ("probe unknown kind", ["probe", "chirp", "{out}"], None),
    ("probe duration nan", ["probe", "tone", "{out}", "--duration", "nan"], "--duration"),
    ("probe rate 0", ["probe", "tone", "{out}", "--rate", "0"], "--rate"),
    ("analyze missing", ["analyze", "{dir}/missing.wav"], "IN"),
]


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    import numpy as np
    import soundfile

    d = tmp_path_factory.mktemp("cli")
    t = np.arange(4410)
    soundfile.write(str(d / "in.wav"), (0.5 * np.sin(0.05 * t) * (t % 1000 < 500)).astype(np.float32), 44100,
                    subtype="FLOAT")
    (d / "notes.wav").write_text("not audio\n")
    (d / "empty.wav").write_bytes(b"")
    return {"dir": str(d), "wav": str(d / "in.wav"), "out": str(d / "out.wav"), "txt": str(d / "notes.wav"),
            "empty": str(d / "empty.wav")}


def test_the_battery_with_the_command_line_and_cpp_cases_exceeds_150():
    # tests/cpp/core/test_errors.cpp holds 70+ more (Errors.BatteryOfBadInputAcrossTheApi).
    assert len(CASES) + len(CLI_CASES) >= 150


@pytest.mark.parametrize("args,names", [(c[1], c[2]) for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_case(cli_files, args, names):
    if not os.path.exists(DDYN):
        pytest.fail(f"{DDYN} is not built (target ddyn)")
    argv = [a.format(**cli_files) for a in args]
    run = subprocess.run([DDYN, *argv], capture_output=True, text=True, timeout=60)
    assert run.returncode > 0, (run.returncode, run.stderr)  # < 0: killed by a signal
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ddyn: error: "), run.stderr
    if names is not None:
        assert names in lines[0], lines[0]
    assert not os.path.exists(cli_files["out"])  # a failed command leaves no output behind
