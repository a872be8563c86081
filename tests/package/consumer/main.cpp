// A program outside the project that uses the library the way a consumer does (the installed
// package through find_package, or the source tree through add_subdirectory): compexp_gain, its
// streaming processor and the SSL compressor, each checked against a value known in closed form.
#include <differential_dynamics/differential_dynamics.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const char* what, double got, double want) {
    std::printf("%-58s got %.12g, want %.12g: %s\n", what, got, want, ok ? "ok" : "FAILED");
    if (!ok) ++failures;
}

}  // namespace

int main() {
    // compexp_gain on a constant 0 dB level: the static curve gives -(1 - 1/4)·24 = -18 dB, and the
    // hard smoother approaches 10^(-18/20) from its initial state 1 (always in attack).
    const std::size_t n = 4000;
    const std::vector<double> level(n, 1.0);
    std::vector<double> gain(n), final_state(1);
    const double at = 0.01, rt = 0.001, target = std::pow(10.0, -18.0 / 20.0);
    const dd::compexp_params<double> curve{-24.0, 4.0};
    dd::compexp_gain<double>({level.data(), 1, n}, curve, at, rt, {gain.data(), 1, n}, {}, final_state.data());
    check(std::fabs(gain[0] - ((1 - at) + at * target)) < 1e-15, "compexp_gain first sample", gain[0],
          (1 - at) + at * target);
    check(std::fabs(gain[n - 1] - target) < 1e-12, "compexp_gain after 4000 samples", gain[n - 1], target);
    check(final_state[0] == gain[n - 1], "compexp_gain final state", final_state[0], gain[n - 1]);

    // The streaming processor on two blocks gives the batch result bit for bit.
    dd::compexp_processor<double> proc;
    dd::compexp_settings settings;
    settings.comp_thresh = -24.0;
    settings.comp_ratio = 4.0;
    settings.at = at;
    settings.rt = rt;
    proc.prepare({44100.0, 1, 3000}, settings);
    std::vector<double> streamed(n);
    const double* in0 = level.data();
    double* out0 = streamed.data();
    proc.process(&in0, &out0, 1234);
    const double* in1 = level.data() + 1234;
    double* out1 = streamed.data() + 1234;
    proc.process(&in1, &out1, n - 1234);
    std::size_t equal = 0;
    for (std::size_t t = 0; t < n; ++t) equal += streamed[t] == gain[t];
    check(equal == n, "compexp_processor samples equal to the batch call", double(equal), double(n));

    // SSL compressor on a constant full-scale input (level 0 dB), threshold -20 dB, ratio 4, no
    // feedback, attack 820 ohms, auto release: always in attack, the gain settles at G·(1 - 1/4)·(-20) dB with G = K/(1 + K) the RC ladder's DC gain,
    // K = T_shunt_fast/T_attack_fast + T_shunt_slow/T_attack_slow.
    const dd::ssl_knob_params knobs = dd::ssl_preset(820.0, dd::ssl_release_auto, 4.0, 44100.0);
    const dd::ssl_params<double> p{-20.0, knobs.comp_ratio, knobs.T_attack_fast, knobs.T_attack_slow,
                                   knobs.T_shunt_fast, knobs.T_shunt_slow, 0.0, 44100.0};
    const std::size_t m = 20 * 44100;  // the slow mode's time constant is ~0.6 s
    const std::vector<double> audio(m, 1.0);
    std::vector<double> gain_db(m), y(m);
    dd::ssl_compress<double>({audio.data(), 1, m}, p, {gain_db.data(), 1, m}, {y.data(), 1, m});
    const double K = knobs.T_shunt_fast / knobs.T_attack_fast + knobs.T_shunt_slow / knobs.T_attack_slow;
    const double settled = K / (1 + K) * (1 - 1 / knobs.comp_ratio) * -20.0;
    check(std::fabs(gain_db[m - 1] - settled) < 1e-9, "ssl_compress gain (dB) after 20 s", gain_db[m - 1], settled);
    check(std::fabs(y[m - 1] - std::pow(10.0, gain_db[m - 1] / 20)) < 1e-12, "ssl_compress output = gain · input",
          y[m - 1], std::pow(10.0, gain_db[m - 1] / 20));

    // Bad input is reported as dd::argument_error naming the argument.
    try {
        dd::compexp_gain<double>({level.data(), 1, n}, dd::compexp_params<double>{-24.0, 0.5}, at, rt,
                                 {gain.data(), 1, n});
        check(false, "comp_ratio 0.5 rejected", 0, 1);
    } catch (const dd::argument_error& e) {
        check(e.argument() == "comp_ratio", "comp_ratio 0.5 rejected naming comp_ratio", 1, 1);
    }

    std::printf("differential_dynamics %s, SIMD level %s: %s\n", dd::version,
                dd::simd_level_name(dd::active_simd_level()), failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
