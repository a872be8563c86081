// Google Benchmark suite for the C++ batch API (docs/benchmarks.md; run it with scripts/bench.sh).
//
// Every processor, forward ("fwd") and forward + backward ("fwdbwd": the forward writing its output,
// then the backward with the gradients listed below), float32 and float64, the shapes B×T in
// `shapes`, on 1 library thread (and 2, informative: rows run in parallel). Each benchmark reports
// ns_per_sample = wall time per call / (B·T).
//
// "Reference/compexp_gain/..." times, in the same run, a plain scalar C++ port of compexp_gain
// (namespace `reference`: libm log10/pow, row by row, one thread, no intrinsics), the kind of code a
// straightforward implementation is. "Paired/reference_vs_compexp_gain/..." runs the reference and
// the library back to back in every iteration and reports the median of their time ratios (counter
// `ratio`): both sides meet the same state of a shared machine, which separate benchmarks need not.
//
// Names: <impl>/<processor>/<fwd|fwdbwd>/<f32|f64>/<B>x<T>/threads:<n>/..., impl ∈ {dd, Reference,
// Paired}. Gradients requested in the fwdbwd benchmarks (null pointers for the rest):
//   compexp_gain, compexp_gain_active   x_rms, comp_thresh, comp_ratio, at, rt
//   compexp_gain_sigmoid                x_rms, comp_thresh, comp_ratio, alpha_a, alpha_r, k
//   hard_smoother                       f, at, rt          sigmoid_smoother   g, alpha_a, alpha_r, k
//   limiter_gain                        x, threshold, at, rt
//   avg                                 x, coef
//   ssl_comp_gain                       x_peak_db and all 7 parameters (not the knee)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"

#ifndef DD_BENCH_CXX_FLAGS
#define DD_BENCH_CXX_FLAGS "unknown"
#endif
#ifndef DD_BENCH_BUILD_TYPE
#define DD_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef DD_BENCH_COMPILER
#define DD_BENCH_COMPILER "unknown"
#endif
#ifndef DD_BENCH_NATIVE
#define DD_BENCH_NATIVE "unknown"
#endif
#ifndef DD_BENCH_KERNEL_LEVELS
#define DD_BENCH_KERNEL_LEVELS "unknown"
#endif

