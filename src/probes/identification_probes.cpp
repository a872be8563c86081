// Identification probes: amplitude envelopes in [0, 1] built in dB, each designed to excite the
// attack or the release of a compressor in a particular way. Levels near "the threshold" aim at
// probe_options::threshold_db (T below). The exact ranges are in docs/reference/probes_metrics.md.
#include <algorithm>
#include <cmath>

#include "probes/generators.hpp"

namespace dd::probes {
namespace {

/// Levels stay in [−90, 0] dB: never above full scale, always above the −100 dB activity floor.
double level(double db) { return std::clamp(db, -90.0, 0.0); }

}  // namespace

/// Up and down a staircase of equal steps (2–4 dB) between about −60 dB and full scale, each level
/// held 250 ms (10 ms cosine edges) so that the compressor settles: the static curve, point by point.
std::vector<double> quasi_static_staircase(random_source& rng, const probe_context& c) {
    const double bottom = rng.uniform(-63.0, -57.0), step = rng.uniform(2.0, 4.0);
    const std::size_t edge = c.samples(10.0), hold = c.samples(240.0);
    const int steps = int(std::floor(-bottom / step));
    db_path path(c.length, bottom);
    path.hold(edge + hold);
    while (!path.full()) {
        for (int k = 1; k <= steps; ++k) path.cosine_to(bottom + step * k, edge), path.hold(hold);
        for (int k = steps - 1; k >= 0; --k) path.cosine_to(bottom + step * k, edge), path.hold(hold);
    }
    return path.amplitude();
}

/// Pairs of a level below T and one above it, joined by raised-cosine edges whose length is drawn
/// log-uniformly from 5–400 ms per pair; each level is held 300 ms plus the edge length.
std::vector<double> level_pairs(random_source& rng, const probe_context& c) {
    const double t = c.threshold_db;
    db_path path(c.length, level(t - 12.0));
    while (!path.full()) {
        const double low = level(rng.uniform(t - 24.0, t - 3.0)), high = level(rng.uniform(t + 3.0, t + 24.0));
        const double edge_ms = rng.log_uniform(5.0, 400.0);
        const std::size_t edge = c.samples(edge_ms), hold = c.samples(300.0 + edge_ms);
        path.cosine_to(low, edge), path.hold(hold);
        path.cosine_to(high, edge), path.hold(hold);
    }
    return path.amplitude();
}

/// The same end level E (within ±6 dB of T, held 400 ms) reached twice, first from a loud and then
/// from a quiet history (10–30 dB away, held 100–500 ms): the state E is reached from differs, which
/// separates feedback from ratio.
std::vector<double> preconditioned_pairs(random_source& rng, const probe_context& c) {
    const double t = c.threshold_db;
    const std::size_t end_hold = c.samples(400.0);
    db_path path(c.length, level(t));
    while (!path.full()) {
        const double end = level(rng.uniform(t - 6.0, t + 6.0));
        const double loud = level(end + rng.uniform(10.0, 30.0)), quiet = level(end - rng.uniform(10.0, 30.0));
        const std::size_t history = c.samples(rng.uniform(100.0, 500.0));
        path.jump(loud, history), path.jump(end, end_hold);
        path.jump(quiet, history), path.jump(end, end_hold);
    }
    return path.amplitude();
}

/// A pulse (2–20 ms at −12…0 dB) and three echoes, each 4–10 dB quieter, 20–150 ms apart, over
/// silence (amplitude 0), then 200–800 ms of silence.
std::vector<double> echo_pulses(random_source& rng, const probe_context& c) {
    db_path path(c.length, silence_db);
    while (!path.full()) {
        const double pulse = rng.uniform(-12.0, 0.0), decay = rng.uniform(4.0, 10.0);
        const std::size_t width = c.samples(rng.uniform(2.0, 20.0));
        const std::size_t gap = c.samples(rng.uniform(20.0, 150.0));
        for (int k = 0; k < 4; ++k) path.jump(level(pulse - decay * k), width), path.jump(silence_db, gap);
        path.hold(c.samples(rng.uniform(200.0, 800.0)));
    }
    return path.amplitude();
}

/// Loud (T + 6…24 dB, 300 ms: full attack), then a drop to within ±3 dB of T held 800 ms: the
/// release ends near the threshold, where the curve bends.
std::vector<double> release_drops(random_source& rng, const probe_context& c) {
    const double t = c.threshold_db;
    const std::size_t attack_hold = c.samples(300.0), release_hold = c.samples(800.0);
    db_path path(c.length, level(t));
    while (!path.full()) {
        path.jump(level(t + rng.uniform(6.0, 24.0)), attack_hold);
        path.jump(level(t + rng.uniform(-3.0, 3.0)), release_hold);
    }
    return path.amplitude();
}

/// A level near T (±3 dB) dithered in dB by six sines at 0.5–8 Hz (log-uniform) whose amplitudes
/// add up to 1–6 dB: slow, small moves across the threshold that flip attack and release.
std::vector<double> db_dither(random_source& rng, const probe_context& c) {
    const double base = c.threshold_db + rng.uniform(-3.0, 3.0), depth = rng.uniform(1.0, 6.0);
    double frequency[6], phase[6], weight[6], weight_sum = 0.0;
    for (int k = 0; k < 6; ++k) {
        frequency[k] = rng.log_uniform(0.5, 8.0);
        phase[k] = rng.uniform(0.0, 2.0 * pi);
        weight[k] = rng.uniform(0.2, 1.0);
        weight_sum += weight[k];
    }
    db_path path(c.length, base);
    for (std::size_t n = 0; n < c.length; ++n) {
        double db = base;
        for (int k = 0; k < 6; ++k)
            db += depth * weight[k] / weight_sum * std::sin(2.0 * pi * frequency[k] * double(n) / c.fs + phase[k]);
        path.push(level(db));
    }
    return path.amplitude();
}

/// A bed 0–12 dB under T with transients (1–15 ms, 6–30 dB above the bed) at random times, 40 ms
/// apart on average: attack and release switch all the time.
std::vector<double> transient_churn(random_source& rng, const probe_context& c) {
    const double bed = level(c.threshold_db - rng.uniform(0.0, 12.0));
    db_path path(c.length, bed);
    while (!path.full()) {
        path.jump(bed, c.samples(2.0 + rng.exponential(38.0)));
        path.jump(level(bed + rng.uniform(6.0, 30.0)), c.samples(rng.uniform(1.0, 15.0)));
    }
    return path.amplitude();
}

/// Ramps in dB up and down between T − 12…24 dB and T + 12…24 dB, at slopes from 20 to 2000 dB/s
/// (eight slopes, log-spaced, each jittered by 0.8–1.25×), slow to fast, 50 ms holds at the ends.
std::vector<double> slope_sweep(random_source& rng, const probe_context& c) {
    const double low = level(c.threshold_db - rng.uniform(12.0, 24.0));
    const double high = level(c.threshold_db + rng.uniform(12.0, 24.0));
    const std::size_t end_hold = c.samples(50.0);
    db_path path(c.length, low);
    while (!path.full()) {
        for (int k = 0; k < 8; ++k) {
            const double slope = 20.0 * std::pow(100.0, k / 7.0) * rng.log_uniform(0.8, 1.25);  // dB/s
            const std::size_t n = c.samples(1000.0 * (high - low) / slope);
            path.hold(end_hold), path.linear_to(high, n);
            path.hold(end_hold), path.linear_to(low, n);
        }
    }
    return path.amplitude();
}

/// From T + 12…24 dB (held 300 ms), down in equal steps of 2–6 dB held 50–300 ms each until 12 dB
/// under T: each step down starts a release from a known state.
std::vector<double> release_staircase(random_source& rng, const probe_context& c) {
    const double t = c.threshold_db;
    db_path path(c.length, level(t - 12.0));
    while (!path.full()) {
        const double top = level(t + rng.uniform(12.0, 24.0)), step = rng.uniform(2.0, 6.0);
        const std::size_t hold = c.samples(rng.uniform(50.0, 300.0));
        path.jump(top, c.samples(300.0));
        for (double db = top - step; db > t - 12.0 && !path.full(); db -= step) path.jump(level(db), hold);
    }
    return path.amplitude();
}

/// Two equal bursts (2–30 ms, T + 6…24 dB) over a bed 6–18 dB under T, 5–300 ms apart (log-uniform),
/// then 600 ms of bed: the second attack starts from a partly released state.
std::vector<double> attack_doublets(random_source& rng, const probe_context& c) {
    const double t = c.threshold_db;
    const double bed = level(t - rng.uniform(6.0, 18.0));
    const std::size_t rest = c.samples(600.0);
    db_path path(c.length, bed);
    path.hold(rest);
    while (!path.full()) {
        const double loud = level(t + rng.uniform(6.0, 24.0));
        const std::size_t width = c.samples(rng.uniform(2.0, 30.0)), gap = c.samples(rng.log_uniform(5.0, 300.0));
        path.jump(loud, width), path.jump(bed, gap);
        path.jump(loud, width), path.jump(bed, rest);
    }
    return path.amplitude();
}

/// Amplitude modulation whose rate sweeps log-linearly from 0.5 to 50 Hz over 10 s (or the whole
/// probe if shorter): e = A·(1 − m·(1 − cos φ)/2), A at T + 6…18 dB, depth m 0.5–0.99, a new A and m
/// per sweep.
std::vector<double> am_sweep(random_source& rng, const probe_context& c) {
    const std::size_t sweep = std::min(c.length, c.samples(10000.0));
    const double rate_ratio = 100.0;  // 0.5 → 50 Hz
    db_path path(c.length, 0.0);
    while (!path.full()) {
        const double top = std::pow(10.0, level(c.threshold_db + rng.uniform(6.0, 18.0)) / 20.0);
        const double depth = rng.uniform(0.5, 0.99);
        double phase = 0.0;
        for (std::size_t n = 0; n < sweep && !path.full(); ++n) {
            const double rate = 0.5 * std::pow(rate_ratio, double(n) / double(sweep));
            const double amplitude = top * (1.0 - depth * 0.5 * (1.0 - std::cos(phase)));
            path.push(20.0 * std::log10(amplitude));
            phase += 2.0 * pi * rate / c.fs;
        }
    }
    return path.amplitude();
}

/// A new level every 12 ms exactly (edges at multiples of round(12 ms · fs)), uniform in T ± 24 dB.
std::vector<double> random_steps(random_source& rng, const probe_context& c) {
    const std::size_t hold = c.samples(12.0);
    db_path path(c.length, c.threshold_db);
    while (!path.full()) path.jump(level(rng.uniform(c.threshold_db - 24.0, c.threshold_db + 24.0)), hold);
    return path.amplitude();
}

/// Straight lines in dB between levels drawn from −60…0 dB, each 100–2000 ms long.
std::vector<double> db_ramps(random_source& rng, const probe_context& c) {
    db_path path(c.length, rng.uniform(-60.0, 0.0));
    while (!path.full()) path.linear_to(rng.uniform(-60.0, 0.0), c.samples(rng.uniform(100.0, 2000.0)));
    return path.amplitude();
}

/// Levels from −50…0 dB held 1–4 s each, with 5 ms cosine edges: steady states of the static curve.
std::vector<double> long_plateaus(random_source& rng, const probe_context& c) {
    const std::size_t edge = c.samples(5.0);
    db_path path(c.length, rng.uniform(-50.0, 0.0));
    path.hold(c.samples(rng.uniform(1000.0, 4000.0)));
    while (!path.full()) {
        path.cosine_to(rng.uniform(-50.0, 0.0), edge);
        path.hold(c.samples(rng.uniform(1000.0, 4000.0)));
    }
    return path.amplitude();
}

}  // namespace dd::probes
