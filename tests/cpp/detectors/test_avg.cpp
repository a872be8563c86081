// avg: the hard smoother with at = rt; gradients against float64 central differences.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"
#include "test_util.hpp"

using namespace ddtest;
using dd::row_param;
using dd::signal_span;
using dd::signal_view;

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
