// Metrics against values computed by hand on tiny signals (docs/reference/probes_metrics.md).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "differential_dynamics/metrics.hpp"

namespace {
template <class F> void expect_argument_error(F&& f, const std::string& name) {
    try {
        f();
        ADD_FAILURE() << "no error for " << name;
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(e.argument(), name) << e.what();
    }
}
}  // namespace

TEST(Metrics, GainRmseCountsActiveSamplesOnly) {
    const std::vector<double> a{0, -1, -2, -3}, b{0, 0, 0, 0}, level{-50, -120, -50, -100.0 + 1e-9};
    EXPECT_DOUBLE_EQ(dd::gain_rmse_db(a.data(), b.data(), level.data(), 4), std::sqrt(13.0 / 3.0));
    EXPECT_DOUBLE_EQ(dd::gain_rmse_db(a.data(), b.data(), nullptr, 4), std::sqrt(14.0 / 4.0));
    const std::vector<double> quiet{-100, -120, -HUGE_VAL, -140};  // −100 dB itself is inactive
    expect_argument_error([&] { dd::gain_rmse_db(a.data(), b.data(), quiet.data(), 4); }, "level_db");
    const std::vector<double> bad{0, NAN, 0, 0};
    expect_argument_error([&] { dd::gain_rmse_db(bad.data(), b.data(), nullptr, 4); }, "gain_a_db");
    expect_argument_error([&] { dd::gain_rmse_db(a.data(), bad.data(), nullptr, 4); }, "gain_b_db");
    expect_argument_error([&] { dd::gain_rmse_db(a.data(), b.data(), bad.data(), 4); }, "level_db");
    expect_argument_error([&] { dd::gain_rmse_db(a.data(), b.data(), nullptr, 0); }, "gain_a_db");
}

TEST(Metrics, RiseTimeIsSamplesTo63PercentOfTheStep) {
    const std::vector<double> up{0, 0, 0.5, 0.6, 0.7, 1.0};
    EXPECT_DOUBLE_EQ(dd::rise_time_63(up.data(), up.size(), 2, 1000.0), 0.003);  // t = 4, from t = 1
    const std::vector<double> down{1, 1, 0.5, 0.3, 0};  // 0.5 → 50 %, 0.3 → 70 %
    EXPECT_DOUBLE_EQ(dd::rise_time_63(down.data(), down.size(), 2, 1000.0), 0.002);
    // A one-pole with coefficient α reaches 1 − 1/e after ⌈−1/ln(1 − α)⌉ samples: α = 0.1 → 10.
    std::vector<double> pole(200, 0.0);
    double y = 0.0;
    for (std::size_t t = 50; t < pole.size(); ++t) pole[t] = y = 0.9 * y + 0.1;
    pole.back() = 1.0;
    EXPECT_DOUBLE_EQ(dd::rise_time_63(pole.data(), pole.size(), 50, 44100.0), 10.0 / 44100.0);
    expect_argument_error([&] { dd::rise_time_63(up.data(), up.size(), 0, 1000.0); }, "edge");
    expect_argument_error([&] { dd::rise_time_63(up.data(), up.size(), 6, 1000.0); }, "edge");
    expect_argument_error([&] { dd::rise_time_63(up.data(), up.size(), 2, 0.0); }, "fs");
    const std::vector<double> flat{1, 1, 2, 1};
    expect_argument_error([&] { dd::rise_time_63(flat.data(), flat.size(), 1, 1000.0); }, "trace");
}

TEST(Metrics, NearThresholdOccupancyIsAFractionOfActiveSamples) {
    const std::vector<double> level{-20, -24, -27, -30, -200};
    EXPECT_DOUBLE_EQ(dd::near_threshold_occupancy(level.data(), 5, -24.0, 3.0), 0.5);  // −24 and −27 of four
    EXPECT_DOUBLE_EQ(dd::near_threshold_occupancy(level.data(), 5, -24.0, 6.0), 1.0);
    EXPECT_DOUBLE_EQ(dd::near_threshold_occupancy(level.data(), 5, -60.0, 3.0), 0.0);
    expect_argument_error([&] { dd::near_threshold_occupancy(level.data(), 5, -24.0, -1.0); }, "half_width_db");
    expect_argument_error([&] { dd::near_threshold_occupancy(level.data(), 5, NAN, 3.0); }, "threshold_db");
}

TEST(Metrics, FlipRateCountsChangesBetweenFallingAndRising) {
    // Falls, falls, holds (still attack), rises (flip), holds, falls (flip), rises (flip): 3 flips in 1 s.
    const std::vector<double> gain{0, -1, -2, -2, -1, -1, -3, -2};
    EXPECT_DOUBLE_EQ(dd::flip_rate(gain.data(), gain.size(), 8.0), 3.0);
    const std::vector<double> monotone{0, 0, -1, -2, -2, -3};
    EXPECT_DOUBLE_EQ(dd::flip_rate(monotone.data(), monotone.size(), 6.0), 0.0);
    expect_argument_error([&] { dd::flip_rate(gain.data(), gain.size(), -1.0); }, "fs");
}

TEST(Metrics, AverageGainReductionIsTheMeanOfMinusGainOverActiveSamples) {
    const std::vector<double> gain{-2, -4, 0, -6}, level{-10, -10, -150, -10};
    EXPECT_DOUBLE_EQ(dd::average_gain_reduction_db(gain.data(), level.data(), 4), 4.0);
    EXPECT_DOUBLE_EQ(dd::average_gain_reduction_db(gain.data(), nullptr, 4), 3.0);
}

TEST(Metrics, EsrIsErrorEnergyOverReferenceEnergy) {
    const std::vector<double> y{1, 2, 0, -1}, y_hat{1, 1, 1, -1};
    EXPECT_DOUBLE_EQ(dd::esr(y.data(), y_hat.data(), 4), 2.0 / 6.0);
    EXPECT_DOUBLE_EQ(dd::esr(y.data(), y.data(), 4), 0.0);
    const std::vector<double> zeros(4, 0.0);
    expect_argument_error([&] { dd::esr(zeros.data(), y.data(), 4); }, "y");
    const std::vector<double> inf{1, INFINITY, 0, 0};
    expect_argument_error([&] { dd::esr(y.data(), inf.data(), 4); }, "y_hat");
}
