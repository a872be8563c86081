// Core processors: forward against independent references, every gradient against float64 central
// finite differences on signals with many attack/release flips, chunking, threads, float32, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"
#include "test_util.hpp"
#include "curve/curve_math.hpp"
#include "smoother/smoother_math.hpp"

using namespace ddtest;
using dd::row_param;
using dd::signal_span;
using dd::signal_view;

namespace {
constexpr std::size_t B = 3, T = 400;
const std::vector<double> AT = {0.3, 0.1, 0.02}, RT = {0.01, 0.05, 0.2};

signal_view<double> view(const std::vector<double>& v, std::size_t rows, std::size_t cols) { return {v.data(), rows, cols}; }
signal_span<double> span(std::vector<double>& v, std::size_t rows, std::size_t cols) { return {v.data(), rows, cols}; }
row_param<double> per_row(const std::vector<double>& v) { return {v.data(), v.size()}; }

/// compexp_gain's output for a state: rounded up (toward +∞) to float32 for float32 rows
/// (docs/ballistics.md §6), written with nextafter.
float output_of(double state, float) {
    const float t = float(state);
    return double(t) < state ? std::nextafter(t, std::numeric_limits<float>::infinity()) : t;
}
double output_of(double state, double) { return state; }


/// compexp_gain's hard smoother step as the kernels must take it, written out plainly (SPEC §2.2; the
/// state in double for float32 rows too, docs/ballistics.md §6): the decision on the output the row
/// sees (output_of y_{t−1}); coefficients 1 − β rounded once and β taken back as 1 − (1 − β); one
/// rounding in double.
template <class Row> double compexp_reference_step(Row f, double y_prev, Row at, Row rt) {
    const bool attack = double(f) < double(output_of(y_prev, Row()));
    const double keep = 1.0 - double(attack ? at : rt), beta = 1.0 - keep;
    return std::fma(keep, y_prev, beta * double(f));
}
}  // namespace

// ------------------------------------------------------------------------------------------------
TEST(Conversions, SpecValues) {
    EXPECT_NEAR(dd::ms2coef(10.0, 44100.0), 0.0049762, 1e-7);
    EXPECT_NEAR(dd::coef2ms(dd::ms2coef(37.0, 48000.0), 48000.0), 37.0, 1e-9);
    EXPECT_NEAR(dd::amp2db(0.5), 20 * std::log10(0.5), 1e-14);
    EXPECT_NEAR(dd::db2amp(-6.0), std::pow(10.0, -0.3), 1e-15);
    EXPECT_DOUBLE_EQ(dd::safe_amp2db(0.0), -140.0);
    EXPECT_EQ(dd::safe_amp2db_derivative(1e-9), 0.0);
    EXPECT_NEAR(dd::safe_amp2db_derivative(0.1), 20 / (std::log(10.0) * 0.1), 1e-12);
}

// ------------------------------------------------------------------------------------------------
TEST(GainCurve, HardCurveMatchesSpecAndKneeZeroIsExact) {
    const dd::compexp_curve<double> hard{-20, 4, -50, 0.5, 0};
    for (double L = -100; L <= 10; L += 0.37) {
        EXPECT_NEAR(dd::compexp_gain_db(hard, L), ref_hard_curve(L, -20, 4, -50, 0.5), 1e-12) << L;
        dd::curve_partials<double> p;
        EXPECT_EQ(dd::compexp_gain_db(hard, L, p), dd::compexp_gain_db(hard, L));
    }
}

TEST(GainCurve, KneeIsContinuousAndPartialsMatchFiniteDifferences) {
    const double h = 1e-6;
    for (double W : {0.0, 4.0, 12.0}) {
        for (double L = -70; L <= 0; L += 0.731) {
            dd::compexp_curve<double> c{-20, 4, -50, 0.5, W};
            dd::curve_partials<double> p;
            dd::compexp_gain_db(c, L, p);
            auto g = [&] { return dd::compexp_gain_db(c, L); };
            double level = L;
            auto gl = [&] { return dd::compexp_gain_db(c, level); };
            expect_gradient_close(p.level, central_difference(level, h, gl), 1e-6, "level", 1e-8);
            expect_gradient_close(p.comp_thresh, central_difference(c.comp_thresh, h, g), 1e-6, "ct", 1e-8);
            expect_gradient_close(p.comp_ratio, central_difference(c.comp_ratio, h, g), 1e-6, "cr", 1e-8);
            expect_gradient_close(p.exp_thresh, central_difference(c.exp_thresh, h, g), 1e-6, "et", 1e-8);
            expect_gradient_close(p.exp_ratio, central_difference(c.exp_ratio, h, g), 1e-6, "er", 1e-8);
            if (W > 0) expect_gradient_close(p.knee, central_difference(c.knee, h, g), 1e-6, "knee", 1e-8);
        }
    }
    // Continuity at the knee edges: the quadratic meets the lines.
    const dd::compexp_curve<double> c{-20, 4, -1000, 1, 6};
    EXPECT_NEAR(dd::compexp_gain_db(c, -23.0), 0.0, 1e-12);
    EXPECT_NEAR(dd::compexp_gain_db(c, -17.0), -0.75 * 3, 1e-12);
    EXPECT_LT(dd::compexp_gain_db(c, -20.0), 0.0);  // the knee bends the curve below 0 at threshold
}

// ------------------------------------------------------------------------------------------------
TEST(Smoother, ForwardMatchesReferenceAndFlipsOften) {
    const batch x = switching_level(B, T, 1);
    std::vector<double> y(B * T), zi = {1.0, 0.5, 0.01};
    dd::attack_release_smoother(view(x.data, B, T), per_row(zi), per_row(AT), per_row(RT), span(y, B, T));
    for (std::size_t b = 0; b < B; ++b) {
        std::vector<double> f(x.data.begin() + b * T, x.data.begin() + (b + 1) * T);
        const auto ref = ref_smoother(f, zi[b], AT[b], RT[b]);
        for (std::size_t t = 0; t < T; ++t) ASSERT_NEAR(y[b * T + t], ref[t], 1e-12);
        EXPECT_GT(count_decision_flips(f, ref, zi[b]), 15u);
    }
}

TEST(Smoother, ChunkedWithFinalStateEqualsOneShotExactly) {
    const batch x = switching_level(B, T, 2);
    std::vector<double> whole(B * T), zi = {1.0, 0.2, 0.7}, state = zi;
    dd::attack_release_smoother(view(x.data, B, T), per_row(zi), per_row(AT), per_row(RT), span(whole, B, T));
    const std::size_t cuts[] = {0, 1, 57, 58, 200, 333, T};
    for (std::size_t c = 0; c + 1 < std::size(cuts); ++c) {
        const std::size_t n = cuts[c + 1] - cuts[c];
        std::vector<double> in(B * n), out(B * n), next(B);
        for (std::size_t b = 0; b < B; ++b)
            for (std::size_t t = 0; t < n; ++t) in[b * n + t] = x.at(b, cuts[c] + t);
        dd::attack_release_smoother(view(in, B, n), per_row(state), per_row(AT), per_row(RT), span(out, B, n), next.data());
        for (std::size_t b = 0; b < B; ++b)
            for (std::size_t t = 0; t < n; ++t) ASSERT_EQ(out[b * n + t], whole[b * T + cuts[c] + t]);
        state = next;
    }
}

namespace {
struct smoother_case {
    batch x = switching_level(B, T, 3);
    std::vector<double> zi = {1.0, 0.3, 0.05}, at = AT, rt = RT, w = random_weights(B * T, 4);
    double loss() {
        std::vector<double> y(B * T);
        dd::attack_release_smoother(view(x.data, B, T), per_row(zi), per_row(at), per_row(rt), span(y, B, T));
        return dot(y, w);
    }
};
}  // namespace

