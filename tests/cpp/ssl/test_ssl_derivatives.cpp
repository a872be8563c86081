// SSL bus compressor: forward mode, second order and the soft gate
// (docs/derivations/ssl_second_order.md, docs/derivations/ssl_soft_gate.md).
//   - the operators' second derivatives against finite differences of their first derivatives;
//   - the JVP against float64 central differences of the forward and against the backward (transpose);
//   - the second order (backward of the backward) against central differences of the first-order
//     backward, for every parameter, zi, level samples and the upstream gradient, level and audio entry;
//   - the soft gate: every gradient (k included) and its JVP against differences of its forward, the
//     hard gate as its limit, streaming = batch, second order refused.
// Programs switch attack/release many times; fb ∈ {0, 0.5, 0.999}.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "differential_dynamics/ssl.hpp"
#include "ssl/ssl_derivatives.hpp"
#include "ssl/ssl_model.hpp"

namespace {

enum { P_CT, P_CR, P_TAF, P_TAS, P_TSF, P_TSS, P_FB, P_KNEE, P_K, NP };
const char* const names[NP] = {"comp_thresh",  "comp_ratio",     "T_attack_fast", "T_attack_slow", "T_shunt_fast",
                               "T_shunt_slow", "feedback_coeff", "knee",          "gate_k"};
constexpr double inf = std::numeric_limits<double>::infinity();

/// Detector level in dB (or, for the audio entry, the amplitude of a signal with that level): a square
/// wave, bursts and a step with noise; the 100 ms pattern repeats.
std::vector<double> program_db(std::size_t n, double fs, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::vector<double> x(n);
    const std::size_t period = std::size_t(fs * (0.003 + 0.001 * (seed % 5)));
    for (std::size_t t = 0; t < n; ++t) {
        const double sec = std::fmod(double(t) / fs, 0.1);
        double db;
        if (sec < 0.03)
            db = ((t / period) % 2 == 0) ? -3.0 : -40.0;
        else if (sec < 0.06)
            db = (std::fmod(sec, 0.01) < 0.002) ? 0.0 : -50.0;
        else
            db = sec < 0.08 ? -8.0 : -35.0;
        x[t] = db + noise(rng);
    }
    return x;
}

struct problem {
    bool audio = false;
    double fs = 44100;
    std::size_t B = 0, n = 0;
    std::array<std::vector<double>, NP> P;
    std::vector<double> x, zi;  // B·n, 2·B
    dd::ssl_params<double> params() const {
        auto rp = [&](int k) { return dd::row_param<double>(P[k].data(), B); };
        return {rp(P_CT), rp(P_CR), rp(P_TAF), rp(P_TAS), rp(P_TSF), rp(P_TSS), rp(P_FB), fs, rp(P_KNEE), rp(P_K)};
    }
    dd::ssl_row_params row(std::size_t b) const { return params().row(b); }
    double level(std::size_t b, std::size_t t) const {
        const double v = x[b * n + t];
        return audio ? dd::ssl_audio_level(v) : v;
    }
};

using row = std::array<double, NP>;
row auto_row(double fb, double fs, double ct = -20) {
    const dd::ssl_knob_params k = dd::ssl_preset(820, 0, 4, fs);
    return {ct, k.comp_ratio, k.T_attack_fast, k.T_attack_slow, k.T_shunt_fast, k.T_shunt_slow, fb, 0.0, inf};
}
row random_row(std::mt19937_64& rng, double fb) {
    std::uniform_real_distribution<double> u(0, 1);
    auto logu = [&](double lo, double hi) { return lo * std::pow(hi / lo, u(rng)); };
    const double taf = logu(1e-4, 3e-3);
    return {-28 + 12 * u(rng), 1.5 + 8 * u(rng), taf, taf * logu(4, 30), logu(0.01, 0.2), logu(0.3, 6), fb, 0.0, inf};
}
row fixed_release_row(double fb, double fs) {
    // A fixed release with a slow capacitor that is actually used (the preset bypasses it).
    const dd::ssl_knob_params k = dd::ssl_preset(2.7e3, 180e3, 2, fs);
    return {-24, k.comp_ratio, k.T_attack_fast, 0.04, k.T_shunt_fast, 3 / fs, fb, 0.0, inf};
}

problem make_problem(const std::vector<row>& rows, double fs, std::size_t n, bool audio, unsigned seed) {
    problem p;
    p.audio = audio;
    p.fs = fs;
    p.B = rows.size();
    p.n = n;
    for (int k = 0; k < NP; ++k)
        for (const row& r : rows) p.P[k].push_back(r[k]);
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, 1.0);
    for (std::size_t b = 0; b < p.B; ++b) {
        const std::vector<double> db = program_db(n, fs, unsigned(seed + 17 * b));
        for (std::size_t t = 0; t < n; ++t) {
            if (!audio) {
                p.x.push_back(db[t]);
            } else {
                // Audio of that peak level with a random sign (never near the 1e-7 floor).
                const double s = noise(rng) < 0 ? -1.0 : 1.0;
                p.x.push_back(s * std::pow(10.0, db[t] / 20.0));
            }
        }
        p.zi.push_back(-2.0 - double(b));  // a compressed start: x1, x2 in dB
        p.zi.push_back(-1.0);
    }
    return p;
}

