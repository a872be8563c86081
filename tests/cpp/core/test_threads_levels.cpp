// Execution strategy never changes results: every processor's forward and backward give the same bits
// at 1, 2, 3 and 8 threads; the forward gives the same bits at every SIMD level the CPU runs
// (gradients agree to their rounding: their sums run in lanes of each level's width); and a batch
// call in pieces, the state's gradient carried back from each piece to the one before, gives the
// gradients of one call.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"

namespace {

constexpr std::size_t rows = 7, cols = 20000;

template <class T> std::vector<T> audio(unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::uniform_real_distribution<double> level_db(-70.0, 0.0), hold(0.002, 0.05);
    std::vector<T> x(rows * cols);
    for (std::size_t b = 0; b < rows; ++b)
        for (std::size_t t = 0; t < cols;) {
            const double amp = std::pow(10.0, level_db(rng) / 20.0);
            for (std::size_t e = std::min(cols, t + std::size_t(hold(rng) * 44100.0) + 1); t < e; ++t) {
                const double v = amp * noise(rng);
                x[b * cols + t] = T(std::abs(v) < 1e-6 ? 1e-6 : v);
            }
        }
    return x;
}
template <class T> std::vector<T> level(unsigned seed) {
    std::vector<T> x = audio<T>(seed);
    for (std::size_t b = 0; b < rows; ++b) {
        double y = 0;
        for (std::size_t t = 0; t < cols; ++t) x[b * cols + t] = T(std::max(y = 0.01 * std::abs(double(x[b * cols + t])) + 0.99 * y, 1e-7));
    }
    return x;
}
template <class T> std::vector<T> weights(unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1, 1);
    std::vector<T> w(rows * cols);
    for (auto& v : w) v = T(u(rng));
    return w;
}

/// A forward and a backward run, everything they produce concatenated (as doubles).
using run_fn = std::function<std::vector<double>()>;

template <class T> void append(std::vector<double>& out, const std::vector<T>& v) { out.insert(out.end(), v.begin(), v.end()); }