TEST(Smoother, AdjointMatchesFiniteDifferences) {
    smoother_case c;
    std::vector<double> y(B * T), gx(B * T), gzi(B), gat(B), grt(B);
    dd::attack_release_smoother(view(c.x.data, B, T), per_row(c.zi), per_row(c.at), per_row(c.rt), span(y, B, T));
    dd::attack_release_smoother_backward(view(c.x.data, B, T), per_row(c.zi), per_row(c.at), per_row(c.rt),
                                         view(y, B, T), view(c.w, B, T), gx.data(),
                                         dd::smoother_param_grads<double>{gzi.data(), gat.data(), grt.data()});
    auto loss = [&] { return c.loss(); };
    for (std::size_t b = 0; b < B; ++b) {
        expect_gradient_close(gzi[b], central_difference(c.zi[b], 1e-6, loss), 1e-6, "zi");
        expect_gradient_close(gat[b], central_difference(c.at[b], 1e-7, loss), 1e-6, "at");
        expect_gradient_close(grt[b], central_difference(c.rt[b], 1e-7, loss), 1e-6, "rt");
        EXPECT_NE(gat[b], 0.0);
        EXPECT_NE(grt[b], 0.0);
    }
    // Signal gradient: every entry through a random direction, plus some entries one by one.
    expect_directional_gradient(c.x.data, gx, 5, loss, 1e-6, "x direction");
    for (std::size_t i = 7; i < B * T; i += 97)
        expect_gradient_close(gx[i], central_difference(c.x.data[i], 1e-5, loss), 1e-6, "x entry");
}

TEST(Smoother, JvpMatchesFiniteDifferencesAndTransposesTheAdjoint) {
    smoother_case c;
    std::vector<double> y(B * T), dy(B * T);
    dd::attack_release_smoother(view(c.x.data, B, T), per_row(c.zi), per_row(c.at), per_row(c.rt), span(y, B, T));
    const std::vector<double> dx = random_weights(B * T, 6), dzi = {0.3, -0.2, 0.1}, dat = {0.5, 1, -1},
                              drt = {-0.4, 0.7, 0.2};
    dd::attack_release_smoother_jvp(view(c.x.data, B, T), per_row(c.zi), per_row(c.at), per_row(c.rt), view(y, B, T),
                                    dx.data(), per_row(dzi), per_row(dat), per_row(drt), span(dy, B, T));
    // FD of the whole output along the same tangent, compared through the loss weights.
    const smoother_case base = c;
    double s = 0;
    auto along = [&] {
        for (std::size_t i = 0; i < B * T; ++i) c.x.data[i] = base.x.data[i] + s * dx[i];
        for (std::size_t b = 0; b < B; ++b) {
            c.zi[b] = base.zi[b] + s * dzi[b];
            c.at[b] = base.at[b] + s * dat[b];
            c.rt[b] = base.rt[b] + s * drt[b];
        }
        return c.loss();
    };
    expect_gradient_close(dot(dy, c.w), central_difference(s, 1e-7, along), 1e-6, "jvp");
    // ⟨w, J·v⟩ = ⟨Jᵀ·w, v⟩ with the adjoint kernel.
    c = base;
    std::vector<double> gx(B * T), gzi(B), gat(B), grt(B);
    dd::attack_release_smoother_backward(view(c.x.data, B, T), per_row(c.zi), per_row(c.at), per_row(c.rt),
                                         view(y, B, T), view(c.w, B, T), gx.data(),
                                         dd::smoother_param_grads<double>{gzi.data(), gat.data(), grt.data()});
    const double vjp = dot(gx, dx) + dot(gzi, dzi) + dot(gat, dat) + dot(grt, drt);
    EXPECT_NEAR(dot(dy, c.w), vjp, 1e-10 * std::abs(vjp));
}

TEST(Smoother, IdenticalForOneAndTwoThreadsAndFloat32AgreesWithFloat64) {
    const std::size_t rows = 7;
    const batch x = switching_level(rows, 5000, 7);
    std::vector<double> y1(rows * 5000), y2(rows * 5000);
    dd::set_num_threads(1);
    dd::compexp_gain(view(x.data, rows, 5000), dd::compexp_params<double>{-20.0, 4.0, -60.0, 0.5}, 0.05, 0.01, span(y1, rows, 5000));
    dd::set_num_threads(2);
    dd::compexp_gain(view(x.data, rows, 5000), dd::compexp_params<double>{-20.0, 4.0, -60.0, 0.5}, 0.05, 0.01, span(y2, rows, 5000));
    dd::set_num_threads(0);
    EXPECT_EQ(y1, y2);

    std::vector<float> xf(x.data.begin(), x.data.end()), yf(rows * 5000);
    dd::compexp_gain(signal_view<float>{xf.data(), rows, 5000}, dd::compexp_params<float>{-20.f, 4.f, -60.f, 0.5f},
                     0.05f, 0.01f, signal_span<float>{yf.data(), rows, 5000});
    double worst = 0;
    for (std::size_t i = 0; i < yf.size(); ++i) worst = std::max(worst, std::abs(double(yf[i]) - y1[i]) / y1[i]);
    EXPECT_LT(worst, 2e-6);  // a few float32 ulps: rounding of x, the log/exp and the recursion
}

// ------------------------------------------------------------------------------------------------
TEST(SigmoidSmoother, AdjointMatchesFiniteDifferencesAndLargeKApproachesHardGate) {
    const batch gsig = [] {
        batch g = switching_level(B, T, 8);
        for (auto& v : g.data) v = std::min(0.999, v * 1.5);  // a target gain in (0, 1)
        return g;
    }();
    batch g = gsig;
    std::vector<double> zi = {1.0, 0.8, 0.5}, aa = AT, ar = RT, k = {0.3, 1.0, 2.5};
    const std::vector<double> w = random_weights(B * T, 9);
    auto loss = [&] {
        std::vector<double> y(B * T);
        dd::sigmoid_smoother(view(g.data, B, T), per_row(zi), per_row(aa), per_row(ar), per_row(k), span(y, B, T));
        return dot(y, w);
    };
    std::vector<double> y(B * T), gg(B * T), gzi(B), gaa(B), gar(B), gk(B);
    dd::sigmoid_smoother(view(g.data, B, T), per_row(zi), per_row(aa), per_row(ar), per_row(k), span(y, B, T));
    dd::sigmoid_smoother_backward(view(g.data, B, T), per_row(zi), per_row(aa), per_row(ar), per_row(k), view(y, B, T),
                                  view(w, B, T), gg.data(),
                                  dd::sigmoid_param_grads<double>{gzi.data(), gaa.data(), gar.data(), gk.data()});
    for (std::size_t b = 0; b < B; ++b) {
        expect_gradient_close(gzi[b], central_difference(zi[b], 1e-6, loss), 1e-6, "zi");
        expect_gradient_close(gaa[b], central_difference(aa[b], 1e-7, loss), 1e-6, "alpha_a");
        expect_gradient_close(gar[b], central_difference(ar[b], 1e-7, loss), 1e-6, "alpha_r");
        expect_gradient_close(gk[b], central_difference(k[b], 1e-6, loss), 1e-6, "k");
        EXPECT_NE(gk[b], 0.0);
    }
    expect_directional_gradient(g.data, gg, 10, loss, 1e-6, "g direction");

    // k → ∞ tends to the hard gate.
    g = gsig;
    std::vector<double> ys(B * T), yh(B * T);
    dd::sigmoid_smoother(view(g.data, B, T), 1.0, per_row(aa), per_row(ar), 1e4, span(ys, B, T));
    dd::attack_release_smoother(view(g.data, B, T), 1.0, per_row(aa), per_row(ar), span(yh, B, T));
    double worst = 0;
    for (std::size_t i = 0; i < B * T; ++i) worst = std::max(worst, std::abs(ys[i] - yh[i]));
    EXPECT_LT(worst, 1e-6);
}

// ------------------------------------------------------------------------------------------------
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