struct forward_result {
    std::vector<double> gain, y, tape, final_state;
};
forward_result forward(const problem& p) {
    forward_result f;
    f.gain.resize(p.B * p.n);
    f.y.resize(p.B * p.n);
    f.tape.resize(2 * p.B * p.n);
    f.final_state.resize(2 * p.B);
    const dd::signal_view<double> xv{p.x.data(), p.B, p.n};
    if (p.audio)
        dd::ssl_compress<double>(xv, p.params(), {f.gain.data(), p.B, p.n}, {f.y.data(), p.B, p.n}, f.tape.data(),
                                 p.zi.data(), f.final_state.data());
    else
        dd::ssl_comp_gain<double>(xv, p.params(), {f.gain.data(), p.B, p.n}, f.tape.data(), p.zi.data(),
                                  f.final_state.data());
    return f;
}

/// Upstream gradients of the forward's outputs: gain, (audio) processed signal, final state.
struct upstream {
    std::vector<double> gg, gz, gfinal;
};
upstream random_upstream(const problem& p, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1, 1);
    upstream up;
    for (std::size_t i = 0; i < p.B * p.n; ++i) up.gg.push_back(u(rng));
    if (p.audio)
        for (std::size_t i = 0; i < p.B * p.n; ++i) up.gz.push_back(u(rng));
    for (std::size_t i = 0; i < 2 * p.B; ++i) up.gfinal.push_back(u(rng));
    return up;
}

/// The first-order backward, flattened: [∂x (B·n), ∂params (NP·B), ∂zi (2B)].
std::vector<double> backward(const problem& p, const upstream& up) {
    const forward_result f = forward(p);
    std::vector<double> out(p.B * p.n + NP * p.B + 2 * p.B, 0.0);
    double* gp = out.data() + p.B * p.n;
    dd::ssl_param_grads<double> g{gp,              gp + P_CR * p.B,  gp + P_TAF * p.B,  gp + P_TAS * p.B, gp + P_TSF * p.B,
                                  gp + P_TSS * p.B, gp + P_FB * p.B, gp + P_KNEE * p.B, gp + P_K * p.B};
    double* gzi = gp + NP * p.B;
    const dd::signal_view<double> xv{p.x.data(), p.B, p.n};
    if (p.audio)
        dd::ssl_compress_backward<double>(xv, p.params(), f.tape.data(), up.gg.data(), up.gz.data(), out.data(), g,
                                          p.zi.data(), up.gfinal.data(), gzi);
    else
        dd::ssl_comp_gain_backward<double>(xv, p.params(), f.tape.data(), {up.gg.data(), p.B, p.n}, out.data(), g,
                                           p.zi.data(), up.gfinal.data(), gzi);
    return out;
}

/// The decisions of every sample (hard gate: attack bit; both gates: the curve's branch), from the
/// library's own model and step: derivatives hold them fixed, so a finite difference is only valid
/// if none changes.
std::vector<unsigned char> decisions(const problem& p) {
    std::vector<unsigned char> mask;
    for (std::size_t b = 0; b < p.B; ++b) {
        const dd::ssl_model m = dd::make_ssl_model(p.row(b), p.fs);
        dd::ssl_state s(p.zi.data() + 2 * b);
        for (std::size_t t = 0; t < p.n; ++t) {
            const double level = p.level(b, t);
            const double dist = level + m.feedback * s.y_prev - m.comp_thresh;
            const int branch = 2 * dist <= -m.knee ? 0 : (2 * dist >= m.knee ? 2 : 1);
            bool attack = false;
            if (dd::ssl_is_hard_gate(m))
                dd::ssl_step(m, s, level, &attack);
            else
                dd::ssl_soft_step(m, s, level);
            mask.push_back((unsigned char)(int(attack) | (branch << 1)));
        }
    }
    if (p.audio)  // the level's floor is a branch too (after all rows: row b's decisions stay at b·n)
        for (double v : p.x) mask.push_back(std::fabs(v) < dd::safe_amp_floor<double> ? 1 : 0);
    return mask;
}

std::size_t flips_of_row(const problem& p, std::size_t b) {
    const std::vector<unsigned char> m = decisions(p);
    std::size_t f = 0;
    for (std::size_t t = 1; t < p.n; ++t) f += (m[b * p.n + t] & 1) != (m[b * p.n + t - 1] & 1);
    return f;
}

/// d/dh F(h) at 0 by the 4th-order 5-point formula (one-sided forward if asked); nullopt if a decision
/// changes at an evaluation point even after shrinking the step twice.
std::optional<double> derivative(const std::function<double(double)>& F,
                                 const std::function<std::vector<unsigned char>(double)>& mask, double h,
                                 bool one_sided) {
    const std::vector<unsigned char> base = mask(0.0);
    for (int attempt = 0; attempt < 3; ++attempt, h /= 8) {
        const std::vector<double> offs = one_sided ? std::vector<double>{0, 1, 2, 3, 4} : std::vector<double>{-2, -1, 1, 2};
        const std::vector<double> coef =
            one_sided ? std::vector<double>{-25, 48, -36, 16, -3} : std::vector<double>{1, -8, 8, -1};
        bool flipped = false;
        long double s = 0;
        for (std::size_t i = 0; i < offs.size() && !flipped; ++i) {
            if (offs[i] != 0 && mask(offs[i] * h) != base) flipped = true;
            s += (long double)coef[i] * F(offs[i] * h);
        }
        if (!flipped) return double(s / (12.0L * h));
    }
    return std::nullopt;
}

