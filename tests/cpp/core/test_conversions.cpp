// The dB and time-constant conversions: the documented values, float32 accuracy where 1 − exp and
// ln(1 − c) would cancel, errors naming the argument; the detectors' safe dB conversion.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/conversions_math.hpp"
#include "differential_dynamics/conversions.hpp"

TEST(Conversions, DocumentedValues) {
    EXPECT_NEAR(dd::ms2coef(10.0, 44100.0), 0.0049762, 1e-7);
    EXPECT_NEAR(dd::coef2ms(dd::ms2coef(37.0, 48000.0), 48000.0), 37.0, 1e-9);
    EXPECT_NEAR(dd::amp2db(0.5), 20 * std::log10(0.5), 1e-14);
    EXPECT_NEAR(dd::db2amp(-6.0), std::pow(10.0, -0.3), 1e-15);
    EXPECT_DOUBLE_EQ(dd::safe_amp2db(0.0), -140.0);
    EXPECT_EQ(dd::safe_amp2db_derivative(1e-9), 0.0);
    EXPECT_NEAR(dd::safe_amp2db_derivative(0.1), 20 / (std::log(10.0) * 0.1), 1e-12);
}

TEST(Conversions, Float32IsCorrectlyRoundedOverAudioTimesAndRates) {
    // 0.01 ms … 100 s at 8 … 384 kHz: the float result is the double one rounded (within half an ulp),
    // where 1 − exp(−z) in float would lose up to ~1 % at long times (z small).
    double worst = 0;
    for (double fs : {8000.0, 44100.0, 48000.0, 96000.0, 384000.0})
        for (double ms = 0.01; ms <= 100000.0; ms *= 1.37) {
            const float c = dd::ms2coef(float(ms), float(fs));
            const double exact = dd::ms2coef(double(float(ms)), double(float(fs)));
            if (exact < 1.0) {
                const double ulp = std::nextafter(float(exact), 2.f) - float(exact);
                worst = std::max(worst, std::abs(double(c) - exact) / ulp);
            }
            if (c > 0.f && c < 1.f) {
                const double back = dd::coef2ms(double(c), double(float(fs)));
                const float back_f = dd::coef2ms(c, float(fs));
                const double ulp = std::nextafter(float(back), 1e30f) - float(back);
                worst = std::max(worst, std::abs(double(back_f) - back) / ulp);
            }
        }
    EXPECT_LE(worst, 0.5 + 1e-9);
}

TEST(Conversions, BadInputNamesTheArgument) {
    auto name_of = [](auto&& f) {
        try {
            f();
        } catch (const dd::argument_error& e) {
            return e.argument();
        }
        return std::string("(no error)");
    };
    const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
    EXPECT_EQ(name_of([&] { dd::ms2coef(inf, 44100.0); }), "ms");
    EXPECT_EQ(name_of([&] { dd::ms2coef(-1.0, 44100.0); }), "ms");
    EXPECT_EQ(name_of([&] { dd::ms2coef(5.0, 0.0); }), "fs");
    EXPECT_EQ(name_of([&] { dd::coef2ms(1.0, 44100.0); }), "coef");
    EXPECT_EQ(name_of([&] { dd::coef2ms(nan, 44100.0); }), "coef");
    EXPECT_EQ(name_of([&] { dd::amp2db(-1.0); }), "x");
    EXPECT_EQ(name_of([&] { dd::amp2db(0.0f); }), "x");
    EXPECT_EQ(name_of([&] { dd::db2amp(inf); }), "db");
    EXPECT_EQ(name_of([&] { dd::db2amp(1000.0f); }), "db");  // 10^50 does not fit a float
    EXPECT_EQ(name_of([&] { dd::db2amp(-200.0); }), "(no error)");
}
