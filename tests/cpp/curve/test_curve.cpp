// The static curve: the hard curve against its definition, the knee continuous and its partials against
// float64 central differences.
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

TEST(GainCurve, HardCurveMatchesPlainFormulaAndKneeZeroIsExact) {
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