template <class T> std::vector<std::pair<std::string, run_fn>> every_processor(bool with_backward) {
    std::vector<std::pair<std::string, run_fn>> runs;
    const auto x = std::make_shared<std::vector<T>>(audio<T>(3));
    const auto lv = std::make_shared<std::vector<T>>(level<T>(4));
    const auto w = std::make_shared<std::vector<T>>(weights<T>(5));
    const std::vector<T> ct = {-30, -25, -20, -35, -28, -22, -18}, cr = {2, 4, 8, 3, 5, 1.5, 10};
    const std::vector<T> knee = {0, 6, 0, 3, 12, 0, 1};
    const T at = T(dd::ms2coef(5.0, 44100.0)), rt = T(dd::ms2coef(120.0, 44100.0));
    auto rp = [](const std::vector<T>& v) { return dd::row_param<T>(v.data(), v.size()); };
    for (dd::ar_mode mode : {dd::ar_mode::hard, dd::ar_mode::sigmoid})
        runs.emplace_back(mode == dd::ar_mode::hard ? "compexp hard" : "compexp sigmoid", [=] {
            const dd::compexp_params<T> curve{rp(ct), rp(cr), T(-55), T(0.5), rp(knee)};
            std::vector<T> y(rows * cols), gx(rows * cols), g[8];
            for (auto& v : g) v.assign(rows, T(0));
            std::vector<double> final(rows), gzi(rows);
            dd::compexp_gain_mode<T>({lv->data(), rows, cols}, curve, at, rt, mode, T(0.7), {y.data(), rows, cols}, {},
                                     final.data());
            std::vector<double> out;
            append(out, y);
            append(out, final);
            if (with_backward) {
                dd::compexp_gain_mode_backward<T>({lv->data(), rows, cols}, curve, at, rt, mode, T(0.7),
                                                  {y.data(), rows, cols}, dd::signal_view<T>{w->data(), rows, cols},
                                                  gx.data(), {g[0].data(), g[1].data(), g[2].data(), g[3].data(), g[4].data()},
                                                  g[5].data(), g[6].data(), g[7].data(), {}, nullptr, gzi.data());
                append(out, gx);
                for (auto& v : g) append(out, v);
                append(out, gzi);
            }
            return out;
        });
    runs.emplace_back("limiter", [=] {
        std::vector<T> y(rows * cols), p(rows * cols), gx(rows * cols), gthr(rows), gat(rows), grt(rows);
        std::vector<double> final(2 * rows), gzi(2 * rows);
        dd::limiter_gain<T>({x->data(), rows, cols}, rp(ct), at, rt, {y.data(), rows, cols}, {p.data(), rows, cols}, {},
                            final.data());
        std::vector<double> out;
        append(out, y);
        append(out, final);
        if (with_backward) {
            dd::limiter_gain_backward<T>({x->data(), rows, cols}, rp(ct), at, rt, {y.data(), rows, cols},
                                         {p.data(), rows, cols}, {w->data(), rows, cols}, gx.data(), gthr.data(),
                                         gat.data(), grt.data(), {}, nullptr, gzi.data());
            for (const auto* v : {&gx, &gthr, &gat, &grt}) append(out, *v);
            append(out, gzi);
        }
        return out;
    });
    runs.emplace_back("avg and hard smoother", [=] {
        std::vector<T> y(rows * cols), s(rows * cols), gx(rows * cols), gs(rows * cols), gc(rows), gat(rows), grt(rows);
        std::vector<double> gz(rows);
        dd::avg<T>({x->data(), rows, cols}, T(0.01), {y.data(), rows, cols});
        dd::attack_release_smoother<T>({lv->data(), rows, cols}, 1.0, at, rt, {s.data(), rows, cols});
        std::vector<double> out;
        append(out, y);
        append(out, s);
        if (with_backward) {
            dd::avg_backward<T>({x->data(), rows, cols}, T(0.01), {y.data(), rows, cols}, {w->data(), rows, cols},
                                gx.data(), gc.data());
            dd::attack_release_smoother_backward<T>({lv->data(), rows, cols}, 1.0, at, rt, {s.data(), rows, cols},
                                                    {w->data(), rows, cols}, gs.data(), {gz.data(), gat.data(), grt.data()});
            for (const auto* v : {&gx, &gc, &gs, &gat, &grt}) append(out, *v);
            append(out, gz);
        }
        return out;
    });
    runs.emplace_back("ssl", [=] {
        const dd::ssl_params<T> p{rp(ct), rp(cr), T(3.85e-4), T(5.58e-3), T(0.0428), T(5.1), T(0.5), 44100.0, rp(knee)};
        std::vector<T> g(rows * cols), y(rows * cols), gx(rows * cols), gp[8];
        for (auto& v : gp) v.assign(rows, T(0));
        dd::ssl_compress<T>({x->data(), rows, cols}, p, {g.data(), rows, cols}, {y.data(), rows, cols});
        std::vector<double> out;
        append(out, g);
        append(out, y);
        if (with_backward) {
            dd::ssl_compress_backward<T>({x->data(), rows, cols}, p, nullptr, nullptr, w->data(), gx.data(),
                                         {gp[0].data(), gp[1].data(), gp[2].data(), gp[3].data(), gp[4].data(),
                                          gp[5].data(), gp[6].data(), gp[7].data()});
            append(out, gx);
            for (auto& v : gp) append(out, v);
        }
        return out;
    });
    return runs;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

template <class T> void check_threads() {
    for (auto& [name, run] : every_processor<T>(true)) {
        dd::set_num_threads(1);
        const auto one = run();
        for (int threads : {2, 3, 8}) {
            dd::set_num_threads(threads);
            EXPECT_TRUE(same_bits(one, run())) << name << " at " << threads << " threads";
        }
    }
    dd::set_num_threads(0);
}

template <class T> void check_levels() {
    const dd::simd_level active = dd::active_simd_level();
    std::vector<dd::simd_level> levels;
    for (dd::simd_level l : {dd::simd_level::baseline, dd::simd_level::avx2, dd::simd_level::avx512})
        if (dd::simd_level_supported(l)) levels.push_back(l);
    ASSERT_GE(levels.size(), 1u);
    for (auto& [name, run] : every_processor<T>(false)) {
        dd::set_simd_level(levels[0]);
        const auto first = run();
        for (std::size_t i = 1; i < levels.size(); ++i) {
            dd::set_simd_level(levels[i]);
            EXPECT_TRUE(same_bits(first, run())) << name << ": " << dd::simd_level_name(levels[0]) << " vs "
                                                 << dd::simd_level_name(levels[i]);
        }
    }
    // Gradients: the same up to the rounding of their sums.
    const double tol = sizeof(T) == 4 ? 2e-4 : 1e-9;
    for (auto& [name, run] : every_processor<T>(true)) {
        dd::set_simd_level(levels[0]);
        const auto first = run();
        for (std::size_t i = 1; i < levels.size(); ++i) {
            dd::set_simd_level(levels[i]);
            const auto other = run();
            ASSERT_EQ(first.size(), other.size());
            double scale = 0;
            for (double v : first) scale = std::max(scale, std::abs(v));
            for (std::size_t k = 0; k < first.size(); ++k)
                ASSERT_NEAR(first[k], other[k], tol * std::max(1.0, std::abs(first[k])) + tol * 1e-3 * scale)
                    << name << " value " << k;
        }
    }
    dd::set_simd_level(active);
}

}  // namespace

