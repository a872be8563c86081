// The limiter: forward against an independent reference, gradients against float64 central
// differences (also over rows of several blocks), the peak detector's gradient at zeros.
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
            if (xs[t] == V(0)) {
                EXPECT_EQ(gx[t], V(0)) << "t = " << t;
            }
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
