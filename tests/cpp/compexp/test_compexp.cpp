// compexp_gain and compexp_gain_mode: forward against references and against the composition of the
// separately tested kernels, gradients against float64 central differences, the unity-band shortcut,
// bad levels anywhere, results independent of row grouping and threads, every kernel path
// (one row, rows in lanes) giving the step's bits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"
#include "test_util.hpp"
#include "compexp/compexp_test_util.hpp"
#include "curve/curve_math.hpp"
#include "smoother/smoother_math.hpp"

using namespace ddtest;
using dd::row_param;
using dd::signal_span;
using dd::signal_view;

namespace {
struct compexp_case {
    std::size_t cols = T;
    batch x = switching_level(B, cols, 11, -65, -5);
    std::vector<double> ct = {-20, -25, -15}, cr = {4, 2, 8}, et = {-50, -45, -55}, er = {0.5, 0.7, 0.3},
                        knee = {0, 6, 3}, at = AT, rt = RT, k = {0.5, 1.5, 3.0}, w = random_weights(B * cols, 12);
    compexp_case() = default;
    explicit compexp_case(std::size_t n) : cols(n), x(switching_level(B, n, 11, -65, -5)), w(random_weights(B * n, 12)) {}
    dd::compexp_params<double> params() const {
        return {per_row(ct), per_row(cr), per_row(et), per_row(er), per_row(knee)};
    }
    std::vector<double> run(dd::ar_mode mode) const {
        std::vector<double> y(B * cols);
        dd::compexp_gain_mode(view(x.data, B, cols), params(), per_row(at), per_row(rt), mode, per_row(k),
                              span(y, B, cols));
        return y;
    }
};

void check_compexp_gradients(dd::ar_mode mode) {
    compexp_case c;
    const std::size_t cols = T;
    const std::vector<double> y = c.run(mode);
    std::vector<double> gx(B * cols), gct(B), gcr(B), get(B), ger(B), gkn(B), gat(B), grt(B), gk(B);
    dd::compexp_gain_mode_backward(view(c.x.data, B, cols), c.params(), per_row(c.at), per_row(c.rt), mode,
                                   per_row(c.k), view(y, B, cols), view(c.w, B, cols), gx.data(),
                                   dd::compexp_param_grads<double>{gct.data(), gcr.data(), get.data(), ger.data(), gkn.data()},
                                   gat.data(), grt.data(), gk.data());
    auto loss = [&] { return dot(c.run(mode), c.w); };
    for (std::size_t b = 0; b < B; ++b) {
        expect_gradient_close(gct[b], central_difference(c.ct[b], 1e-3, loss), 1e-6, "comp_thresh");
        expect_gradient_close(gcr[b], central_difference(c.cr[b], 1e-4, loss), 1e-6, "comp_ratio");
        expect_gradient_close(get[b], central_difference(c.et[b], 1e-3, loss), 1e-6, "exp_thresh");
        expect_gradient_close(ger[b], central_difference(c.er[b], 1e-5, loss), 1e-6, "exp_ratio");
        if (c.knee[b] > 0) expect_gradient_close(gkn[b], central_difference(c.knee[b], 1e-3, loss), 1e-6, "knee");
        expect_gradient_close(gat[b], central_difference(c.at[b], 1e-7, loss), 1e-6, "at");
        expect_gradient_close(grt[b], central_difference(c.rt[b], 1e-7, loss), 1e-6, "rt");
        if (mode == dd::ar_mode::sigmoid) expect_gradient_close(gk[b], central_difference(c.k[b], 1e-4, loss), 1e-6, "k");
        for (double g : {gct[b], gcr[b], get[b], ger[b], gat[b], grt[b]}) EXPECT_NE(g, 0.0);
    }
    expect_directional_gradient(c.x.data, gx, 13, loss, 1e-6, "x_rms direction");
}
}  // namespace

