// Bad input names the argument of the function the user called.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
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

// ------------------------------------------------------------------------------------------------
// A battery of bad input across the C++ API, one case per line: the call must throw
// dd::argument_error whose argument() is the named one (and never crash). Cases that must work
// (values at the documented bounds) check that every output is finite.

namespace {

struct bad_case {
    const char* id;
    std::function<void()> call;
    const char* argument;
};

constexpr double inf = std::numeric_limits<double>::infinity();

template <class T> bool all_finite(const std::vector<T>& v) {
    return std::all_of(v.begin(), v.end(), [](T e) { return std::isfinite(e); });
}

}  // namespace

TEST(Errors, BatteryOfBadInputAcrossTheApi) {
    constexpr std::size_t rows = 2, cols = 64;
    std::vector<double> level(rows * cols), audio(rows * cols), level_db(rows * cols), out(rows * cols),
        out2(rows * cols), grad(rows * cols, 1.0);
    for (std::size_t i = 0; i < level.size(); ++i) {
        level[i] = (i / 7) % 2 ? 0.5 : 0.01;
        audio[i] = ((i % 3) - 1.0) * level[i];
        level_db[i] = 20 * std::log10(level[i]);
    }
    std::vector<float> level32(level.begin(), level.end()), out32(rows * cols);
    auto lv = view(level, rows, cols), av = view(audio, rows, cols), dbv = view(level_db, rows, cols);
    auto ys = span(out, rows, cols), ys2 = span(out2, rows, cols);
    const dd::signal_view<float> lv32{level32.data(), rows, cols};
    const dd::signal_span<float> ys32{out32.data(), rows, cols};
    const dd::compexp_params<double> curve{-20.0, 4.0, -60.0, 0.5};
    auto with = [&](auto edit) {
        dd::compexp_params<double> c = curve;
        edit(c);
        return c;
    };
    const dd::ssl_params<double> ssl{-20.0, 4.0, 3.85e-4, 5.58e-3, 0.0428, 5.1, 0.0};
    auto ssl_with = [&](auto edit) {
        dd::ssl_params<double> p = ssl;
        edit(p);
        return p;
    };
    const std::vector<double> three = {0.1, 0.2, 0.3};
    const std::vector<double> nan_state = {NAN, 0.0, 0.0, 0.0};
    const dd::family_topology topology{};
    const dd::feedback_params<double> fb{-20.0, 4.0, 0.0, 0.1, 0.01};

    const std::vector<bad_case> cases = {
        // compexp_gain / compexp_gain_mode / gain_curve
        {"null x_rms", [&] { dd::compexp_gain(signal_view<double>{nullptr, rows, cols}, curve, 0.1, 0.01, ys); }, "x_rms"},
        {"zero rows", [&] { dd::compexp_gain(signal_view<double>{level.data(), 0, cols}, curve, 0.1, 0.01, ys); }, "x_rms"},
        {"zero cols", [&] { dd::compexp_gain(signal_view<double>{level.data(), rows, 0}, curve, 0.1, 0.01, ys); }, "x_rms"},
        {"null output", [&] { dd::compexp_gain(lv, curve, 0.1, 0.01, signal_span<double>{nullptr, rows, cols}); }, "gain"},
        {"nan threshold", [&] { dd::compexp_gain(lv, with([](auto& c) { c.comp_thresh = NAN; }), 0.1, 0.01, ys); }, "comp_thresh"},
        {"threshold 1e30", [&] { dd::compexp_gain(lv, with([](auto& c) { c.comp_thresh = -1e30; }), 0.1, 0.01, ys); }, "comp_thresh"},
        {"exp threshold 1e5", [&] { dd::compexp_gain(lv, with([](auto& c) { c.exp_thresh = 1e5; }), 0.1, 0.01, ys); }, "exp_thresh"},
        {"ratio inf", [&] { dd::compexp_gain(lv, with([](auto& c) { c.comp_ratio = inf; }), 0.1, 0.01, ys); }, "comp_ratio"},
        {"ratio below 1", [&] { dd::compexp_gain(lv, with([](auto& c) { c.comp_ratio = 0.9; }), 0.1, 0.01, ys); }, "comp_ratio"},
        {"exp ratio 1e-30 f32", [&] { dd::compexp_gain(lv32, dd::compexp_params<float>{-20.f, 4.f, -10.f, 1e-30f}, 0.1f, 0.01f, ys32); }, "exp_ratio"},
        {"exp ratio 0", [&] { dd::compexp_gain(lv, with([](auto& c) { c.exp_ratio = 0.0; }), 0.1, 0.01, ys); }, "exp_ratio"},
        {"knee 1e20", [&] { dd::compexp_gain(lv, with([](auto& c) { c.knee = 1e20; }), 0.1, 0.01, ys); }, "knee"},
        {"knee nan", [&] { dd::compexp_gain(lv, with([](auto& c) { c.knee = NAN; }), 0.1, 0.01, ys); }, "knee"},
        {"at nan", [&] { dd::compexp_gain(lv, curve, NAN, 0.01, ys); }, "at"},
        {"rt 1", [&] { dd::compexp_gain(lv, curve, 0.1, 1.0, ys); }, "rt"},
        {"at per row count", [&] { dd::compexp_gain(lv, curve, per_row(three), 0.01, ys); }, "at"},
        {"zi nan", [&] { dd::compexp_gain(lv, curve, 0.1, 0.01, ys, nan_state.data()); }, "zi"},
        {"mode k 0", [&] { dd::compexp_gain_mode(lv, curve, 0.1, 0.01, dd::ar_mode::sigmoid, 0.0, ys); }, "k"},
        {"mode k 1e30", [&] { dd::compexp_gain_mode(lv, curve, 0.1, 0.01, dd::ar_mode::sigmoid, 1e30, ys); }, "k"},
        {"mode k nan in hard mode", [&] { dd::compexp_gain_mode(lv, curve, 0.1, 0.01, dd::ar_mode::hard, NAN, ys); }, "k"},
        {"mode alpha_a 0", [&] { dd::compexp_gain_mode(lv, curve, 0.0, 0.01, dd::ar_mode::sigmoid, 1.0, ys); }, "alpha_a"},
        {"parse_ar_mode", [&] { dd::parse_ar_mode(""); }, "ar_mode"},
        {"gain_curve nan level", [&] { level_db[3] = NAN; dd::gain_curve(dbv, curve, ys); }, "level_db"},
        {"gain_curve output shape", [&] { dd::gain_curve(dbv, curve, signal_span<double>{out.data(), rows, cols - 1}); }, "gain_db"},
        // smoothers, avg, limiter
        {"smoother inf input", [&] { level[5] = inf; dd::attack_release_smoother(lv, 1.0, 0.1, 0.01, ys); }, "x"},
        {"smoother zi nan", [&] { dd::attack_release_smoother(lv, NAN, 0.1, 0.01, ys); }, "zi"},
        {"sigmoid zero target", [&] { level[5] = 0.0; dd::sigmoid_smoother(lv, 1.0, 0.1, 0.01, 1.0, ys); }, "g"},
        {"sigmoid k 1e7", [&] { dd::sigmoid_smoother(lv, 1.0, 0.1, 0.01, 1e7, ys); }, "k"},
        {"sigmoid zi 0", [&] { dd::sigmoid_smoother(lv, 0.0, 0.1, 0.01, 1.0, ys); }, "zi"},
        {"avg coef 0", [&] { dd::avg(lv, 0.0, ys); }, "avg_coef"},
        {"avg coef nan", [&] { dd::avg(lv, NAN, ys); }, "avg_coef"},
        {"avg null input", [&] { dd::avg(signal_view<double>{nullptr, rows, cols}, 0.5, ys); }, "rms"},
        {"limiter threshold -1e30", [&] { dd::limiter_gain(av, -1e30, 0.1, 0.01, ys, ys2); }, "threshold"},
        {"limiter threshold nan", [&] { dd::limiter_gain(av, NAN, 0.1, 0.01, ys, ys2); }, "threshold"},
        {"limiter at 0", [&] { dd::limiter_gain(av, -6.0, 0.0, 0.01, ys, ys2); }, "at"},
        // SSL
        {"ssl fs 0", [&] { dd::ssl_comp_gain(dbv, ssl_with([](auto& p) { p.fs = 0.0; }), ys); }, "fs"},
        {"ssl fs nan", [&] { dd::ssl_comp_gain(dbv, ssl_with([](auto& p) { p.fs = NAN; }), ys); }, "fs"},
        {"ssl threshold 1e30", [&] { dd::ssl_comp_gain(dbv, ssl_with([](auto& p) { p.comp_thresh = 1e30; }), ys); }, "comp_thresh"},
        {"ssl ratio 1", [&] { dd::ssl_comp_gain(dbv, ssl_with([](auto& p) { p.comp_ratio = 1.0; }), ys); }, "comp_ratio"},
        {"ssl T_attack_fast 0", [&] { dd::ssl_comp_gain(dbv, ssl_with([](auto& p) { p.T_attack_fast = 0.0; }), ys); }, "T_attack_fast"},
        {"ssl T_shunt_slow inf", [&] { dd::ssl_comp_gain(dbv, ssl_with([](auto& p) { p.T_shunt_slow = inf; }), ys); }, "T_shunt_slow"},
        {"ssl feedback 2", [&] { dd::ssl_comp_gain(dbv, ssl_with([](auto& p) { p.feedback_coeff = 2.0; }), ys); }, "feedback_coeff"},
        {"ssl knee 1e20", [&] { dd::ssl_comp_gain(dbv, ssl_with([](auto& p) { p.knee = 1e20; }), ys); }, "knee"},
        {"ssl gate_k 0", [&] { dd::ssl_comp_gain(dbv, ssl_with([](auto& p) { p.gate_k = 0.0; }), ys); }, "gate_k"},
        {"ssl gate_k 1e30", [&] { dd::ssl_comp_gain(dbv, ssl_with([](auto& p) { p.gate_k = 1e30; }), ys); }, "gate_k"},
        {"ssl gate_k nan", [&] { dd::ssl_comp_gain(dbv, ssl_with([](auto& p) { p.gate_k = NAN; }), ys); }, "gate_k"},
        {"ssl nan level", [&] { level_db[0] = NAN; dd::ssl_comp_gain(dbv, ssl, ys); }, "x_peak_dB"},
        {"ssl_compress nan audio", [&] { audio[1] = NAN; dd::ssl_compress(av, ssl, ys, ys2); }, "x"},
        {"ssl_preset attack off the switch", [&] { dd::ssl_preset(1000.0, 0.0, 4.0); }, "attack_ohms"},
        {"ssl_preset ratio", [&] { dd::ssl_preset(820.0, 0.0, 3.0); }, "ratio"},
        {"ssl_front_panel attack", [&] { dd::ssl_front_panel(100.0, 0.0, 4.0); }, "attack_ms"},
        {"ssl_front_panel fs", [&] { dd::ssl_front_panel(1.0, 0.0, 4.0, -1.0); }, "fs"},
        // family
        {"family knee 1e20", [&] { dd::feedback_compressor_gain(av, topology, dd::feedback_params<double>{-20.0, 4.0, 1e20, 0.1, 0.01}, ys); }, "knee"},
        {"family threshold 1e30", [&] { dd::feedback_compressor_gain(av, topology, dd::feedback_params<double>{1e30, 4.0, 0.0, 0.1, 0.01}, ys); }, "comp_thresh"},
        {"family attack 1", [&] { dd::feedback_compressor_gain(av, topology, dd::feedback_params<double>{-20.0, 4.0, 0.0, 1.0, 0.01}, ys); }, "attack"},
        {"family nan audio", [&] { audio[2] = NAN; dd::feedback_compressor_gain(av, topology, fb, ys); }, "x"},
        {"peak_detector release 0", [&] { dd::peak_detector(lv, dd::detector_design::branching, 0.1, 0.0, 0.0, ys); }, "release"},
        {"parse_detector_design", [&] { dd::parse_detector_design("fast"); }, "design"},
        // conversions, threads, SIMD level
        {"amp2db -1", [] { dd::amp2db(-1.0); }, "x"},
        {"amp2db 0 f32", [] { dd::amp2db(0.0f); }, "x"},
        {"db2amp inf", [] { dd::db2amp(inf); }, "db"},
        {"ms2coef inf", [] { dd::ms2coef(inf, 44100.0); }, "ms"},
        {"ms2coef fs 0", [] { dd::ms2coef(10.0, 0.0); }, "fs"},
        {"coef2ms 1", [] { dd::coef2ms(1.0, 44100.0); }, "coef"},
        {"threads 16777216", [] { dd::set_num_threads(16777216); }, "threads"},
        {"threads -5", [] { dd::set_num_threads(-5); }, "threads"},
        // probes, metrics
        {"make_probe length 0", [] { dd::make_probe(dd::probe_kind(0), 1, 44100.0, 0); }, "length"},
        {"make_probe length 2^40", [] { dd::make_probe(dd::probe_kind(0), 1, 44100.0, std::size_t(1) << 40); }, "length"},
        {"make_probe fs nan", [] { dd::make_probe(dd::probe_kind(0), 1, NAN, 10); }, "fs"},
        {"esr silent reference", [] { const double z[2] = {0, 0}, o[2] = {1, 1}; dd::esr(z, o, 2); }, "y"},
        {"rise_time_63 edge", [] { const double v[3] = {0, 1, 1}; dd::rise_time_63(v, 3, 7, 44100.0); }, "edge"},
        {"flip_rate fs", [] { const double v[3] = {0, 1, 1}; dd::flip_rate(v, 3, -1.0); }, "fs"},
    };
    EXPECT_GE(cases.size(), 70u);
    const auto fresh = [&] {
        for (std::size_t i = 0; i < level.size(); ++i) {
            level[i] = (i / 7) % 2 ? 0.5 : 0.01;
            audio[i] = ((i % 3) - 1.0) * level[i];
            level_db[i] = 20 * std::log10(level[i]);
        }
    };
    for (const bad_case& c : cases) {
        SCOPED_TRACE(c.id);
        fresh();
        expect_argument_error(c.call, c.argument);
    }
    dd::set_num_threads(0);
}

