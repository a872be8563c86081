// Shared helpers of the C++ tests: seeded test signals, finite differences, and straightforward
// reference implementations of the static curve, the smoothers, compexp_gain and the limiter
// (docs/reference/) that share no code with the library's kernels.
#pragma once
#include <gtest/gtest.h>

#include "differential_dynamics/core.hpp"

#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace ddtest {

struct batch {
    std::size_t rows, cols;
    std::vector<double> data;
    double& at(std::size_t b, std::size_t t) { return data[b * cols + t]; }
    double at(std::size_t b, std::size_t t) const { return data[b * cols + t]; }
};

/// A level (linear, > 0) that jumps between loud and quiet with a per-row period plus noise, so the
/// smoother switches between attack and release many times.
inline batch switching_level(std::size_t rows, std::size_t cols, unsigned seed, double lo_db = -45,
                             double hi_db = -5) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, 2.0);
    batch x{rows, cols, std::vector<double>(rows * cols)};
    for (std::size_t b = 0; b < rows; ++b) {
        const std::size_t period = 17 + 9 * b;
        for (std::size_t t = 0; t < cols; ++t) {
            const bool loud = (t / period) % 2 == 0;
            const double db = (loud ? hi_db : lo_db) + noise(rng) + 3.0 * std::sin(0.05 * double(t));
            x.at(b, t) = std::pow(10.0, db / 20.0);
        }
    }
    return x;
}

/// Bipolar audio-like signal (for the limiter): bursts of noise under a moving envelope, no exact zeros.
inline batch bursty_audio(std::size_t rows, std::size_t cols, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, 1.0);
    batch x{rows, cols, std::vector<double>(rows * cols)};
    for (std::size_t b = 0; b < rows; ++b)
        for (std::size_t t = 0; t < cols; ++t) {
            const double env = ((t / (13 + 5 * b)) % 2 == 0) ? 1.2 : 0.1;
            double v = env * noise(rng);
            if (std::abs(v) < 1e-3) v = 1e-3;
            x.at(b, t) = v;
        }
    return x;
}

inline std::vector<double> random_weights(std::size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    std::vector<double> w(n);
    for (auto& v : w) v = u(rng);
    return w;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

/// Fourth-order central difference of f with respect to p (restored afterwards):
/// (−f(p+2h) + 8f(p+h) − 8f(p−h) + f(p−2h)) / 12h. Its truncation error O(h⁴) allows steps large
/// enough that rounding of the loss stays far below the 1e-6 relative tolerances.
inline double central_difference(double& p, double h, const std::function<double()>& f) {
    const double p0 = p;
    auto at = [&](double offset) {
        p = p0 + offset;
        return f();
    };
    const double d = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h);
    p = p0;
    return d;
}

/// |a − b| ≤ rel·max(|a|, |b|) + abs_floor, and the expectation is not trivially zero.
inline void expect_gradient_close(double analytic, double numeric, double rel, const char* what,
                                  double abs_floor = 1e-12) {
    EXPECT_NEAR(analytic, numeric, rel * std::max(std::abs(analytic), std::abs(numeric)) + abs_floor) << what;
}

/// The gradient g of loss() with respect to a whole signal x, along a random direction v (seeded):
/// x_i → x0_i·(1 + s·v_i) (relative: positive levels stay positive) or x0_i + s·v_i, and
/// Σ_i g_i·dx_i/ds is compared with the central difference in s. x is restored afterwards.
inline void expect_directional_gradient(std::vector<double>& x, const std::vector<double>& g, unsigned seed,
                                        const std::function<double()>& loss, double h, const char* what,
                                        bool relative = true) {
    const std::vector<double> v = random_weights(x.size(), seed), x0 = x;
    double s = 0, analytic = 0;
    for (std::size_t i = 0; i < x.size(); ++i) analytic += g[i] * v[i] * (relative ? x0[i] : 1.0);
    auto along = [&] {
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = relative ? x0[i] * (1 + s * v[i]) : x0[i] + s * v[i];
        return loss();
    };
    expect_gradient_close(analytic, central_difference(s, h, along), 1e-6, what);
    x = x0;
}

