// compexp_gain_mode's sigmoid gate on one long row runs in lanes stretches (compexp_kernels.cpp,
// compexp_forward_single_stretches): its output and final state must be the bits of the one-row path
// (the same row processed in short pieces with the state carried over), of the rows-in-lanes path (the
// row in a batch of two) and of the streaming processor, on signals whose speculative runs merge
// quickly, late, or not within a stretch (a constant level: the in-order re-runs of pass 3), or rest at
// a gain of ~1 through the curve's unity band (long quiet stretches between bursts: the re-runs jump
// over those samples), float and double, with and without a knee, one and two threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"

namespace {

/// Levels like the benchmark's (noise under random dB steps held 10–400 ms, a 20 ms detector), or a
/// constant level (kind 1), or long constant stretches with rare bursts (kind 2).
template <class T> std::vector<T> level(std::size_t n, int kind, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::uniform_real_distribution<double> db(-80.0, 0.0), hold(0.010, 0.400);
    std::vector<T> x(n);
    if (kind == 1) {
        for (auto& v : x) v = T(0.2);
        return x;
    }
    std::vector<double> audio(n);
    for (std::size_t t = 0; t < n;) {
        const double amp = kind == 2 ? (db(rng) > -8 ? 0.9 : 0.01) : 0.5 * std::pow(10.0, db(rng) / 20.0);
        const std::size_t len = std::size_t(hold(rng) * 44100 * (kind == 2 ? 3 : 1)) + 1;
        for (std::size_t e = std::min(n, t + len); t < e; ++t) audio[t] = amp * noise(rng);
    }
    const double c = dd::ms2coef(20.0, 44100.0);
    double y = 0;
    for (std::size_t t = 0; t < n; ++t) {
        y = c * std::fabs(audio[t]) + (1 - c) * y;
        x[t] = T(std::max(y, 1e-7));
    }
    return x;
}

template <class T> void check_row(std::size_t n, int kind, double knee, int threads) {
    SCOPED_TRACE("n " + std::to_string(n) + " kind " + std::to_string(kind) + " knee " + std::to_string(knee) +
                 " threads " + std::to_string(threads) + (sizeof(T) == 4 ? " float" : " double"));
    dd::set_num_threads(threads);
    const std::vector<T> x = level<T>(n, kind, 11 + unsigned(kind));
    const dd::compexp_params<T> curve{T(-24), T(4), T(-60), T(0.5), T(knee)};
    const T aa = T(dd::ms2coef(5.0, 44100.0)), ar = T(dd::ms2coef(120.0, 44100.0)), k = T(1.0);
    const double zi = 0.7;
    // The row alone (stretches).
    std::vector<T> y(n);
    double final_state = 0;
    dd::compexp_gain_mode<T>({x.data(), 1, n}, curve, aa, ar, dd::ar_mode::sigmoid, k, {y.data(), 1, n}, &zi,
                             &final_state);
    // In pieces short enough for the one-row path, the state carried over.
    std::vector<T> pieces(n);
    double state = zi;
    for (std::size_t t0 = 0; t0 < n;) {
        const std::size_t m = std::min<std::size_t>(40000 + 777 * (t0 % 5), n - t0);
        double next = 0;
        dd::compexp_gain_mode<T>({x.data() + t0, 1, m}, curve, aa, ar, dd::ar_mode::sigmoid, k,
                                 {pieces.data() + t0, 1, m}, &state, &next);
        state = next;
        t0 += m;
    }
    // In a batch of two rows (rows in lanes).
    std::vector<T> two(2 * n), y2(2 * n);
    std::copy(x.begin(), x.end(), two.begin());
    std::copy(x.begin(), x.end(), two.begin() + n);
    const double zi2[2] = {zi, zi};
    double finals2[2];
    dd::compexp_gain_mode<T>({two.data(), 2, n}, curve, aa, ar, dd::ar_mode::sigmoid, k, {y2.data(), 2, n}, zi2, finals2);
    // The streaming processor in blocks.
    dd::compexp_processor<T> proc;
    dd::compexp_settings s;
    s.comp_thresh = -24;
    s.comp_ratio = 4;
    s.exp_thresh = -60;
    s.exp_ratio = 0.5;
    s.knee = double(T(knee));
    s.at = double(aa);
    s.rt = double(ar);
    s.mode = dd::ar_mode::sigmoid;
    s.k = 1.0;
    s.zi = zi;
    proc.prepare({44100.0, 1, 4096}, s);
    std::vector<T> streamed(n);
    for (std::size_t t0 = 0; t0 < n;) {
        const std::size_t m = std::min<std::size_t>(1 + (t0 * 13) % 4096, n - t0);
        const T* in = x.data() + t0;
        T* out = streamed.data() + t0;
        proc.process(&in, &out, m);
        t0 += m;
    }
    std::size_t differ = 0;
    for (std::size_t t = 0; t < n; ++t) differ += y[t] != pieces[t] || y[t] != y2[t] || y[t] != y2[n + t] || y[t] != streamed[t];
    EXPECT_EQ(differ, 0u);
    EXPECT_EQ(final_state, state);
    EXPECT_EQ(final_state, finals2[0]);
}

}  // namespace

TEST(CompexpGain, SigmoidOneRowStretchesGiveTheBitsOfShortPieces) {
    // float: 16 stretches of ≥ 4 chunks need 131072 samples (double: 8 stretches, 65536); odd lengths
    // leave a tail after the stretches.
    for (int kind : {0, 1, 2}) {
        check_row<float>(200000 + 123, kind, 0.0, 1);
        check_row<double>(100000 + 45, kind, 0.0, 1);
    }
    check_row<float>(300000 + 7, 0, 6.0, 2);
    check_row<double>(140000, 0, 6.0, 2);
    dd::set_num_threads(0);
}
