// compexp_gain in float32: within 4 ulp-equivalent of float64, the steep expander's dB path, the
// backward taking the forward's decisions.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"
#include "test_util.hpp"
#include "compexp/compexp_test_util.hpp"
#include "curve/curve_math.hpp"
#include "smoother/smoother_math.hpp"

using namespace ddtest;
using dd::row_param;
using dd::signal_span;
using dd::signal_view;

TEST(CompexpGain, Float32IsWithinFourUlpOfFloat64) {
    // The float32 gain against float64 on the same (float-rounded) input, levels −60…−15 dB crossing
    // both thresholds, within 4 ulp-equivalent (4·2^-24 relative; docs/derivations/simd_math.md). Two things get
    // it there (docs/reference/numerics.md): the targets' exponent formed from x's parts in pieces that
    // are exact or small (hard_curve_target), and the smoother's state kept in double. For
    // comparison, a plain float32 libm program (std::log10/std::pow, float32 state) and the exact
    // targets rounded to float32 run through a float32-state smoother, which is what a float32
    // smoother alone costs: ours must beat both by far.
    const std::size_t rows = 4, cols = 20000;
    const batch xd = switching_level(rows, cols, 23, -60, -15);
    const std::vector<float> xf(xd.data.begin(), xd.data.end());
    std::vector<double> xr(xf.begin(), xf.end());
    std::vector<float> cr_f(rows, 4.f), wf(rows * cols, 0.f);
    std::vector<double> cr_d(rows, 4.0), wd(rows * cols, 0.0);
    const auto f32 = run_compexp(xf, rows, cols, cr_f, wf, 0.f);
    const auto f64 = run_compexp(xr, rows, cols, cr_d, wd, 0.0);
    double worst = 0, worst_libm = 0;
    for (std::size_t b = 0; b < rows; ++b) {
        float y = 1.f;
        for (std::size_t t = 0; t < cols; ++t) {
            const std::size_t i = b * cols + t;
            const float level = 20.f * std::log10(xf[i]);
            const float g = std::min({0.f, 0.75f * (-22.f - level), -1.f * (-50.f - level)});
            const float f = std::pow(10.f, g / 20.f);
            const float beta = f < y ? 0.05f : 0.004f;
            y = (1.f - beta) * y + beta * f;
            worst_libm = std::max(worst_libm, std::abs(double(y) - f64.y[i]) / f64.y[i]);
            worst = std::max(worst, std::abs(double(f32.y[i]) - f64.y[i]) / f64.y[i]);
        }
    }
    std::vector<double> level(rows * cols), g_db(rows * cols);
    for (std::size_t i = 0; i < rows * cols; ++i) level[i] = 20.0 * std::log10(xr[i]);
    const dd::compexp_params<double> curve64{-22.0, 4.0, -50.0, 0.5, 0.0};
    dd::gain_curve(signal_view<double>{level.data(), rows, cols}, curve64, signal_span<double>{g_db.data(), rows, cols});
    std::vector<float> f_rounded(rows * cols), y_recursion(rows * cols);
    for (std::size_t i = 0; i < rows * cols; ++i) f_rounded[i] = float(std::pow(10.0, g_db[i] / 20.0));
    for (std::size_t b = 0; b < rows; ++b) {  // a float32-state smoother, the step in float32
        float y = 1.f;
        for (std::size_t t = 0; t < cols; ++t) {
            const std::size_t i = b * cols + t;
            const float beta = f_rounded[i] < y ? 0.05f : 0.004f;
            y = std::fma(1.f - beta, y, beta * f_rounded[i]);
            y_recursion[i] = y;
        }
    }
    double worst_recursion = 0;
    for (std::size_t i = 0; i < rows * cols; ++i)
        worst_recursion = std::max(worst_recursion, std::abs(double(y_recursion[i]) - f64.y[i]) / f64.y[i]);
    const double ulp = std::ldexp(1.0, -24);
    std::printf("float32 vs float64 worst relative error: ours %.2f, libm float32 %.2f, exact targets + float32 "
                "smoother %.2f ulp-equivalent\n", worst / ulp, worst_libm / ulp, worst_recursion / ulp);
    EXPECT_LE(worst, 4 * ulp);
    EXPECT_LT(4 * worst, worst_libm);
    EXPECT_LT(4 * worst, worst_recursion);
}

