// Bad input names the argument of the function the user called.
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
