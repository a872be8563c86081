// The SIMD layer: accuracy of the fast dB conversions against long-double libm, identical bits for a
// value in any lane and in the scalar form, and the transposes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "simd/simd.hpp"

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

namespace {
/// shift_down<S> for every S = 1 … W − 1: lane j reads lane j + S of (v, next).
template <class V, std::size_t S = 1> void check_shifts(const typename V::value_type* a, const typename V::value_type* next) {
    if constexpr (S < V::size) {
        alignas(64) typename V::value_type out[V::size];
        dd::simd::shift_down<S>(V::load_aligned(a), V::load_aligned(next)).store_aligned(out);
        for (std::size_t j = 0; j < V::size; ++j) EXPECT_EQ(out[j], j + S < V::size ? a[j + S] : next[j + S - V::size]) << "S = " << S;
        check_shifts<V, S + 1>(a, next);
    }
}

template <class V> void check_reverse_scan() {
    using T = typename dd::simd::scalar_of<V>::type;
    constexpr std::size_t W = V::size;
    std::mt19937_64 rng(31);
    std::uniform_real_distribution<double> coef(0.0, 1.0), val(-1.0, 1.0);
    for (int trial = 0; trial < 50; ++trial) {
        alignas(64) T a[W], b[W], next[W], out[W];
        for (std::size_t j = 0; j < W; ++j) {
            a[j] = T(coef(rng));
            b[j] = T(val(rng));
            next[j] = T(val(rng));
        }
        const T carry = T(val(rng));
        // shift_down: lane j reads lane j + S of (v, next).
        dd::simd::shift_down<1>(V::load_aligned(a), V::load_aligned(next)).store_aligned(out);
        for (std::size_t j = 0; j < W; ++j) EXPECT_EQ(out[j], j + 1 < W ? a[j + 1] : next[0]);
        check_shifts<V>(a, next);
        dd::simd::broadcast_first(V::load_aligned(b)).store_aligned(out);
        for (std::size_t j = 0; j < W; ++j) EXPECT_EQ(out[j], b[0]);
        // The scan against the sequential recurrence, in double.
        dd::simd::reverse_linear_scan(V::load_aligned(a), V::load_aligned(b), V(carry)).store_aligned(out);
        double u = double(carry);
        for (std::size_t j = W; j-- > 0;) {
            u = double(b[j]) + double(a[j]) * u;
            EXPECT_NEAR(double(out[j]), u, 8 * std::numeric_limits<T>::epsilon() * (1 + std::abs(u))) << "lane " << j;
        }
    }
}
}  // namespace

TEST(Simd, ReverseLinearScanSolvesTheRecurrenceInEveryWidth) {
    check_reverse_scan<dd::simd::wide<float>>();
    check_reverse_scan<dd::simd::wide<double>>();
    check_reverse_scan<dd::simd::vec<float>>();
    check_reverse_scan<dd::simd::vec<double>>();
}

TEST(Simd, FmaddRoundsOnceInEveryLane) {
    // (1 + 2^-27)² − 1 − 2^-26 = 2^-54: rounded twice (product, then sum) it is 0, fused it is exact.
    using V = dd::simd::wide<double>;
    const double a = 1.0 + std::ldexp(1.0, -27), c = -(1.0 + std::ldexp(1.0, -26));
    const V r = dd::simd::fmadd(V(a), V(a), V(c));
    for (std::size_t i = 0; i < V::size; ++i) EXPECT_EQ(r.get(i), std::ldexp(1.0, -54));
    EXPECT_EQ(dd::simd::fmadd(a, a, c), std::ldexp(1.0, -54));
    using F = dd::simd::wide<float>;
    const float af = 1.0f + std::ldexp(1.0f, -12), cf = -(1.0f + std::ldexp(1.0f, -11));
    const F rf = dd::simd::fmadd(F(af), F(af), F(cf));
    for (std::size_t i = 0; i < F::size; ++i) EXPECT_EQ(rf.get(i), std::ldexp(1.0f, -24));
}

namespace {
/// values[k … k + lanes<float>) as doubles in widen_to_double's layout (narrow_up_*'s input).
void load_double_parts(const std::vector<double>& values, std::size_t k,
                       dd::simd::wide<double> (&parts)[dd::simd::double_parts]) {
    for (std::size_t p = 0; p < dd::simd::double_parts; ++p)
        parts[p] = dd::simd::wide<double>::load_unaligned(values.data() + k + p * dd::simd::wide_lanes<double>);
}
}  // namespace