::testing::AssertionResult close_rel(double analytic, double numeric, double rel, double abs_floor = 0.0) {
    const double err = std::fabs(analytic - numeric);
    if (err <= rel * std::fabs(numeric) + abs_floor) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "analytic " << analytic << " vs FD " << numeric << " (rel err "
                                         << err / std::max(std::fabs(numeric), 1e-300) << ")";
}

/// A perturbation of one primal input: parameter k of row b, zi entry i of row b, or level sample t.
struct input_ref {
    enum kind_t { param, state, level } kind;
    int k;
    std::size_t b, t;
};
problem perturbed(const problem& p, const input_ref& r, double h) {
    problem q = p;
    if (r.kind == input_ref::param) q.P[r.k][r.b] += h;
    if (r.kind == input_ref::state) q.zi[2 * r.b + r.k] += h;
    if (r.kind == input_ref::level) q.x[r.b * p.n + r.t] += h;
    return q;
}
/// Finite-difference step and whether it must be one-sided (fb at 0). With decisions fixed the hard
/// gate is affine in the level and CT; the soft gate bends on the scale 1/k dB, so its steps in dB
/// are smaller.
std::pair<double, bool> step_for(const problem& p, const input_ref& r) {
    const bool soft = std::isfinite(p.P[P_K][r.b]);
    const double db_step = soft ? 1e-3 : 1e-1;
    if (r.kind == input_ref::state) return {soft ? 1e-3 : 1e-2, false};
    if (r.kind == input_ref::level) return {p.audio ? 1e-4 * std::fabs(p.x[r.b * p.n + r.t]) : db_step, false};
    const double v = p.P[r.k][r.b];
    switch (r.k) {
        case P_CT: return {soft ? 1e-3 : 1e-2, false};
        case P_FB: return {soft ? 1e-5 : 1e-4, v < 2e-4};
        case P_KNEE: return {1e-3, false};
        default: return {1e-3 * std::fabs(v), false};  // relative steps: ratio, time constants, gate_k
    }
}

std::vector<unsigned char> decisions(const problem& p);

/// Level samples to check, per row: `per_row` attack steps on the compressing branch (hard gate; any
/// sample for the soft gate) spread over the row, and half as many others (exactly zero there).
std::vector<input_ref> level_refs(const problem& p, std::size_t per_row) {
    const std::vector<unsigned char> mask = decisions(p);
    std::vector<input_ref> refs;
    for (std::size_t b = 0; b < p.B; ++b) {
        const bool soft = std::isfinite(p.P[P_K][b]);
        std::vector<std::size_t> active, other;
        for (std::size_t t = 0; t < p.n; ++t) {
            const unsigned char m = mask[b * p.n + t];
            ((((soft || (m & 1)) && (m >> 1))) ? active : other).push_back(t);
        }
        for (std::size_t i = 0; i < per_row && !active.empty(); ++i)
            refs.push_back({input_ref::level, 0, b, active[(2 * i + 1) * active.size() / (2 * per_row)]});
        for (std::size_t i = 0; i < per_row / 2 && !other.empty(); ++i)
            refs.push_back({input_ref::level, 0, b, other[(2 * i + 1) * other.size() / per_row]});
    }
    return refs;
}

// ------------------------------------------------------------------------------------------------
// Forward mode

struct tangent {
    std::vector<double> x, zi;
    std::array<std::vector<double>, NP> P;
};
/// A random direction in every input, on each input's own scale (kept inside the parameters' domains).
tangent random_tangent(const problem& p, unsigned seed, bool with_gate_k) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1, 1);
    tangent v;
    for (std::size_t i = 0; i < p.B * p.n; ++i) v.x.push_back(p.audio ? 0.3 * u(rng) * std::fabs(p.x[i]) : u(rng));
    for (std::size_t i = 0; i < 2 * p.B; ++i) v.zi.push_back(u(rng));
    for (int k = 0; k < NP; ++k)
        for (std::size_t b = 0; b < p.B; ++b) {
            double s = 1.0;
            if (k == P_CR) s = 0.5 * (p.P[P_CR][b] - 1);
            if (k >= P_TAF && k <= P_TSS) s = 0.3 * p.P[k][b];
            if (k == P_FB) s = p.P[P_FB][b] == 0 ? 0.0 : 0.1 * std::min(p.P[P_FB][b], 1 - p.P[P_FB][b]) / 0.1;
            if (k == P_KNEE) s = p.P[P_KNEE][b] > 0 ? 1.0 : 0.0;
            if (k == P_K) s = with_gate_k && std::isfinite(p.P[P_K][b]) ? 0.3 * p.P[P_K][b] : 0.0;
            v.P[k].push_back(s * u(rng));
        }
    return v;
}
problem moved(const problem& p, const tangent& v, double h) {
    problem q = p;
    for (std::size_t i = 0; i < q.x.size(); ++i) q.x[i] += h * v.x[i];
    for (std::size_t i = 0; i < q.zi.size(); ++i) q.zi[i] += h * v.zi[i];
    for (int k = 0; k < NP; ++k)
        for (std::size_t b = 0; b < p.B; ++b)
            if (v.P[k][b] != 0) q.P[k][b] += h * v.P[k][b];
    return q;
}
dd::ssl_param_tangents<double> tangents_of(const tangent& v) {
    return {v.P[P_CT].data(),  v.P[P_CR].data(), v.P[P_TAF].data(),  v.P[P_TAS].data(), v.P[P_TSF].data(),
            v.P[P_TSS].data(), v.P[P_FB].data(), v.P[P_KNEE].data(), v.P[P_K].data()};
}
struct jvp_result {
    std::vector<double> gain, y, final_state;
};
jvp_result jvp(const problem& p, const tangent& v) {
    const forward_result f = forward(p);
    jvp_result r;
    r.gain.resize(p.B * p.n);
    r.y.resize(p.B * p.n);
    r.final_state.resize(2 * p.B);
    const dd::signal_view<double> xv{p.x.data(), p.B, p.n};
    if (p.audio)
        dd::ssl_compress_jvp<double>(xv, p.params(), f.tape.data(), v.x.data(), tangents_of(v), r.gain.data(),
                                     r.y.data(), p.zi.data(), v.zi.data(), r.final_state.data());
    else
        dd::ssl_comp_gain_jvp<double>(xv, p.params(), f.tape.data(), v.x.data(), tangents_of(v),
                                      {r.gain.data(), p.B, p.n}, p.zi.data(), v.zi.data(), r.final_state.data());
    return r;
}