namespace {

constexpr double fs = 44100.0;

// Parameters of the benchmarks.
constexpr double comp_thresh = -24.0, comp_ratio = 4.0, exp_thresh = -60.0, exp_ratio = 0.5;
constexpr double attack_ms = 5.0, release_ms = 120.0, detector_ms = 20.0;
constexpr double sigmoid_k = 1.0;                          // 1/dB: 10 %→90 % over ≈ 4.4 dB
constexpr double limiter_thresh = -10.0, limiter_attack_ms = 1.0, limiter_release_ms = 100.0;
// SSL: the hardware's fastest attack (Ra = 820 Ω) with the "auto" release (Rf = 91 kΩ, Rs = 750 kΩ).
constexpr double ssl_thresh = -24.0, ssl_ratio = 4.0, ssl_feedback = 0.5;
constexpr double ssl_Taf = 820.0 * 0.47e-6, ssl_Tas = 820.0 * 6.8e-6, ssl_Tsf = 91e3 * 0.47e-6,
                 ssl_Tss = 750e3 * 6.8e-6;

double coef(double ms) { return dd::ms2coef(ms, fs); }

// ------------------------------------------------------------------------------------------------
// Plain scalar reference: compexp_gain forward and backward, transcribed from the per-sample
// definition (docs/reference/compexp.md) and the adjoint (docs/derivations/smoothers.md).
// Computes in T (float → log10f/powf), sums the per-row gradients in double. The forward stores the
// target f as its tape for the backward (what an autograd implementation saves).

namespace reference {

template <class T> struct params {
    T ct, cr, et, er, at, rt;
};

template <class T>
void compexp_forward(const T* x, std::size_t rows, std::size_t n, const params<T>& p, T* y, T* f_tape) {
    const T slope_c = T(1) - T(1) / p.cr;  // g = min(0, slope_c·(CT − L), slope_e·(ET − L))
    const T slope_e = T(1) - T(1) / p.er;
    for (std::size_t b = 0; b < rows; ++b) {
        const T* xr = x + b * n;
        T* yr = y + b * n;
        T* fr = f_tape ? f_tape + b * n : nullptr;
        T prev = T(1);  // zi = 1
        for (std::size_t t = 0; t < n; ++t) {
            const T level = T(20) * std::log10(xr[t]);
            const T g = std::min(T(0), std::min(slope_c * (p.ct - level), slope_e * (p.et - level)));
            const T f = std::pow(T(10), g / T(20));
            if (fr) fr[t] = f;
            const T beta = f < prev ? p.at : p.rt;
            prev = (T(1) - beta) * prev + beta * f;
            yr[t] = prev;
        }
    }
}

/// Gradients to x (B×T) and, per row, CT, CR, at, rt, given ∂loss/∂y = gy.
template <class T>
void compexp_backward(const T* x, std::size_t rows, std::size_t n, const params<T>& p, const T* y, const T* f_tape,
                      const T* gy, T* gx, T* g_ct, T* g_cr, T* g_at, T* g_rt) {
    const T ln10 = T(2.302585092994045684);
    const T slope_c = T(1) - T(1) / p.cr;
    const T slope_e = T(1) - T(1) / p.er;
    for (std::size_t b = 0; b < rows; ++b) {
        const T* xr = x + b * n;
        const T* yr = y + b * n;
        const T* fr = f_tape + b * n;
        const T* gyr = gy + b * n;
        T* gxr = gx + b * n;
        double s_at = 0, s_rt = 0, s_ct = 0, s_cr = 0;
        T carry = T(0);  // (1 − β_{t+1})·u_{t+1}
        for (std::size_t t = n; t-- > 0;) {
            // Smoother adjoint, decisions recomputed from the stored forward.
            const T prev = t ? yr[t - 1] : T(1);
            const T f = fr[t];
            const bool attack = f < prev;
            const T beta = attack ? p.at : p.rt;
            const T u = gyr[t] + carry;
            (attack ? s_at : s_rt) += double(u) * double(f - prev);
            carry = (T(1) - beta) * u;
            const T g_f = beta * u;
            // Through f = 10^(g/20) and the active branch of the curve, back to the level and x.
            const T level = T(20) * std::log10(xr[t]);
            const T gc = slope_c * (p.ct - level);
            const T ge = slope_e * (p.et - level);
            const T g_g = g_f * f * (ln10 / T(20));
            T dg_dlevel = T(0);
            if (gc <= ge && gc < T(0)) {
                dg_dlevel = -slope_c;
                s_ct += double(g_g * slope_c);
                s_cr += double(g_g * (p.ct - level) / (p.cr * p.cr));
            } else if (ge < gc && ge < T(0)) {
                dg_dlevel = -slope_e;
            }
            gxr[t] = g_g * dg_dlevel * T(20) / (ln10 * xr[t]);
        }
        g_ct[b] = T(s_ct);
        g_cr[b] = T(s_cr);
        g_at[b] = T(s_at);
        g_rt[b] = T(s_rt);
    }
}

}  // namespace reference

// ------------------------------------------------------------------------------------------------
// Test signals (seeded, the same rows whatever the shape's B): audio = Gaussian noise under random
// dB steps (level U(−80, 0) dB, held for U(10, 400) ms), x_rms = avg(|audio|, 20 ms) floored at 1e-7
// (the classic level detector, docs/reference/detectors.md). The level sweeps through the expander (< −60 dB), the flat
// region and the compressor (> −24 dB), so the gate alternates attack and release as in real use.

struct master_signals {
    std::size_t rows = 0, cols = 0;
    std::vector<double> audio, x_rms, grad;  // grad: an upstream gradient ∂loss/∂y in [−1, 1]
};

void generate_row(std::size_t b, std::size_t n, double* audio, double* x_rms) {
    std::mt19937_64 rng(0x5eedULL + 7919ULL * b);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::uniform_real_distribution<double> level_db(-80.0, 0.0), hold_s(0.010, 0.400);
    std::size_t t = 0;
    while (t < n) {
        const double amp = 0.5 * std::pow(10.0, level_db(rng) / 20.0);
        const std::size_t len = std::max<std::size_t>(1, std::size_t(hold_s(rng) * fs));
        for (std::size_t e = std::min(n, t + len); t < e; ++t) audio[t] = amp * noise(rng);
    }
    const double c = coef(detector_ms);
    double y = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        y = c * std::fabs(audio[i]) + (1.0 - c) * y;
        x_rms[i] = std::max(y, 1e-7);
    }
}

