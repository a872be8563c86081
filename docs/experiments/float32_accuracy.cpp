// Scratch program behind docs/simd_math.md "float32 against float64": compexp_gain in float32
// against float64 on the same float input, relative error in units of 2^-24 (worst, 99.9th
// percentile, median), 8 rows of slowly moving levels, attack and release times (ms) and the knee
// (dB, default 0) from argv.
// Not built by the project. Build against a library build directory, e.g.
//   g++ -O2 -std=c++17 -march=native -Iinclude docs/experiments/float32_accuracy.cpp \
//       build/libdifferential_dynamics.a -ltbb -lpthread -o /tmp/float32_accuracy
//   /tmp/float32_accuracy 5 100
#include <differential_dynamics/differential_dynamics.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>
int main(int argc, char** argv) {
    const std::size_t B = 8, N = 200000;
    const double at_ms = argc > 1 ? atof(argv[1]) : 5, rt_ms = argc > 2 ? atof(argv[2]) : 100, fs = 44100;
    const double knee = argc > 3 ? atof(argv[3]) : 0;  // dB
    dd::set_num_threads(1);
    std::mt19937_64 rng(1);
    std::vector<float> xf(B * N);
    std::uniform_real_distribution<double> lvl(-70, -5), u(0, 1);
    for (std::size_t b = 0; b < B; ++b) {
        double target = -30, cur = -30;
        for (std::size_t t = 0; t < N; ++t) {
            if (u(rng) < 1.0 / 4000) target = lvl(rng);
            cur += 0.002 * (target - cur);
            xf[b * N + t] = float(std::pow(10.0, (cur + 0.5 * (u(rng) - 0.5)) / 20));
        }
    }
    std::vector<double> xd(xf.begin(), xf.end());
    const float atf = float(1 - std::exp(-2200.0 / (at_ms * fs))), rtf = float(1 - std::exp(-2200.0 / (rt_ms * fs)));
    dd::compexp_params<float> pf{-20.f, 4.f, -60.f, 0.5f, float(knee)};
    dd::compexp_params<double> pd{-20.0, 4.0, -60.0, 0.5, double(float(knee))};
    std::vector<float> yf(B * N);
    std::vector<double> yd(B * N);
    dd::compexp_gain<float>({xf.data(), B, N}, pf, atf, rtf, {yf.data(), B, N});
    dd::compexp_gain<double>({xd.data(), B, N}, pd, double(atf), double(rtf), {yd.data(), B, N});
    std::vector<double> e(B * N);
    for (std::size_t i = 0; i < B * N; ++i) e[i] = std::abs(yf[i] - yd[i]) / yd[i] / std::ldexp(1.0, -24);
    std::vector<double> s = e;
    std::sort(s.begin(), s.end());
    printf("knee %.0f dB, at %.2f ms rt %.1f ms: worst %.2f  p99.9 %.2f  median %.2f ulp-eq\n", knee, at_ms, rt_ms, s.back(), s[s.size() * 999 / 1000], s[s.size() / 2]);
}
