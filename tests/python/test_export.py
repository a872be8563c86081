"""Export: torch.jit.trace, torch.onnx.export and torch.jit.script of a module that calls a library
function raise an error naming the function (the kernels run outside torch, so a trace would freeze
one call's output as a constant) — never a model that silently returns a constant."""
import io

import numpy as np
import pytest
import torch

import differential_dynamics as dd
from differential_dynamics import family, modules

SSL = (-20.0, 4.0, 3.85e-4, 5.58e-3, 0.0428, 5.1, 0.2)
TOPOLOGY = family.Topology.parse("fb-peak-level-log-decoupled")
FF_TOPOLOGY = family.Topology.parse("ff-peak-level-log-decoupled")

# name the error must start with, the call (x: a (2, 64) float64 level in (0, 1])
CALLS = [
    ("compexp_gain", lambda x: dd.compexp_gain(x, -20.0, 4.0, -60.0, 0.5, 0.1, 0.01)),
    ("compexp_gain", lambda x: dd.compexp_gain_mode(x, -20.0, 4.0, -60.0, 0.5, 0.1, 0.01)),
    ("compexp_gain_mode", lambda x: dd.compexp_gain_mode(x, -20.0, 4.0, -60.0, 0.5, 0.1, 0.01, "sigmoid", 2.0)),
    ("limiter_gain", lambda x: dd.limiter_gain(x, -6.0, 0.1, 0.01)),
    ("avg", lambda x: dd.avg(x, 0.1)),
    ("compressor_core", lambda x: dd.compressor_core(x, 1.0, 0.1, 0.01)),
    ("sigmoid_core", lambda x: dd.sigmoid_core(x, 1.0, 0.1, 0.01, 1.0)),
    ("gain_curve", lambda x: dd.gain_curve(20 * torch.log10(x), -20.0, 4.0)),
    ("ssl_comp_gain", lambda x: dd.ssl_comp_gain(20 * torch.log10(x), *SSL)),
    ("ssl_comp_gain", lambda x: dd.ssl_comp_gain(20 * torch.log10(x), *SSL, gate_k=2.0)),
    ("ssl_compress", lambda x: dd.ssl_compress(x, *SSL)[1]),
    ("peak_detector", lambda x: family.peak_detector(x, "decoupled", 0.1, 0.01)),
    ("feedback_compressor_gain", lambda x: family.family_gain(x, TOPOLOGY, -20.0, 4.0, 1.0, 0.1, 0.01)),
    ("peak_detector", lambda x: family.family_gain(x, FF_TOPOLOGY, -20.0, 4.0, 1.0, 0.1, 0.01)),
    ("feedback_compressor_gain", lambda x: family.FamilyCompressor(TOPOLOGY)(x)),
    ("avg", lambda x: modules.Compressor()(x.unsqueeze(0))),  # its rms detector is the first kernel
    ("compexp_gain_mode", lambda x: modules.Compressor(gate="sigmoid", k=2.0, detector="peak")(x.unsqueeze(0))),
    ("limiter_gain", lambda x: modules.Limiter()(x.unsqueeze(0))),
    ("ssl_comp_gain", lambda x: modules.SSLCompressor()(x.unsqueeze(0))),
    ("ssl_comp_gain", lambda x: modules.ssl_audio(x.unsqueeze(0))),
]
IDS = [f"{i}-{name}" for i, (name, _) in enumerate(CALLS)]


class Wrap(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def level(seed):
    rng = np.random.default_rng(seed)
    t = np.arange(64)
    db = np.where((t // 6) % 2 == 0, -5.0, -35.0)[None, :] + rng.normal(0, 2, (2, 64))
    return torch.tensor(10 ** (db / 20)).clamp(max=1.0)


@pytest.mark.parametrize("name,fn", CALLS, ids=IDS)
def test_jit_trace_raises_naming_the_function(name, fn):
    x = level(1)
    assert torch.isfinite(fn(x)).all()  # the call itself works
    with pytest.raises(RuntimeError, match=f"^{name}: the differential_dynamics kernels cannot be traced"):
        torch.jit.trace(Wrap(fn), (x,), check_trace=False)


@pytest.mark.parametrize("name,fn", CALLS, ids=IDS)
def test_onnx_export_raises_naming_the_function(name, fn):
    with pytest.raises(RuntimeError, match=f"{name}: the differential_dynamics kernels cannot be traced"):
        torch.onnx.export(Wrap(fn), (level(1),), io.BytesIO())


@pytest.mark.parametrize("name,fn", CALLS[:3], ids=IDS[:3])
def test_jit_script_refuses(name, fn):
    # TorchScript cannot compile the Python wrappers at all: scripting fails at compile time, before
    # anything could be frozen; its message points at the Python code it cannot compile.
    class Scripted(torch.nn.Module):
        def forward(self, x):
            return dd.compexp_gain(x, -20.0, 4.0, -60.0, 0.5, 0.1, 0.01)

    with pytest.raises(Exception) as info:
        torch.jit.script(Scripted())
    assert "compexp_gain" in str(info.value) or "functional.py" in str(info.value), str(info.value)[:2000]


def test_torch_code_around_the_kernels_still_traces_and_round_trips(tmp_path):
    # The rest of a model exports: e.g. the gain computed in Python, applied by a traced module.
    class ApplyGain(torch.nn.Module):
        def forward(self, x, g):
            return x * g

    x, g = level(2), dd.compexp_gain(level(2), -20.0, 4.0, -60.0, 0.5, 0.1, 0.01)
    traced = torch.jit.trace(ApplyGain(), (x, g))
    path = tmp_path / "apply_gain.pt"
    traced.save(str(path))
    loaded = torch.jit.load(str(path))
    x2, g2 = level(3), dd.compexp_gain(level(3), -20.0, 4.0, -60.0, 0.5, 0.1, 0.01)
    assert torch.equal(loaded(x2, g2), x2 * g2)