/// ⟨upstream, outputs⟩: the scalar whose derivatives the checks compare.
double weigh(const problem& p, const forward_result& f, const upstream& up) {
    long double s = 0;
    for (std::size_t i = 0; i < p.B * p.n; ++i) {
        s += (long double)up.gg[i] * f.gain[i];
        if (p.audio) s += (long double)up.gz[i] * f.y[i];
    }
    for (std::size_t i = 0; i < 2 * p.B; ++i) s += (long double)up.gfinal[i] * f.final_state[i];
    return double(s);
}

void check_jvp(const problem& p, bool with_gate_k) {
    const tangent v = random_tangent(p, 5, with_gate_k);
    const jvp_result r = jvp(p, v);
    const upstream up = random_upstream(p, 6);
    // Against the forward: d/dh ⟨w, F(p + h·v)⟩ (the whole direction at once).
    const auto fd = derivative([&](double h) { return weigh(p, forward(moved(p, v, h)), up); },
                               [&](double h) { return decisions(moved(p, v, h)); }, 1e-4, false);
    ASSERT_TRUE(fd.has_value()) << "the direction crosses a decision";
    long double an = 0;
    for (std::size_t i = 0; i < p.B * p.n; ++i) {
        an += (long double)up.gg[i] * r.gain[i];
        if (p.audio) an += (long double)up.gz[i] * r.y[i];
    }
    for (std::size_t i = 0; i < 2 * p.B; ++i) an += (long double)up.gfinal[i] * r.final_state[i];
    EXPECT_NE(*fd, 0.0);
    EXPECT_TRUE(close_rel(double(an), *fd, 1e-6));
    // Transpose: ⟨w, J·v⟩ = ⟨Jᵀ·w, v⟩ with the first-order backward.
    const std::vector<double> g = backward(p, up);
    long double tr = 0;
    for (std::size_t i = 0; i < p.B * p.n; ++i) tr += (long double)g[i] * v.x[i];
    for (int k = 0; k < NP; ++k)
        for (std::size_t b = 0; b < p.B; ++b) tr += (long double)g[p.B * p.n + k * p.B + b] * v.P[k][b];
    for (std::size_t i = 0; i < 2 * p.B; ++i) tr += (long double)g[p.B * p.n + NP * p.B + i] * v.zi[i];
    EXPECT_TRUE(close_rel(double(an), double(tr), 1e-10));
}

// ------------------------------------------------------------------------------------------------
// Second order

struct second_result {
    std::vector<double> d_gg, d_gz, d_gfinal, d_x, d_zi;
    std::array<std::vector<double>, NP> d_P;
};
second_result backward_backward(const problem& p, const upstream& up, const tangent& v) {
    const forward_result f = forward(p);
    second_result r;
    r.d_gg.assign(p.B * p.n, 0.0);
    r.d_gz.assign(p.B * p.n, 0.0);
    r.d_x.assign(p.B * p.n, 0.0);
    r.d_gfinal.assign(2 * p.B, 0.0);
    r.d_zi.assign(2 * p.B, 0.0);
    for (auto& d : r.d_P) d.assign(p.B, 0.0);
    dd::ssl_param_grads<double> g{r.d_P[P_CT].data(),  r.d_P[P_CR].data(), r.d_P[P_TAF].data(),
                                  r.d_P[P_TAS].data(), r.d_P[P_TSF].data(), r.d_P[P_TSS].data(),
                                  r.d_P[P_FB].data(),  r.d_P[P_KNEE].data(), r.d_P[P_K].data()};
    const dd::signal_view<double> xv{p.x.data(), p.B, p.n};
    if (p.audio)
        dd::ssl_compress_backward_backward<double>(xv, p.params(), f.tape.data(), up.gg.data(), up.gz.data(),
                                                   v.x.data(), tangents_of(v), r.d_gg.data(), r.d_gz.data(),
                                                   r.d_x.data(), g, p.zi.data(), up.gfinal.data(), v.zi.data(),
                                                   r.d_gfinal.data(), r.d_zi.data());
    else
        dd::ssl_comp_gain_backward_backward<double>(xv, p.params(), f.tape.data(), {up.gg.data(), p.B, p.n},
                                                    v.x.data(), tangents_of(v), r.d_gg.data(), r.d_x.data(), g,
                                                    p.zi.data(), up.gfinal.data(), v.zi.data(), r.d_gfinal.data(),
                                                    r.d_zi.data());
    return r;
}

