// Classic signals (audio in [−1, 1]): a carrier (a sine or uniform white noise) under an envelope.
// Ranges drawn from the seed are listed in docs/reference/probes_metrics.md.
#include <algorithm>
#include <cmath>

#include "probes/generators.hpp"

namespace dd::probes {
namespace {

double db2amp(double db) { return std::pow(10.0, db / 20.0); }

/// A carrier frequency drawn log-uniformly from [lo, hi] Hz, the range lowered below fs/2 at low rates.
double carrier_frequency(random_source& rng, const probe_context& c, double lo, double hi) {
    const double top = std::min(hi, 0.45 * c.fs);
    return rng.log_uniform(std::min(lo, top / 4.0), top);
}

void multiply_sine(std::vector<double>& x, double frequency, double phase, double fs, std::size_t from = 0,
                   std::size_t to = SIZE_MAX) {
    to = std::min(to, x.size());
    for (std::size_t t = from; t < to; ++t) x[t] *= std::sin(2.0 * pi * frequency * double(t) / fs + phase);
}

void multiply_noise(std::vector<double>& x, random_source& rng, std::size_t from = 0, std::size_t to = SIZE_MAX) {
    to = std::min(to, x.size());
    for (std::size_t t = from; t < to; ++t) x[t] *= rng.uniform(-1.0, 1.0);
}

/// Linear amplitude modulation between A·(1 − m)/(1 + m) and A.
std::vector<double> am_envelope(random_source& rng, const probe_context& c) {
    const double amplitude = db2amp(rng.uniform(-12.0, -3.0));
    const double depth = rng.uniform(0.3, 0.9);
    const double rate = rng.log_uniform(0.5, 20.0), phase = rng.uniform(0.0, 2.0 * pi);
    std::vector<double> e(c.length);
    for (std::size_t t = 0; t < c.length; ++t)
        e[t] = amplitude * (1.0 + depth * std::sin(2.0 * pi * rate * double(t) / c.fs + phase)) / (1.0 + depth);
    return e;
}

}  // namespace

std::vector<double> tone(random_source& rng, const probe_context& c) {
    const double f = carrier_frequency(rng, c, 50.0, 5000.0), phase = rng.uniform(0.0, 2.0 * pi);
    std::vector<double> x(c.length, db2amp(rng.uniform(-24.0, -3.0)));
    multiply_sine(x, f, phase, c.fs);
    return x;
}

std::vector<double> step(random_source& rng, const probe_context& c) {
    const double f = carrier_frequency(rng, c, 200.0, 2000.0), phase = rng.uniform(0.0, 2.0 * pi);
    const double low = db2amp(rng.uniform(-50.0, -30.0)), high = db2amp(rng.uniform(-12.0, -3.0));
    std::vector<double> x(c.length);
    for (std::size_t t = 0; t < c.length; ++t) x[t] = t < c.length / 2 ? low : high;
    multiply_sine(x, f, phase, c.fs);
    return x;
}

std::vector<double> burst(random_source& rng, const probe_context& c) {
    const double f = carrier_frequency(rng, c, 200.0, 2000.0), phase = rng.uniform(0.0, 2.0 * pi);
    const double level = rng.uniform(-12.0, -3.0);
    const std::size_t on = c.samples(rng.uniform(20.0, 200.0)), off = c.samples(rng.uniform(100.0, 500.0));
    db_path path(c.length, silence_db);
    while (!path.full()) {
        path.jump(silence_db, off);
        path.jump(level, on);
    }
    std::vector<double> x = path.amplitude();
    multiply_sine(x, f, phase, c.fs);
    return x;
}

std::vector<double> ramp(random_source& rng, const probe_context& c) {
    const double f = carrier_frequency(rng, c, 200.0, 2000.0), phase = rng.uniform(0.0, 2.0 * pi);
    const double top = db2amp(rng.uniform(-6.0, 0.0));
    std::vector<double> x(c.length);
    const double last = double(std::max<std::size_t>(c.length, 2) - 1);
    for (std::size_t t = 0; t < c.length; ++t) x[t] = top * double(t) / last;
    multiply_sine(x, f, phase, c.fs);
    return x;
}

std::vector<double> am_tone(random_source& rng, const probe_context& c) {
    const double f = carrier_frequency(rng, c, 200.0, 2000.0), phase = rng.uniform(0.0, 2.0 * pi);
    std::vector<double> x = am_envelope(rng, c);
    multiply_sine(x, f, phase, c.fs);
    return x;
}

std::vector<double> white_noise(random_source& rng, const probe_context& c) {
    std::vector<double> x(c.length, db2amp(rng.uniform(-20.0, -3.0)));
    multiply_noise(x, rng);
    return x;
}

std::vector<double> beating_tones(random_source& rng, const probe_context& c) {
    const double f = carrier_frequency(rng, c, 200.0, 2000.0), beat = rng.uniform(1.0, 10.0);
    const double amplitude = db2amp(rng.uniform(-12.0, -3.0));
    const double phase1 = rng.uniform(0.0, 2.0 * pi), phase2 = rng.uniform(0.0, 2.0 * pi);
    std::vector<double> x(c.length);
    for (std::size_t t = 0; t < c.length; ++t) {
        const double time = double(t) / c.fs;
        x[t] = 0.5 * amplitude * (std::sin(2.0 * pi * f * time + phase1) + std::sin(2.0 * pi * (f + beat) * time + phase2));
    }
    return x;
}

std::vector<double> am_noise(random_source& rng, const probe_context& c) {
    std::vector<double> x = am_envelope(rng, c);
    multiply_noise(x, rng);
    return x;
}

/// Four equal sections (the last takes the remainder): a staircase and A→B→A on a sine, echo pulses
/// and flicker on noise.
std::vector<double> composite_program(random_source& rng, const probe_context& c) {
    const std::size_t quarter = c.length / 4;
    const std::size_t bounds[5] = {0, quarter, 2 * quarter, 3 * quarter, c.length};
    const double f = carrier_frequency(rng, c, 200.0, 2000.0), phase = rng.uniform(0.0, 2.0 * pi);
    db_path path(c.length, silence_db);

    // Staircase: −48, −42, …, −6 dB (shifted by up to ±3 dB), eight equal holds.
    const double offset = rng.uniform(-3.0, 3.0);
    for (int k = 0; k < 8; ++k) {
        const std::size_t end = bounds[0] + (bounds[1] - bounds[0]) * std::size_t(k + 1) / 8;
        path.jump(-48.0 + 6.0 * k + offset, end - path.size());
    }
    // A → B → A in thirds.
    const double a = rng.uniform(-40.0, -30.0), b = rng.uniform(-12.0, -3.0);
    const std::size_t third = (bounds[2] - bounds[1]) / 3;
    path.jump(a, third);
    path.jump(b, third);
    path.jump(a, bounds[2] - path.size());
    // Echo pulses: a 10 ms pulse and three echoes, each 6 dB down, then silence.
    const double pulse = rng.uniform(-6.0, 0.0);
    const std::size_t width = c.samples(10.0), spacing = c.samples(rng.uniform(50.0, 150.0));
    while (path.size() < bounds[3]) {
        for (int k = 0; k < 4 && path.size() < bounds[3]; ++k) {
            path.jump(pulse - 6.0 * k, std::min(width, bounds[3] - path.size()));
            path.jump(silence_db, std::min(spacing, bounds[3] - path.size()));
        }
        path.jump(silence_db, std::min(4 * spacing, bounds[3] - path.size()));
    }
    // Flicker: a square wave between a quiet and a loud level at 5–20 Hz.
    const double quiet = rng.uniform(-40.0, -30.0), loud = rng.uniform(-12.0, -3.0);
    const std::size_t half_period = c.samples(500.0 / rng.uniform(5.0, 20.0));
    while (!path.full()) {
        path.jump(loud, half_period);
        path.jump(quiet, half_period);
    }

    std::vector<double> x = path.amplitude();
    multiply_sine(x, f, phase, c.fs, 0, bounds[2]);
    multiply_noise(x, rng, bounds[2], c.length);
    return x;
}

}  // namespace dd::probes