TEST(Errors, ValuesAtTheDocumentedBoundsGiveFiniteOutputsAndGradients) {
    constexpr std::size_t rows = 2, cols = 64;
    std::vector<float> x(rows * cols), y(rows * cols), gy(rows * cols, 1.0f), gx(rows * cols);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = (i / 5) % 2 ? 1e-30f : 3.0f;  // −600 dB … +9.5 dB
    const dd::signal_view<float> xv{x.data(), rows, cols};
    const dd::signal_span<float> ys{y.data(), rows, cols};
    const float big = float(dd::max_threshold_db);
    for (const auto& c : {dd::compexp_params<float>{-big, 4.0f, big, float(dd::min_exp_ratio), float(dd::max_knee_db)},
                          dd::compexp_params<float>{big, 1e30f, -big, float(dd::min_exp_ratio), 0.0f},
                          dd::compexp_params<float>{-20.0f, 4.0f, -10.0f, float(dd::min_exp_ratio), 12.0f}}) {
        for (const auto mode : {dd::ar_mode::hard, dd::ar_mode::sigmoid}) {
            const float k = mode == dd::ar_mode::sigmoid ? float(dd::max_gate_k) : 1.0f;
            dd::compexp_gain_mode(xv, c, 0.1f, 0.01f, mode, k, ys);
            EXPECT_TRUE(all_finite(y));
            float g[5][rows], ga[rows], gr[rows], gk[rows];
            dd::compexp_gain_mode_backward(xv, c, 0.1f, 0.01f, mode, k, dd::signal_view<float>{y.data(), rows, cols},
                                           dd::signal_view<float>{gy.data(), rows, cols}, gx.data(),
                                           dd::compexp_param_grads<float>{g[0], g[1], g[2], g[3], g[4]}, ga, gr, gk);
            EXPECT_TRUE(all_finite(gx));
            for (std::size_t b = 0; b < rows; ++b) {
                for (auto& p : g) EXPECT_TRUE(std::isfinite(p[b]));
                EXPECT_TRUE(std::isfinite(ga[b]) && std::isfinite(gr[b]));
                if (mode == dd::ar_mode::sigmoid) {
                    EXPECT_TRUE(std::isfinite(gk[b]));
                }
            }
        }
    }
}