/// ⟨v, backward⟩ (v as a cotangent of the backward's outputs).
double dot_backward(const problem& p, const std::vector<double>& g, const tangent& v) {
    long double s = 0;
    for (std::size_t i = 0; i < p.B * p.n; ++i) s += (long double)g[i] * v.x[i];
    for (int k = 0; k < NP; ++k)
        for (std::size_t b = 0; b < p.B; ++b) s += (long double)g[p.B * p.n + k * p.B + b] * v.P[k][b];
    for (std::size_t i = 0; i < 2 * p.B; ++i) s += (long double)g[p.B * p.n + NP * p.B + i] * v.zi[i];
    return double(s);
}

void check_second_order(const problem& p, double rel = 1e-6) {
    const upstream up = random_upstream(p, 11);
    tangent v = random_tangent(p, 12, false);
    for (std::size_t i = 0; i < v.x.size(); ++i) v.x[i] = std::fabs(v.x[i]) > 0 ? v.x[i] : 0.1;
    const second_result r = backward_backward(p, up, v);
    std::size_t checked = 0, skipped = 0, nonzero = 0, level_checked = 0, level_nonzero = 0;
    auto check = [&](const input_ref& ref, double analytic, const std::string& what) {
        const auto [h, one_sided] = step_for(p, ref);
        const auto fd = derivative([&](double d) { return dot_backward(p, backward(perturbed(p, ref, d), up), v); },
                                   [&](double d) { return decisions(perturbed(p, ref, d)); }, h, one_sided);
        if (!fd) {
            ++skipped;
            return;
        }
        // Level samples on release steps (or where a = 0) have exactly zero second derivatives.
        (ref.kind == input_ref::level ? level_checked : checked) += 1;
        (ref.kind == input_ref::level ? level_nonzero : nonzero) += *fd != 0.0;
        // Abs floor: the backward's own rounding (long recursions, entries up to ~1e4) over the step.
        EXPECT_TRUE(close_rel(analytic, *fd, rel, 1e-9 * std::max(1.0, std::fabs(*fd)) + 1e-10 / h)) << what;
    };
    for (std::size_t b = 0; b < p.B; ++b) {
        for (int k = 0; k < NP; ++k) {
            if (k == P_K) {
                EXPECT_EQ(r.d_P[k][b], 0.0);
                continue;
            }
            if (k == P_KNEE && p.P[P_KNEE][b] == 0.0) continue;  // W = 0: a kink of the knee
            check({input_ref::param, k, b, 0}, r.d_P[k][b], std::string(names[k]) + " row " + std::to_string(b));
        }
        for (int i = 0; i < 2; ++i)
            check({input_ref::state, i, b, 0}, r.d_zi[2 * b + i], "zi[" + std::to_string(i) + "] row " + std::to_string(b));
    }
    for (const input_ref& ref : level_refs(p, 12))
        check(ref, r.d_x[ref.b * p.n + ref.t], "x[" + std::to_string(ref.b) + ", " + std::to_string(ref.t) + "]");
    EXPECT_LE(skipped * 10, checked + level_checked) << "too many finite differences straddle a decision";
    EXPECT_GE(nonzero * 10, checked * 9) << "the parameters' and zi's second derivatives must be non-zero";
    EXPECT_GE(level_nonzero * 3, level_checked * 2 - 3) << "the attack steps' level derivatives must be non-zero";

    // The upstream gradient enters linearly: ∂ℓ₂/∂gy_t = ⟨v, backward(e_t)⟩ exactly (also = ẏ_t).
    const jvp_result jv = jvp(p, v);
    for (std::size_t b = 0; b < p.B; ++b) {
        for (std::size_t t : {std::size_t(0), p.n / 3, p.n / 2, p.n - 1}) {
            const std::size_t i = b * p.n + t;
            upstream e{std::vector<double>(p.B * p.n, 0.0), std::vector<double>(p.audio ? p.B * p.n : 0, 0.0),
                       std::vector<double>(2 * p.B, 0.0)};
            e.gg[i] = 1;
            const double ref = dot_backward(p, backward(p, e), v);
            EXPECT_TRUE(close_rel(r.d_gg[i], ref, 1e-9, 1e-12)) << "grad_gain[" << b << ", " << t << "]";
            EXPECT_TRUE(close_rel(r.d_gg[i], jv.gain[i], 1e-12, 1e-14));
            if (p.audio) {
                e.gg[i] = 0;
                e.gz[i] = 1;
                EXPECT_TRUE(close_rel(r.d_gz[i], dot_backward(p, backward(p, e), v), 1e-9, 1e-12)) << "grad_y";
                EXPECT_TRUE(close_rel(r.d_gz[i], jv.y[i], 1e-12, 1e-14));
            }
        }
        for (int i = 0; i < 2; ++i)
            EXPECT_TRUE(close_rel(r.d_gfinal[2 * b + i], jv.final_state[2 * b + i], 1e-12, 1e-14));
    }
}

std::vector<row> rows_for(double fb, double fs, unsigned seed) {
    std::mt19937_64 rng(seed);
    return {auto_row(fb, fs), random_row(rng, fb), fixed_release_row(fb, fs)};
}

}  // namespace