namespace {
/// Levels that drift between random targets in −70…−5 dB (a new one every ~4000 samples) with a
/// ±0.25 dB jitter: program-like, attack and release in turns, through both branches of the curve.
std::vector<float> drifting_level(std::size_t rows, std::size_t cols, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> target_db(-70, -5), u(0, 1);
    std::vector<float> x(rows * cols);
    for (std::size_t b = 0; b < rows; ++b) {
        double target = -30, db = -30;
        for (std::size_t t = 0; t < cols; ++t) {
            if (u(rng) < 1.0 / 4000) target = target_db(rng);
            db += 0.002 * (target - db);
            x[b * cols + t] = float(std::pow(10.0, (db + 0.5 * (u(rng) - 0.5)) / 20));
        }
    }
    return x;
}
}  // namespace

TEST(CompexpGain, Float32IsWithinFourUlpOfFloat64AtAudioTimeConstants) {
    // Attack/release from 1/50 to 10/1000 ms at 44.1 kHz (β down to 5e-5): a float32 state would be
    // off by up to ~1/β ulp here (the roundings of ~1/β steps, and the stall). One row (the one-row
    // path), without a knee and with a 12 dB one, and four rows (in lanes) with knees of 0, 3, 12 and
    // 24 dB (knee_curve_target).
    const std::size_t cols = 300000;
    const double fs = 44100;
    const std::vector<std::vector<float>> knees = {{0.f}, {12.f}, {0.f, 3.f, 12.f, 24.f}};
    for (auto [at_ms, rt_ms] : {std::pair{1.0, 50.0}, {5.0, 100.0}, {10.0, 1000.0}})
        for (const auto& knee : knees)
            for (int threads : {1, 2}) {
                const std::size_t rows = knee.size();
                const std::vector<float> xf = drifting_level(rows, cols, 51);
                const std::vector<double> xd(xf.begin(), xf.end()), knee_d(knee.begin(), knee.end());
                const float at = float(1 - std::exp(-2200.0 / (at_ms * fs))), rt = float(1 - std::exp(-2200.0 / (rt_ms * fs)));
                std::vector<float> yf(rows * cols);
                std::vector<double> yd(rows * cols);
                dd::set_num_threads(threads);
                dd::compexp_gain<float>({xf.data(), rows, cols},
                                        dd::compexp_params<float>{-20.f, 4.f, -60.f, 0.5f, row_param<float>(knee.data(), rows)},
                                        at, rt, {yf.data(), rows, cols});
                dd::compexp_gain<double>({xd.data(), rows, cols},
                                         dd::compexp_params<double>{-20.0, 4.0, -60.0, 0.5, row_param<double>(knee_d.data(), rows)},
                                         double(at), double(rt), {yd.data(), rows, cols});
                dd::set_num_threads(0);
                double worst = 0;
                for (std::size_t i = 0; i < rows * cols; ++i) worst = std::max(worst, std::abs(double(yf[i]) - yd[i]) / yd[i]);
                EXPECT_LE(worst, std::ldexp(4.0, -24)) << at_ms << "/" << rt_ms << " ms, " << rows << " rows, knee "
                                                        << knee.back() << ", " << threads << " threads: " << worst * 0x1p24 << " ulp";
            }
}