/// An upstream gradient ∂loss/∂y: values in [−1, 1], as a loss would send.
std::vector<double> upstream_gradient(std::size_t size) {
    std::vector<double> g(size);
    std::mt19937 rng(42);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    for (auto& v : g) v = u(rng);
    return g;
}

/// The signals of one shape, kept until another shape is asked for (benchmarks are registered
/// shape by shape, so each shape is generated once).
const master_signals& signals(std::size_t rows, std::size_t cols) {
    static master_signals cache;
    if (cache.rows != rows || cache.cols != cols) {
        cache = master_signals{};
        cache.rows = rows;
        cache.cols = cols;
        cache.audio.resize(rows * cols);
        cache.x_rms.resize(rows * cols);
        for (std::size_t b = 0; b < rows; ++b)
            generate_row(b, cols, cache.audio.data() + b * cols, cache.x_rms.data() + b * cols);
        cache.grad = upstream_gradient(rows * cols);
    }
    return cache;
}

template <class T, class F> std::vector<T> convert(const std::vector<double>& v, F fn) {
    std::vector<T> out(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) out[i] = T(fn(v[i]));
    return out;
}
template <class T> std::vector<T> convert(const std::vector<double>& v) {
    return convert<T>(v, [](double a) { return a; });
}

template <class T> dd::signal_view<T> view(const std::vector<T>& v, std::size_t rows, std::size_t cols) {
    return {v.data(), rows, cols};
}
template <class T> dd::signal_span<T> span(std::vector<T>& v, std::size_t rows, std::size_t cols) {
    return {v.data(), rows, cols};
}

// ------------------------------------------------------------------------------------------------
// Jobs: one call of a benchmarked computation (forward, or forward + backward) with its inputs
// converted to T and its output buffers, built outside the timed loop and owned by the closure.
// Outputs are reused from call to call, as in a training loop.

struct config {
    std::size_t rows, cols;
    int threads;
    bool backward;
};

using job = std::function<void()>;

/// The jobs of the benchmark that runs now, kept while the same benchmark (or one with the same key)
/// runs again: Google Benchmark calls a benchmark function once per iteration-count trial and once per
/// repetition; threads 1 and 2 share one key. One set of jobs is alive at a time (the largest shapes'
/// buffers take hundreds of MB).
template <class Make> const std::vector<job>& cached_jobs(const std::string& key, Make&& make) {
    static std::string slot_key;
    static std::vector<job> slot;
    if (slot_key != key) {
        slot.clear();  // free the previous benchmark's buffers first
        slot_key.clear();
        slot = make();
        slot_key = key;
    }
    return slot;
}

template <class T> std::string job_key(const char* proc, const config& c) {
    std::ostringstream k;
    k << proc << "/" << sizeof(T) << "/" << c.rows << "x" << c.cols << "/" << c.backward;
    return k.str();
}

template <class T> dd::compexp_params<T> curve_params() {
    return dd::compexp_params<T>{T(comp_thresh), T(comp_ratio), T(exp_thresh), T(exp_ratio), T(0)};
}