// ------------------------------------------------------------------------------------------------

TEST(SslZohSecond, SecondDerivativesMatchFiniteDifferencesOfTheFirst) {
    std::vector<std::pair<dd::ssl_rates, double>> cases;
    for (double fs : {22050.0, 44100.0, 96000.0})
        for (double ra : dd::ssl_attack_ohms_positions)
            for (double rr : {0.0, 180e3}) {
                const dd::ssl_knob_params k = dd::ssl_preset(ra, rr, 4, fs);
                cases.push_back({{1 / k.T_attack_fast, 1 / k.T_attack_slow, 1 / k.T_shunt_fast, 1 / k.T_shunt_slow}, 1 / fs});
            }
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> u(0, 1);
    auto logu = [&](double lo, double hi) { return lo * std::pow(hi / lo, u(rng)); };
    for (int i = 0; i < 20; ++i) {
        const double taf = logu(2e-5, 0.05);
        cases.push_back({{1 / taf, 1 / (taf * logu(1, 50)), 1 / logu(1e-3, 2), 1 / logu(1e-2, 20)}, 1 / 44100.0});
    }
    // δ·Ts around the series/eigen switch of the second derivatives (δ·Ts = 1) and far below it.
    for (double a : {4.0e4, 4.4e4, 4.5e4, 8e4}) cases.push_back({{a, a, 50.0, 50.0}, 1 / 44100.0});
    cases.push_back({{1.0, 1.0, 20.0, 20.0}, 1 / 44100.0});
    cases.push_back({{40.0, 3.0, 200.0, 0.5}, 1 / 48000.0});
    for (const auto& [r, Ts] : cases) {
        dd::ssl_zoh_second_derivatives d2;
        dd::ssl_attack_zoh_second(r, Ts, d2);
        dd::ssl_zoh_second_derivatives d2r;
        dd::ssl_release_zoh_second(r, Ts, d2r);
        const double rates[4] = {r.af, r.as, r.sf, r.ss};
        for (int mode = 0; mode < 2; ++mode) {
            for (int s = 0; s < 4; ++s) {
                // 5-point difference in R_s of the first derivatives ∂/∂R_q. The operators vary on the
                // scale max(R, 1/Ts): a step 1e−3 of it (one-sided where R is smaller than the step).
                const double R = rates[s], h = 1e-3 * std::max(R, 1 / Ts);
                const bool one_sided = 2 * h >= 0.5 * R;
                std::array<std::array<double, 6>, 4> fd{}, first{};
                const std::vector<double> offs = one_sided ? std::vector<double>{0, 1, 2, 3, 4} : std::vector<double>{-2, -1, 1, 2};
                const std::vector<double> coef =
                    one_sided ? std::vector<double>{-25, 48, -36, 16, -3} : std::vector<double>{1, -8, 8, -1};
                for (std::size_t i = 0; i < offs.size(); ++i) {
                    dd::ssl_rates rr = r;
                    double* field[4] = {&rr.af, &rr.as, &rr.sf, &rr.ss};
                    *field[s] = R + offs[i] * h;
                    dd::ssl_zoh_derivatives d;
                    if (mode == 0)
                        dd::ssl_attack_zoh(rr, Ts, &d);
                    else
                        dd::ssl_release_zoh(rr, Ts, &d);
                    for (int q = 0; q < 4; ++q) {
                        const double v[6] = {d.dAd[q].m11, d.dAd[q].m12, d.dAd[q].m21, d.dAd[q].m22, d.dBd[q].v1, d.dBd[q].v2};
                        for (int e = 0; e < 6; ++e) {
                            fd[q][e] += coef[i] * v[e] / (12 * h);
                            first[q][e] = std::max(first[q][e], std::fabs(v[e]));
                        }
                    }
                }
                const auto& D = mode == 0 ? d2 : d2r;
                for (int q = 0; q < 4; ++q) {
                    const double an[6] = {D.d2Ad[q][s].m11, D.d2Ad[q][s].m12, D.d2Ad[q][s].m21, D.d2Ad[q][s].m22,
                                          D.d2Bd[q][s].v1, D.d2Bd[q][s].v2};
                    double scale = 0, noise = 0;
                    for (int e = 0; e < 6; ++e) {
                        scale = std::max(scale, std::fabs(fd[q][e]));
                        noise = std::max(noise, 1e-13 * first[q][e] / h);  // the difference's rounding
                    }
                    for (int e = 0; e < 6; ++e)
                        EXPECT_TRUE(close_rel(an[e], fd[q][e], 1e-6, 1e-8 * scale + noise))
                            << (mode ? "release" : "attack") << " entry " << e << " d2/dR" << q << "dR" << s << " rates "
                            << r.af << " " << r.as << " " << r.sf << " " << r.ss << " Ts " << Ts;
                    EXPECT_EQ(an[0], mode == 0 ? d2.d2Ad[s][q].m11 : d2r.d2Ad[s][q].m11);  // symmetric
                }
            }
        }
    }
}