TEST(CompexpGain, Float32SteepExpanderTakesTheDbPath) {
    // An expander so steep (ER = 1e-5: σ_e ≈ 10^5) that the exact pieces of hard_curve_target do not
    // fit in float (hard_target_terms::exact_for): such rows take the dB path, and must give its bits
    // (db2amp(gain_curve(amp2db(x))) then compexp_reference_step), finite and in (0, 1], on levels
    // that sweep across ET, where their gain plunges to 2^-126.
    const std::size_t cols = 6000;
    std::vector<float> x(cols), level(cols), g_db(cols), y(cols);
    for (std::size_t t = 0; t < cols; ++t) x[t] = float(std::pow(10.0, (-50.0 + 0.02 * std::sin(0.01 * double(t))) / 20.0));
    for (float knee : {0.f, 6.f}) {
        const dd::compexp_params<float> params{-20.f, 4.f, -50.f, 1e-5f, knee};
        ASSERT_FALSE(dd::hard_target_terms<dd::simd::wide<float>>::exact_for(params.row(0)));
        dd::compexp_gain<float>({x.data(), 1, cols}, params, 0.05f, 0.004f, {y.data(), 1, cols});
        for (std::size_t t = 0; t < cols; ++t) level[t] = dd::simd::amp2db(x[t]);
        dd::gain_curve(signal_view<float>{level.data(), 1, cols}, params, signal_span<float>{g_db.data(), 1, cols});
        double state = 1.0;
        std::size_t plunged = 0;
        for (std::size_t t = 0; t < cols; ++t) {
            const float f = dd::simd::db2amp(g_db[t]);
            plunged += f < 1e-30f;
            state = compexp_reference_step(f, state, 0.05f, 0.004f);
            ASSERT_EQ(y[t], output_of(state, 0.f)) << "knee " << knee << ", t " << t;
            ASSERT_TRUE(y[t] > 0.f && y[t] <= 1.f);
        }
        EXPECT_GT(plunged, cols / 4);
    }
}

TEST(CompexpGain, Float32BackwardTakesTheForwardsDecisions) {
    // The float32 forward keeps its state in double and outputs it rounded up, so that f < y_{t−1}
    // reads the same on the output as on the state; the backward reads only that output. On levels
    // held long enough for y to settle within half an ulp above its target (where a nearest-rounded
    // output would equal f and say release while the state says attack), the kernel's forward must
    // give the bits of compexp_reference_step and its gradients those of the adjoint run on the
    // reference's decisions.
    const std::size_t cols = 12000;
    std::vector<float> x(cols);
    for (std::size_t t = 0; t < cols; ++t) x[t] = float((t / 1500) % 2 ? 0.5 : (t / 3000) % 2 ? 0.02 : 0.003);
    const dd::compexp_params<float> params{-30.f, 4.f, -50.f, 0.5f, 0.f};
    const float at = 0.05f, rt = 0.01f;
    std::vector<float> y(cols), gx(cols), gy(cols);
    const auto w = random_weights(cols, 53);
    for (std::size_t t = 0; t < cols; ++t) gy[t] = float(w[t]);
    float gct = 0, gcr = 0, gat = 0, grt = 0;
    dd::compexp_gain<float>({x.data(), 1, cols}, params, at, rt, {y.data(), 1, cols});
    dd::compexp_param_grads<float> cg;
    cg.comp_thresh = &gct;
    cg.comp_ratio = &gcr;
    dd::compexp_gain_backward<float>({x.data(), 1, cols}, params, at, rt, {y.data(), 1, cols}, {gy.data(), 1, cols},
                                     gx.data(), cg, &gat, &grt);
    // The reference forward, recording its decisions.
    using V = dd::simd::wide<float>;
    const auto terms = dd::hard_target_terms<V>::from(params.row(0));
    std::vector<float> f(cols);
    std::vector<bool> attack(cols);
    double state = 1.0;
    std::size_t settled_attacks = 0;
    for (std::size_t t = 0; t < cols; ++t) {
        V e, ln_m;
        dd::simd::detail::log_parts(V(x[t]), e, ln_m);
        f[t] = dd::hard_curve_target(e, ln_m, terms).get(0);
        attack[t] = f[t] < output_of(state, 0.f);
        // Settled within half an ulp above f: a nearest-rounded output would equal f there and hide
        // the attack from the backward; the rounded-up one does not.
        settled_attacks += double(f[t]) < state && float(state) == f[t];
        state = compexp_reference_step(f[t], state, at, rt);
        ASSERT_EQ(y[t], output_of(state, 0.f)) << "t " << t;
    }
    EXPECT_GT(settled_attacks, 500u);
    // The adjoint on those decisions (docs/derivations/smoothers.md §1): u_t = gy_t + (1 − β_{t+1})·u_{t+1}.
    double u = 0, ref_at = 0, ref_rt = 0;
    for (std::size_t t = cols; t-- > 0;) {
        const double y_prev = t ? double(y[t - 1]) : 1.0;
        if (t + 1 < cols) u *= 1.0 - double(attack[t + 1] ? at : rt);
        u += double(gy[t]);
        (attack[t] ? ref_at : ref_rt) += u * (double(f[t]) - y_prev);
    }
    EXPECT_NEAR(gat, ref_at, 1e-4 * std::abs(ref_at));
    EXPECT_NEAR(grt, ref_rt, 1e-4 * std::abs(ref_rt));
}