/// The benchmark's x_rms with every level moved out of the compexp curve's unity band (−60 … −24 dB):
/// those below −48 dB 12 dB down into the expander, the others 25 dB up into the compressor. On it
/// no vector takes the kernels' unity-band shortcut (their worst case), and libm's pow never sees
/// the exponent 0 that it returns early for.
std::vector<double> active_levels(const master_signals& s) {
    const double split = std::pow(10.0, -48.0 / 20.0), down = std::pow(10.0, -12.0 / 20.0), up = std::pow(10.0, 25.0 / 20.0);
    std::vector<double> x(s.x_rms.size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = s.x_rms[i] < split ? s.x_rms[i] * down : s.x_rms[i] * up;
    return x;
}

template <class T> std::vector<T> level_input(const master_signals& s) { return convert<T>(s.x_rms); }
template <class T> std::vector<T> active_input(const master_signals& s) { return convert<T>(active_levels(s)); }

template <class T> job reference_job(const config& c, std::vector<T> (*input)(const master_signals&)) {
    struct W {
        std::vector<T> x, gy, y, f, gx, gct, gcr, gat, grt;
    };
    const auto& s = signals(c.rows, c.cols);
    const std::size_t n = c.rows * c.cols, B = c.rows, nb = c.backward ? n : 0;
    auto w = std::make_shared<W>(W{input(s), convert<T>(s.grad), std::vector<T>(n), std::vector<T>(nb),
                                   std::vector<T>(nb), std::vector<T>(B), std::vector<T>(B), std::vector<T>(B),
                                   std::vector<T>(B)});
    const reference::params<T> p{T(comp_thresh), T(comp_ratio), T(exp_thresh),
                                 T(exp_ratio),   T(coef(attack_ms)), T(coef(release_ms))};
    return [w, p, c] {
        reference::compexp_forward(w->x.data(), c.rows, c.cols, p, w->y.data(), c.backward ? w->f.data() : nullptr);
        if (c.backward)
            reference::compexp_backward(w->x.data(), c.rows, c.cols, p, w->y.data(), w->f.data(), w->gy.data(),
                                        w->gx.data(), w->gct.data(), w->gcr.data(), w->gat.data(), w->grt.data());
    };
}

/// Inputs (x, gy) and outputs (y, gx: B×T; g[i]: B per-row gradients) of most processors.
template <class T> struct common_workspace {
    std::vector<T> x, gy, y, gx;
    std::vector<std::vector<T>> g;
};

template <class T, class Input>
std::shared_ptr<common_workspace<T>> common(const config& c, std::size_t row_grads, Input input) {
    const auto& s = signals(c.rows, c.cols);
    const std::size_t n = c.rows * c.cols;
    return std::make_shared<common_workspace<T>>(
        common_workspace<T>{input(s), convert<T>(s.grad), std::vector<T>(n), std::vector<T>(c.backward ? n : 0),
                            std::vector<std::vector<T>>(row_grads, std::vector<T>(c.rows))});
}

/// compexp_gain forward (+ backward with gradients to x, CT, CR, at, rt) on `input`'s levels.
template <class T> job compexp_job(const config& c, std::vector<T> (*input)(const master_signals&)) {
    auto w = common<T>(c, 4, input);
    const std::size_t B = c.rows, N = c.cols;
    return [w, B, N, bwd = c.backward] {
        const auto curve = curve_params<T>();
        const T at = T(coef(attack_ms)), rt = T(coef(release_ms));
        dd::compexp_param_grads<T> cg;
        cg.comp_thresh = w->g[0].data();
        cg.comp_ratio = w->g[1].data();
        dd::compexp_gain<T>(view(w->x, B, N), curve, at, rt, span(w->y, B, N));
        if (bwd)
            dd::compexp_gain_backward<T>(view(w->x, B, N), curve, at, rt, view(w->y, B, N), view(w->gy, B, N),
                                         w->gx.data(), cg, w->g[2].data(), w->g[3].data());
    };
}

template <class T> job compexp_sigmoid_job(const config& c) {
    auto w = common<T>(c, 5, level_input<T>);
    const std::size_t B = c.rows, N = c.cols;
    return [w, B, N, bwd = c.backward] {
        const auto curve = curve_params<T>();
        const T aa = T(coef(attack_ms)), ar = T(coef(release_ms)), k = T(sigmoid_k);
        dd::compexp_param_grads<T> cg;
        cg.comp_thresh = w->g[0].data();
        cg.comp_ratio = w->g[1].data();
        dd::compexp_gain_mode<T>(view(w->x, B, N), curve, aa, ar, dd::ar_mode::sigmoid, k, span(w->y, B, N));
        if (bwd)
            dd::compexp_gain_mode_backward<T>(view(w->x, B, N), curve, aa, ar, dd::ar_mode::sigmoid, k,
                                              view(w->y, B, N), view(w->gy, B, N), w->gx.data(), cg, w->g[2].data(),
                                              w->g[3].data(), w->g[4].data());
    };
}

/// The compressor's target gain f = db2amp(g_dB(amp2db(x_rms))) in (0, 1]: the smoothers' input.
template <class T> std::vector<T> target_gain(const master_signals& s) {
    const double sc = 1.0 - 1.0 / comp_ratio, se = 1.0 - 1.0 / exp_ratio;
    return convert<T>(s.x_rms, [&](double v) {
        const double level = 20.0 * std::log10(v);
        return std::pow(10.0, std::min({0.0, sc * (comp_thresh - level), se * (exp_thresh - level)}) / 20.0);
    });
}

template <class T> job hard_smoother_job(const config& c) {
    auto w = common<T>(c, 3, target_gain<T>);
    const std::size_t B = c.rows, N = c.cols;
    return [w, B, N, bwd = c.backward] {
        const T at = T(coef(attack_ms)), rt = T(coef(release_ms));
        dd::smoother_param_grads<T> pg;
        pg.zi = nullptr;  // zi's gradient (float64) is not part of the benchmark
        pg.at = w->g[1].data();
        pg.rt = w->g[2].data();
        dd::attack_release_smoother<T>(view(w->x, B, N), T(1), at, rt, span(w->y, B, N));
        if (bwd)
            dd::attack_release_smoother_backward<T>(view(w->x, B, N), T(1), at, rt, view(w->y, B, N),
                                                    view(w->gy, B, N), w->gx.data(), pg);
    };
}

template <class T> job sigmoid_smoother_job(const config& c) {
    // Input: the compressor's target gain, as for the hard smoother.
    auto w = common<T>(c, 3, target_gain<T>);
    const std::size_t B = c.rows, N = c.cols;
    return [w, B, N, bwd = c.backward] {
        const T aa = T(coef(attack_ms)), ar = T(coef(release_ms)), k = T(sigmoid_k);
        dd::sigmoid_param_grads<T> pg;
        pg.alpha_a = w->g[0].data();
        pg.alpha_r = w->g[1].data();
        pg.k = w->g[2].data();
        dd::sigmoid_smoother<T>(view(w->x, B, N), 1.0, aa, ar, k, span(w->y, B, N));
        if (bwd)
            dd::sigmoid_smoother_backward<T>(view(w->x, B, N), 1.0, aa, ar, k, view(w->y, B, N), view(w->gy, B, N),
                                             w->gx.data(), pg);
    };
}

template <class T> job limiter_job(const config& c) {
    auto w = common<T>(c, 4, [](const master_signals& s) { return convert<T>(s.audio); });
    const std::size_t B = c.rows, N = c.cols;
    w->g[3].assign(B * N, T(0));  // the peak envelope (B×T), which the backward needs
    return [w, B, N, bwd = c.backward] {
        const T th = T(limiter_thresh), at = T(coef(limiter_attack_ms)), rt = T(coef(limiter_release_ms));
        auto& peak = w->g[3];
        dd::limiter_gain<T>(view(w->x, B, N), th, at, rt, span(w->y, B, N), span(peak, B, N));
        if (bwd)
            dd::limiter_gain_backward<T>(view(w->x, B, N), th, at, rt, view(w->y, B, N), view(peak, B, N),
                                         view(w->gy, B, N), w->gx.data(), w->g[0].data(), w->g[1].data(),
                                         w->g[2].data());
    };
}

template <class T> job avg_job(const config& c) {
    auto w = common<T>(c, 1, [](const master_signals& s) {
        return convert<T>(s.audio, [](double a) { return std::fabs(a); });
    });
    const std::size_t B = c.rows, N = c.cols;
    return [w, B, N, bwd = c.backward] {
        const T k = T(coef(detector_ms));
        dd::avg<T>(view(w->x, B, N), k, span(w->y, B, N));
        if (bwd) dd::avg_backward<T>(view(w->x, B, N), k, view(w->y, B, N), view(w->gy, B, N), w->gx.data(), w->g[0].data());
    };
}

template <class T> job ssl_job(const config& c) {
    // Detector: the instantaneous peak level, safe dB of |audio| (as ssl_compress takes it).
    auto w = common<T>(c, 7, [](const master_signals& s) {
        return convert<T>(s.audio, [](double a) { return 20.0 * std::log10(std::max(std::fabs(a), 1e-7)); });
    });
    const std::size_t B = c.rows, N = c.cols;
    // The forward's tape (2·B·T doubles), kept between forward and backward as the Python Function does.
    auto states = std::make_shared<std::vector<double>>(c.backward ? 2 * B * N : 0);
    return [w, states, B, N, bwd = c.backward] {
        const dd::ssl_params<T> p{T(ssl_thresh), T(ssl_ratio), T(ssl_Taf), T(ssl_Tas), T(ssl_Tsf),
                                  T(ssl_Tss),    T(ssl_feedback), fs, T(0)};
        dd::ssl_param_grads<T> pg;
        pg.comp_thresh = w->g[0].data();
        pg.comp_ratio = w->g[1].data();
        pg.T_attack_fast = w->g[2].data();
        pg.T_attack_slow = w->g[3].data();
        pg.T_shunt_fast = w->g[4].data();
        pg.T_shunt_slow = w->g[5].data();
        pg.feedback_coeff = w->g[6].data();
        dd::ssl_comp_gain<T>(view(w->x, B, N), p, span(w->y, B, N), bwd ? states->data() : nullptr);
        if (bwd) dd::ssl_comp_gain_backward<T>(view(w->x, B, N), p, states->data(), view(w->gy, B, N), w->gx.data(), pg);
    };
}

// ------------------------------------------------------------------------------------------------
// Timing

/// Times the job per iteration on c.threads library threads; sets ns_per_sample = elapsed seconds /
/// (B·T·iterations) · 1e9 (a rate of 1e-9·samples per second, inverted) and items_per_second.
void timed(benchmark::State& state, const config& c, const job& fn) {
    dd::set_num_threads(c.threads);
    for (auto _ : state) {
        try {
            fn();
        } catch (const std::exception& e) {
            state.SkipWithError(e.what());
            break;
        }
        benchmark::ClobberMemory();
    }
    const double samples = double(c.rows) * double(c.cols) * double(state.iterations());
    state.counters["ns_per_sample"] =
        benchmark::Counter(samples * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.SetItemsProcessed(int64_t(samples));
}

double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const std::size_t h = v.size() / 2;
    return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

/// Paired timing on one thread: every iteration runs a and b back to back (a first on even
/// iterations, b first on odd ones) and records time(a)/time(b). A burst of other work on a shared
/// machine lasts much longer than a pair, so it slows both sides of a ratio alike. Counters:
/// a_ns_per_sample, b_ns_per_sample and ratio, medians over the iteration's pairs. The benchmark's
/// own time is the pairs' (manual time).
void timed_pair(benchmark::State& state, const config& c, const job& a, const job& b) {
    using clock = std::chrono::steady_clock;
    auto time_one = [](const job& fn) {
        const auto t0 = clock::now();
        fn();
        benchmark::ClobberMemory();
        return std::chrono::duration<double>(clock::now() - t0).count();
    };
    dd::set_num_threads(c.threads);
    std::vector<double> ta, tb, ratios;
    bool a_first = true;
    for (auto _ : state) {
        double sa = 0, sb = 0;
        try {
            if (a_first) {
                sa = time_one(a);
                sb = time_one(b);
            } else {
                sb = time_one(b);
                sa = time_one(a);
            }
        } catch (const std::exception& e) {
            state.SkipWithError(e.what());
            break;
        }
        a_first = !a_first;
        ta.push_back(sa);
        tb.push_back(sb);
        ratios.push_back(sa / sb);
        state.SetIterationTime(sa + sb);
    }
    const double samples = double(c.rows) * double(c.cols);
    state.counters["a_ns_per_sample"] = median(ta) * 1e9 / samples;
    state.counters["b_ns_per_sample"] = median(tb) * 1e9 / samples;
    state.counters["ratio"] = median(ratios);
    state.counters["pairs"] = double(ratios.size());
}

// ------------------------------------------------------------------------------------------------
// Check, once per run, that the reference computes what the library computes (else the ratios mean
// nothing): forward output and every gradient, on 4 rows × 1 s. Errors are relative L2 norms: in
// float32 f and y_{t−1} sit within an ulp of each other during steady compression, so single
// attack/release decisions (and with them single samples of ∂x) legitimately differ between two
// correct implementations that round differently; the norms stay small, a wrong formula does not.

double rel_l2(const std::vector<double>& a, const std::vector<double>& b) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return std::sqrt(num / std::max(den, 1e-300));
}

template <class T> std::vector<double> widen(const std::vector<T>& v) { return {v.begin(), v.end()}; }

template <class T> std::string check_reference() {
    const std::size_t B = 4, N = 44100, n = B * N;
    std::vector<double> audio(n), xr(n);
    for (std::size_t b = 0; b < B; ++b) generate_row(b, N, audio.data() + b * N, xr.data() + b * N);
    const auto x = convert<T>(xr);
    const auto gy = convert<T>(upstream_gradient(n));
    const T at = T(coef(attack_ms)), rt = T(coef(release_ms));
    std::vector<T> y_ref(n), f(n), gx_ref(n), y_dd(n), gx_dd(n);
    std::vector<T> ref_g(4 * B), dd_g(4 * B);  // CT, CR, at, rt of each row
    const reference::params<T> p{T(comp_thresh), T(comp_ratio), T(exp_thresh), T(exp_ratio), at, rt};
    reference::compexp_forward(x.data(), B, N, p, y_ref.data(), f.data());
    reference::compexp_backward(x.data(), B, N, p, y_ref.data(), f.data(), gy.data(), gx_ref.data(), &ref_g[0],
                                &ref_g[B], &ref_g[2 * B], &ref_g[3 * B]);
    dd::compexp_param_grads<T> cg;
    cg.comp_thresh = &dd_g[0];
    cg.comp_ratio = &dd_g[B];
    dd::set_num_threads(1);
    try {
        dd::compexp_gain<T>(view(x, B, N), curve_params<T>(), at, rt, span(y_dd, B, N));
        dd::compexp_gain_backward<T>(view(x, B, N), curve_params<T>(), at, rt, view(y_dd, B, N), view(gy, B, N),
                                     gx_dd.data(), cg, &dd_g[2 * B], &dd_g[3 * B]);
    } catch (const std::exception& e) {
        return std::string("FAILED: the library threw: ") + e.what();
    }
    const double e_y = rel_l2(widen(y_ref), widen(y_dd));
    const double e_gx = rel_l2(widen(gx_ref), widen(gx_dd));
    double e_p = 0;
    for (std::size_t i = 0; i < 4 * B; ++i)
        e_p = std::max(e_p, std::fabs(double(ref_g[i]) - double(dd_g[i])) / std::max(1e-30, std::fabs(double(dd_g[i]))));
    const double tol = sizeof(T) == 4 ? 1e-2 : 1e-9;
    const bool ok = e_y <= tol && e_gx <= tol && e_p <= tol;
    std::ostringstream out;
    out << (ok ? "ok" : "MISMATCH") << " (relative L2 y " << e_y << ", grad x_rms " << e_gx
        << "; max relative CT/CR/at/rt " << e_p << "; tolerance " << tol << ")";
    return out.str();
}

// ------------------------------------------------------------------------------------------------
// Registration

struct shape {
    std::size_t rows, cols;
};
constexpr shape shapes[] = {{1, 480000}, {8, 480000}, {64, 48000}, {256, 16384}};
constexpr shape paired_shape = {8, 480000};  // the acceptance figure's shape

template <class T> const char* dtype_name() { return sizeof(T) == 4 ? "f32" : "f64"; }

using maker = job (*)(const config&);

std::string bench_name(const std::string& impl, const std::string& proc, const char* dtype, shape s, bool backward,
                       int threads) {
    std::ostringstream name;
    name << impl << "/" << proc << "/" << (backward ? "fwdbwd" : "fwd") << "/" << dtype << "/" << s.rows << "x"
         << s.cols << "/threads:" << threads;
    return name.str();
}

template <class T> void add(const std::string& impl, const std::string& proc, maker make, shape s, bool backward, int threads) {
    const config c{s.rows, s.cols, threads, backward};
    const std::string key = job_key<T>((impl + "/" + proc).c_str(), c);
    benchmark::RegisterBenchmark(bench_name(impl, proc, dtype_name<T>(), s, backward, threads).c_str(),
                                 [make, c, key](benchmark::State& st) {
                                     const auto& jobs = cached_jobs(key, [&] { return std::vector<job>{make(c)}; });
                                     timed(st, c, jobs[0]);
                                 })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
}

/// Paired/<pair>/fwdbwd/<dtype>/<shape>/threads:1: ratio = time(a) / time(b), run back to back
/// (timed_pair). At least 0.5 s per repetition, so that even the largest shapes give several pairs.
template <class T> void add_pair(const std::string& pair, shape s, maker a, maker b) {
    const config c{s.rows, s.cols, 1, true};
    const std::string key = job_key<T>(("Paired/" + pair).c_str(), c);
    benchmark::RegisterBenchmark(bench_name("Paired", pair, dtype_name<T>(), s, true, 1).c_str(),
                                 [=](benchmark::State& st) {
                                     const auto& jobs = cached_jobs(key, [&] { return std::vector<job>{a(c), b(c)}; });
                                     timed_pair(st, c, jobs[0], jobs[1]);
                                 })
        ->UseManualTime()
        ->MinTime(0.5)
        ->Unit(benchmark::kMillisecond);
}

template <class T> void register_dtype(shape s) {
    const maker reference = [](const config& c) { return reference_job<T>(c, level_input<T>); };
    const maker reference_active = [](const config& c) { return reference_job<T>(c, active_input<T>); };
    const maker compexp = [](const config& c) { return compexp_job<T>(c, level_input<T>); };
    const maker compexp_active = [](const config& c) { return compexp_job<T>(c, active_input<T>); };
    for (bool bwd : {false, true}) add<T>("Reference", "compexp_gain", reference, s, bwd, 1);
    add<T>("Reference", "compexp_gain_active", reference_active, s, true, 1);
    struct entry {
        const char* name;
        maker make;
    };
    const entry procs[] = {
        {"compexp_gain", compexp},
        {"compexp_gain_active", compexp_active},
        {"compexp_gain_sigmoid", compexp_sigmoid_job<T>},
        {"hard_smoother", hard_smoother_job<T>},
        {"sigmoid_smoother", sigmoid_smoother_job<T>},
        {"limiter_gain", limiter_job<T>},
        {"avg", avg_job<T>},
        {"ssl_comp_gain", ssl_job<T>},
    };
    for (const auto& e : procs)
        for (bool bwd : {false, true})
            for (int threads : {1, 2}) add<T>("dd", e.name, e.make, s, bwd, threads);
    if (s.rows == paired_shape.rows && s.cols == paired_shape.cols)
        add_pair<T>("reference_vs_compexp_gain", s, reference, compexp);
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

    const std::string check32 = check_reference<float>(), check64 = check_reference<double>();
    std::fprintf(stderr, "reference vs library, float32: %s\nreference vs library, float64: %s\n", check32.c_str(),
                 check64.c_str());
    benchmark::AddCustomContext("dd_reference_check_f32", check32);
    benchmark::AddCustomContext("dd_reference_check_f64", check64);
    benchmark::AddCustomContext("dd_compiler", DD_BENCH_COMPILER);
    benchmark::AddCustomContext("dd_cxx_flags", DD_BENCH_CXX_FLAGS);
    benchmark::AddCustomContext("dd_build_type", DD_BENCH_BUILD_TYPE);
    benchmark::AddCustomContext("dd_native", DD_BENCH_NATIVE);
    benchmark::AddCustomContext("dd_kernel_levels", DD_BENCH_KERNEL_LEVELS);
    benchmark::AddCustomContext("dd_simd_level", dd::simd_level_name(dd::active_simd_level()));
    benchmark::AddCustomContext("dd_version", dd::version);

    for (const shape& s : shapes) {
        register_dtype<float>(s);
        register_dtype<double>(s);
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
