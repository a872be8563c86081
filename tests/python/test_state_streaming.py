"""State in and out of every batch function, under autograd, and the streaming processors from Python:
a signal processed in pieces (each piece from the state the last one left) gives one call's values
bit for bit and its gradients to rounding; random block splits through a streaming processor give the
batch result bit for bit; threads do not change results."""
import numpy as np
import pytest
import torch

import differential_dynamics as dd
from conftest import bursty_audio, switching_level

C44 = 44100


def _split_points(n, seed):
    rng = np.random.default_rng(seed)
    cuts = sorted(set(rng.integers(1, n - 1, size=4).tolist()))
    return [0] + cuts + [n]


# name, call(x, zi, return_state) → (y, state) or y, signal maker, state per row
CASES = {
    "compressor_core": (lambda x, zi, rs: dd.compressor_core(x, 1.0 if zi is None else zi, dd.ms2coef(3.0),
                                                             dd.ms2coef(80.0), return_state=rs), "level"),
    "avg": (lambda x, zi, rs: dd.avg(x, 0.02, zi=zi, return_state=rs), "audio"),
    "compexp_gain": (lambda x, zi, rs: dd.compexp_gain(x, -28.0, 4.0, -55.0, 0.5, dd.ms2coef(3.0), dd.ms2coef(80.0),
                                                       knee=4.0, zi=zi, return_state=rs), "level"),
    "compexp_gain_mode sigmoid": (lambda x, zi, rs: dd.compexp_gain_mode(x, -28.0, 4.0, -55.0, 0.5, dd.ms2coef(3.0),
                                                                         dd.ms2coef(80.0), "sigmoid", 0.8, zi=zi,
                                                                         return_state=rs), "level"),
    "sigmoid_core": (lambda x, zi, rs: dd.sigmoid_core(x, 1.0 if zi is None else zi, 0.2, 0.01, 0.8,
                                                       return_state=rs), "level"),
    "limiter_gain": (lambda x, zi, rs: dd.limiter_gain(x, -8.0, 0.4, 0.01, zi=zi, return_state=rs), "audio"),
    "ssl_comp_gain": (lambda x, zi, rs: dd.ssl_comp_gain(20 * torch.log10(x.abs().clamp_min(1e-7)), -20.0, 4.0, 3.85e-4,
                                                         5.58e-3, 0.0428, 5.1, 0.5, zi=zi, return_state=rs), "audio"),
}


def _signal(kind, dtype):
    x = switching_level(3, 700, 31) if kind == "level" else bursty_audio(3, 700, 32)
    return x.to(dtype)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pieces_with_state_equal_one_call_values_and_gradients(name, dtype):
    call, kind = CASES[name]
    x = _signal(kind, dtype).requires_grad_()
    w = torch.randn(x.shape, dtype=dtype, generator=torch.Generator().manual_seed(5))
    y_one = call(x, None, False)
    (g_one,) = torch.autograd.grad((y_one * w).sum(), x)
    ys, state = [], None
    points = _split_points(x.shape[1], 7)
    for a, b in zip(points[:-1], points[1:]):
        y, state = call(x[:, a:b], state, True)
        assert state.dtype == torch.float64
        ys.append(y)
    y_pieces = torch.cat(ys, dim=1)
    assert torch.equal(y_pieces, y_one), f"{name}: pieces differ from one call"
    (g_pieces,) = torch.autograd.grad((y_pieces * w).sum(), x)
    tol = 1e-10 if dtype == torch.float64 else 2e-4
    assert torch.allclose(g_pieces, g_one, rtol=tol, atol=tol * float(g_one.abs().max())), name
    assert float(g_one.abs().max()) > 0


def test_state_gradient_matches_finite_differences():
    """∂loss/∂zi of compexp_gain and of the limiter against central differences in float64."""
    x = switching_level(2, 300, 33)
    zi = torch.tensor([0.7, 0.9], dtype=torch.float64, requires_grad=True)
    f = lambda z: dd.compexp_gain(x, -28.0, 4.0, -55.0, 0.5, 0.05, 0.005, zi=z)  # noqa: E731
    assert torch.autograd.gradcheck(f, (zi,), eps=1e-6, atol=1e-9, rtol=1e-6)
    audio = bursty_audio(2, 300, 34)
    zl = torch.tensor([[0.1, 0.8], [0.3, 0.6]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: dd.limiter_gain(audio, -6.0, 0.3, 0.01, zi=z), (zl,), eps=1e-6,
                                    atol=1e-9, rtol=1e-6)
    zs = torch.tensor([[-3.0, -1.0], [-0.5, -2.0]], dtype=torch.float64, requires_grad=True)
    xdb = 20 * torch.log10(audio.abs().clamp_min(1e-7))
    assert torch.autograd.gradcheck(lambda z: dd.ssl_comp_gain(xdb, -20.0, 4.0, 3.85e-4, 5.58e-3, 0.0428, 5.1, 0.5,
                                                               zi=z), (zs,), eps=1e-6, atol=1e-9, rtol=1e-6)


def test_final_state_gradient_flows_into_the_previous_piece():
    x = switching_level(2, 200, 35)
    at = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)

    def loss(a):
        _, s = dd.compexp_gain(x, -28.0, 4.0, -55.0, 0.5, a, 0.005, return_state=True)
        return s.sum()  # only through the final state
    assert torch.autograd.gradcheck(loss, (at,), eps=1e-7, atol=1e-10, rtol=1e-6)