TEST(CompexpGain, UnityBandShortcutGivesTheFullComputation) {
    // Vectors of samples all inside the curve's unity band skip the level, the curve and the
    // exponential (f = 1 exactly, partials 0). On signals that dwell there, leave it, and sit at its
    // edges, in rows with and without a knee and with the expander off (ER = 1: the band reaches down
    // to 0), the kernel must still equal the composition, and float32 must give the bits of the
    // scalar composition built from the same float32 target steps and compexp_reference_step.
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
TEST(Limiter, PeakDetectorGradientIsTheSignOfXAndZeroAtZero) {
    // ∂|x|/∂x is computed by arithmetic on sign bits (a branch on the sign of audio mispredicts): 0 at
    // both zeros (digital silence is common), in float and double, also through less_indicator's
    // −0 − +0 case; elsewhere it has the sign of x (seen against finite differences below).
    auto check = [](auto zero) {
        using V = decltype(zero);
        const std::vector<V> xs = {V(2), V(-2), V(0), V(0.5), -V(0), V(-1), V(0), V(3)};
        const std::size_t n = xs.size();
        std::vector<V> gain(n), peak(n), gy(n, V(1)), gx(n);
        dd::limiter_gain<V>({xs.data(), 1, n}, V(-6), V(0.5), V(0.1), {gain.data(), 1, n}, {peak.data(), 1, n});
        dd::limiter_gain_backward<V>({xs.data(), 1, n}, V(-6), V(0.5), V(0.1), {gain.data(), 1, n}, {peak.data(), 1, n},
                                     {gy.data(), 1, n}, gx.data(), nullptr, nullptr, nullptr);
        for (std::size_t t = 0; t < n; ++t) {
            if (xs[t] == V(0)) EXPECT_EQ(gx[t], V(0)) << "t = " << t;
        }
        EXPECT_EQ(dd::simd::less_indicator(-V(0), V(0)), V(0));
        EXPECT_EQ(dd::simd::less_indicator(V(0), -V(0)), V(0));
        EXPECT_EQ(dd::simd::less_indicator(V(1), V(2)), V(1));
        EXPECT_EQ(dd::simd::less_indicator(V(2), V(1)), V(0));
    };
    check(0.0f);
    check(0.0);
}

TEST(Limiter, ForwardMatchesReferenceAndGradientsMatchFiniteDifferences) {
    batch x = bursty_audio(B, T, 14);
    std::vector<double> thr = {-6, -12, -3}, at = {0.2, 0.05, 0.5}, rt = {0.01, 0.002, 0.05};
    const std::vector<double> w = random_weights(B * T, 15);
    std::vector<double> y(B * T), peak(B * T);
    auto run = [&] {
        dd::limiter_gain(view(x.data, B, T), per_row(thr), per_row(at), per_row(rt), span(y, B, T), span(peak, B, T));
        return dot(y, w);
    };
    run();
    for (std::size_t b = 0; b < B; ++b) {
        std::vector<double> xr(x.data.begin() + b * T, x.data.begin() + (b + 1) * T);
        const auto ref = ref_limiter_gain(xr, thr[b], at[b], rt[b]);
        for (std::size_t t = 0; t < T; ++t) ASSERT_NEAR(y[b * T + t], ref[t], 1e-12);
    }
    std::vector<double> gx(B * T), gthr(B), gat(B), grt(B);
    dd::limiter_gain_backward(view(x.data, B, T), per_row(thr), per_row(at), per_row(rt), view(y, B, T),
                              view(peak, B, T), view(w, B, T), gx.data(), gthr.data(), gat.data(), grt.data());
    for (std::size_t b = 0; b < B; ++b) {
        expect_gradient_close(gthr[b], central_difference(thr[b], 1e-5, run), 1e-6, "threshold");
        expect_gradient_close(gat[b], central_difference(at[b], 1e-7, run), 1e-6, "at");
        expect_gradient_close(grt[b], central_difference(rt[b], 1e-8, run), 1e-6, "rt");
        EXPECT_NE(gthr[b], 0.0);
    }
    expect_directional_gradient(x.data, gx, 16, run, 1e-7, "x direction", /*relative=*/false);
}

TEST(Limiter, GradientsMatchFiniteDifferencesOnRowsOfSeveralBlocks) {
    // The backward runs both adjoints in one sweep of 2048-sample blocks, carrying each adjoint's state
    // from block to block: rows of several blocks and a tail that fills no whole vector.
    const std::size_t rows = 2, cols = 5003;
    batch x = bursty_audio(rows, cols, 61);
    std::vector<double> thr = {-8, -14}, at = {0.2, 0.05}, rt = {0.004, 0.001};
    const std::vector<double> w = random_weights(rows * cols, 62);
    std::vector<double> y(rows * cols), peak(rows * cols);
    auto run = [&] {
        dd::limiter_gain(view(x.data, rows, cols), per_row(thr), per_row(at), per_row(rt), span(y, rows, cols),
                         span(peak, rows, cols));
        return dot(y, w);
    };
    run();
    std::vector<double> gx(rows * cols), gthr(rows), gat(rows), grt(rows);
    auto backward = [&](std::vector<double>& gx_out, std::vector<double>& gthr_out, std::vector<double>& gat_out,
                        std::vector<double>& grt_out) {
        dd::limiter_gain_backward(view(x.data, rows, cols), per_row(thr), per_row(at), per_row(rt), view(y, rows, cols),
                                  view(peak, rows, cols), view(w, rows, cols), gx_out.data(), gthr_out.data(),
                                  gat_out.data(), grt_out.data());
    };
    dd::set_num_threads(1);
    backward(gx, gthr, gat, grt);
    for (std::size_t b = 0; b < rows; ++b) {
        expect_gradient_close(gthr[b], central_difference(thr[b], 1e-5, run), 1e-6, "threshold");
        expect_gradient_close(gat[b], central_difference(at[b], 1e-7, run), 1e-6, "at");
        expect_gradient_close(grt[b], central_difference(rt[b], 1e-8, run), 1e-6, "rt");
        EXPECT_NE(gthr[b], 0.0);
    }
    // Samples in every block, the last block's tail included. The loss sums 10⁴ terms, so its rounding
    // divided by the step is ~1e-10 here: a step of 1e-4 and an absolute floor of 1e-9 (these ∂x are
    // 1e-6 … 1e-2; a wrong carry between blocks is off by far more). The whole-signal directional check
    // of the short-row test is left out: along a direction through 10⁴ samples some decision flips.
    std::size_t checked = 0;
    for (std::size_t i = 7; i < rows * cols; i += 541) {
        if (gx[i] == 0.0) continue;  // x = 0: |x| has no derivative there, the kernel gives 0
        expect_gradient_close(gx[i], central_difference(x.data[i], 1e-4, run), 1e-6, "x", 1e-9);
        ++checked;
    }
    for (std::size_t i : {std::size_t(2047), std::size_t(2048), std::size_t(5002), 2 * cols - 1})
        expect_gradient_close(gx[i], central_difference(x.data[i], 1e-4, run), 1e-6, "x", 1e-9);
    EXPECT_GE(checked, 15u);
    run();  // y and peak at the unperturbed parameters again
    dd::set_num_threads(2);
    std::vector<double> gx2(rows * cols), gthr2(rows), gat2(rows), grt2(rows);
    backward(gx2, gthr2, gat2, grt2);
    dd::set_num_threads(0);
    EXPECT_EQ(gx2, gx);
    EXPECT_EQ(gthr2, gthr);
    EXPECT_EQ(gat2, gat);
    EXPECT_EQ(grt2, grt);
}

namespace {
/// The hard smoother's adjoint taken the plain way, one sample at a time in double (SPEC §3).
struct sequential_adjoint {
    std::vector<double> gf;
    double zi = 0, at = 0, rt = 0;
};
sequential_adjoint plain_smoother_adjoint(const double* f, const double* y, const double* gy, std::size_t n, double zi,
                                          double at, double rt) {
    sequential_adjoint r;
    r.gf.resize(n);
    double u_next = 0, keep_next = 0;
    for (std::size_t i = n; i-- > 0;) {
        const double y_prev = i ? y[i - 1] : zi;
        const bool attack = f[i] < y_prev;
        const double u = gy[i] + keep_next * u_next;
        r.gf[i] = (attack ? at : rt) * u;
        (attack ? r.at : r.rt) += u * (f[i] - y_prev);
        u_next = u;
        keep_next = 1 - (attack ? at : rt);
    }
    r.zi = keep_next * u_next;
    return r;
}
}  // namespace

TEST(ArSmoother, BackwardInLanesMatchesTheSequentialAdjointOnLongRows) {
    // Rows of several 2048-sample blocks with a tail that fills no whole vector; attack and release
    // alternate. The lanes adjoint (a scan per vector, sums per block) rounds differently from the
    // sequential recursion, so values are compared with a tolerance; a row's bits must not depend on
    // the other rows or on the number of threads.
    const std::size_t rows = 3, cols = 5003;
    const batch level = switching_level(rows, cols, 51, -60, -5);
    std::vector<double> f(rows * cols);
    for (std::size_t i = 0; i < f.size(); ++i) f[i] = std::min(1.0, 20 * level.data[i]);  // gains in (0, 1]
    const std::vector<double> zi = {1.0, 0.3, 0.05}, at = AT, rt = RT, gy = random_weights(rows * cols, 52);
    std::vector<double> y(rows * cols), gf(rows * cols), gzi(rows), gat(rows), grt(rows);
    dd::attack_release_smoother(view(f, rows, cols), per_row(zi), per_row(at), per_row(rt), span(y, rows, cols));
    auto backward = [&](std::size_t first, std::size_t count, double* gf_out, double* gzi_out, double* gat_out,
                        double* grt_out) {
        dd::smoother_param_grads<double> pg;
        pg.zi = gzi_out;
        pg.at = gat_out;
        pg.rt = grt_out;
        const std::size_t o = first * cols;
        dd::attack_release_smoother_backward(
            signal_view<double>{f.data() + o, count, cols}, row_param<double>(zi.data() + first, count),
            row_param<double>(at.data() + first, count), row_param<double>(rt.data() + first, count),
            signal_view<double>{y.data() + o, count, cols}, signal_view<double>{gy.data() + o, count, cols}, gf_out, pg);
    };
    dd::set_num_threads(1);
    backward(0, rows, gf.data(), gzi.data(), gat.data(), grt.data());
    for (std::size_t b = 0; b < rows; ++b) {
        const std::size_t o = b * cols;
        const auto ref = plain_smoother_adjoint(f.data() + o, y.data() + o, gy.data() + o, cols, zi[b], at[b], rt[b]);
        double scale = 0;
        for (double v : ref.gf) scale = std::max(scale, std::fabs(v));
        for (std::size_t t = 0; t < cols; ++t) ASSERT_NEAR(gf[o + t], ref.gf[t], 1e-12 * scale) << "row " << b << " t " << t;
        EXPECT_NEAR(gzi[b], ref.zi, 1e-12 * scale) << "row " << b;
        EXPECT_NEAR(gat[b], ref.at, 1e-10 * std::fabs(ref.at)) << "row " << b;
        EXPECT_NEAR(grt[b], ref.rt, 1e-10 * std::fabs(ref.rt)) << "row " << b;
        EXPECT_NE(ref.at, 0.0);
        EXPECT_NE(ref.rt, 0.0);
        // The row alone, one thread: the same bits.
        std::vector<double> gf1(cols), g1(3);
        backward(b, 1, gf1.data(), &g1[0], &g1[1], &g1[2]);
        for (std::size_t t = 0; t < cols; ++t) ASSERT_EQ(gf1[t], gf[o + t]) << "row " << b << " t " << t;
        EXPECT_EQ(g1[0], gzi[b]);
        EXPECT_EQ(g1[1], gat[b]);
        EXPECT_EQ(g1[2], grt[b]);
    }
    dd::set_num_threads(2);
    std::vector<double> gf2(rows * cols), gzi2(rows), gat2(rows), grt2(rows);
    backward(0, rows, gf2.data(), gzi2.data(), gat2.data(), grt2.data());
    dd::set_num_threads(0);
    EXPECT_EQ(gf2, gf);
    EXPECT_EQ(gzi2, gzi);
    EXPECT_EQ(gat2, gat);
    EXPECT_EQ(grt2, grt);

    // avg is the same adjoint with at = rt = coef and y_{−1} = 0; ∂coef is both sums.
    std::vector<double> ya(rows * cols), gxa(rows * cols), gca(rows);
    const std::vector<double> coef = {0.3, 0.02, 0.001};
    dd::avg(view(f, rows, cols), per_row(coef), span(ya, rows, cols));
    dd::avg_backward(view(f, rows, cols), per_row(coef), view(ya, rows, cols), view(gy, rows, cols), gxa.data(), gca.data());
    for (std::size_t b = 0; b < rows; ++b) {
        const std::size_t o = b * cols;
        const auto ref = plain_smoother_adjoint(f.data() + o, ya.data() + o, gy.data() + o, cols, 0.0, coef[b], coef[b]);
        double scale = 0;
        for (double v : ref.gf) scale = std::max(scale, std::fabs(v));
        for (std::size_t t = 0; t < cols; ++t) ASSERT_NEAR(gxa[o + t], ref.gf[t], 1e-12 * scale) << "row " << b << " t " << t;
        EXPECT_NEAR(gca[b], ref.at + ref.rt, 1e-10 * std::fabs(ref.at + ref.rt)) << "row " << b;
    }
}

TEST(Avg, ForwardIsTheSmootherAndGradientsMatchFiniteDifferences) {
    batch x = bursty_audio(B, T, 17);
    std::vector<double> coef = {0.05, 0.5, 1.0};
    const std::vector<double> w = random_weights(B * T, 18);
    std::vector<double> y(B * T);
    auto run = [&] {
        dd::avg(view(x.data, B, T), per_row(coef), span(y, B, T));
        return dot(y, w);
    };
    run();
    for (std::size_t b = 0; b < B; ++b) {
        double prev = 0;
        for (std::size_t t = 0; t < T; ++t) {
            prev = coef[b] * x.at(b, t) + (1 - coef[b]) * prev;
            ASSERT_NEAR(y[b * T + t], prev, 1e-12);
        }
    }
    std::vector<double> gx(B * T), gc(B);
    dd::avg_backward(view(x.data, B, T), per_row(coef), view(y, B, T), view(w, B, T), gx.data(), gc.data());
    for (std::size_t b = 0; b < 2; ++b)  // coef = 1 sits on the domain's edge: one-sided, skipped
        expect_gradient_close(gc[b], central_difference(coef[b], 1e-7, run), 1e-6, "avg_coef");
    for (std::size_t i = 3; i < B * T; i += 41) expect_gradient_close(gx[i], central_difference(x.data[i], 1e-6, run), 1e-6, "x");
}

// ------------------------------------------------------------------------------------------------
namespace {
template <class F> void expect_argument_error(F&& f, const std::string& name) {
    try {
        f();
        ADD_FAILURE() << "no error for " << name;
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(e.argument(), name) << e.what();
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos);
    }
}
}  // namespace