TEST(SslZohSecond, SeriesAndEigenBranchesAgreeAtTheSwitch) {
    // δ·Ts = 1 at a = b = δ (p = 0): just below takes the series in δ², just above the eigenvalues.
    const double Ts = 1 / 44100.0, a0 = 44100.0;
    dd::ssl_zoh_second_derivatives lo, hi;
    dd::ssl_attack_zoh_second({a0 * (1 - 1e-13), a0 * (1 - 1e-13), 30.0, 30.0}, Ts, lo);
    dd::ssl_attack_zoh_second({a0 * (1 + 1e-13), a0 * (1 + 1e-13), 30.0, 30.0}, Ts, hi);
    for (int q = 0; q < 4; ++q)
        for (int s = 0; s < 4; ++s) {
            const double a[6] = {lo.d2Ad[q][s].m11, lo.d2Ad[q][s].m12, lo.d2Ad[q][s].m21, lo.d2Ad[q][s].m22, lo.d2Bd[q][s].v1, lo.d2Bd[q][s].v2};
            const double b[6] = {hi.d2Ad[q][s].m11, hi.d2Ad[q][s].m12, hi.d2Ad[q][s].m21, hi.d2Ad[q][s].m22, hi.d2Bd[q][s].v1, hi.d2Bd[q][s].v2};
            for (int e = 0; e < 6; ++e) EXPECT_NEAR(a[e], b[e], 1e-11 * std::fabs(a[e]) + 1e-24) << q << " " << s << " " << e;
        }
}

TEST(SslJvp, MatchesFiniteDifferencesAndTransposesTheBackward) {
    for (double fs : {22050.0, 44100.0, 96000.0})
        for (double fb : {0.0, 0.5, 0.999})
            for (bool audio : {false, true}) {
                SCOPED_TRACE("fs " + std::to_string(fs) + " fb " + std::to_string(fb) + (audio ? " audio" : " level"));
                problem p = make_problem(rows_for(fb, fs, 1), fs, std::size_t(0.1 * fs), audio, 7);
                p.P[P_KNEE][1] = 6.0;  // a knee on one row
                for (std::size_t b = 0; b < p.B; ++b) EXPECT_GE(flips_of_row(p, b), 20u);
                check_jvp(p, false);
            }
}

TEST(SslSecondOrder, LevelEntryMatchesFiniteDifferencesOfTheBackward) {
    for (double fb : {0.0, 0.5, 0.999})
        for (double fs : {22050.0, 96000.0}) {
            SCOPED_TRACE("fs " + std::to_string(fs) + " fb " + std::to_string(fb));
            problem p = make_problem(rows_for(fb, fs, 2), fs, std::size_t(0.1 * fs), false, 9);
            for (std::size_t b = 0; b < p.B; ++b) EXPECT_GE(flips_of_row(p, b), 20u);
            check_second_order(p);
        }
}

TEST(SslSecondOrder, SoftKneeMatchesFiniteDifferencesOfTheBackward) {
    const double fs = 44100;
    problem p = make_problem(rows_for(0.5, fs, 3), fs, std::size_t(0.1 * fs), false, 13);
    p.P[P_KNEE] = {6.0, 12.0, 8.0};
    p.P[P_FB] = {0.5, 0.0, 0.999};
    // The first half of each row sweeps slowly through the knee (±14 dB around −20 dB at 20 Hz).
    for (std::size_t b = 0; b < p.B; ++b)
        for (std::size_t t = 0; t < p.n / 2; ++t)
            p.x[b * p.n + t] = -20 - 14 * std::cos(2 * M_PI * 20 * double(t) / fs) + 0.1 * std::sin(0.37 * double(t));
    std::size_t in_knee = 0;
    const auto mask = decisions(p);
    for (unsigned char m : mask) in_knee += m == 3;
    EXPECT_GT(in_knee, 50u) << "attack steps inside the knee";
    check_second_order(p);
}

TEST(SslSecondOrder, AudioEntryMatchesFiniteDifferencesOfTheBackward) {
    for (double fb : {0.0, 0.5, 0.999}) {
        SCOPED_TRACE("fb " + std::to_string(fb));
        const double fs = 44100;
        problem p = make_problem(rows_for(fb, fs, 4), fs, std::size_t(0.1 * fs), true, 21);
        for (std::size_t b = 0; b < p.B; ++b) EXPECT_GE(flips_of_row(p, b), 20u);
        check_second_order(p);
    }
}

TEST(SslSecondOrder, SoftGateIsRefused) {
    problem p = make_problem(rows_for(0.5, 44100, 5), 44100, 200, false, 3);
    p.P[P_K][1] = 2.0;
    const upstream up = random_upstream(p, 1);
    const tangent v = random_tangent(p, 2, true);
    try {
        backward_backward(p, up, v);
        FAIL() << "expected argument_error(gate_k)";
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("gate_k", 0), 0u) << e.what();
    }
}

// ------------------------------------------------------------------------------------------------
// Soft gate