TEST(CompexpGain, ForwardMatchesReference) {
    compexp_case c;
    c.knee = {0, 0, 0};
    const std::vector<double> y = c.run(dd::ar_mode::hard);
    for (std::size_t b = 0; b < B; ++b) {
        std::vector<double> xr(c.x.data.begin() + b * T, c.x.data.begin() + (b + 1) * T);
        const auto ref = ref_compexp_gain(xr, c.ct[b], c.cr[b], c.et[b], c.er[b], c.at[b], c.rt[b]);
        for (std::size_t t = 0; t < T; ++t) ASSERT_NEAR(y[b * T + t], ref[t], 1e-12);
    }
    // compexp_gain is compexp_gain_mode("hard").
    std::vector<double> y2(B * T);
    dd::compexp_gain(view(c.x.data, B, T), c.params(), per_row(c.at), per_row(c.rt), span(y2, B, T));
    EXPECT_EQ(y, y2);
}

TEST(CompexpGain, HardGradientsMatchFiniteDifferences) { check_compexp_gradients(dd::ar_mode::hard); }
TEST(CompexpGain, SigmoidGradientsMatchFiniteDifferences) { check_compexp_gradients(dd::ar_mode::sigmoid); }
/// The fused kernel equals the composition of the separately tested scalar kernels: level →
/// gain_curve → 10^(g/20) → smoother, gradients chained back by hand. grad_y is passed contiguous and
/// as a strided view of a column-major copy (the gathering path).
void check_against_the_composition(const compexp_case& c) {
    const std::size_t cols = c.cols;
    const auto params = c.params();
    std::vector<double> level(B * cols), g_db(B * cols), f(B * cols);
    for (std::size_t i = 0; i < B * cols; ++i) level[i] = 20.0 * std::log10(c.x.data[i]);
    dd::gain_curve(view(level, B, cols), params, span(g_db, B, cols));
    for (std::size_t i = 0; i < B * cols; ++i) f[i] = std::pow(10.0, g_db[i] / 20.0);
    std::vector<double> w_cm(B * cols);
    for (std::size_t b = 0; b < B; ++b)
        for (std::size_t t = 0; t < cols; ++t) w_cm[t * B + b] = c.w[b * cols + t];
    for (auto mode : {dd::ar_mode::hard, dd::ar_mode::sigmoid}) {
        const bool hard = mode == dd::ar_mode::hard;
        // The composition.
        std::vector<double> y_ref(B * cols), gf(B * cols), gg(B * cols), gl(B * cols), r_at(B), r_rt(B), r_k(B), r_zi(B);
        std::vector<double> r_ct(B), r_cr(B), r_et(B), r_er(B), r_kn(B);
        if (hard) {
            dd::attack_release_smoother(view(f, B, cols), 1.0, per_row(c.at), per_row(c.rt), span(y_ref, B, cols));
            dd::attack_release_smoother_backward(view(f, B, cols), 1.0, per_row(c.at), per_row(c.rt), view(y_ref, B, cols),
                                                 view(c.w, B, cols), gf.data(),
                                                 dd::smoother_param_grads<double>{r_zi.data(), r_at.data(), r_rt.data()});
        } else {
            dd::sigmoid_smoother(view(f, B, cols), 1.0, per_row(c.at), per_row(c.rt), per_row(c.k), span(y_ref, B, cols));
            dd::sigmoid_smoother_backward(view(f, B, cols), 1.0, per_row(c.at), per_row(c.rt), per_row(c.k),
                                          view(y_ref, B, cols), view(c.w, B, cols), gf.data(),
                                          dd::sigmoid_param_grads<double>{r_zi.data(), r_at.data(), r_rt.data(), r_k.data()});
        }
        const double ln10_20 = std::log(10.0) / 20.0;
        for (std::size_t i = 0; i < B * cols; ++i) gg[i] = gf[i] * f[i] * ln10_20;
        dd::gain_curve_backward(view(level, B, cols), params, view(gg, B, cols), gl.data(),
                                dd::compexp_param_grads<double>{r_ct.data(), r_cr.data(), r_et.data(), r_er.data(), r_kn.data()});
        // The fused kernel.
        const std::vector<double> y = c.run(mode);
        for (std::size_t i = 0; i < B * cols; ++i) ASSERT_NEAR(y[i], y_ref[i], 1e-13 * y_ref[i]) << "y " << i;
        for (bool strided : {false, true}) {
            const dd::strided_view<double> grad_y = strided ? dd::strided_view<double>(w_cm.data(), B, cols, 1, std::ptrdiff_t(B))
                                                            : dd::strided_view<double>(c.w.data(), B, cols);
            std::vector<double> gx(B * cols), gct(B), gcr(B), get(B), ger(B), gkn(B), gat(B), grt(B), gk(B);
            dd::compexp_gain_mode_backward(view(c.x.data, B, cols), params, per_row(c.at), per_row(c.rt), mode,
                                           per_row(c.k), view(y, B, cols), grad_y, gx.data(),
                                           dd::compexp_param_grads<double>{gct.data(), gcr.data(), get.data(), ger.data(), gkn.data()},
                                           gat.data(), grt.data(), gk.data());
            for (std::size_t i = 0; i < B * cols; ++i) {
                const double ref = gl[i] / (ln10_20 * c.x.data[i]);
                ASSERT_NEAR(gx[i], ref, 1e-9 * std::abs(ref) + 1e-12) << "grad x_rms " << i << (strided ? " strided" : "");
            }
            for (std::size_t b = 0; b < B; ++b) {
                expect_gradient_close(gct[b], r_ct[b], 1e-9, "comp_thresh");
                expect_gradient_close(gcr[b], r_cr[b], 1e-9, "comp_ratio");
                expect_gradient_close(get[b], r_et[b], 1e-9, "exp_thresh");
                expect_gradient_close(ger[b], r_er[b], 1e-9, "exp_ratio");
                expect_gradient_close(gkn[b], r_kn[b], 1e-9, "knee");
                expect_gradient_close(gat[b], r_at[b], 1e-9, "at");
                expect_gradient_close(grt[b], r_rt[b], 1e-9, "rt");
                if (!hard) expect_gradient_close(gk[b], r_k[b], 1e-9, "k");
            }
        }
    }
}