TEST(Threads, ResultsAndGradientsIdenticalAt1238ThreadsFloat32) { check_threads<float>(); }
TEST(Threads, ResultsAndGradientsIdenticalAt1238ThreadsFloat64) { check_threads<double>(); }
TEST(SimdLevels, ForwardBitsIdenticalAndGradientsAgreeFloat32) { check_levels<float>(); }
TEST(SimdLevels, ForwardBitsIdenticalAndGradientsAgreeFloat64) { check_levels<double>(); }

TEST(SimdLevels, UnsupportedLevelsAreRefusedByName) {
    for (dd::simd_level l : {dd::simd_level::baseline, dd::simd_level::avx2, dd::simd_level::avx512}) {
        if (dd::simd_level_supported(l)) continue;
        try {
            dd::set_simd_level(l);
            FAIL() << "accepted " << dd::simd_level_name(l);
        } catch (const dd::argument_error& e) {
            EXPECT_EQ(e.argument(), "level");
        }
    }
    EXPECT_TRUE(dd::simd_level_supported(dd::simd_level::baseline));
}

TEST(Threads, CountsAreBounded) {
    for (int bad : {-1, dd::max_threads + 1, 16777216}) {
        try {
            dd::set_num_threads(bad);
            FAIL() << "accepted " << bad;
        } catch (const dd::argument_error& e) {
            EXPECT_EQ(e.argument(), "threads");
        }
    }
    dd::set_num_threads(dd::max_threads);  // the largest accepted count works (threads share the cores)
    std::vector<float> x(2 * 100, 0.5f), y(2 * 100);
    dd::avg<float>({x.data(), 2, 100}, 0.5f, {y.data(), 2, 100});
    EXPECT_GT(y[99], 0.49f);
    dd::set_num_threads(0);
}

