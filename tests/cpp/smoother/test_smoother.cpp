// The hard and sigmoid smoothers: forward against an independent reference, every gradient (adjoint,
// tangent, second order) against float64 central differences on signals that switch between attack
// and release many times, the adjoint in lanes against the sequential one, float32 accuracy.
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
/// The hard smoother's adjoint taken the plain way, one sample at a time in double.
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
    // longer, is printed for comparison (docs/derivations/simd_math.md).
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