TEST(CompexpGain, LongRowsMatchTheCompositionOfTheScalarKernels) {
    // Over many kernel chunks: the vectorised kernel reads whole chunks of x, y and grad_y in place
    // and copies the last, partial one.
    check_against_the_composition(compexp_case(10007));
}

/// Levels that dwell 40–400 samples in one place: inside the curve's unity band (between the
/// expander's and the compressor's knees), in the compressor's or the expander's region, or within
/// ±0.02 dB of an edge of the band; row b's band is [et + knee/2, ct − knee/2].
batch dwelling_level(const compexp_case& c, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    batch x{B, c.cols, std::vector<double>(B * c.cols)};
    for (std::size_t b = 0; b < B; ++b) {
        const double lo = c.et[b] + 0.5 * c.knee[b], hi = c.ct[b] - 0.5 * c.knee[b];
        double db = 0, jitter = 0;
        for (std::size_t t = 0, left = 0; t < c.cols; ++t, --left) {
            if (left == 0) {
                left = 40 + std::size_t(360 * u(rng));
                const int kind = int(6 * u(rng));
                jitter = kind == 0 ? 0.0 : 0.3;
                db = kind <= 1 ? lo + 1 + (hi - lo - 2) * u(rng)  // inside the band
                   : kind == 2 ? hi + 2 + 15 * u(rng)              // compressing
                   : kind == 3 ? lo - 2 - 15 * u(rng)              // expanding
                   : kind == 4 ? hi + 0.04 * (u(rng) - 0.5)        // at the compressor's edge
                               : lo + 0.04 * (u(rng) - 0.5);       // at the expander's edge
                if (kind >= 4) jitter = 0.001;
            }
            x.at(b, t) = std::pow(10.0, (db + jitter * (2 * u(rng) - 1)) / 20.0);
        }
    }
    return x;
}