namespace {
/// Every first-order gradient of a soft-gate batch against differences of its forward.
void check_soft_gradients(const problem& p) {
    const upstream up = random_upstream(p, 31);
    const std::vector<double> g = backward(p, up);
    const forward_result base = forward(p);
    std::size_t checked = 0, nonzero = 0, level_checked = 0, level_nonzero = 0;
    auto check = [&](const input_ref& ref, double analytic, const std::string& what) {
        const auto [h, one_sided] = step_for(p, ref);
        const auto fd = derivative([&](double d) { return weigh(p, forward(perturbed(p, ref, d)), up); },
                                   [&](double d) { return decisions(perturbed(p, ref, d)); }, h, one_sided);
        ASSERT_TRUE(fd.has_value()) << what;
        (ref.kind == input_ref::level ? level_checked : checked) += 1;
        (ref.kind == input_ref::level ? level_nonzero : nonzero) += *fd != 0.0;
        EXPECT_TRUE(close_rel(analytic, *fd, 1e-6, 1e-10 / h)) << what;
    };
    for (std::size_t b = 0; b < p.B; ++b) {
        for (int k = 0; k < NP; ++k) {
            if (k == P_KNEE && p.P[P_KNEE][b] == 0.0) continue;
            check({input_ref::param, k, b, 0}, g[p.B * p.n + k * p.B + b], std::string(names[k]) + " row " + std::to_string(b));
        }
        for (int i = 0; i < 2; ++i)
            check({input_ref::state, i, b, 0}, g[p.B * p.n + NP * p.B + 2 * b + i], "zi row " + std::to_string(b));
    }
    for (const input_ref& ref : level_refs(p, 10)) check(ref, g[ref.b * p.n + ref.t], "x[" + std::to_string(ref.t) + "]");
    EXPECT_GE(nonzero * 10, checked * 9);
    EXPECT_GE(level_nonzero * 3, level_checked * 2 - 3);
}
}  // namespace

TEST(SslSoftGate, GradientsIncludingKMatchFiniteDifferences) {
    for (double fb : {0.0, 0.5, 0.999})
        for (bool audio : {false, true}) {
            SCOPED_TRACE("fb " + std::to_string(fb) + (audio ? " audio" : " level"));
            const double fs = 44100;
            problem p = make_problem(rows_for(fb, fs, 6), fs, std::size_t(0.05 * fs), audio, 41);
            p.P[P_K] = {0.5, 2.0, 8.0};
            p.P[P_KNEE][2] = 6.0;
            check_soft_gradients(p);
        }
}

TEST(SslSoftGate, JvpMatchesFiniteDifferencesAndTransposesTheBackward) {
    for (double fb : {0.0, 0.5, 0.999})
        for (bool audio : {false, true}) {
            SCOPED_TRACE("fb " + std::to_string(fb) + (audio ? " audio" : " level"));
            const double fs = 44100;
            problem p = make_problem(rows_for(fb, fs, 7), fs, std::size_t(0.05 * fs), audio, 43);
            p.P[P_K] = {1.0, 3.0, inf};  // a hard row in the same batch
            check_jvp(p, true);
        }
}

TEST(SslSoftGate, ApproachesTheHardGateAsKGrows) {
    const double fs = 44100;
    problem hard = make_problem(rows_for(0.5, fs, 8), fs, std::size_t(0.1 * fs), false, 47);
    const forward_result h = forward(hard);
    double previous = inf;
    for (double k : {1.0, 10.0, 100.0, 1e3, 1e4, 1e6}) {
        problem soft = hard;
        soft.P[P_K].assign(soft.B, k);
        const forward_result s = forward(soft);
        double err = 0;
        for (std::size_t i = 0; i < s.gain.size(); ++i) err = std::max(err, std::fabs(s.gain[i] - h.gain[i]));
        EXPECT_LT(err, previous) << "k " << k;  // closer as k grows
        previous = err;
        if (k >= 1e6) {
            EXPECT_LT(err, 1e-3) << "k " << k;
        }
        if (k == 1.0) {
            EXPECT_GT(err, 0.1) << "a soft gate that soft must differ visibly";
        }
    }
}

TEST(SslSoftGate, StreamingEqualsBatchBitForBit) {
    const double fs = 48000;
    problem p = make_problem(rows_for(0.5, fs, 9), fs, 3000, false, 53);
    p.P[P_K].assign(p.B, 2.5);
    p.zi.assign(2 * p.B, 0.0);
    const forward_result f = forward(p);
    for (std::size_t b = 0; b < p.B; ++b) {
        dd::ssl_gain_processor<double> proc;
        dd::ssl_settings s;
        const dd::ssl_row_params r = p.row(b);
        s.comp_thresh = r.comp_thresh;
        s.comp_ratio = r.comp_ratio;
        s.T_attack_fast = r.T_attack_fast;
        s.T_attack_slow = r.T_attack_slow;
        s.T_shunt_fast = r.T_shunt_fast;
        s.T_shunt_slow = r.T_shunt_slow;
        s.feedback_coeff = r.feedback_coeff;
        s.gate_k = r.gate_k;
        proc.prepare({fs, 1, 512}, s);
        std::vector<double> out(p.n);
        for (std::size_t t0 = 0; t0 < p.n;) {
            const std::size_t m = std::min<std::size_t>(1 + (t0 * 7) % 300, p.n - t0);
            const double* in = p.x.data() + b * p.n + t0;
            double* o = out.data() + t0;
            proc.process(&in, &o, m);
            t0 += m;
        }
        for (std::size_t t = 0; t < p.n; ++t) ASSERT_EQ(out[t], f.gain[b * p.n + t]) << "row " << b << " t " << t;
    }
}

TEST(SslSoftGate, BadGateKNamesTheArgument) {
    problem p = make_problem(rows_for(0.5, 44100, 10), 44100, 100, false, 3);
    for (double bad : {0.0, -1.0, std::nan("")}) {
        p.P[P_K].assign(p.B, bad);
        try {
            forward(p);
            FAIL() << "expected argument_error for gate_k = " << bad;
        } catch (const dd::argument_error& e) {
            EXPECT_EQ(std::string(e.what()).rfind("gate_k", 0), 0u) << e.what();
        }
    }
}