STREAMING = [
    ("CompexpProcessor", dict(comp_thresh=-28, comp_ratio=4, exp_thresh=-55, exp_ratio=0.5, knee=3, at=0.05, rt=0.005),
     lambda x: dd.compexp_gain(x, -28.0, 4.0, -55.0, 0.5, 0.05, 0.005, knee=3.0), "level"),
    ("CompexpProcessor", dict(comp_thresh=-28, comp_ratio=4, at=0.05, rt=0.005, mode="sigmoid", k=0.8),
     lambda x: dd.compexp_gain_mode(x, -28.0, 4.0, -1000.0, 1.0, 0.05, 0.005, "sigmoid", 0.8), "level"),
    ("LimiterProcessor", dict(threshold=-8, at=0.4, rt=0.01), lambda x: dd.limiter_gain(x, -8.0, 0.4, 0.01), "audio"),
    ("AvgProcessor", dict(coef=0.02), lambda x: dd.avg(x, 0.02), "audio"),
    ("HardSmootherProcessor", dict(at=0.3, rt=0.01), lambda x: dd.compressor_core(x, 1.0, 0.3, 0.01), "level"),
]


@pytest.mark.parametrize("name, settings, batch, kind", STREAMING)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streaming_processors_from_python_equal_batch(name, settings, batch, kind, dtype):
    x = _signal(kind, torch.float64).numpy().astype(dtype)
    proc = getattr(dd.streaming, name)(fs=C44, channels=3, max_block=256, dtype=dtype, **settings)
    rng = np.random.default_rng(9)
    out, t = [], 0
    while t < x.shape[1]:
        n = int(rng.integers(1, 300))
        out.append(proc.process(x[:, t:t + n]))
        t += n
    streamed = np.concatenate(out, axis=1)
    assert streamed.dtype == dtype
    assert np.array_equal(streamed, batch(x))
    assert proc.state.shape == (3, 2 if name == "LimiterProcessor" else 1)
    proc.reset()
    again = proc.process(torch.from_numpy(x))
    assert isinstance(again, torch.Tensor) and np.array_equal(again.numpy(), batch(x))


def test_streaming_ssl_with_side_chain_and_bad_blocks():
    x = bursty_audio(2, 500, 36).numpy()
    proc = dd.streaming.SSLProcessor(fs=48000, channels=2, dtype=np.float64, comp_thresh=-20)
    y, gain = proc.process(x)
    g_ref, y_ref = dd.ssl_compress(x, -20.0, 4.0, 820 * 0.47e-6, 820 * 6.8e-6, 91e3 * 0.47e-6, 750e3 * 6.8e-6, 0.0, fs=48000)
    assert np.array_equal(gain, g_ref) and np.array_equal(y, y_ref)
    proc.reset()
    loud = np.ones_like(x) * 0.9
    y_sc, g_sc = proc.process(x, sidechain=loud)
    assert np.all(g_sc[:, -1] < -5)  # the loud side chain compresses the quiet input
    with pytest.raises(ValueError, match="block: expected shape \\(2, n\\)"):
        proc.process(x.T)
    with pytest.raises(TypeError, match="block"):
        proc.process(x.astype(np.float32))
    with pytest.raises(ValueError, match="comp_ratio"):
        proc.set_settings(comp_ratio=0.5)
    with pytest.raises(ValueError, match="nonsense"):
        proc.set_settings(nonsense=1.0)


def test_results_identical_at_1_2_3_and_8_threads():
    x = switching_level(9, 3000, 37)
    audio = bursty_audio(9, 3000, 38)
    runs = lambda: [dd.compexp_gain(x, -28.0, 4.0, -55.0, 0.5, 0.05, 0.005, knee=2.0),  # noqa: E731
                    dd.compexp_gain_mode(x, -28.0, 4.0, -55.0, 0.5, 0.05, 0.005, "sigmoid", 0.8),
                    dd.limiter_gain(audio, -8.0, 0.4, 0.01), dd.avg(audio, 0.01)]
    dd.set_num_threads(1)
    first = runs()
    for threads in (2, 3, 8):
        dd.set_num_threads(threads)
        assert all(torch.equal(a, b) for a, b in zip(first, runs()))