TEST(CompexpGain, UnityBandAndOneBranchShortcutsGiveTheFullComputation) {
    // Vectors of samples all inside the curve's unity band skip the level, the curve and the
    // exponential (f = 1 exactly, partials 0); knee-free float32 rows whose samples all lie above the
    // expander's knee (or all below the compressor's) take one branch's target in every lane. On
    // signals that dwell inside the band, compress, expand and sit at its edges, in rows with and
    // without a knee and with the expander off (ER = 1: the band reaches down to 0), the kernel must
    // still equal the composition, and float32 must give the bits of the scalar composition built
    // from the same per-lane float32 target steps and compexp_reference_step.
    compexp_case c(6007);
    c.er = {0.5, 1.0, 0.3};
    c.x = dwelling_level(c, 31);
    check_against_the_composition(c);

    const std::size_t cols = c.cols;
    std::vector<float> xf(c.x.data.begin(), c.x.data.end()), level(B * cols), g_db(B * cols), f(B * cols),
        y_ref(B * cols), y(B * cols);
    auto fl = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
    const auto ct = fl(c.ct), cr = fl(c.cr), et = fl(c.et), er = fl(c.er), knee = fl(c.knee), at = fl(c.at), rt = fl(c.rt);
    auto row = [](const std::vector<float>& v) { return dd::row_param<float>{v.data(), v.size()}; };
    const dd::compexp_params<float> params{row(ct), row(cr), row(et), row(er), row(knee)};
    for (std::size_t i = 0; i < B * cols; ++i) level[i] = dd::simd::amp2db(xf[i]);
    dd::gain_curve(dd::signal_view<float>{level.data(), B, cols}, params, dd::signal_span<float>{g_db.data(), B, cols});
    // float32 targets from x's parts: hard_curve_target, knee_curve_target with a knee.
    for (std::size_t b = 0; b < B; ++b) {
        using V = dd::simd::wide<float>;
        const auto terms = dd::hard_target_terms<V>::from(params.row(b));
        const auto prepared = dd::prepared_curve<V>::from(params.row(b));
        for (std::size_t t = 0; t < cols; ++t) {
            const std::size_t i = b * cols + t;
            V e, ln_m;
            dd::simd::detail::log_parts(V(xf[i]), e, ln_m);
            f[i] = knee[b] != 0.f ? dd::knee_curve_target(e, ln_m, dd::simd::level_from_parts(e, ln_m), prepared, terms).get(0)
                                  : dd::hard_curve_target(e, ln_m, terms).get(0);
        }
    }
    for (std::size_t b = 0; b < B; ++b) {
        double state = 1.0;
        for (std::size_t t = 0; t < cols; ++t) {
            state = compexp_reference_step(f[b * cols + t], state, at[b], rt[b]);
            y_ref[b * cols + t] = output_of(state, 0.f);
        }
    }
    dd::compexp_gain(dd::signal_view<float>{xf.data(), B, cols}, params, row(at), row(rt),
                     dd::signal_span<float>{y.data(), B, cols});
    std::size_t unity = 0;
    for (std::size_t i = 0; i < B * cols; ++i) {
        ASSERT_EQ(y[i], y_ref[i]) << "sample " << i;
        unity += g_db[i] == 0.f;
    }
    EXPECT_GT(unity, B * cols / 4);  // the shortcut was exercised
}

// ------------------------------------------------------------------------------------------------

namespace {

template <class T> void check_composition_invariance(dd::ar_mode mode, std::size_t rows, const batch& xd) {
    const std::size_t cols = xd.cols;
    const std::vector<T> x(xd.data.begin(), xd.data.end());
    std::vector<T> cr(rows), w(rows * cols);
    for (std::size_t b = 0; b < rows; ++b) cr[b] = T(2 + 0.5 * double(b));
    const auto wd = random_weights(rows * cols, 22);
    std::copy(wd.begin(), wd.end(), w.begin());
    dd::set_num_threads(1);
    const auto one = run_compexp(x, rows, cols, cr, w, T(2), mode);
    dd::set_num_threads(2);
    const auto two = run_compexp(x, rows, cols, cr, w, T(2), mode);
    dd::set_num_threads(0);
    EXPECT_EQ(one.y, two.y);
    EXPECT_EQ(one.gx, two.gx);
    EXPECT_EQ(one.gcr, two.gcr);
    EXPECT_EQ(one.gat, two.gat);
    for (std::size_t b : {std::size_t(0), rows / 2, rows - 1}) {
        const std::vector<T> xr(x.begin() + b * cols, x.begin() + (b + 1) * cols), wr(w.begin() + b * cols, w.begin() + (b + 1) * cols);
        const auto alone = run_compexp(xr, 1, cols, std::vector<T>{cr[b]}, wr, T(2), mode);
        for (std::size_t t = 0; t < cols; ++t) {
            ASSERT_EQ(alone.y[t], one.y[b * cols + t]) << "row " << b << " t " << t;
            ASSERT_EQ(alone.gx[t], one.gx[b * cols + t]) << "row " << b << " t " << t;
        }
        for (auto [a, full] : {std::pair{&alone.gct, &one.gct}, {&alone.gcr, &one.gcr}, {&alone.get, &one.get},
                               {&alone.ger, &one.ger}, {&alone.gkn, &one.gkn}, {&alone.gat, &one.gat}, {&alone.grt, &one.grt},
                               {&alone.gk, &one.gk}})
            EXPECT_EQ((*a)[0], (*full)[b]) << "row " << b;
    }
}
}  // namespace