TEST(Simd, RoundingUpToFloatGoesTowardPlusInfinityForEverySign) {
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> mant(-1.0, 1.0);
    std::uniform_int_distribution<int> expo(-140, 120);
    constexpr std::size_t W = dd::simd::lanes<float>;
    std::vector<double> values = {0.0, -0.0, 1.0, -1.0, 1e-45, -1e-45, 3.4028235677973366e38, -3.4028235677973366e38};
    for (int i = 0; i < 20000; ++i) values.push_back(std::ldexp(mant(rng), expo(rng)));
    while (values.size() % W) values.push_back(0.5);
    for (std::size_t k = 0; k < values.size(); k += W) {
        dd::simd::wide<double> parts[dd::simd::double_parts];
        load_double_parts(values, k, parts);
        const dd::simd::vec<float> lanes = dd::simd::narrow_up_from_double(parts);
        for (std::size_t i = 0; i < W; ++i) {
            const double d = values[k + i];
            const float up = dd::simd::round_up_to_float(d);
            // The smallest float >= d: up >= d, and the float below it is < d.
            ASSERT_GE(double(up), d) << d;
            ASSERT_LT(double(std::nextafter(up, -INFINITY)), d) << d;
            ASSERT_EQ(lanes.get(i), up) << d;
        }
    }
}

TEST(Simd, RoundingUpNormalDoublesToFloatGivesTheGeneralBits) {
    // narrow_up_from_normal_double on its domain [2^-126, 2^127]: its ends, floats themselves (no bit
    // below float's precision), values just above a float, and random ones over the whole range.
    std::mt19937_64 rng(12);
    std::uniform_real_distribution<double> mant(1.0, 2.0);
    std::uniform_int_distribution<int> expo(-126, 126);
    constexpr std::size_t W = dd::simd::lanes<float>;
    const double lo = dd::simd::narrow_up_min, hi = dd::simd::narrow_up_max;
    EXPECT_EQ(lo, double(std::numeric_limits<float>::min()));
    EXPECT_EQ(hi, std::ldexp(1.0, 127));
    std::vector<double> values = {lo, std::nextafter(lo, 1.0), hi, std::nextafter(hi, 0.0), 1.0, std::nextafter(1.0, 0.0),
                                  std::nextafter(1.0, 2.0), double(std::numeric_limits<float>::max())};
    for (int i = 0; i < 20000; ++i) {
        const double d = std::ldexp(mant(rng), expo(rng));
        values.push_back(i % 3 == 0 ? double(float(d)) : i % 3 == 1 ? std::nextafter(double(float(d)), INFINITY) : d);
    }
    while (values.size() % W) values.push_back(0.5);
    for (std::size_t k = 0; k < values.size(); k += W) {
        dd::simd::wide<double> parts[dd::simd::double_parts];
        load_double_parts(values, k, parts);
        const dd::simd::vec<float> fast = dd::simd::narrow_up_from_normal_double(parts);
        for (std::size_t i = 0; i < W; ++i) ASSERT_EQ(fast.get(i), dd::simd::round_up_to_float(values[k + i])) << values[k + i];
    }
}

TEST(Simd, UniformReverseScanGivesTheBitsOfTheGeneralScan) {
    // uniform_reverse_scan(c) forms the factors' products once; on a vector of c the general scan
    // forms the same products per call: the same bits for any b and carry.
    auto check = [](auto tag) {
        using V = decltype(tag);
        using T = typename dd::simd::scalar_of<V>::type;
        std::mt19937_64 rng(13);
        std::uniform_real_distribution<double> u(-1.0, 1.0), c(0.5, 1.0);
        for (int i = 0; i < 200; ++i) {
            const T factor = T(c(rng));
            alignas(64) T b[V::size];
            for (auto& v : b) v = T(u(rng));
            const V carry(T(u(rng)));
            const V general = dd::simd::reverse_linear_scan(V(factor), V::load_aligned(b), carry);
            const V uniform = dd::simd::uniform_reverse_scan<V>(V(factor))(V::load_aligned(b), carry);
            for (std::size_t j = 0; j < V::size; ++j) ASSERT_EQ(uniform.get(j), general.get(j)) << "lane " << j;
        }
    };
    check(dd::simd::wide<float>());
    check(dd::simd::wide<double>());
}

TEST(Simd, LaneBitsSetBitIForLaneI) {
    auto check = [](auto tag) {
        using V = decltype(tag);
        using T = typename dd::simd::scalar_of<V>::type;
        for (unsigned pattern : {0u, 1u, 2u, 5u, 0x55u, 0xAAu, 0xFFFFu}) {
            alignas(64) T v[V::size];
            unsigned expected = 0;
            for (std::size_t i = 0; i < V::size; ++i) {
                v[i] = (pattern >> i) & 1u ? T(1) : T(0);
                expected |= ((pattern >> i) & 1u) << i;
            }
            EXPECT_EQ(dd::simd::lane_bits(V::load_aligned(v) > V(T(0.5))), expected) << pattern;
        }
    };
    check(dd::simd::wide<float>());
    check(dd::simd::wide<double>());
    check(dd::simd::vec<float>());
}