TEST(Errors, BadInputNamesTheArgument) {
    std::vector<double> x(B * T, 0.1), y(B * T), p(B * T);
    auto xv = view(x, B, T);
    auto ys = span(y, B, T);
    const dd::compexp_params<double> ok{-20.0, 4.0, -60.0, 0.5};
    expect_argument_error([&] { dd::compexp_gain(xv, dd::compexp_params<double>{-20.0, 1.0, -60.0, 0.5}, 0.1, 0.1, ys); }, "comp_ratio");
    expect_argument_error([&] { dd::compexp_gain(xv, dd::compexp_params<double>{-20.0, 4.0, -60.0, 1.5}, 0.1, 0.1, ys); }, "exp_ratio");
    expect_argument_error([&] { dd::compexp_gain(xv, dd::compexp_params<double>{NAN, 4.0, -60.0, 0.5}, 0.1, 0.1, ys); }, "comp_thresh");
    expect_argument_error([&] { dd::compexp_gain(xv, dd::compexp_params<double>{-20.0, 4.0, -60.0, 0.5, -1.0}, 0.1, 0.1, ys); }, "knee");
    expect_argument_error([&] { dd::compexp_gain(xv, ok, 0.0, 0.1, ys); }, "at");
    expect_argument_error([&] { dd::compexp_gain(xv, ok, 0.1, 1.0, ys); }, "rt");
    const std::vector<double> two = {0.1, 0.2};
    expect_argument_error([&] { dd::compexp_gain(xv, ok, per_row(two), 0.1, ys); }, "at");
    x[5] = 0.0;
    expect_argument_error([&] { dd::compexp_gain(xv, ok, 0.1, 0.1, ys); }, "x_rms");
    x[5] = NAN;
    expect_argument_error([&] { dd::attack_release_smoother(xv, 1.0, 0.1, 0.1, ys); }, "x");
    x[5] = 0.1;
    expect_argument_error([&] { dd::compexp_gain(signal_view<double>{x.data(), 0, T}, ok, 0.1, 0.1, ys); }, "x_rms");
    expect_argument_error([&] { dd::compexp_gain(xv, ok, 0.1, 0.1, signal_span<double>{y.data(), B, T - 1}); }, "gain");
    expect_argument_error([&] { dd::limiter_gain(xv, 1.0, 0.1, 0.1, ys, span(p, B, T)); }, "threshold");
    expect_argument_error([&] { dd::avg(xv, 1.5, ys); }, "avg_coef");
    expect_argument_error([&] { dd::sigmoid_smoother(xv, 1.0, 0.1, 0.2, -1.0, ys); }, "k");
    expect_argument_error([&] { dd::parse_ar_mode("soft"); }, "ar_mode");
    expect_argument_error([&] { dd::set_num_threads(-1); }, "threads");
}