namespace {
template <class T> void check_bad_levels_are_reported() {
    // The kernels check x_rms while they read it: every bad value, wherever it sits (first sample,
    // inside a vector, in a chunk's partial tail, in any row), in the forward and in the backward.
    const std::size_t rows = 3, cols = 5003;
    const T bad_values[] = {T(0), T(-1e-3), std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                            -std::numeric_limits<T>::infinity()};
    const std::size_t positions[] = {0, 17, 2047, 2048, cols - 1, cols + 4100, 2 * cols + 5002};
    std::vector<T> x(rows * cols, T(0.05)), y(rows * cols), gy(rows * cols, T(1)), gx(rows * cols);
    const dd::compexp_params<T> p{T(-20), T(4), T(-60), T(0.5)};
    for (auto mode : {dd::ar_mode::hard, dd::ar_mode::sigmoid}) {
        dd::compexp_gain_mode(signal_view<T>{x.data(), rows, cols}, p, T(0.1), T(0.01), mode, T(1),
                              signal_span<T>{y.data(), rows, cols});
        for (T bad : bad_values)
            for (std::size_t i : positions) {
                x[i] = bad;
                expect_argument_error([&] { dd::compexp_gain_mode(signal_view<T>{x.data(), rows, cols}, p, T(0.1), T(0.01), mode,
                                                                  T(1), signal_span<T>{y.data(), rows, cols}); },
                                      "x_rms");
                expect_argument_error([&] {
                    dd::compexp_gain_mode_backward(signal_view<T>{x.data(), rows, cols}, p, T(0.1), T(0.01), mode, T(1),
                                                   signal_view<T>{y.data(), rows, cols},
                                                   signal_view<T>{gy.data(), rows, cols}, gx.data(),
                                                   dd::compexp_param_grads<T>{}, static_cast<T*>(nullptr),
                                                   static_cast<T*>(nullptr), static_cast<T*>(nullptr));
                }, "x_rms");
                x[i] = T(0.05);
            }
    }
}
}  // namespace


TEST(CompexpGain, RowResultsDoNotDependOnBatchCompositionOrThreads) {
    // 3 and 5 rows in float make one group of lanes: on two threads the hard gate's forward pipelines
    // its curve phase and its recursion (compexp_forward_group_pipelined); 3 rows in double are two
    // groups there, one per thread (2 + 1). On one thread, 11 rows make
    // one group of two recursion chains in float (8 + 3 rows) and two groups of two chains in double
    // (4 + 2, 4 + 1); 5 rows in double are one group of two chains (4 + 1).
    // Lengths: > 2 chunks with a last chunk that is whole vectors of rows-in-lanes (5000: 904 samples)
    // or shorter than the cache line the second chain runs behind the first by (4104: 8 samples;
    // 4100: 4, whole vectors in double only), and a length that is no multiple of the lanes (4099).
    for (auto mode : {dd::ar_mode::hard, dd::ar_mode::sigmoid})
        for (std::size_t rows : {3, 5, 11})
            for (std::size_t cols : {5000, 4104, 4100, 4099}) {
                if (cols != 5000 && (rows != 11 || mode != dd::ar_mode::hard)) continue;
                const batch x = switching_level(rows, cols, 21, -70, -5);
                check_composition_invariance<float>(mode, rows, x);
                check_composition_invariance<double>(mode, rows, x);
            }
}