TEST(Errors, StreamingMembersBeforePrepareAndBadBlocks) {
    dd::compexp_processor<float> p;
    float in[4] = {0.1f, 0.1f, 0.1f, 0.1f}, out[4];
    const float* ins[1] = {in};
    float* outs[1] = {out};
    EXPECT_THROW(p.process(ins, outs, 4), std::logic_error);
    EXPECT_THROW(p.reset(), std::logic_error);
    double state[1] = {1.0};
    EXPECT_THROW(p.set_state(state), std::logic_error);
    EXPECT_THROW(p.set_settings(dd::compexp_settings{}), std::logic_error);
    expect_argument_error([&] { p.prepare(dd::process_spec{0.0, 1, 64}); }, "spec.fs");
    expect_argument_error([&] { p.prepare(dd::process_spec{44100.0, 0, 64}); }, "spec.channels");
    expect_argument_error([&] { p.prepare(dd::process_spec{44100.0, 1, 0}); }, "spec.max_block");
    dd::compexp_settings bad;
    bad.knee = 1e20;
    expect_argument_error([&] { p.prepare(dd::process_spec{44100.0, 1, 64}, bad); }, "knee");
    bad = {};
    bad.mode = dd::ar_mode::sigmoid;
    bad.k = 1e30;
    expect_argument_error([&] { p.prepare(dd::process_spec{44100.0, 1, 64}, bad); }, "k");
    p.prepare(dd::process_spec{44100.0, 1, 64});
    expect_argument_error([&] { p.set_settings(3, dd::compexp_settings{}); }, "channel");
    in[2] = 0.0f;
    expect_argument_error([&] { p.process(ins, outs, 4); }, "x_rms");
    state[0] = NAN;
    expect_argument_error([&] { p.set_state(state); }, "state");

    dd::ssl_gain_processor<double> ssl;
    double level[3] = {-10.0, NAN, -10.0}, gain[3];
    const double* levels[1] = {level};
    double* gains[1] = {gain};
    EXPECT_THROW(ssl.process(levels, gains, 3), std::logic_error);
    dd::ssl_settings s;
    s.gate_k = 1e30;
    expect_argument_error([&] { ssl.prepare(dd::process_spec{44100.0, 1, 64}, s); }, "gate_k");
    ssl.prepare(dd::process_spec{44100.0, 1, 64});
    expect_argument_error([&] { ssl.process(levels, gains, 3); }, "x_peak_dB");

    dd::limiter_processor<float> limiter;
    dd::limiter_settings ls;
    ls.threshold = -1e5;
    expect_argument_error([&] { limiter.prepare(dd::process_spec{44100.0, 2, 64}, ls); }, "threshold");

    dd::compressor_audio_processor<float> comp;
    EXPECT_THROW(comp.reset(), std::logic_error);
    dd::compressor_audio_settings cs;
    cs.exp_ratio = 1e-9;
    expect_argument_error([&] { comp.prepare(dd::process_spec{44100.0, 2, 64}, cs); }, "exp_ratio");
    cs = {};
    cs.threshold_db = 2e4;
    expect_argument_error([&] { comp.prepare(dd::process_spec{44100.0, 2, 64}, cs); }, "threshold_db");
    dd::ssl_audio_settings ss;
    ss.knee_db = 5000.0;
    dd::ssl_audio_processor<double> sslp;
    expect_argument_error([&] { sslp.prepare(dd::process_spec{44100.0, 1, 64}, ss); }, "knee_db");
}