// ------------------------------------------------------------------------------------------------
namespace {
template <class T> struct compexp_run {
    std::vector<T> y, gx, gct, gcr, get, ger, gkn, gat, grt, gk;
};
template <class T>
compexp_run<T> run_compexp(const std::vector<T>& x, std::size_t rows, std::size_t cols, const std::vector<T>& cr,
                           const std::vector<T>& w, T knee = T(2), dd::ar_mode mode = dd::ar_mode::hard) {
    compexp_run<T> o;
    o.gk.resize(rows);
    o.y.resize(rows * cols);
    o.gx.resize(rows * cols);
    for (auto* v : {&o.gct, &o.gcr, &o.get, &o.ger, &o.gkn, &o.gat, &o.grt}) v->resize(rows);
    const dd::compexp_params<T> p{T(-22), row_param<T>(cr.data(), rows), T(-50), T(0.5), knee};
    dd::compexp_gain_mode(signal_view<T>{x.data(), rows, cols}, p, T(0.05), T(0.004), mode, T(0.8),
                          signal_span<T>{o.y.data(), rows, cols});
    dd::compexp_gain_mode_backward(
        signal_view<T>{x.data(), rows, cols}, p, T(0.05), T(0.004), mode, T(0.8), signal_view<T>{o.y.data(), rows, cols},
        signal_view<T>{w.data(), rows, cols}, o.gx.data(),
        dd::compexp_param_grads<T>{o.gct.data(), o.gcr.data(), o.get.data(), o.ger.data(), o.gkn.data()}, o.gat.data(),
        o.grt.data(), o.gk.data());
    return o;
}

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

TEST(Errors, BadLevelsAnywhereAreReportedByTheFusedChecks) {
    check_bad_levels_are_reported<float>();
    check_bad_levels_are_reported<double>();
}

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

template <class T> void check_time_split(std::size_t rows) {
    // Long rows in one vector of lanes take the two-thread time split (compexp_forward_group_time_split):
    // the second span starts from a guessed state and is re-run until it merges with the true one.
    const std::size_t cols = 40000;  // 20 chunks
    // Program-like levels: the runs merge after a while.
    const batch level = switching_level(rows, cols, 31, -70, -5);
    check_composition_invariance<T>(dd::ar_mode::hard, rows, level);
    // One row's backward is split in time too, for either gate (the forward only for the hard one).
    if (rows == 1) check_composition_invariance<T>(dd::ar_mode::sigmoid, rows, level);
    {
        // Time constants so long that no guessed state or carry is ever forgotten: the forward's and
        // the backward's re-runs go to the end. Levels in the compressor's range, so that every
        // sample has a gradient.
        const std::vector<T> xs(level.data.begin(), level.data.end());
        const dd::compexp_params<T> slow{T(-60), T(4), T(-100), T(0.5), T(0)};
        expect_two_threads_give_the_bits_of_one_backward<T>(xs, rows, cols, slow, T(1e-5), T(1e-5));
    }
    // Loud (attack to f ≈ 0.13) for the first 40 %, then quiet (f = 1) with a release so slow that the
    // true state is still far below the guessed one at the end: the runs never merge, and the re-run
    // goes to the end.
    std::vector<T> x(rows * cols);
    for (std::size_t b = 0; b < rows; ++b)
        for (std::size_t t = 0; t < cols; ++t) x[b * cols + t] = T(t < cols * 2 / 5 ? 0.5 + 0.01 * double(b) : 0.01);
    const dd::compexp_params<T> p{T(-30), T(4), T(-80), T(0.5), T(0)};
    expect_two_threads_give_the_bits_of_one<T>(x, rows, cols, p, T(0.05), T(1e-5));
    std::vector<T> y(rows * cols);
    dd::compexp_gain<T>(signal_view<T>{x.data(), rows, cols}, p, T(0.05), T(1e-5), signal_span<T>{y.data(), rows, cols});
    EXPECT_LT(y[cols - 1], T(0.5));  // the premise: still far from the guess (f = 1) at the end
    if (rows > 1) {
        // The rows merge one by one: as above, and then loud again from a time that grows with the
        // row (its attack erases the guessed state), the last row never. Once few rows are left the
        // re-run goes on row by row (rerun_rows_alone_max), the last one to the end.
        for (std::size_t b = 0; b < rows; ++b) {
            const std::size_t loud_again = b + 1 < rows ? cols / 2 + b * cols / (4 * rows) : cols;
            for (std::size_t t = 0; t < cols; ++t)
                x[b * cols + t] = T(t < cols * 2 / 5 || t >= loud_again ? 0.5 + 0.01 * double(b) : 0.01);
        }
        expect_two_threads_give_the_bits_of_one<T>(x, rows, cols, p, T(0.05), T(1e-5));
    }
    if (rows > dd::simd::lanes<T>) {
        // Rows in two vectors: the first vector's rows toggle loud/quiet every 1000 samples (each loud
        // stretch's attacks erase any guessed state), the others' are as above.
        for (std::size_t b = 0; b < dd::simd::lanes<T>; ++b)
            for (std::size_t t = 0; t < cols; ++t) x[b * cols + t] = T((t / 1000) % 2 == 0 ? 0.5 : 0.01);
        expect_two_threads_give_the_bits_of_one<T>(x, rows, cols, p, T(0.05), T(1e-5));
    }
}
}  // namespace

TEST(CompexpGain, TwoThreadTimeSplitGivesTheBitsOfOneThread) {
    // Rows that fit one vector of lanes (float 8, double 4) take the time split (one row: on the
    // one-row path); more rows take two groups, one per thread, which must give the same bits too (two
    // recursion chains on one thread).
    for (std::size_t rows : {1, 2, 3, 4, 6, 8, 11}) {
        check_time_split<float>(rows);
        if (rows <= 2 * dd::simd::lanes<double>) check_time_split<double>(rows);
    }
}