namespace {
/// The forward on two threads against one thread, bit for bit.
template <class T> void expect_two_threads_give_the_bits_of_one(const std::vector<T>& x, std::size_t rows, std::size_t cols,
                                                                const dd::compexp_params<T>& p, T at, T rt) {
    std::vector<T> y1(rows * cols), y2(rows * cols);
    dd::set_num_threads(1);
    dd::compexp_gain<T>(signal_view<T>{x.data(), rows, cols}, p, at, rt, signal_span<T>{y1.data(), rows, cols});
    dd::set_num_threads(2);
    dd::compexp_gain<T>(signal_view<T>{x.data(), rows, cols}, p, at, rt, signal_span<T>{y2.data(), rows, cols});
    dd::set_num_threads(0);
    for (std::size_t i = 0; i < y1.size(); ++i)
        ASSERT_EQ(y1[i], y2[i]) << rows << " rows, row " << i / cols << " t " << i % cols;
}

/// The backward (all gradients) on 2 threads against 1 thread, bit for bit, with the gradient of a
/// random weighting of y.
template <class T> void expect_two_threads_give_the_bits_of_one_backward(const std::vector<T>& x, std::size_t rows,
                                                                         std::size_t cols, const dd::compexp_params<T>& p,
                                                                         T at, T rt) {
    const auto wd = random_weights(rows * cols, 23);
    const std::vector<T> w(wd.begin(), wd.end());
    struct grads {
        std::vector<T> y, gx, gct, gcr, gat, grt;
    };
    auto run = [&](int threads) {
        dd::set_num_threads(threads);
        grads g{std::vector<T>(rows * cols), std::vector<T>(rows * cols), std::vector<T>(rows), std::vector<T>(rows),
                std::vector<T>(rows), std::vector<T>(rows)};
        dd::compexp_gain<T>(signal_view<T>{x.data(), rows, cols}, p, at, rt, signal_span<T>{g.y.data(), rows, cols});
        dd::compexp_param_grads<T> cg;
        cg.comp_thresh = g.gct.data();
        cg.comp_ratio = g.gcr.data();
        dd::compexp_gain_backward<T>(signal_view<T>{x.data(), rows, cols}, p, at, rt, signal_view<T>{g.y.data(), rows, cols},
                                     signal_view<T>{w.data(), rows, cols}, g.gx.data(), cg, g.gat.data(), g.grt.data());
        dd::set_num_threads(0);
        return g;
    };
    const grads one = run(1), two = run(2);
    for (std::size_t i = 0; i < one.gx.size(); ++i)
        ASSERT_EQ(one.gx[i], two.gx[i]) << rows << " rows, row " << i / cols << " t " << i % cols;
    EXPECT_EQ(one.gct, two.gct);
    EXPECT_EQ(one.gcr, two.gcr);
    EXPECT_EQ(one.gat, two.gat);
    EXPECT_EQ(one.grt, two.grt);
}

/// 1 … 11 rows (one row alone, rows in one or two vectors of lanes, groups spread over the threads)
/// on one thread and on two: the same bits, on program-like levels and on held states.
template <class T> void check_threads_and_grouping(std::size_t rows) {
    const std::size_t cols = 40000;  // 20 chunks
    // Program-like levels.
    const batch level = switching_level(rows, cols, 31, -70, -5);
    check_composition_invariance<T>(dd::ar_mode::hard, rows, level);
    if (rows == 1) check_composition_invariance<T>(dd::ar_mode::sigmoid, rows, level);
    {
        // Time constants so long that every state is remembered to the end of the row; levels in
        // the compressor's range, so that every sample has a gradient.
        const std::vector<T> xs(level.data.begin(), level.data.end());
        const dd::compexp_params<T> slow{T(-60), T(4), T(-100), T(0.5), T(0)};
        expect_two_threads_give_the_bits_of_one_backward<T>(xs, rows, cols, slow, T(1e-5), T(1e-5));
    }
    // Loud (attack to f ≈ 0.13) for the first 40 %, then quiet (f = 1) with a release so slow that the
    // state is still far below 1 at the end.
    std::vector<T> x(rows * cols);
    for (std::size_t b = 0; b < rows; ++b)
        for (std::size_t t = 0; t < cols; ++t) x[b * cols + t] = T(t < cols * 2 / 5 ? 0.5 + 0.01 * double(b) : 0.01);
    const dd::compexp_params<T> p{T(-30), T(4), T(-80), T(0.5), T(0)};
    expect_two_threads_give_the_bits_of_one<T>(x, rows, cols, p, T(0.05), T(1e-5));
    std::vector<T> y(rows * cols);
    dd::compexp_gain<T>(signal_view<T>{x.data(), rows, cols}, p, T(0.05), T(1e-5), signal_span<T>{y.data(), rows, cols});
    EXPECT_LT(y[cols - 1], T(0.5));  // the premise: still far from 1 at the end
    if (rows > 1) {
        // As above, and then loud again from a time that grows with the row, the last row never.
        for (std::size_t b = 0; b < rows; ++b) {
            const std::size_t loud_again = b + 1 < rows ? cols / 2 + b * cols / (4 * rows) : cols;
            for (std::size_t t = 0; t < cols; ++t)
                x[b * cols + t] = T(t < cols * 2 / 5 || t >= loud_again ? 0.5 + 0.01 * double(b) : 0.01);
        }
        expect_two_threads_give_the_bits_of_one<T>(x, rows, cols, p, T(0.05), T(1e-5));
    }
    if (rows > dd::simd::lanes<T>) {
        // Rows in two vectors: the first vector's rows toggle loud/quiet every 1000 samples, the others'
        // are as above.
        for (std::size_t b = 0; b < dd::simd::lanes<T>; ++b)
            for (std::size_t t = 0; t < cols; ++t) x[b * cols + t] = T((t / 1000) % 2 == 0 ? 0.5 : 0.01);
        expect_two_threads_give_the_bits_of_one<T>(x, rows, cols, p, T(0.05), T(1e-5));
    }
}
}  // namespace