// ------------------------------------------------------------------------------------------------
// Reference implementations (straightforward transcriptions of the definitions in docs/reference/)

inline double ref_hard_curve(double level, double ct, double cr, double et, double er) {
    return std::min({0.0, (1 - 1 / cr) * (ct - level), (1 - 1 / er) * (et - level)});
}

inline std::vector<double> ref_smoother(const std::vector<double>& f, double zi, double at, double rt) {
    std::vector<double> y(f.size());
    double prev = zi;
    for (std::size_t t = 0; t < f.size(); ++t) {
        const double beta = (f[t] < prev) ? at : rt;
        prev = (1 - beta) * prev + beta * f[t];
        y[t] = prev;
    }
    return y;
}

inline std::vector<double> ref_compexp_gain(const std::vector<double>& x_rms, double ct, double cr, double et,
                                            double er, double at, double rt) {
    std::vector<double> f(x_rms.size());
    for (std::size_t t = 0; t < f.size(); ++t)
        f[t] = std::pow(10.0, ref_hard_curve(20 * std::log10(x_rms[t]), ct, cr, et, er) / 20);
    return ref_smoother(f, 1.0, at, rt);
}

inline std::vector<double> ref_limiter_gain(const std::vector<double>& x, double thr, double at, double rt) {
    std::vector<double> ax(x.size());
    for (std::size_t t = 0; t < x.size(); ++t) ax[t] = std::abs(x[t]);
    const std::vector<double> p = ref_smoother(ax, 0.0, rt, at);
    std::vector<double> f(x.size());
    const double lt = std::pow(10.0, thr / 20);
    for (std::size_t t = 0; t < x.size(); ++t) f[t] = p[t] > 0 ? std::min(1.0, lt / p[t]) : 1.0;
    return ref_smoother(f, 1.0, at, rt);
}

inline std::size_t count_decision_flips(const std::vector<double>& f, const std::vector<double>& y, double zi) {
    std::size_t flips = 0;
    bool last = false;
    for (std::size_t t = 0; t < f.size(); ++t) {
        const bool attack = f[t] < (t ? y[t - 1] : zi);
        if (t && attack != last) ++flips;
        last = attack;
    }
    return flips;
}

// ------------------------------------------------------------------------------------------------
// The shapes and parameters most tests use, and views of std::vector<double>.

constexpr std::size_t B = 3, T = 400;
inline const std::vector<double> AT = {0.3, 0.1, 0.02}, RT = {0.01, 0.05, 0.2};

inline dd::signal_view<double> view(const std::vector<double>& v, std::size_t rows, std::size_t cols) {
    return {v.data(), rows, cols};
}
inline dd::signal_span<double> span(std::vector<double>& v, std::size_t rows, std::size_t cols) {
    return {v.data(), rows, cols};
}
inline dd::row_param<double> per_row(const std::vector<double>& v) { return {v.data(), v.size()}; }

/// A hard smoother state as the row's output: rounded toward +∞ to float32 for float32 rows
/// (docs/reference/numerics.md), written with nextafter.
inline float output_of(double state, float) {
    const float t = float(state);
    return double(t) < state ? std::nextafter(t, std::numeric_limits<float>::infinity()) : t;
}
inline double output_of(double state, double) { return state; }

/// The hard smoother's step as the kernels must take it, written out plainly (the state in double for
/// float32 rows too): the decision on the output the row sees (output_of y_{t−1}); coefficients 1 − β
/// rounded once and β taken back as 1 − (1 − β); one rounding in double.
template <class Row> double compexp_reference_step(Row f, double y_prev, Row at, Row rt) {
    const bool attack = double(f) < double(output_of(y_prev, Row()));
    const double keep = 1.0 - double(attack ? at : rt), beta = 1.0 - keep;
    return std::fma(keep, y_prev, beta * double(f));
}

/// f() must throw argument_error naming `name`.
template <class F> inline void expect_argument_error(F&& f, const std::string& name) {
    try {
        f();
        ADD_FAILURE() << "no error for " << name;
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(e.argument(), name) << e.what();
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos);
    }
}

}  // namespace ddtest
