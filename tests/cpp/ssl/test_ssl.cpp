// SSL bus compressor: operators against finite differences and the continuous-time
// RC ladder, the forward against an independent transcription of its definition (docs/reference/ssl.md), every gradient against
// float64 finite differences of the forward on programs with many attack/release flips, presets,
// float32, threads, streaming steps, and errors.
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

#include "differential_dynamics/core.hpp"
#include "ssl/ssl_model.hpp"
#include "differential_dynamics/ssl.hpp"

using dd::row_param;
using dd::signal_span;
using dd::signal_view;

namespace {

// ------------------------------------------------------------------------------------------------
// Independent 2×2 linear algebra for the references: eigen-decomposition of a matrix with real,
// distinct eigenvalues; f(A) = V·diag(f(λ))·V⁻¹.

struct M2 {
    double a11, a12, a21, a22;
};
struct V2 {
    double x, y;
};

/// Eigenvalues l[0] > l[1] and eigenvectors (−a12, a11 − λ) of A (a12 ≠ 0, (a11 − a22)² + 4·a12·a21 > 0),
/// with a11 − λ = p ∓ disc evaluated without cancellation.
struct Eig2 {
    double l[2];
    M2 V;  // columns are the eigenvectors
};
Eig2 eig2(const M2& A) {
    const double tr = A.a11 + A.a22, p = (A.a11 - A.a22) / 2, q = A.a12 * A.a21;
    const double disc = std::sqrt(p * p + q);
    const double pm = p >= 0 ? -q / (p + disc) : p - disc;  // p − disc
    const double pp = p >= 0 ? p + disc : -q / (p - disc);  // p + disc
    return {{tr / 2 + disc, tr / 2 - disc}, {-A.a12, -A.a12, pm, pp}};
}

M2 apply_function(const M2& A, double (*f)(double, double), double arg) {
    const Eig2 e = eig2(A);
    const double* l = e.l;
    const M2& V = e.V;
    const double vdet = V.a11 * V.a22 - V.a12 * V.a21;
    const M2 Vi{V.a22 / vdet, -V.a12 / vdet, -V.a21 / vdet, V.a11 / vdet};
    const double f0 = f(l[0], arg), f1 = f(l[1], arg);
    return {V.a11 * f0 * Vi.a11 + V.a12 * f1 * Vi.a21, V.a11 * f0 * Vi.a12 + V.a12 * f1 * Vi.a22,
            V.a21 * f0 * Vi.a11 + V.a22 * f1 * Vi.a21, V.a21 * f0 * Vi.a12 + V.a22 * f1 * Vi.a22};
}
double f_exp(double l, double t) { return std::exp(l * t); }
double f_zoh(double l, double t) { return std::expm1(l * t) / l; }  // ∫₀ᵗ e^{λs} ds

M2 attack_matrix(double taf, double tas, double tsf, double tss) {
    const double a = 1 / taf, b = 1 / tas, c = 1 / tsf, d = 1 / tss;
    return {-(a + c), -a, -b, -(b + d)};
}

struct ref_params {
    double ct, cr, taf, tas, tsf, tss, fb;
};

/// The definition (docs/reference/ssl.md) transcribed directly, with its own operators (shares no code with the library).
std::vector<double> ref_ssl(const std::vector<double>& xdb, const ref_params& p, double fs) {
    const double h = 1 / fs;
    const M2 A = attack_matrix(p.taf, p.tas, p.tsf, p.tss);
    const M2 Ad = apply_function(A, f_exp, h);
    const M2 G = apply_function(A, f_zoh, h);
    const V2 Bd{G.a11 / p.taf + G.a12 / p.tas, G.a21 / p.taf + G.a22 / p.tas};
    const double r1 = std::exp(-h / p.tsf), r2 = std::exp(-h / p.tss);
    const double s = 1 - 1 / p.cr;
    double x1 = 0, x2 = 0, y = 0;
    std::vector<double> out(xdb.size());
    for (std::size_t t = 0; t < xdb.size(); ++t) {
        const double d = xdb[t] + p.fb * y;
        const double a = std::min(0.0, s * (p.ct - d));
        if (a < y) {
            const double n1 = Ad.a11 * x1 + Ad.a12 * x2 + Bd.x * a;
            const double n2 = Ad.a21 * x1 + Ad.a22 * x2 + Bd.y * a;
            x1 = n1;
            x2 = n2;
        } else {
            x1 *= r1;
            x2 *= r2;
        }
        y = x1 + x2;
        out[t] = y;
    }
    return out;
}

// ------------------------------------------------------------------------------------------------
// Parameters, programs

enum { P_CT, P_CR, P_TAF, P_TAS, P_TSF, P_TSS, P_FB, P_KNEE, P_COUNT };
const char* const param_names[P_COUNT] = {"comp_thresh",  "comp_ratio",  "T_attack_fast",  "T_attack_slow",
                                          "T_shunt_fast", "T_shunt_slow", "feedback_coeff", "knee"};
using row_values = std::array<double, P_COUNT>;

row_values preset_row(double attack_ohms, double release_ohms, double ratio, double fs, double ct, double fb) {
    const dd::ssl_knob_params k = dd::ssl_preset(attack_ohms, release_ohms, ratio, fs);
    return {ct, k.comp_ratio, k.T_attack_fast, k.T_attack_slow, k.T_shunt_fast, k.T_shunt_slow, fb, 0.0};
}

row_values random_row(std::mt19937_64& rng, double fb) {
    std::uniform_real_distribution<double> u(0, 1);
    auto logu = [&](double lo, double hi) { return lo * std::pow(hi / lo, u(rng)); };
    const double taf = logu(1e-4, 5e-3);
    return {-30 + 15 * u(rng), 1.5 + 8 * u(rng), taf, taf * logu(4, 30), logu(0.02, 0.5), logu(0.3, 8), fb, 0.0};
}

/// Detector level in dB: square wave + bursts + a step, with 1 dB noise (many attack/release flips).
std::vector<double> program(std::size_t n, double fs, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::vector<double> x(n);
    const std::size_t period = std::size_t(fs * (0.006 + 0.002 * (seed % 5)));
    for (std::size_t t = 0; t < n; ++t) {
        const double sec = std::fmod(double(t) / fs, 0.1);  // the 100 ms pattern repeats
        double db;
        if (sec < 0.03)
            db = ((t / period) % 2 == 0) ? -3.0 : -40.0;   // square
        else if (sec < 0.06)
            db = (std::fmod(sec, 0.01) < 0.002) ? 0.0 : -50.0;  // bursts
        else
            db = sec < 0.08 ? -8.0 : -35.0;  // step up, then down
        x[t] = db + noise(rng);
    }
    return x;
}

std::size_t count_flips(const std::vector<unsigned char>& mask) {
    std::size_t f = 0;
    for (std::size_t t = 1; t < mask.size(); ++t) f += (mask[t] & 1) != (mask[t - 1] & 1);
    return f;
}

dd::ssl_row_params to_row(const row_values& v) {
    return {v[P_CT], v[P_CR], v[P_TAF], v[P_TAS], v[P_TSF], v[P_TSS], v[P_FB], v[P_KNEE]};
}

/// One row through the batch API (B = 1, scalar parameters).
std::vector<double> forward_row(const std::vector<double>& x, const row_values& v, double fs) {
    dd::ssl_params<double> p{v[P_CT], v[P_CR], v[P_TAF], v[P_TAS], v[P_TSF], v[P_TSS], v[P_FB], fs, v[P_KNEE]};
    std::vector<double> y(x.size());
    dd::ssl_comp_gain<double>({x.data(), 1, x.size()}, p, {y.data(), 1, y.size()});
    return y;
}

/// The discrete decisions of one row (via the public per-sample step): bit 0 the attack gate, bits 1–2
/// the branch of the static curve (0: a = 0, 1: inside the knee, 2: linear). The exact derivative
/// holds all of them fixed, so a finite difference is only valid if none changes.
std::vector<unsigned char> decision_mask(const std::vector<double>& level_db, const dd::ssl_model& m) {
    dd::ssl_state s;
    std::vector<unsigned char> mask(level_db.size());
    for (std::size_t t = 0; t < level_db.size(); ++t) {
        const double dist = level_db[t] + m.feedback * s.y_prev - m.comp_thresh;
        const int branch = 2 * dist <= -m.knee ? 0 : (2 * dist >= m.knee ? 2 : 1);
        bool attack = false;
        dd::ssl_step(m, s, level_db[t], &attack);
        mask[t] = (unsigned char)(int(attack) | (branch << 1));
    }
    return mask;
}
std::vector<unsigned char> decisions(const std::vector<double>& x, const row_values& v, double fs) {
    return decision_mask(x, dd::make_ssl_model(to_row(v), fs));
}

/// d/dθ Σ_t w_t·y_t by a 4th-order 5-point difference (central, or one-sided forward where θ sits on
/// the boundary of its domain). Returns nullopt if an attack/release decision differs at any of the
/// evaluation points even after shrinking the step twice (the derivative is then not the a.e. one).
std::optional<double> finite_difference(const std::function<std::vector<double>(double)>& eval_y,
                                        const std::function<std::vector<unsigned char>(double)>& eval_mask,
                                        const std::vector<double>& w, double h, bool one_sided) {
    const std::vector<unsigned char> base = eval_mask(0.0);
    for (int attempt = 0; attempt < 3; ++attempt, h /= 8) {
        std::vector<double> offs, coef;
        if (one_sided) {
            offs = {0, 1, 2, 3, 4};
            coef = {-25, 48, -36, 16, -3};
        } else {
            offs = {-2, -1, 1, 2};
            coef = {1, -8, 8, -1};
        }
        bool flipped = false;
        std::vector<long double> comb(w.size(), 0.0L);
        for (std::size_t i = 0; i < offs.size() && !flipped; ++i) {
            if (offs[i] != 0 && eval_mask(offs[i] * h) != base) flipped = true;
            const std::vector<double> y = eval_y(offs[i] * h);
            for (std::size_t t = 0; t < w.size(); ++t) comb[t] += (long double)coef[i] * y[t];
        }
        if (flipped) continue;
        long double s = 0;
        for (std::size_t t = 0; t < w.size(); ++t) s += (long double)w[t] * comb[t];
        return double(s / (12.0L * h));
    }
    return std::nullopt;
}

::testing::AssertionResult close_rel(double analytic, double numeric, double rel, double abs_floor = 0.0) {
    const double err = std::fabs(analytic - numeric);
    if (err <= rel * std::fabs(numeric) + abs_floor) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "analytic " << analytic << " vs FD " << numeric << " (rel err "
                                         << err / std::max(std::fabs(numeric), 1e-300) << ")";
}

// ------------------------------------------------------------------------------------------------
// The gradient check of a whole batch: every parameter of every row and a selection of samples.

struct grad_case {
    std::string name;
    double fs;
    std::vector<row_values> rows;
    std::vector<std::vector<double>> x;  // per row
    bool expect_flips = true;
    bool expect_all_attack = false;
};

void check_gradients(const grad_case& c, double rel = 1e-6) {
    SCOPED_TRACE(c.name);
    const std::size_t B = c.rows.size(), n = c.x[0].size();
    // Per-row parameter arrays, the signal and random loss weights.
    std::array<std::vector<double>, P_COUNT> P;
    for (int k = 0; k < P_COUNT; ++k)
        for (std::size_t b = 0; b < B; ++b) P[k].push_back(c.rows[b][k]);
    std::vector<double> x, w;
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> u(-1, 1);
    for (std::size_t b = 0; b < B; ++b) {
        x.insert(x.end(), c.x[b].begin(), c.x[b].end());
        for (std::size_t t = 0; t < n; ++t) w.push_back(u(rng));
    }
    auto rp = [&](int k) { return row_param<double>(P[k].data(), B); };
    dd::ssl_params<double> p{rp(P_CT), rp(P_CR), rp(P_TAF), rp(P_TAS), rp(P_TSF), rp(P_TSS), rp(P_FB), c.fs, rp(P_KNEE)};
    std::vector<double> gain(B * n), states(B * n * 2), gx(B * n);
    dd::ssl_comp_gain<double>({x.data(), B, n}, p, {gain.data(), B, n}, states.data());
    std::array<std::vector<double>, P_COUNT> G;
    for (auto& g : G) g.assign(B, 0.0);
    dd::ssl_param_grads<double> grads{G[P_CT].data(),  G[P_CR].data(),  G[P_TAF].data(), G[P_TAS].data(),
                                      G[P_TSF].data(), G[P_TSS].data(), G[P_FB].data(),  G[P_KNEE].data()};
    dd::ssl_comp_gain_backward<double>({x.data(), B, n}, p, states.data(), {w.data(), B, n}, gx.data(), grads);

    std::size_t checked = 0, skipped = 0, insensitive = 0;
    for (std::size_t b = 0; b < B; ++b) {
        SCOPED_TRACE("row " + std::to_string(b));
        const std::vector<double> wb(w.begin() + b * n, w.begin() + (b + 1) * n);
        const std::vector<unsigned char> mask = decisions(c.x[b], c.rows[b], c.fs);
        if (c.expect_flips) {
            EXPECT_GE(count_flips(mask), 20u) << "the program must switch attack/release often";
        }
        if (c.expect_all_attack) {
            EXPECT_EQ(std::count_if(mask.begin(), mask.end(), [](unsigned char m) { return m & 1; }), std::ptrdiff_t(n))
                << "gate must stay in attack";
        }
        // The batch result of this row equals the row computed alone (per-row parameters are used).
        const std::vector<double> alone = forward_row(c.x[b], c.rows[b], c.fs);
        for (std::size_t t = 0; t < n; t += 97) ASSERT_EQ(alone[t], gain[b * n + t]);

        for (int k = 0; k < P_COUNT; ++k) {
            const double v0 = c.rows[b][k];
            if (k == P_KNEE && v0 == 0.0) continue;  // W = 0 is a kink of the knee (checked with W > 0)
            if ((k == P_TAS || k == P_TSS) && c.rows[b][P_TAS] >= dd::ssl_bypassed_attack_slow) {
                // Fixed releases bypass the slow capacitor: it is never charged, so T_as and T_ss have
                // no visible effect (|T·∂L/∂T| ~ 1e−8 dB), below what any FD of the forward resolves.
                EXPECT_LT(std::fabs(G[k][b] * v0), 1e-6 * n) << param_names[k];
                ++insensitive;
                continue;
            }
            bool one_sided = false;
            double h;
            // Steps: y is affine in CT and the level (decisions fixed), so their FD has no truncation
            // error at all; the other parameters enter smoothly on the scale of their own value, so a
            // 1e−3 relative step leaves an O(1e−12) truncation error for the 5-point formula while
            // keeping the rounding noise of the long recursion (≈ n·eps·|y|) far below 1e−6.
            switch (k) {
                case P_CT: h = 1e-2; break;
                case P_FB: h = 1e-4; one_sided = v0 < 2e-4; break;
                case P_KNEE: h = 1e-3; break;
                default: h = 1e-3 * std::fabs(v0); break;  // relative steps on ratio and time constants
            }
            auto with = [&](double d) {
                row_values r = c.rows[b];
                r[k] += d;
                return r;
            };
            const auto fd = finite_difference([&](double d) { return forward_row(c.x[b], with(d), c.fs); },
                                              [&](double d) { return decisions(c.x[b], with(d), c.fs); }, wb, h,
                                              one_sided);
            if (!fd) {
                ++skipped;
                continue;
            }
            ++checked;
            EXPECT_NE(*fd, 0.0) << param_names[k];
            EXPECT_TRUE(close_rel(G[k][b], *fd, rel)) << param_names[k];
        }
        // The level: samples spread over the row, 16 attack steps on the compressing branch (non-zero
        // gradient) and 8 others (release, or a = 0: exactly zero gradient).
        std::vector<std::size_t> active, other, samples;
        for (std::size_t t = 0; t < n; ++t) ((mask[t] & 1) && (mask[t] >> 1) ? active : other).push_back(t);
        for (std::size_t i = 0; i < 16 && !active.empty(); ++i) samples.push_back(active[i * active.size() / 16]);
        for (std::size_t i = 0; i < 8 && !other.empty(); ++i) samples.push_back(other[i * other.size() / 8]);
        std::size_t nonzero = 0;
        for (std::size_t j : samples) {
            auto with = [&](double d) {
                std::vector<double> xr = c.x[b];
                xr[j] += d;
                return xr;
            };
            const auto fd = finite_difference([&](double d) { return forward_row(with(d), c.rows[b], c.fs); },
                                              [&](double d) { return decisions(with(d), c.rows[b], c.fs); }, wb, 1e-1,
                                              false);
            if (!fd) {
                ++skipped;
                continue;
            }
            ++checked;
            nonzero += *fd != 0.0;
            EXPECT_TRUE(close_rel(gx[b * n + j], *fd, rel, 1e-15)) << "x_peak_dB[" << j << "]";
        }
        EXPECT_GE(nonzero, 12u);
    }
    EXPECT_LE(insensitive, 2 * B);
    EXPECT_LE(skipped * 10, checked) << "too many finite differences straddle a decision";
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Operators

namespace {
std::vector<std::pair<dd::ssl_rates, double>> operator_cases() {
    std::vector<std::pair<dd::ssl_rates, double>> cases;
    for (double fs : {22050.0, 44100.0, 96000.0}) {
        for (double ra : dd::ssl_attack_ohms_positions) {
            for (double rr : {0.0, 180e3, 1.2e6}) {
                const dd::ssl_knob_params k = dd::ssl_preset(ra, rr, 4, fs);
                cases.push_back({{1 / k.T_attack_fast, 1 / k.T_attack_slow, 1 / k.T_shunt_fast, 1 / k.T_shunt_slow}, 1 / fs});
            }
        }
    }
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> u(0, 1);
    auto logu = [&](double lo, double hi) { return lo * std::pow(hi / lo, u(rng)); };
    for (int i = 0; i < 30; ++i) {
        const double taf = logu(2e-5, 0.05);
        cases.push_back({{1 / taf, 1 / (taf * logu(1, 50)), 1 / logu(1e-3, 2), 1 / logu(1e-2, 20)}, 1 / 44100.0});
    }
    // Nearly equal eigenvalues (δ·Ts < 1e−4: the series branch) and just above the switch.
    cases.push_back({{1.0, 1.0, 20.0, 20.0}, 1 / 44100.0});
    cases.push_back({{0.5, 2.0, 21.5, 20.0}, 1 / 96000.0});
    cases.push_back({{3.0, 3.0, 50.0, 50.0}, 1 / 22050.0});
    return cases;
}

double rate_of(const dd::ssl_rates& r, int q) {
    const double v[4] = {r.af, r.as, r.sf, r.ss};
    return v[q];
}
dd::ssl_rates with_rate(dd::ssl_rates r, int q, double v) {
    double* f[4] = {&r.af, &r.as, &r.sf, &r.ss};
    *f[q] = v;
    return r;
}
std::array<double, 6> flat(const dd::ssl_zoh& z) { return {z.Ad.m11, z.Ad.m12, z.Ad.m21, z.Ad.m22, z.Bd.v1, z.Bd.v2}; }
std::array<double, 6> flat(const dd::ssl_zoh_derivatives& d, int q) {
    return {d.dAd[q].m11, d.dAd[q].m12, d.dAd[q].m21, d.dAd[q].m22, d.dBd[q].v1, d.dBd[q].v2};
}
}  // namespace

TEST(SslZoh, OperatorDerivativesMatchFiniteDifferences) {
    const char* entry[6] = {"Ad11", "Ad12", "Ad21", "Ad22", "Bd1", "Bd2"};
    for (const auto& [r, Ts] : operator_cases()) {
        for (int mode = 0; mode < 2; ++mode) {
            auto op = [&, Ts = Ts](const dd::ssl_rates& rr, dd::ssl_zoh_derivatives* d) {
                return mode == 0 ? dd::ssl_attack_zoh(rr, Ts, d) : dd::ssl_release_zoh(rr, Ts, d);
            };
            dd::ssl_zoh_derivatives d;
            op(r, &d);
            for (int q = 0; q < 4; ++q) {
                if (mode == 1 && (q == dd::ssl_af || q == dd::ssl_as)) {
                    for (double v : flat(d, q)) EXPECT_EQ(v, 0.0);  // the open diode does not see R_af, R_as
                    continue;
                }
                // The operators vary on the scale max(R, 1/Ts): a step 1e−3 of it keeps the O(h⁴)
                // truncation and the rounding of entries ≈ 1 both near 1e−12 relative. Rates smaller
                // than the step (e.g. the bypassed slow capacitor) get the one-sided 5-point formula.
                const double R = rate_of(r, q), h = 1e-3 * std::max(R, 1 / Ts);
                const bool one_sided = 2 * h >= 0.5 * R;
                const std::vector<double> offs = one_sided ? std::vector<double>{0, 1, 2, 3, 4}
                                                           : std::vector<double>{-2, -1, 1, 2};
                const std::vector<double> coef = one_sided ? std::vector<double>{-25, 48, -36, 16, -3}
                                                           : std::vector<double>{1, -8, 8, -1};
                std::array<double, 6> fd{};
                for (std::size_t i = 0; i < offs.size(); ++i) {
                    const auto v = flat(op(with_rate(r, q, R + offs[i] * h), nullptr));
                    for (int e = 0; e < 6; ++e) fd[e] += coef[i] * v[e];
                }
                for (int e = 0; e < 6; ++e) fd[e] /= 12 * h;
                const auto an = flat(d, q);
                double scale = 0;
                for (int e = 0; e < 6; ++e) scale = std::max(scale, std::fabs(fd[e]));
                for (int e = 0; e < 6; ++e) {
                    // Relative 1e−7 per entry; entries far below the largest one of the same derivative
                    // (e.g. exact zeros) are held to 1e−9 of that largest entry.
                    EXPECT_TRUE(close_rel(an[e], fd[e], 1e-7, 1e-9 * scale))
                        << (mode ? "release " : "attack ") << "d" << entry[e] << "/dR" << q << " rates " << r.af
                        << " " << r.as << " " << r.sf << " " << r.ss << " Ts " << Ts;
                }
                EXPECT_GT(scale, 0.0);
            }
        }
    }
}

TEST(SslZoh, OperatorsMatchIndependentEigenDecomposition) {
    for (const auto& [r, Ts] : operator_cases()) {
        const dd::ssl_zoh z = dd::ssl_attack_zoh(r, Ts);
        const M2 A = attack_matrix(1 / r.af, 1 / r.as, 1 / r.sf, 1 / r.ss);
        const M2 E = apply_function(A, f_exp, Ts), G = apply_function(A, f_zoh, Ts);
        const V2 Bd{G.a11 * r.af + G.a12 * r.as, G.a21 * r.af + G.a22 * r.as};
        EXPECT_NEAR(z.Ad.m11, E.a11, 1e-13);
        EXPECT_NEAR(z.Ad.m12, E.a12, 1e-13);
        EXPECT_NEAR(z.Ad.m21, E.a21, 1e-13);
        EXPECT_NEAR(z.Ad.m22, E.a22, 1e-13);
        const double bscale = std::max(std::fabs(Bd.x), std::fabs(Bd.y));
        EXPECT_TRUE(close_rel(z.Bd.v1, Bd.x, 1e-11, 1e-13 * bscale));
        EXPECT_TRUE(close_rel(z.Bd.v2, Bd.y, 1e-11, 1e-13 * bscale));
    }
}

TEST(SslZoh, SeriesAndEigenBranchesAgreeAtTheSwitch) {
    // δ·Ts crosses 1e−4 between these two: p = 0, δ = √(ab) with a = b.
    const double Ts = 1 / 44100.0;
    for (double a : {4.40, 4.42}) {
        dd::ssl_zoh_derivatives d;
        const dd::ssl_zoh z = dd::ssl_attack_zoh({a, a, 30.0, 30.0}, Ts, &d);
        dd::ssl_zoh_derivatives d2;
        const dd::ssl_zoh z2 = dd::ssl_attack_zoh({a * (1 + 1e-12), a, 30.0, 30.0}, Ts, &d2);
        EXPECT_TRUE(close_rel(z.Bd.v1, z2.Bd.v1, 1e-10));
        EXPECT_TRUE(close_rel(z.Bd.v2, z2.Bd.v2, 1e-10));
    }
    dd::ssl_zoh_derivatives lo, hi;
    const dd::ssl_zoh zl = dd::ssl_attack_zoh({4.40, 4.40, 30.0, 30.0}, Ts, &lo);  // δTs ≈ 0.998e−4: series
    const dd::ssl_zoh zh = dd::ssl_attack_zoh({4.42, 4.42, 30.0, 30.0}, Ts, &hi);  // eigen
    // Smooth in the rates: the two agree to first order (difference ≈ derivative·Δa).
    for (int q = 0; q < 4; ++q) {
        const auto a = flat(lo, q), b = flat(hi, q);
        for (int e = 0; e < 6; ++e) EXPECT_NEAR(a[e], b[e], 1e-2 * std::fabs(a[e]) + 1e-14);
    }
    EXPECT_NEAR(zl.Bd.v1, zh.Bd.v1, 1e-2 * zl.Bd.v1);
}

TEST(SslZoh, StepResponseOfEachModeEqualsContinuousTimeRcLadder) {
    for (double fs : {22050.0, 44100.0, 96000.0}) {
        for (const auto& [ra, rr] : std::vector<std::pair<double, double>>{{820, 0}, {27e3, 0}, {820, 270e3}, {270e3, 1.2e6}}) {
            const dd::ssl_knob_params k = dd::ssl_preset(ra, rr, 4, fs);
            const dd::ssl_rates r{1 / k.T_attack_fast, 1 / k.T_attack_slow, 1 / k.T_shunt_fast, 1 / k.T_shunt_slow};
            const double Ts = 1 / fs, input = -12.0;
            // Attack mode, constant input from rest: ẋ = A·x + B·u, x(0) = 0, solved by eigen-decomposition:
            // x(t) = x_ss + Σ_i c_i·e^{λ_i t}·v_i with x_ss = −A⁻¹B·u and Σ c_i·v_i = −x_ss.
            const double a = r.af, b = r.as, c = r.sf, d = r.ss;
            const double A11 = -(a + c), A12 = -a, A21 = -b, A22 = -(b + d);
            const double det = A11 * A22 - A12 * A21;
            const double xs1 = -(A22 * a - A12 * b) / det * input, xs2 = -(-A21 * a + A11 * b) / det * input;
            const Eig2 eg = eig2({A11, A12, A21, A22});
            const double l1 = eg.l[0], l2 = eg.l[1];
            const double v1x = eg.V.a11, v1y = eg.V.a21, v2x = eg.V.a12, v2y = eg.V.a22;
            const double vd = v1x * v2y - v2x * v1y;
            const double c1 = (-xs1 * v2y + v2x * xs2) / vd, c2 = (v1x * (-xs2) - (-xs1) * v1y) / vd;
            // DC gain K/(1+K), K = R_af/R_sf + R_as/R_ss.
            const double K = a / c + b / d;
            EXPECT_NEAR((xs1 + xs2) / input, K / (1 + K), 1e-12);
            const dd::ssl_zoh z = dd::ssl_attack_zoh(r, Ts);
            double x1 = 0, x2 = 0;
            const double scale = std::fabs(input);
            for (int n = 1; n <= 20000; ++n) {
                const double n1 = z.Ad.m11 * x1 + z.Ad.m12 * x2 + z.Bd.v1 * input;
                const double n2 = z.Ad.m21 * x1 + z.Ad.m22 * x2 + z.Bd.v2 * input;
                x1 = n1;
                x2 = n2;
                if (n % 37 == 0 || n < 10) {
                    const double t = n * Ts;
                    const double e1 = std::exp(l1 * t), e2 = std::exp(l2 * t);
                    ASSERT_NEAR(x1, xs1 + c1 * e1 * v1x + c2 * e2 * v2x, (1e-13 + 4e-16 * n) * scale) << "attack x1, n=" << n;
                    ASSERT_NEAR(x2, xs2 + c1 * e1 * v1y + c2 * e2 * v2y, (1e-13 + 4e-16 * n) * scale) << "attack x2, n=" << n;
                }
            }
            // Release mode: each capacitor discharges through its shunt, x_i(t) = x_i(0)·e^{−t/T}.
            const dd::ssl_zoh zr = dd::ssl_release_zoh(r, Ts);
            EXPECT_EQ(zr.Bd.v1, 0.0);
            EXPECT_EQ(zr.Bd.v2, 0.0);
            double y1 = -7.0, y2 = -3.0;
            for (int n = 1; n <= 20000; ++n) {
                const double n1 = zr.Ad.m11 * y1 + zr.Ad.m12 * y2;
                const double n2 = zr.Ad.m21 * y1 + zr.Ad.m22 * y2;
                y1 = n1;
                y2 = n2;
                if (n % 101 == 0) {
                    const double t = n * Ts;
                    ASSERT_NEAR(y1, -7.0 * std::exp(-t / k.T_shunt_fast), (1e-14 + 4e-16 * n) * 7) << n;
                    ASSERT_NEAR(y2, -3.0 * std::exp(-t / k.T_shunt_slow), (1e-14 + 4e-16 * n) * 3) << n;
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Presets

TEST(SslPreset, HardwareValues) {
    const dd::ssl_knob_params k = dd::ssl_preset(820, dd::ssl_release_auto, 4, 44100);
    EXPECT_NEAR(k.T_attack_fast, 820 * 0.47e-6, 1e-18);   // ≈ 0.385 ms
    EXPECT_NEAR(k.T_attack_slow, 820 * 6.8e-6, 1e-18);    // ≈ 5.58 ms
    EXPECT_NEAR(k.T_shunt_fast, 91e3 * 0.47e-6, 1e-15);   // ≈ 42.77 ms
    EXPECT_NEAR(k.T_shunt_slow, 750e3 * 6.8e-6, 1e-14);   // 5.1 s
    EXPECT_NEAR(k.T_shunt_fast, 0.04277, 1e-6);
    EXPECT_EQ(k.comp_ratio, 4);
    const dd::ssl_knob_params f = dd::ssl_preset(27e3, 560e3, 10, 48000);
    EXPECT_NEAR(f.T_attack_fast, 27e3 * 0.47e-6, 1e-16);
    EXPECT_NEAR(f.T_shunt_fast, 560e3 * 0.47e-6, 1e-14);
    EXPECT_NEAR(f.T_shunt_slow, 1 / 48000.0, 1e-18);
    EXPECT_GE(f.T_attack_slow, 1e3);
    EXPECT_EQ(f.comp_ratio, 10);
    try {
        dd::ssl_preset(1000, 0, 4);
        FAIL();
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(e.argument(), "attack_ohms");
    }
    EXPECT_THROW(dd::ssl_preset(820, 100e3, 4), dd::argument_error);
    EXPECT_THROW(dd::ssl_preset(820, 0, 3), dd::argument_error);
    EXPECT_THROW(dd::ssl_preset(820, 0, 4, 0), dd::argument_error);
}

// ------------------------------------------------------------------------------------------------
// Forward

TEST(SslForward, MatchesIndependentTranscriptionOfTheModel) {
    std::mt19937_64 rng(3);
    for (double fs : {22050.0, 44100.0, 96000.0}) {
        for (double fb : {0.0, 0.5, 0.999}) {
            std::vector<row_values> rows = {preset_row(820, 0, 4, fs, -20, fb), random_row(rng, fb),
                                            preset_row(8.2e3, 270e3, 10, fs, -25, fb), random_row(rng, fb)};
            for (std::size_t i = 0; i < rows.size(); ++i) {
                const auto& v = rows[i];
                const std::vector<double> x = program(std::size_t(0.1 * fs), fs, unsigned(i + 10));
                const std::vector<double> y = forward_row(x, v, fs);
                const std::vector<double> r =
                    ref_ssl(x, {v[P_CT], v[P_CR], v[P_TAF], v[P_TAS], v[P_TSF], v[P_TSS], v[P_FB]}, fs);
                double worst = 0;
                for (std::size_t t = 0; t < x.size(); ++t) worst = std::max(worst, std::fabs(y[t] - r[t]));
                EXPECT_LT(worst, 1e-11) << "fs " << fs << " fb " << fb << " row " << i;
                EXPECT_LT(*std::min_element(y.begin(), y.end()), -1.0);  // it compresses
            }
        }
    }
}

TEST(SslForward, SustainedCompressionStaysInAttackAndReachesStaticCurve) {
    const double fs = 8000;  // 40 s of signal: the slow capacitor (T_ss = 5.1 s) settles too
    for (double fb : {0.0, 0.5, 1.0}) {
        const row_values v = preset_row(820, 0, 4, fs, -20, fb);
        const std::vector<double> x(std::size_t(fs * 40), -2.0);
        const auto mask = decisions(x, v, fs);
        EXPECT_EQ(std::count_if(mask.begin(), mask.end(), [](unsigned char m) { return m & 1; }),
                  std::ptrdiff_t(x.size()));
        const std::vector<double> y = forward_row(x, v, fs);
        // Steady state of the attack-mode loop: y = G·s·(CT − L − fb·y), G = K/(1+K) the DC gain.
        const double a = 1 / v[P_TAF], b = 1 / v[P_TAS], c = 1 / v[P_TSF], d = 1 / v[P_TSS];
        const double K = a / c + b / d, G = K / (1 + K), s = 0.75;
        const double y_ss = G * s * (-20 + 2) / (1 + G * s * fb);
        EXPECT_NEAR(y.back(), y_ss, 1e-9);
        // With fb = 1 the effective ratio is 1 + s, up to the DC gain G ≈ 1.
        if (fb == 1.0) {
            EXPECT_NEAR(y.back(), -18 * s / (1 + s), 0.05);
        }
    }
}

TEST(SslForward, StreamingStepsEqualBatchBitForBit) {
    const double fs = 48000;
    const row_values v = preset_row(2.7e3, 0, 4, fs, -18, 0.3);
    const std::vector<double> x = program(7000, fs, 5);
    const std::vector<double> y = forward_row(x, v, fs);
    const dd::ssl_model m = dd::make_ssl_model(to_row(v), fs);
    dd::ssl_state s;
    for (std::size_t t = 0; t < x.size(); ++t) ASSERT_EQ(dd::ssl_step(m, s, x[t]), y[t]) << t;
}

TEST(SslForward, AudioStreamingStepsEqualBatchBitForBit) {
    const std::size_t n = 5000;
    std::mt19937_64 rng(8);
    std::normal_distribution<float> nd(0.0f, 0.5f);
    std::vector<float> x(n), g(n), y(n);
    for (auto& v : x) v = nd(rng);
    x[17] = 0.0f;
    dd::ssl_params<float> p{-20.0f, 4.0f, 3.85e-4f, 5.58e-3f, 0.04277f, 5.1f, 0.5f, 48000.0};
    dd::ssl_compress<float>({x.data(), 1, n}, p, {g.data(), 1, n}, {y.data(), 1, n});
    const dd::ssl_model m = dd::make_ssl_model(p.row(0), p.fs);
    dd::ssl_state s;
    for (std::size_t t = 0; t < n; ++t) {
        float gs, ys;
        dd::ssl_compress_step(m, s, x[t], x[t], gs, ys);
        ASSERT_EQ(gs, g[t]) << t;
        ASSERT_EQ(ys, y[t]) << t;
    }
}

TEST(SslForward, ThreadCountDoesNotChangeResults) {
    const std::size_t B = 6, n = 5000;
    std::vector<double> x;
    for (std::size_t b = 0; b < B; ++b) {
        auto r = program(n, 44100, unsigned(b));
        x.insert(x.end(), r.begin(), r.end());
    }
    std::vector<double> ct = {-20, -25, -15, -30, -22, -18};
    dd::ssl_params<double> p{row_param<double>(ct.data(), B), 4.0, 3.85e-4, 5.58e-3, 0.04277, 5.1, 0.5, 44100.0};
    std::vector<double> y1(B * n), y2(B * n), w(B * n, 1.0), g1(B * n), g2(B * n), c1(B), c2(B);
    dd::set_num_threads(1);
    dd::ssl_comp_gain<double>({x.data(), B, n}, p, {y1.data(), B, n});
    dd::ssl_comp_gain_backward<double>({x.data(), B, n}, p, nullptr, {w.data(), B, n}, g1.data(), {c1.data()});
    dd::set_num_threads(2);
    dd::ssl_comp_gain<double>({x.data(), B, n}, p, {y2.data(), B, n});
    dd::ssl_comp_gain_backward<double>({x.data(), B, n}, p, nullptr, {w.data(), B, n}, g2.data(), {c2.data()});
    dd::set_num_threads(0);
    EXPECT_EQ(y1, y2);
    EXPECT_EQ(g1, g2);
    EXPECT_EQ(c1, c2);
}

TEST(SslForward, FloatAgreesWithDouble) {
    const std::size_t n = 8000;
    const std::vector<double> xd = program(n, 44100, 9);
    std::vector<float> xf(xd.begin(), xd.end());
    std::vector<double> xr(xf.begin(), xf.end());  // the same (float-rounded) input in double
    dd::ssl_params<double> pd{-20.0, 4.0, 3.85e-4, 5.58e-3, 0.04277, 5.1, 0.5, 44100.0};
    dd::ssl_params<float> pf{-20.0f, 4.0f, 3.85e-4f, 5.58e-3f, 0.04277f, 5.1f, 0.5f, 44100.0};
    std::vector<double> yd(n), gd(n), w(n);
    std::vector<float> yf(n), gf(n), wf(n);
    std::mt19937_64 rng(1);
    std::uniform_real_distribution<double> u(-1, 1);
    for (std::size_t t = 0; t < n; ++t) wf[t] = float(w[t] = u(rng));
    dd::ssl_comp_gain<double>({xr.data(), 1, n}, pd, {yd.data(), 1, n});
    dd::ssl_comp_gain<float>({xf.data(), 1, n}, pf, {yf.data(), 1, n});
    for (std::size_t t = 0; t < n; ++t) ASSERT_NEAR(yf[t], yd[t], 2e-5 * (1 + std::fabs(yd[t]))) << t;
    double dT = 0;
    float fT = 0;
    dd::ssl_comp_gain_backward<double>({xr.data(), 1, n}, pd, nullptr, {w.data(), 1, n}, gd.data(), {nullptr, nullptr, &dT});
    dd::ssl_comp_gain_backward<float>({xf.data(), 1, n}, pf, nullptr, {wf.data(), 1, n}, gf.data(), {nullptr, nullptr, &fT});
    EXPECT_NEAR(fT, dT, 1e-4 * std::fabs(dT));
    for (std::size_t t = 0; t < n; ++t) ASSERT_NEAR(gf[t], gd[t], 1e-5 * (1 + std::fabs(gd[t]))) << t;
}

// ------------------------------------------------------------------------------------------------
// Gradients against finite differences

TEST(SslGradient, ConstantLevelAboveThresholdStaysInAttack) {
    std::mt19937_64 rng(11);
    for (double fs : {22050.0, 44100.0, 96000.0}) {
        for (double fb : {0.0, 0.5, 0.999}) {
            grad_case c;
            c.name = "constant fs " + std::to_string(fs) + " fb " + std::to_string(fb);
            c.fs = fs;
            c.expect_flips = false;
            c.expect_all_attack = true;
            c.rows = {preset_row(820, 0, 4, fs, -20, fb), random_row(rng, fb), preset_row(82e3, 0, 10, fs, -30, fb)};
            const std::size_t n = std::size_t(0.05 * fs);
            c.x = {std::vector<double>(n, -4.0), std::vector<double>(n, -1.0), std::vector<double>(n, -10.0)};
            check_gradients(c);
        }
    }
}

TEST(SslGradient, ProgramsWithManyFlips) {
    std::mt19937_64 rng(12);
    for (double fs : {22050.0, 44100.0, 96000.0}) {
        for (double fb : {0.0, 0.5, 0.999}) {
            grad_case c;
            c.name = "program fs " + std::to_string(fs) + " fb " + std::to_string(fb);
            c.fs = fs;
            c.rows = {preset_row(820, 0, 4, fs, -20, fb), random_row(rng, fb), preset_row(2.7e3, 180e3, 2, fs, -24, fb),
                      random_row(rng, fb)};
            const std::size_t n = std::size_t(0.1 * fs);
            for (std::size_t b = 0; b < c.rows.size(); ++b) c.x.push_back(program(n, fs, unsigned(100 + b)));
            check_gradients(c);
        }
    }
}

TEST(SslGradient, AllPresetTimeConstants) {
    const double fs = 44100;
    for (double ra : dd::ssl_attack_ohms_positions) {
        grad_case c;
        c.name = "preset attack " + std::to_string(ra);
        c.fs = fs;
        c.rows = {preset_row(ra, 0, 4, fs, -20, 0.5), preset_row(ra, 560e3, 2, fs, -20, 0.0),
                  preset_row(ra, 1.2e6, 10, fs, -26, 0.999)};
        const std::size_t n = std::size_t((ra > 20e3 ? 0.4 : 0.1) * fs);  // slow attacks: longer program
        for (std::size_t b = 0; b < c.rows.size(); ++b) c.x.push_back(program(n, fs, unsigned(200 + b)));
        check_gradients(c);
    }
}

TEST(SslGradient, SoftKnee) {
    const double fs = 44100;
    grad_case c;
    c.name = "knee";
    c.fs = fs;
    // Attack steps inside the knee need the gain to recover above the knee's output (≈ −s·W/2) between
    // loud passages: the auto release's slow capacitor prevents that unless fb is small; fixed releases
    // recover fully.
    c.rows = {preset_row(820, 0, 4, fs, -20, 0.5), preset_row(820, 270e3, 4, fs, -20, 0.0),
              preset_row(2.7e3, 180e3, 10, fs, -24, 0.999)};
    c.rows[0][P_KNEE] = 6;
    c.rows[1][P_KNEE] = 12;
    c.rows[2][P_KNEE] = 8;
    // Levels sweeping slowly through the knee (8 Hz, ±14 dB around −20 dB, small noise), then the
    // square/burst program: attack steps on all three branches of the curve.
    const std::size_t n = std::size_t(0.4 * fs);
    for (std::size_t b = 0; b < c.rows.size(); ++b) {
        std::vector<double> x = program(n, fs, unsigned(300 + b));
        for (std::size_t t = 0; t < n; ++t) {
            // First 0.25 s: two cycles from −34 dB up through the knee and back, then the program.
            const double sweep = -20 - 14 * std::cos(2 * M_PI * 8 * double(t) / fs);
            if (double(t) < 0.25 * fs) x[t] = sweep + 0.3 * (x[t] - std::round(x[t]));
        }
        c.x.push_back(x);
        const auto mask = decisions(x, c.rows[b], fs);
        EXPECT_GT(std::count_if(mask.begin(), mask.end(), [](unsigned char m) { return m == 3; }), 100)
            << "attack steps inside the knee";
    }
    check_gradients(c);
    // Knee 0 reproduces the hard curve exactly.
    row_values hard = c.rows[0];
    hard[P_KNEE] = 0;
    const std::vector<double> y = forward_row(c.x[0], hard, fs);
    const std::vector<double> r = ref_ssl(c.x[0], {hard[P_CT], hard[P_CR], hard[P_TAF], hard[P_TAS], hard[P_TSF], hard[P_TSS], hard[P_FB]}, fs);
    for (std::size_t t = 0; t < y.size(); ++t) ASSERT_NEAR(y[t], r[t], 1e-11);
}

TEST(SslGradient, BackwardWithoutTapeEqualsWithTape) {
    const std::size_t n = 3000;
    const std::vector<double> x = program(n, 44100, 1);
    dd::ssl_params<double> p{-20.0, 4.0, 3.85e-4, 5.58e-3, 0.04277, 5.1, 0.7, 44100.0};
    std::vector<double> y(n), st(2 * n), w(n, 0.5), g1(n), g2(n);
    double a1[8], a2[8];
    dd::ssl_comp_gain<double>({x.data(), 1, n}, p, {y.data(), 1, n}, st.data());
    dd::ssl_comp_gain_backward<double>({x.data(), 1, n}, p, st.data(), {w.data(), 1, n}, g1.data(),
                                       {&a1[0], &a1[1], &a1[2], &a1[3], &a1[4], &a1[5], &a1[6], &a1[7]});
    dd::ssl_comp_gain_backward<double>({x.data(), 1, n}, p, nullptr, {w.data(), 1, n}, g2.data(),
                                       {&a2[0], &a2[1], &a2[2], &a2[3], &a2[4], &a2[5], &a2[6], &a2[7]});
    EXPECT_EQ(g1, g2);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(a1[i], a2[i]);
}

TEST(SslGradient, AudioInEntry) {
    // ssl_compress: gain and processed audio; loss = Σ w·gain + Σ v·y, gradients to x and parameters.
    const double fs = 44100;
    const std::size_t n = 4000;
    std::mt19937_64 rng(5);
    std::normal_distribution<double> nd(0, 1);
    std::vector<double> x(n);
    for (std::size_t t = 0; t < n; ++t) {
        const double env = ((t / 400) % 2 == 0) ? 0.9 : 0.02;
        x[t] = env * nd(rng);
        if (t % 500 == 7) x[t] = 0.0;  // exact zeros: under the detector's floor
    }
    std::vector<double> wv(2 * n);  // weights of (gain, y)
    for (auto& q : wv) q = nd(rng);
    const row_values prm = preset_row(820, 0, 4, fs, -20, 0.5);
    auto params = [&](const row_values& r) {
        return dd::ssl_params<double>{r[P_CT], r[P_CR], r[P_TAF], r[P_TAS], r[P_TSF], r[P_TSS], r[P_FB], fs};
    };
    auto run = [&](const std::vector<double>& xx, const row_values& r) {
        std::vector<double> out(2 * n);
        dd::ssl_compress<double>({xx.data(), 1, n}, params(r), {out.data(), 1, n}, {out.data() + n, 1, n});
        return out;
    };
    auto mask = [&](const std::vector<double>& xx, const row_values& r) {
        std::vector<double> level(n);
        for (std::size_t t = 0; t < n; ++t) level[t] = dd::ssl_audio_level(xx[t]);
        return decision_mask(level, dd::make_ssl_model(to_row(r), fs));
    };
    std::vector<double> st(2 * n), g(n), y(n), gx(n);
    dd::ssl_compress<double>({x.data(), 1, n}, params(prm), {g.data(), 1, n}, {y.data(), 1, n}, st.data());
    EXPECT_GE(count_flips(mask(x, prm)), 20u);
    double gp[8] = {};
    dd::ssl_compress_backward<double>({x.data(), 1, n}, params(prm), st.data(), wv.data(), wv.data() + n, gx.data(),
                                      {&gp[0], &gp[1], &gp[2], &gp[3], &gp[4], &gp[5], &gp[6], &gp[7]});
    for (int k : {P_CT, P_CR, P_TAF, P_TAS, P_TSF, P_TSS, P_FB}) {
        const double h = (k == P_CT) ? 1e-2 : (k == P_FB ? 1e-4 : 1e-3 * prm[k]);
        auto with = [&](double d) {
            row_values r = prm;
            r[k] += d;
            return r;
        };
        const auto fd = finite_difference([&](double d) { return run(x, with(d)); },
                                          [&](double d) { return mask(x, with(d)); }, wv, h, false);
        ASSERT_TRUE(fd.has_value()) << param_names[k];
        EXPECT_TRUE(close_rel(gp[k], *fd, 1e-6)) << param_names[k];
    }
    std::size_t checked = 0;
    for (std::size_t j = 3; j < n; j += 131) {
        if (x[j] == 0.0) continue;
        auto with = [&](double d) {
            std::vector<double> xx = x;
            xx[j] += d;
            return xx;
        };
        const auto fd = finite_difference([&](double d) { return run(with(d), prm); },
                                          [&](double d) { return mask(with(d), prm); }, wv, 1e-4 * std::fabs(x[j]),
                                          false);
        if (!fd) continue;
        ++checked;
        EXPECT_TRUE(close_rel(gx[j], *fd, 1e-6)) << "x[" << j << "] = " << x[j];
    }
    EXPECT_GT(checked, 20u);
    std::size_t zeros = 0;
    for (std::size_t j = 7; j < n; j += 500) {
        // Under the floor the detector has zero derivative: only the direct path db2amp(g)·v remains.
        EXPECT_EQ(x[j], 0.0);
        EXPECT_NEAR(gx[j], wv[n + j] * std::pow(10.0, (st[2 * j] + st[2 * j + 1]) / 20), 1e-14);
        ++zeros;
    }
    EXPECT_GT(zeros, 5u);
}

// ------------------------------------------------------------------------------------------------
// Errors

TEST(SslErrors, BadParametersNameTheArgument) {
    const std::size_t n = 10;
    std::vector<double> x(n, -10.0), y(n);
    auto expect = [&](const dd::ssl_params<double>& p, const std::string& name) {
        try {
            dd::ssl_comp_gain<double>({x.data(), 1, n}, p, {y.data(), 1, n});
            ADD_FAILURE() << "no error for " << name;
        } catch (const dd::argument_error& e) {
            EXPECT_EQ(e.argument(), name) << e.what();
            EXPECT_EQ(std::string(e.what()).rfind(name, 0), 0u);
        }
    };
    const double nan = std::nan("");
    const double inf = INFINITY;
    using P = dd::ssl_params<double>;
    expect(P{-20.0, 1.0, 1e-3, 1e-2, 0.05, 5.0, 0.5, 44100.0}, "comp_ratio");
    expect(P{-20.0, 0.5, 1e-3, 1e-2, 0.05, 5.0, 0.5, 44100.0}, "comp_ratio");
    expect(P{-20.0, nan, 1e-3, 1e-2, 0.05, 5.0, 0.5, 44100.0}, "comp_ratio");
    expect(P{nan, 4.0, 1e-3, 1e-2, 0.05, 5.0, 0.5, 44100.0}, "comp_thresh");
    expect(P{inf, 4.0, 1e-3, 1e-2, 0.05, 5.0, 0.5, 44100.0}, "comp_thresh");
    expect(P{-20.0, 4.0, 0.0, 1e-2, 0.05, 5.0, 0.5, 44100.0}, "T_attack_fast");
    expect(P{-20.0, 4.0, 1e-3, -1e-2, 0.05, 5.0, 0.5, 44100.0}, "T_attack_slow");
    expect(P{-20.0, 4.0, 1e-3, 1e-2, nan, 5.0, 0.5, 44100.0}, "T_shunt_fast");
    expect(P{-20.0, 4.0, 1e-3, 1e-2, 0.05, 0.0, 0.5, 44100.0}, "T_shunt_slow");
    expect(P{-20.0, 4.0, 1e-3, 1e-2, 0.05, 5.0, -0.1, 44100.0}, "feedback_coeff");
    expect(P{-20.0, 4.0, 1e-3, 1e-2, 0.05, 5.0, 1.01, 44100.0}, "feedback_coeff");
    expect(P{-20.0, 4.0, 1e-3, 1e-2, 0.05, 5.0, nan, 44100.0}, "feedback_coeff");
    expect(P{-20.0, 4.0, 1e-3, 1e-2, 0.05, 5.0, 0.5, 0.0}, "fs");
    expect(P{-20.0, 4.0, 1e-3, 1e-2, 0.05, 5.0, 0.5, -44100.0}, "fs");
    expect(P{-20.0, 4.0, 1e-3, 1e-2, 0.05, 5.0, 0.5, nan}, "fs");
    expect(P{-20.0, 4.0, 1e-3, 1e-2, 0.05, 5.0, 0.5, 44100.0, -1.0}, "knee");
    // Per-row parameter with the wrong count.
    std::vector<double> two = {4.0, 4.0};
    expect(P{-20.0, row_param<double>(two.data(), 2), 1e-3, 1e-2, 0.05, 5.0, 0.5, 44100.0}, "comp_ratio");
    // Signals.
    const P ok{-20.0, 4.0, 1e-3, 1e-2, 0.05, 5.0, 0.5, 44100.0};
    x[3] = nan;
    try {
        dd::ssl_comp_gain<double>({x.data(), 1, n}, ok, {y.data(), 1, n});
        ADD_FAILURE();
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(e.argument(), "x_peak_dB");
    }
    x[3] = -10;
    EXPECT_THROW(dd::ssl_comp_gain<double>({x.data(), 1, 0}, ok, {y.data(), 1, 0}), dd::argument_error);
    EXPECT_THROW(dd::ssl_comp_gain<double>({x.data(), 1, n}, ok, {y.data(), 2, n / 2}), dd::argument_error);
    std::vector<double> gy(n - 1);
    EXPECT_THROW(dd::ssl_comp_gain_backward<double>({x.data(), 1, n}, ok, nullptr, {gy.data(), 1, n - 1}, nullptr, {}),
                 dd::argument_error);
    // dd::argument_error is a std::invalid_argument (Python: ValueError).
    EXPECT_THROW(dd::ssl_comp_gain<double>({x.data(), 1, n}, P{-20.0, 1.0, 1e-3, 1e-2, 0.05, 5.0, 0.5, 44100.0},
                                           {y.data(), 1, n}),
                 std::invalid_argument);
}

TEST(SslErrors, BadValuesInAnyRowAreReportedAtTheirFirstFlatIndex) {
    // The values are checked row by row inside the parallel loop; the error still names the argument
    // and the first bad value's flat index in row order, whichever thread met it first.
    using P = dd::ssl_params<float>;
    const P ok{-20.0f, 4.0f, 1e-3f, 1e-2f, 0.05f, 5.0f, 0.5f, 44100.0f};
    const std::size_t rows = 4, n = 3000;
    std::vector<float> x(rows * n, -10.0f), gain(rows * n), y(rows * n), g(rows * n, 1.0f), gx(rows * n);
    std::vector<double> states(2 * rows * n);
    x[2 * n + 2999] = std::numeric_limits<float>::infinity();
    x[1 * n + 17] = std::numeric_limits<float>::quiet_NaN();  // the first in row order
    x[3 * n + 5] = std::numeric_limits<float>::quiet_NaN();
    const std::string where = "flat index " + std::to_string(n + 17) + ")";
    auto expect_reported = [&](auto&& call, const char* name) {
        try {
            call();
            ADD_FAILURE() << name << ": no error";
        } catch (const dd::argument_error& e) {
            EXPECT_EQ(e.argument(), name);
            EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
        }
    };
    for (int threads : {1, 2}) {
        dd::set_num_threads(threads);
        expect_reported([&] { dd::ssl_comp_gain<float>({x.data(), rows, n}, ok, {gain.data(), rows, n}, states.data()); },
                        "x_peak_dB");
        expect_reported([&] {
            dd::ssl_comp_gain_backward<float>({x.data(), rows, n}, ok, nullptr, {g.data(), rows, n}, gx.data(), {});
        }, "x_peak_dB");
        expect_reported([&] {
            dd::ssl_compress<float>({x.data(), rows, n}, ok, {gain.data(), rows, n}, {y.data(), rows, n}, states.data());
        }, "x");
        expect_reported([&] {
            dd::ssl_compress_backward<float>({x.data(), rows, n}, ok, nullptr, g.data(), g.data(), gx.data(), {});
        }, "x");
    }
    dd::set_num_threads(0);
}