TEST(CompexpGain, OneAndTwoThreadsGiveTheSameBitsForAnyGrouping) {
    for (std::size_t rows : {1, 2, 3, 4, 6, 8, 11}) {
        check_threads_and_grouping<float>(rows);
        if (rows <= 2 * dd::simd::lanes<double>) check_threads_and_grouping<double>(rows);
    }
}

TEST(CompexpGain, CallersOnSeveralThreadsShareTheLibrarysThreads) {
    // The library keeps one TBB arena per thread count for the whole process: calls made at the same
    // time from several threads of the caller share it (and each thread's scratch memory is its own).
    // Every call must finish and give the one-thread bits: one long row, a group of rows in one vector
    // and more rows than lanes.
    for (std::size_t rows : {std::size_t(1), std::size_t(6), std::size_t(11)}) {
        const std::size_t cols = 40000;
        const batch level = switching_level(rows, cols, 41, -70, -5);
        const std::vector<float> x(level.data.begin(), level.data.end());
        std::vector<float> cr(rows, 3.0f), w(rows * cols);
        const auto wd = random_weights(rows * cols, 24);
        std::copy(wd.begin(), wd.end(), w.begin());
        dd::set_num_threads(1);
        const auto expected = run_compexp(x, rows, cols, cr, w, 0.0f);
        dd::set_num_threads(2);
        std::vector<compexp_run<float>> got(4 * 3);
        std::vector<std::thread> callers;
        for (std::size_t c = 0; c < 4; ++c)
            callers.emplace_back([&, c] {
                for (std::size_t k = 0; k < 3; ++k) got[3 * c + k] = run_compexp(x, rows, cols, cr, w, 0.0f);
            });
        for (auto& t : callers) t.join();
        dd::set_num_threads(0);
        for (const auto& g : got) {
            EXPECT_EQ(g.y, expected.y) << rows << " rows";
            EXPECT_EQ(g.gx, expected.gx) << rows << " rows";
            EXPECT_EQ(g.gcr, expected.gcr) << rows << " rows";
            EXPECT_EQ(g.grt, expected.grt) << rows << " rows";
        }
    }
}