TEST(CompexpGain, Float32RowsInLanesRoundStatesOutsideTheNormalRangeUpLikeOneRow) {
    // Rows in lanes round their double states up to float with an integer ceiling of the bits where
    // every state lies in [2^-126, 2^127] (simd::narrow_up_from_normal_double), and take the general
    // rounding for a chunk whose states start outside or whose targets leave [2^-126, 1]. A row alone
    // rounds each output by itself (round_up_to_float): eight rows in lanes must give each row's bits
    // and final state, for initial states below, at and above that range, and for a row whose
    // targets lie a rounding below 2^-126, where the state follows them down to subnormal outputs.
    using V = dd::simd::wide<float>;
    // A level whose target is a positive float below 2^-126 (the exact exponent a rounding below
    // −126 where the rough one chose no floor), searched for float by float.
    float x_sub = 0, f_sub = 0;
    dd::compexp_params<float> params{-20.f, 4.f, -50.f, 0.05f, 0.f};
    for (float er : {0.05f, 0.04f, 0.07f, 0.1f}) {
        params.exp_ratio = er;
        const auto terms = dd::hard_target_terms<V>::from(params.row(0));
        const double sigma_e = 1.0 / double(er) - 1.0;
        const double level = -50.0 - 126.0 / (sigma_e * 0.166096404744368117393515971474469508);
        float x = float(std::pow(10.0, (level - 0.002) / 20.0));
        const float x_end = float(std::pow(10.0, (level + 0.002) / 20.0));
        for (; x < x_end && f_sub == 0; x = std::nextafter(x, 1.f)) {
            V e, ln_m;
            dd::simd::detail::log_parts(V(x), e, ln_m);
            const float f = dd::hard_curve_target(e, ln_m, terms).get(0);
            if (f > 0 && f < std::numeric_limits<float>::min()) {
                x_sub = x;
                f_sub = f;
            }
        }
        if (f_sub != 0) break;
    }
    ASSERT_GT(f_sub, 0.f) << "no level found whose target lies below 2^-126";
    const std::size_t rows = 8, cols = 4 * 2048;
    const double zi[rows] = {0.0, -1.0, 1e-39, 0x1p-126, 3e38, 1e300, 1.0, 1.0};
    std::vector<float> x(rows * cols);
    const batch program = switching_level(1, cols, 71, -70, -5);
    for (std::size_t b = 0; b < rows; ++b)
        for (std::size_t t = 0; t < cols; ++t)
            x[b * cols + t] = b == 6 && t >= 2548 && t < 3548 ? x_sub : float(program.data[(t + 977 * b) % cols]);
    const float at = 0.3f, rt = 0.01f;
    std::vector<std::vector<float>> y_one(rows, std::vector<float>(cols));
    std::vector<double> final_one(rows);
    std::size_t subnormal_outputs = 0;
    for (std::size_t b = 0; b < rows; ++b) {
        dd::compexp_gain<float>({x.data() + b * cols, 1, cols}, params, at, rt, {y_one[b].data(), 1, cols}, &zi[b],
                                &final_one[b]);
        for (float v : y_one[b]) subnormal_outputs += v < std::numeric_limits<float>::min();
    }
    EXPECT_GT(subnormal_outputs, 900u);  // the premise: row 6's state went below 2^-126
    for (int threads : {1, 2}) {  // one group of rows, or a group per thread
        dd::set_num_threads(threads);
        std::vector<float> y(rows * cols);
        std::vector<double> final_state(rows);
        dd::compexp_gain<float>({x.data(), rows, cols}, params, at, rt, {y.data(), rows, cols}, zi, final_state.data());
        for (std::size_t b = 0; b < rows; ++b) {
            for (std::size_t t = 0; t < cols; ++t)
                ASSERT_EQ(y[b * cols + t], y_one[b][t]) << "row " << b << " (zi " << zi[b] << "), t " << t << ", " << threads << " threads";
            EXPECT_EQ(final_state[b], final_one[b]) << "row " << b;
        }
    }
    dd::set_num_threads(0);
}