TEST(CompexpGain, CallersOnSeveralThreadsShareTheLibrarysThreads) {
    // The library keeps one TBB arena per thread count for the whole process: calls made at the same
    // time from several threads of the caller share it (and each thread's scratch memory is its own).
    // Every call must finish and give the one-thread bits: one long row (time split forward and
    // backward), a group of rows in one vector (time split in lanes) and more rows than lanes.
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

namespace {
/// One long row alone on one thread (run in lanes stretches from guessed states, re-run until they
/// merge: compexp_forward_single_stretches) against the same row as row 0 of a two-row batch on one
/// thread (rows in lanes, every state exact), bit for bit.
template <class T>
void expect_stretches_give_the_bits_of_rows_in_lanes(const std::vector<T>& row, const std::vector<T>& other,
                                                     const dd::compexp_params<T>& p, T at, T rt, const char* what) {
    const std::size_t cols = row.size();
    std::vector<T> two_rows(row);
    two_rows.insert(two_rows.end(), other.begin(), other.end());
    std::vector<T> alone(cols), alone_two_threads(cols), in_lanes(2 * cols);
    dd::set_num_threads(1);
    dd::compexp_gain<T>(signal_view<T>{row.data(), 1, cols}, p, at, rt, signal_span<T>{alone.data(), 1, cols});
    dd::compexp_gain<T>(signal_view<T>{two_rows.data(), 2, cols}, p, at, rt, signal_span<T>{in_lanes.data(), 2, cols});
    dd::set_num_threads(2);
    dd::compexp_gain<T>(signal_view<T>{row.data(), 1, cols}, p, at, rt, signal_span<T>{alone_two_threads.data(), 1, cols});
    dd::set_num_threads(0);
    for (std::size_t t = 0; t < cols; ++t) {
        ASSERT_EQ(alone[t], in_lanes[t]) << what << ", " << cols << " samples, t " << t;
        ASSERT_EQ(alone_two_threads[t], in_lanes[t]) << what << ", " << cols << " samples, 2 threads, t " << t;
    }
}

template <class T> void check_stretches(std::size_t cols) {
    const batch held = held_smoothed_level(2, cols, 46);
    const std::vector<T> row(held.data.begin(), held.data.begin() + std::ptrdiff_t(cols)),
        other(held.data.begin() + std::ptrdiff_t(cols), held.data.end());
    const dd::compexp_params<T> p{T(-30), T(4), T(-60), T(0.5), T(0)};
    const dd::compexp_params<T> p_knee{T(-30), T(4), T(-60), T(0.5), T(6)};
    // Program-like levels: most guesses are exact after the warm-up, some stretches merge later.
    expect_stretches_give_the_bits_of_rows_in_lanes<T>(row, other, p, T(0.01), T(0.0005), "held level");
    expect_stretches_give_the_bits_of_rows_in_lanes<T>(row, other, p_knee, T(0.01), T(0.0005), "held level, knee");
    // Time constants so long that no guessed state would be forgotten: the row takes the one-row path
    // (stretch_warm_up_chunks) and must still give the bits of rows in lanes.
    expect_stretches_give_the_bits_of_rows_in_lanes<T>(row, other, p, T(1e-5), T(1e-5), "slow");
    // Loud (attack to f ≈ 0.13) for the first 40 %, then quiet (f = 1) under a release so slow that the
    // true state stays far below any guess: the stretches in the loud part merge (most at once), the
    // ones after it never do.
    std::vector<T> loud_then_quiet(cols);
    for (std::size_t t = 0; t < cols; ++t) loud_then_quiet[t] = T(t < cols * 2 / 5 ? 0.5 : 0.01);
    expect_stretches_give_the_bits_of_rows_in_lanes<T>(loud_then_quiet, other, p, T(0.05), T(1e-5), "loud then quiet");
    // Quiet under that slow release but for a loud burst in the middle of every 32768 samples (16
    // chunks), none in the warm-ups before the stretches' starts: each guess is wrong, and each
    // stretch's re-run merges at its burst.
    std::vector<T> bursts(cols);
    for (std::size_t t = 0; t < cols; ++t) bursts[t] = T(t % 32768 >= 16384 && t % 32768 < 19384 ? 0.5 : 0.01);
    expect_stretches_give_the_bits_of_rows_in_lanes<T>(bursts, other, p, T(0.05), T(1e-5), "bursts");
}
}  // namespace

TEST(CompexpGain, OneLongRowInLanesStretchesGivesTheBitsOfRowsInLanes) {
    // A float row takes W = 8 stretches when it has room for them at the length that
    // stretch_warm_up_chunks asks for (at 0.05: 16 chunks, after 2-chunk warm-ups; at 0.01: 24
    // chunks, after 6), else the one-row path; double always takes the one-row path. Lengths: 128
    // chunks and a tail shorter than a vector (8 stretches at 0.05, the one-row path at 0.01), 143
    // chunks and 777 samples (8 stretches of 17 chunks and a tail of 7), 258 chunks (8 stretches at
    // either). The row alone on two threads takes the time split (compexp_forward_single_time_split),
    // which must give the same bits.
    constexpr std::size_t chunk = 2048;
    for (std::size_t cols : {128 * chunk + 3, 143 * chunk + 777, 258 * chunk}) {
        check_stretches<float>(cols);
        check_stretches<double>(cols);
    }
}

TEST(CompexpGain, Float32IsWithinFourUlpOfFloat64) {
    // The float32 gain against float64 on the same (float-rounded) input, levels −60…−15 dB crossing
    // both thresholds, within 4 ulp-equivalent (4·2^-24 relative; docs/simd_math.md). Two things get
    // it there (docs/ballistics.md §6): the targets' exponent formed from x's parts in pieces that
    // are exact or small (hard_curve_target), and the smoother's state kept in double. For
    // comparison, a plain float32 libm program (std::log10/std::pow, float32 state) and the exact
    // targets rounded to float32 run through a float32-state smoother, which is what a float32
    // smoother alone costs: ours must beat both by far.
    const std::size_t rows = 4, cols = 20000;
    const batch xd = switching_level(rows, cols, 23, -60, -15);
    const std::vector<float> xf(xd.data.begin(), xd.data.end());
    std::vector<double> xr(xf.begin(), xf.end());
    std::vector<float> cr_f(rows, 4.f), wf(rows * cols, 0.f);
    std::vector<double> cr_d(rows, 4.0), wd(rows * cols, 0.0);
    const auto f32 = run_compexp(xf, rows, cols, cr_f, wf, 0.f);
    const auto f64 = run_compexp(xr, rows, cols, cr_d, wd, 0.0);
    double worst = 0, worst_libm = 0;
    for (std::size_t b = 0; b < rows; ++b) {
        float y = 1.f;
        for (std::size_t t = 0; t < cols; ++t) {
            const std::size_t i = b * cols + t;
            const float level = 20.f * std::log10(xf[i]);
            const float g = std::min({0.f, 0.75f * (-22.f - level), -1.f * (-50.f - level)});
            const float f = std::pow(10.f, g / 20.f);
            const float beta = f < y ? 0.05f : 0.004f;
            y = (1.f - beta) * y + beta * f;
            worst_libm = std::max(worst_libm, std::abs(double(y) - f64.y[i]) / f64.y[i]);
            worst = std::max(worst, std::abs(double(f32.y[i]) - f64.y[i]) / f64.y[i]);
        }
    }
    std::vector<double> level(rows * cols), g_db(rows * cols);
    for (std::size_t i = 0; i < rows * cols; ++i) level[i] = 20.0 * std::log10(xr[i]);
    const dd::compexp_params<double> curve64{-22.0, 4.0, -50.0, 0.5, 0.0};
    dd::gain_curve(signal_view<double>{level.data(), rows, cols}, curve64, signal_span<double>{g_db.data(), rows, cols});
    std::vector<float> f_rounded(rows * cols), y_recursion(rows * cols);
    for (std::size_t i = 0; i < rows * cols; ++i) f_rounded[i] = float(std::pow(10.0, g_db[i] / 20.0));
    for (std::size_t b = 0; b < rows; ++b) {  // a float32-state smoother, the step in float32
        float y = 1.f;
        for (std::size_t t = 0; t < cols; ++t) {
            const std::size_t i = b * cols + t;
            const float beta = f_rounded[i] < y ? 0.05f : 0.004f;
            y = std::fma(1.f - beta, y, beta * f_rounded[i]);
            y_recursion[i] = y;
        }
    }
    double worst_recursion = 0;
    for (std::size_t i = 0; i < rows * cols; ++i)
        worst_recursion = std::max(worst_recursion, std::abs(double(y_recursion[i]) - f64.y[i]) / f64.y[i]);
    const double ulp = std::ldexp(1.0, -24);
    std::printf("float32 vs float64 worst relative error: ours %.2f, libm float32 %.2f, exact targets + float32 "
                "smoother %.2f ulp-equivalent\n", worst / ulp, worst_libm / ulp, worst_recursion / ulp);
    EXPECT_LE(worst, 4 * ulp);
    EXPECT_LT(4 * worst, worst_libm);
    EXPECT_LT(4 * worst, worst_recursion);
}

namespace {
/// Levels that drift between random targets in −70…−5 dB (a new one every ~4000 samples) with a
/// ±0.25 dB jitter: program-like, attack and release in turns, through both branches of the curve.
std::vector<float> drifting_level(std::size_t rows, std::size_t cols, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> target_db(-70, -5), u(0, 1);
    std::vector<float> x(rows * cols);
    for (std::size_t b = 0; b < rows; ++b) {
        double target = -30, db = -30;
        for (std::size_t t = 0; t < cols; ++t) {
            if (u(rng) < 1.0 / 4000) target = target_db(rng);
            db += 0.002 * (target - db);
            x[b * cols + t] = float(std::pow(10.0, (db + 0.5 * (u(rng) - 0.5)) / 20));
        }
    }
    return x;
}
}  // namespace

TEST(CompexpGain, Float32IsWithinFourUlpOfFloat64AtAudioTimeConstants) {
    // Attack/release from 1/50 to 10/1000 ms at 44.1 kHz (β down to 5e-5): a float32 state would be
    // off by up to ~1/β ulp here (the roundings of ~1/β steps, and the stall). One row (lanes
    // stretches from guessed states, on one thread; a time split on two), without a knee and with a
    // 12 dB one, and four rows (in lanes) with knees of 0, 3, 12 and 24 dB (knee_curve_target).
    const std::size_t cols = 300000;
    const double fs = 44100;
    const std::vector<std::vector<float>> knees = {{0.f}, {12.f}, {0.f, 3.f, 12.f, 24.f}};
    for (auto [at_ms, rt_ms] : {std::pair{1.0, 50.0}, {5.0, 100.0}, {10.0, 1000.0}})
        for (const auto& knee : knees)
            for (int threads : {1, 2}) {
                const std::size_t rows = knee.size();
                const std::vector<float> xf = drifting_level(rows, cols, 51);
                const std::vector<double> xd(xf.begin(), xf.end()), knee_d(knee.begin(), knee.end());
                const float at = float(1 - std::exp(-2200.0 / (at_ms * fs))), rt = float(1 - std::exp(-2200.0 / (rt_ms * fs)));
                std::vector<float> yf(rows * cols);
                std::vector<double> yd(rows * cols);
                dd::set_num_threads(threads);
                dd::compexp_gain<float>({xf.data(), rows, cols},
                                        dd::compexp_params<float>{-20.f, 4.f, -60.f, 0.5f, row_param<float>(knee.data(), rows)},
                                        at, rt, {yf.data(), rows, cols});
                dd::compexp_gain<double>({xd.data(), rows, cols},
                                         dd::compexp_params<double>{-20.0, 4.0, -60.0, 0.5, row_param<double>(knee_d.data(), rows)},
                                         double(at), double(rt), {yd.data(), rows, cols});
                dd::set_num_threads(0);
                double worst = 0;
                for (std::size_t i = 0; i < rows * cols; ++i) worst = std::max(worst, std::abs(double(yf[i]) - yd[i]) / yd[i]);
                EXPECT_LE(worst, std::ldexp(4.0, -24)) << at_ms << "/" << rt_ms << " ms, " << rows << " rows, knee "
                                                        << knee.back() << ", " << threads << " threads: " << worst * 0x1p24 << " ulp";
            }
}

TEST(CompexpGain, Float32SteepExpanderTakesTheDbPath) {
    // An expander so steep (ER = 1e-5: σ_e ≈ 10^5) that the exact pieces of hard_curve_target do not
    // fit in float (hard_target_terms::exact_for): such rows take the dB path, and must give its bits
    // (db2amp(gain_curve(amp2db(x))) then compexp_reference_step), finite and in (0, 1], on levels
    // that sweep across ET, where their gain plunges to 2^-126.
    const std::size_t cols = 6000;
    std::vector<float> x(cols), level(cols), g_db(cols), y(cols);
    for (std::size_t t = 0; t < cols; ++t) x[t] = float(std::pow(10.0, (-50.0 + 0.02 * std::sin(0.01 * double(t))) / 20.0));
    for (float knee : {0.f, 6.f}) {
        const dd::compexp_params<float> params{-20.f, 4.f, -50.f, 1e-5f, knee};
        ASSERT_FALSE(dd::hard_target_terms<dd::simd::wide<float>>::exact_for(params.row(0)));
        dd::compexp_gain<float>({x.data(), 1, cols}, params, 0.05f, 0.004f, {y.data(), 1, cols});
        for (std::size_t t = 0; t < cols; ++t) level[t] = dd::simd::amp2db(x[t]);
        dd::gain_curve(signal_view<float>{level.data(), 1, cols}, params, signal_span<float>{g_db.data(), 1, cols});
        double state = 1.0;
        std::size_t plunged = 0;
        for (std::size_t t = 0; t < cols; ++t) {
            const float f = dd::simd::db2amp(g_db[t]);
            plunged += f < 1e-30f;
            state = compexp_reference_step(f, state, 0.05f, 0.004f);
            ASSERT_EQ(y[t], output_of(state, 0.f)) << "knee " << knee << ", t " << t;
            ASSERT_TRUE(y[t] > 0.f && y[t] <= 1.f);
        }
        EXPECT_GT(plunged, cols / 4);
    }
}

TEST(CompexpGain, Float32BackwardTakesTheForwardsDecisions) {
    // The float32 forward keeps its state in double and outputs it rounded up, so that f < y_{t−1}
    // reads the same on the output as on the state; the backward reads only that output. On levels
    // held long enough for y to settle within half an ulp above its target (where a nearest-rounded
    // output would equal f and say release while the state says attack), the kernel's forward must
    // give the bits of compexp_reference_step and its gradients those of the adjoint run on the
    // reference's decisions.
    const std::size_t cols = 12000;
    std::vector<float> x(cols);
    for (std::size_t t = 0; t < cols; ++t) x[t] = float((t / 1500) % 2 ? 0.5 : (t / 3000) % 2 ? 0.02 : 0.003);
    const dd::compexp_params<float> params{-30.f, 4.f, -50.f, 0.5f, 0.f};
    const float at = 0.05f, rt = 0.01f;
    std::vector<float> y(cols), gx(cols), gy(cols);
    const auto w = random_weights(cols, 53);
    for (std::size_t t = 0; t < cols; ++t) gy[t] = float(w[t]);
    float gct = 0, gcr = 0, gat = 0, grt = 0;
    dd::compexp_gain<float>({x.data(), 1, cols}, params, at, rt, {y.data(), 1, cols});
    dd::compexp_param_grads<float> cg;
    cg.comp_thresh = &gct;
    cg.comp_ratio = &gcr;
    dd::compexp_gain_backward<float>({x.data(), 1, cols}, params, at, rt, {y.data(), 1, cols}, {gy.data(), 1, cols},
                                     gx.data(), cg, &gat, &grt);
    // The reference forward, recording its decisions.
    using V = dd::simd::wide<float>;
    const auto terms = dd::hard_target_terms<V>::from(params.row(0));
    std::vector<float> f(cols);
    std::vector<bool> attack(cols);
    double state = 1.0;
    std::size_t settled_attacks = 0;
    for (std::size_t t = 0; t < cols; ++t) {
        V e, ln_m;
        dd::simd::detail::log_parts(V(x[t]), e, ln_m);
        f[t] = dd::hard_curve_target(e, ln_m, terms).get(0);
        attack[t] = f[t] < output_of(state, 0.f);
        // Settled within half an ulp above f: a nearest-rounded output would equal f there and hide
        // the attack from the backward; the rounded-up one does not.
        settled_attacks += double(f[t]) < state && float(state) == f[t];
        state = compexp_reference_step(f[t], state, at, rt);
        ASSERT_EQ(y[t], output_of(state, 0.f)) << "t " << t;
    }
    EXPECT_GT(settled_attacks, 500u);
    // The adjoint on those decisions (docs/ballistics.md): u_t = gy_t + (1 − β_{t+1})·u_{t+1}.
    double u = 0, ref_at = 0, ref_rt = 0;
    for (std::size_t t = cols; t-- > 0;) {
        const double y_prev = t ? double(y[t - 1]) : 1.0;
        if (t + 1 < cols) u *= 1.0 - double(attack[t + 1] ? at : rt);
        u += double(gy[t]);
        (attack[t] ? ref_at : ref_rt) += u * (double(f[t]) - y_prev);
    }
    EXPECT_NEAR(gat, ref_at, 1e-4 * std::abs(ref_at));
    EXPECT_NEAR(grt, ref_rt, 1e-4 * std::abs(ref_rt));
}

TEST(Smoother, Float32HasNoSteadyStateBiasAtSlowTimeConstants) {
    // Audio time constants at 44.1 kHz (5 ms attack, 100 ms release: β = 4.5e-3 and 2.3e-4) on
    // targets that hold a level for ~0.2 s (with a slow 1 % wobble), then jump. float32 cannot hold
    // 1 − β exactly: keep = fl(1 − β) is off by up to 2^-25. With β·f as the other term the filter's
    // gain at DC is β/(1 − keep) ≠ 1, a bias of up to 2^-25/β in every steady state; the coefficients
    // are therefore (keep, 1 − keep) (ar_coeffs), whose DC gain is exactly 1. What remains is the pole
    // keep itself (a time constant off by up to 2^-25/β relative), which shows in transients, and the
    // stall every float32 smoother has (y stops moving where |β·(f − y)| < ½ ulp(y), up to
    // ulp(y)/(2β) from f): the documented bound is 2^-24/β relative (1/β ulp-equivalent), and the
    // median must stay well below it (the biased form measured a median of 977 ulp-equivalent here,
    // 0.22/β). A plain float32 y += β·(f − y), whose pole is exact but whose chain is a subtraction
    // longer, is printed for comparison (docs/simd_math.md).
    const std::size_t cols = 200000;
    const float at = 4.5e-3f, rt = 2.27e-4f;
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> level(0.05, 1.0);
    std::vector<float> f(cols);
    for (std::size_t t = 0; t < cols; t += 9000) {
        const double v = level(rng);
        for (std::size_t k = t; k < std::min(cols, t + 9000); ++k) f[k] = float(v * (1 + 0.01 * std::sin(0.001 * double(k))));
    }
    const std::vector<double> fd(f.begin(), f.end());
    std::vector<float> y32(cols);
    std::vector<double> y64(cols);
    dd::attack_release_smoother(signal_view<float>{f.data(), 1, cols}, 1.f, at, rt, signal_span<float>{y32.data(), 1, cols});
    dd::attack_release_smoother(signal_view<double>{fd.data(), 1, cols}, 1.0, double(at), double(rt),
                                signal_span<double>{y64.data(), 1, cols});
    std::vector<double> ours(cols), plain(cols);
    float y = 1.f;
    for (std::size_t t = 0; t < cols; ++t) {
        const float beta = f[t] < y ? at : rt;
        y = y + beta * (f[t] - y);
        plain[t] = std::abs(double(y) - y64[t]) / y64[t];
        ours[t] = std::abs(double(y32[t]) - y64[t]) / y64[t];
    }
    auto worst = [](const std::vector<double>& e) { return *std::max_element(e.begin(), e.end()); };
    auto median = [](std::vector<double> e) {
        std::nth_element(e.begin(), e.begin() + std::ptrdiff_t(e.size() / 2), e.end());
        return e[e.size() / 2];
    };
    const double ulp = std::ldexp(1.0, -24);
    std::printf("float32 smoother vs float64, ulp-equivalent: ours worst %.1f median %.2f, plain y += b(f - y) worst "
                "%.1f median %.2f\n", worst(ours) / ulp, median(ours) / ulp, worst(plain) / ulp, median(plain) / ulp);
    const double bound = ulp / double(rt);
    EXPECT_LE(worst(ours), bound);
    EXPECT_LE(median(ours), 0.05 * bound);
}

TEST(Smoother, GradientOfTheGradientMatchesFiniteDifferencesOfTheBackward) {
    smoother_case c;
    const std::vector<double> vf = random_weights(B * T, 31), vzi = {0.4, -0.3, 0.2}, vat = {0.7, -0.5, 1.1},
                              vrt = {-0.6, 0.9, 0.3};
    // ℓ₂(θ, gy) = ⟨v, backward(θ, gy)⟩, evaluated with the first-order kernel.
    auto l2 = [&](const std::vector<double>& gy) {
        std::vector<double> y(B * T), gx(B * T), gzi(B), gat(B), grt(B);
        dd::attack_release_smoother(view(c.x.data, B, T), per_row(c.zi), per_row(c.at), per_row(c.rt), span(y, B, T));
        dd::attack_release_smoother_backward(view(c.x.data, B, T), per_row(c.zi), per_row(c.at), per_row(c.rt),
                                             view(y, B, T), view(gy, B, T), gx.data(),
                                             dd::smoother_param_grads<double>{gzi.data(), gat.data(), grt.data()});
        return dot(gx, vf) + dot(gzi, vzi) + dot(gat, vat) + dot(grt, vrt);
    };
    std::vector<double> y(B * T), dgy(B * T), df(B * T), gzi(B), gat(B), grt(B);
    dd::attack_release_smoother(view(c.x.data, B, T), per_row(c.zi), per_row(c.at), per_row(c.rt), span(y, B, T));
    dd::attack_release_smoother_backward_backward(view(c.x.data, B, T), per_row(c.zi), per_row(c.at), per_row(c.rt),
                                                  view(y, B, T), view(c.w, B, T), vf.data(), per_row(vzi),
                                                  per_row(vat), per_row(vrt), dgy.data(), df.data(),
                                                  dd::smoother_param_grads<double>{gzi.data(), gat.data(), grt.data()});
    auto loss = [&] { return l2(c.w); };
    for (std::size_t b = 0; b < B; ++b) {
        // ℓ₂ is smooth (bilinear) in zi: a step of 1e-4 keeps rounding of ℓ₂ far below the tolerance.
        expect_gradient_close(gzi[b], central_difference(c.zi[b], 1e-4, loss), 1e-6, "zi");
        expect_gradient_close(gat[b], central_difference(c.at[b], 1e-7, loss), 1e-6, "at");
        expect_gradient_close(grt[b], central_difference(c.rt[b], 1e-7, loss), 1e-6, "rt");
        EXPECT_NE(gat[b], 0.0);
    }
    expect_directional_gradient(c.x.data, df, 32, loss, 1e-6, "f direction");
    // ℓ₂ is linear in gy: its gradient dgy must reproduce ℓ₂ exactly.
    EXPECT_NEAR(dot(dgy, c.w), l2(c.w), 1e-10 * std::abs(l2(c.w)));
    std::vector<double> e(B * T, 0.0);
    e[123] = 1.0;
    EXPECT_NEAR(dgy[123], l2(e), 1e-12);
}
