// The SIMD layer: accuracy of the fast dB conversions against long-double libm, identical bits for a
// value in any lane and in the scalar form, and the transposes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "differential_dynamics/simd.hpp"

namespace {
template <class T> double ulps(T value, long double exact) {
    const T rounded = T(exact);
    const double ulp = double(std::nextafter(std::fabs(rounded), T(INFINITY)) - std::fabs(rounded));
    return double(std::fabs((long double)value - exact)) / ulp;
}

template <class T> void check_accuracy(double amp_bound, double db_bound) {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> level(-300, 30), gain(-700, 20);
    double worst_db = 0, worst_amp = 0;
    for (int i = 0; i < 200000; ++i) {
        const T x = T(std::pow(10.0, level(rng) / 20));
        if (!(x >= std::numeric_limits<T>::min())) continue;
        const long double exact_db = 20 * std::log10((long double)x);
        if (std::fabs((double)exact_db) > 1e-3) worst_db = std::max(worst_db, ulps(dd::simd::amp2db(x), exact_db));
        const T g = T(gain(rng));
        if (g < T(-750)) continue;
        worst_amp = std::max(worst_amp, ulps(dd::simd::db2amp(g), std::pow(10.0L, (long double)g / 20)));
    }
    EXPECT_LE(worst_db, amp_bound);
    EXPECT_LE(worst_amp, db_bound);
    std::printf("%s: amp2db worst %.2f ulp, db2amp worst %.2f ulp\n", sizeof(T) == 4 ? "float" : "double", worst_db,
                worst_amp);
}

template <class T> void check_lanes_match_scalar() {
    using V = dd::simd::wide<T>;
    constexpr std::size_t W = V::size;
    std::mt19937_64 rng(8);
    std::uniform_real_distribution<double> level(-120, 10);
    alignas(64) T x[W], out_db[W], out_amp[W];
    for (int rep = 0; rep < 1000; ++rep) {
        for (auto& v : x) v = T(std::pow(10.0, level(rng) / 20));
        dd::simd::amp2db(V::load_aligned(x)).store_aligned(out_db);
        dd::simd::db2amp(V::load_aligned(out_db)).store_aligned(out_amp);
        for (std::size_t i = 0; i < W; ++i) {
            ASSERT_EQ(out_db[i], dd::simd::amp2db(x[i]));
            ASSERT_EQ(out_amp[i], dd::simd::db2amp(out_db[i]));
        }
    }
}
}  // namespace

TEST(Simd, DbConversionsAreAccurateToAFewUlp) {
    check_accuracy<float>(3.0, 3.0);
    check_accuracy<double>(6.0, 4.0);
}

TEST(Simd, EveryLaneComputesTheScalarBits) {
    check_lanes_match_scalar<float>();
    check_lanes_match_scalar<double>();
}

TEST(Simd, TransposesRoundTrip) {
    constexpr std::size_t W = dd::simd::lanes<float>, n = 4 * W;
    std::vector<float> rows(W * n), lanes(W * n), back(W * n, -1.f);
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = float(i);
    const float* src[W];
    float* dst[W];
    for (std::size_t r = 0; r < W; ++r) {
        src[r] = rows.data() + r * n;
        dst[r] = back.data() + r * n;
    }
    dd::simd::to_lanes(src, 0, n, lanes.data());
    for (std::size_t k = 0; k < n; ++k)
        for (std::size_t r = 0; r < W; ++r) ASSERT_EQ(lanes[k * W + r], rows[r * n + k]);
    dd::simd::from_lanes(static_cast<const float*>(lanes.data()), 0, n, dst);
    EXPECT_EQ(back, rows);
}