namespace {
/// compexp_gain (hard or sigmoid), limiter, SSL in pieces: forward bits equal one call; the gradients,
/// carried back through each piece's final-state gradient, equal one call's to rounding.
template <class T> void check_pieces_gradients(dd::ar_mode mode) {
    const std::size_t n = cols, b = 2;
    const auto lv = level<T>(11);
    const auto w = weights<T>(12);
    const dd::compexp_params<T> curve{T(-28), T(4), T(-55), T(0.5), T(3)};
    const T at = T(dd::ms2coef(3.0, 44100.0)), rt = T(dd::ms2coef(80.0, 44100.0)), k = T(0.8);
    auto full_run = [&](std::vector<T>& y, std::vector<T>& gx, std::vector<T>& gp) {
        y.assign(b * n, 0);
        gx.assign(b * n, 0);
        gp.assign(8 * b, 0);
        dd::compexp_gain_mode<T>({lv.data(), b, n}, curve, at, rt, mode, k, {y.data(), b, n});
        dd::compexp_gain_mode_backward<T>({lv.data(), b, n}, curve, at, rt, mode, k, {y.data(), b, n},
                                          dd::signal_view<T>{w.data(), b, n}, gx.data(),
                                          {gp.data(), gp.data() + b, gp.data() + 2 * b, gp.data() + 3 * b, gp.data() + 4 * b},
                                          gp.data() + 5 * b, gp.data() + 6 * b, gp.data() + 7 * b);
    };
    std::vector<T> y1, gx1, gp1;
    full_run(y1, gx1, gp1);
    // Two pieces, split at s.
    const std::size_t s = 7777, m = n - s;
    std::vector<T> xa(b * s), xb(b * m), wa(b * s), wb(b * m);
    for (std::size_t r = 0; r < b; ++r) {
        std::copy(lv.begin() + r * n, lv.begin() + r * n + s, xa.begin() + r * s);
        std::copy(lv.begin() + r * n + s, lv.begin() + (r + 1) * n, xb.begin() + r * m);
        std::copy(w.begin() + r * n, w.begin() + r * n + s, wa.begin() + r * s);
        std::copy(w.begin() + r * n + s, w.begin() + (r + 1) * n, wb.begin() + r * m);
    }
    std::vector<T> ya(b * s), yb(b * m), gxa(b * s), gxb(b * m), gpa(8 * b), gpb(8 * b);
    std::vector<double> mid(b), g_mid(b);
    dd::compexp_gain_mode<T>({xa.data(), b, s}, curve, at, rt, mode, k, {ya.data(), b, s}, {}, mid.data());
    dd::compexp_gain_mode<T>({xb.data(), b, m}, curve, at, rt, mode, k, {yb.data(), b, m}, mid.data());
    auto grads = [&](std::vector<T>& gp) {
        return dd::compexp_param_grads<T>{gp.data(), gp.data() + b, gp.data() + 2 * b, gp.data() + 3 * b, gp.data() + 4 * b};
    };
    dd::compexp_gain_mode_backward<T>({xb.data(), b, m}, curve, at, rt, mode, k, {yb.data(), b, m},
                                      dd::signal_view<T>{wb.data(), b, m}, gxb.data(), grads(gpb), gpb.data() + 5 * b,
                                      gpb.data() + 6 * b, gpb.data() + 7 * b, mid.data(), nullptr, g_mid.data());
    dd::compexp_gain_mode_backward<T>({xa.data(), b, s}, curve, at, rt, mode, k, {ya.data(), b, s},
                                      dd::signal_view<T>{wa.data(), b, s}, gxa.data(), grads(gpa), gpa.data() + 5 * b,
                                      gpa.data() + 6 * b, gpa.data() + 7 * b, {}, g_mid.data());
    const double tol = sizeof(T) == 4 ? 1e-4 : 1e-10;
    for (std::size_t r = 0; r < b; ++r)
        for (std::size_t t = 0; t < n; ++t) {
            const bool first = t < s;
            const T yv = first ? ya[r * s + t] : yb[r * m + t - s];
            ASSERT_EQ(yv, y1[r * n + t]) << "row " << r << " t " << t;
            const T gv = first ? gxa[r * s + t] : gxb[r * m + t - s];
            ASSERT_NEAR(gv, gx1[r * n + t], tol * (1 + std::abs(double(gx1[r * n + t]))) + tol) << "row " << r << " t " << t;
        }
    for (std::size_t i = 0; i < 8 * b; ++i) {
        if (i / b == 7 && mode == dd::ar_mode::hard) continue;  // no k in the hard gate
        const double sum = double(gpa[i]) + double(gpb[i]);
        EXPECT_NEAR(sum, gp1[i], tol * (1 + std::abs(double(gp1[i])))) << "parameter " << i / b << " row " << i % b;
        EXPECT_NE(gp1[i], T(0)) << "parameter " << i / b << " row " << i % b;  // the check can fail
    }
}
}  // namespace

TEST(Pieces, CompexpGradientsThroughTheStateEqualOneCall) {
    check_pieces_gradients<double>(dd::ar_mode::hard);
    check_pieces_gradients<double>(dd::ar_mode::sigmoid);
    check_pieces_gradients<float>(dd::ar_mode::hard);
    check_pieces_gradients<float>(dd::ar_mode::sigmoid);
}