namespace {
/// A smoothed level (like an RMS detector's) that holds U(−70, −5) dB for 50–800 samples at a time:
/// the smoother's decisions come in long runs of attack or release, as on program material.
batch held_smoothed_level(std::size_t rows, std::size_t cols, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    batch x{rows, cols, std::vector<double>(rows * cols)};
    for (std::size_t b = 0; b < rows; ++b) {
        double db = -30, smooth = 0.03;
        for (std::size_t t = 0, left = 0; t < cols; ++t, --left) {
            if (left == 0) {
                left = 50 + std::size_t(750 * u(rng));
                db = -70 + 65 * u(rng);
            }
            smooth += 0.02 * (std::pow(10.0, (db + 0.5 * (2 * u(rng) - 1)) / 20.0) - smooth);
            x.at(b, t) = smooth;
        }
    }
    return x;
}

/// hard_smoother_guessing against compexp_reference_step, bit for bit, on f that holds, falls, rises and
/// flips from sample to sample; the signal must take every path of the runner: a guessed block that
/// held (all release, all attack), a guessed block that failed, and a block with nothing guessed.
template <class T> void check_guessing_runner(T at, T rt, unsigned seed) {
    constexpr std::size_t block = dd::hard_smoother_guessing<T>::block;
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<T> f;
    while (f.size() < 20000) {
        const std::size_t n = 20 + std::size_t(600 * u(rng));
        const int kind = int(4 * u(rng));
        const double level = 0.01 + 0.99 * u(rng);
        for (std::size_t i = 0; i < n; ++i)
            f.push_back(T(kind == 0 ? 1.0                                   // the curve's unity band: f = 1
                          : kind == 1 ? level                               // held: attack or release runs
                          : kind == 2 ? level * (1 + 0.3 * (2 * u(rng) - 1))  // a raw peak: flips in every block
                                      : level * (1 + 0.002 * std::sin(0.05 * double(i)))));  // flips now and then
    }
    f.resize(f.size() - 7);  // a tail shorter than a block
    std::vector<T> y_ref(f.size()), y(f.size());
    std::vector<bool> attack(f.size());
    double state = 1.0;
    for (std::size_t t = 0; t < f.size(); ++t) {
        attack[t] = f[t] < output_of(state, T());
        state = compexp_reference_step(f[t], state, at, rt);
        y_ref[t] = output_of(state, T());
    }
    dd::hard_smoother_guessing<T> runner(at, rt, 1.0);
    std::size_t t = 0;
    for (; t + block <= f.size(); t += block) runner.run_block(f.data() + t, y.data() + t);
    for (; t < f.size(); ++t) runner.run_step(f[t], y.data() + t);
    for (std::size_t i = 0; i < f.size(); ++i) ASSERT_EQ(y[i], y_ref[i]) << "sample " << i;
    EXPECT_EQ(runner.state(), state);

    // The runner guesses each block's decisions to be those of the block before, if they were uniform.
    enum { release, attacks, mixed };
    std::size_t held[2] = {0, 0}, failed = 0, unguessed = 0;
    int guess = mixed;
    for (std::size_t b = 0; (b + 1) * block <= f.size(); ++b) {
        std::size_t n_attack = 0;
        for (std::size_t i = b * block; i < (b + 1) * block; ++i) n_attack += attack[i];
        const int kind = n_attack == 0 ? release : n_attack == block ? attacks : mixed;
        if (guess == mixed)
            ++unguessed;
        else if (guess == kind)
            ++held[guess];
        else
            ++failed;
        guess = kind;
    }
    EXPECT_GT(held[release], 20u);
    EXPECT_GT(held[attacks], 20u);
    EXPECT_GT(failed, 20u);
    EXPECT_GT(unguessed, 20u);
}
}  // namespace

TEST(Smoother, GuessedDecisionsGiveTheBitsOfTheStep) {
    check_guessing_runner<float>(0.05f, 0.004f, 41);
    check_guessing_runner<double>(0.05, 0.004, 42);
    check_guessing_runner<float>(0.002f, 0.3f, 43);  // attack slower than release
    check_guessing_runner<double>(0.002, 0.3, 44);
}

TEST(CompexpGain, OneRowWithLongDecisionRunsGivesTheBitsOfRowsInLanes) {
    // A row alone runs its recursion with guessed decisions (hard_smoother_guessing); rows in lanes
    // step every sample. On a level whose decisions come in long runs the guesses mostly hold.
    for (auto mode : {dd::ar_mode::hard, dd::ar_mode::sigmoid}) {
        const batch x = held_smoothed_level(3, 7001, 45);
        check_composition_invariance<float>(mode, 3, x);
        check_composition_invariance<double>(mode, 3, x);
    }
}

TEST(CompexpGain, BadLevelsAnywhereAreReportedByTheFusedChecks) {
    check_bad_levels_are_reported<float>();
    check_bad_levels_are_reported<double>();
}
