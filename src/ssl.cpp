// SSL bus compressor: closed-form ZOH operators and their derivatives, knob presets, and the batch
// entry points (validate once, then the per-row kernels of ssl.hpp). Derivations: docs/ssl.md.
#include "differential_dynamics/ssl.hpp"

#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

namespace dd {

// ------------------------------------------------------------------------------------------------
// Scalar special functions (accurate for every argument, no cancellation near 0)

namespace {

/// J_n(z) = ∫₀¹ uⁿ·e^{z·u} du  (J_0 = φ1(z) = (e^z − 1)/z, J_1 = φ1'(z), …).
/// |z| ≤ 1: power series Σ_j z^j / (j!·(n + j + 1)); otherwise the upward recurrence
/// J_k = (e^z − k·J_{k−1}) / z from J_0 = expm1(z)/z (error growth ≤ k!/|z|^k, small for k ≤ 5).
double phi_integral(int n, double z) {
    if (std::fabs(z) <= 1.0) {
        double term = 1.0, sum = 0.0;
        for (int j = 0; j < 40; ++j) {
            const double c = term / double(n + j + 1);
            sum += c;
            if (std::fabs(c) < 1e-18 * std::fabs(sum)) break;
            term *= z / double(j + 1);
        }
        return sum;
    }
    const double ez = std::exp(z);
    double J = std::expm1(z) / z;
    for (int k = 1; k <= n; ++k) J = (ez - double(k) * J) / z;
    return J;
}

/// sinh(z)/z for z ≥ 0.
double sinhc(double z) {
    if (z < 0.5) {
        const double z2 = z * z;
        double term = 1.0, sum = 1.0;
        for (int k = 1; k < 20; ++k) {
            term *= z2 / double((2 * k) * (2 * k + 1));
            sum += term;
            if (term < 1e-18 * sum) break;
        }
        return sum;
    }
    return std::sinh(z) / z;
}

/// (cosh z − sinh(z)/z) / z² for 0 ≤ z < 1 (series Σ_{k≥1} z^{2k−2}·2k/(2k+1)!).
double cosh_minus_sinhc_over_z2(double z) {
    const double z2 = z * z;
    double fact = 6.0;  // (2k+1)! for k = 1
    double zpow = 1.0;  // z^{2k−2}
    double sum = 0.0;
    for (int k = 1; k < 20; ++k) {
        const double term = zpow * double(2 * k) / fact;
        sum += term;
        if (term < 1e-18 * sum) break;
        zpow *= z2;
        fact *= double((2 * k + 2) * (2 * k + 3));
    }
    return sum;
}

/// A scalar function f(A) of a 2×2 matrix A = m·I + N with N² = u·I (u = δ² > 0) is f0·I + f1·N.
/// These are f0, f1 and their partial derivatives with respect to m and u.
struct matfun {
    double f0, f1, f0_m, f1_m, f0_u, f1_u;
};

}  // namespace

// ------------------------------------------------------------------------------------------------
// ZOH operators

ssl_zoh ssl_attack_zoh(const ssl_rates& r, double Ts, ssl_zoh_derivatives* deriv) {
    const double a = r.af, b = r.as, c = r.sf, d = r.ss, h = Ts;
    // A = m·I + N,  N = [[p, −a], [−b, −p]],  N² = u·I,  u = p² + a·b > 0: real, distinct eigenvalues m ± δ.
    const double m = -0.5 * (a + b + c + d);
    const double p = 0.5 * ((b + d) - (a + c));
    const double u = p * p + a * b;
    const double delta = std::sqrt(u);
    const double det = a * d + c * b + c * d;  // (a + c)(b + d) − a·b, without cancellation
    const double lam2 = m - delta;             // the faster eigenvalue
    const double lam1 = det / lam2;            // = m + δ, accurately even when δ ≈ |m|
    const double z = delta * h;

    // exp(A·h) = e^{mh}·(cosh(δh)·I + h·sinhc(δh)·N)
    matfun E;
    if (z < 1.0) {
        const double em = std::exp(m * h);
        const double sc = sinhc(z);
        E.f0 = em * std::cosh(z);
        E.f1 = em * h * sc;
        E.f0_u = em * h * h * sc * 0.5;
        E.f1_u = em * h * h * h * cosh_minus_sinhc_over_z2(z) * 0.5;
    } else {
        // e^{mh}·cosh and e^{mh}·sinh from the eigenvalues (no overflow for large δh).
        const double e1 = std::exp(lam1 * h), e2 = std::exp(lam2 * h);
        const double ec = 0.5 * (e1 + e2), es = 0.5 * (e1 - e2);
        E.f0 = ec;
        E.f1 = h * es / z;
        E.f0_u = 0.5 * h * h * es / z;
        E.f1_u = 0.5 * h * h * h * (ec - es / z) / (z * z);
    }
    E.f0_m = h * E.f0;
    E.f1_m = h * E.f1;

    // A⁻¹(exp(A·h) − I) = g(A) with g(λ) = (e^{λh} − 1)/λ = h·J_0(λh), g'(λ) = h²·J_1(λh).
    matfun G;
    if (z >= 1e-4) {
        // Divided differences over the eigenvalues.
        const double g1v = h * phi_integral(0, lam1 * h), g2v = h * phi_integral(0, lam2 * h);
        const double d1 = h * h * phi_integral(1, lam1 * h), d2 = h * h * phi_integral(1, lam2 * h);
        G.f0 = 0.5 * (g1v + g2v);
        G.f1 = (g1v - g2v) / (2.0 * delta);
        G.f0_m = 0.5 * (d1 + d2);
        G.f1_m = (d1 - d2) / (2.0 * delta);
        G.f0_u = 0.5 * G.f1_m;
        G.f1_u = (G.f0_m - G.f1) / (2.0 * u);
    } else {
        // Nearly equal eigenvalues: Taylor series in u = δ² around m, with g⁽ⁿ⁾(m) = h^{n+1}·J_n(mh);
        // the first omitted terms are O(u²·h⁴) relative, below 1e−16 for δh < 1e−4.
        double Gn[6];
        double hp = h;
        for (int n = 0; n < 6; ++n) {
            Gn[n] = hp * phi_integral(n, m * h);
            hp *= h;
        }
        G.f0 = Gn[0] + Gn[2] * u / 2.0;
        G.f1 = Gn[1] + Gn[3] * u / 6.0;
        G.f0_m = Gn[1] + Gn[3] * u / 2.0;
        G.f1_m = Gn[2] + Gn[4] * u / 6.0;
        G.f0_u = Gn[2] / 2.0 + Gn[4] * u / 12.0;
        G.f1_u = Gn[3] / 6.0 + Gn[5] * u / 60.0;
    }

    ssl_zoh out;
    out.Ad = {E.f0 + E.f1 * p, -E.f1 * a, -E.f1 * b, E.f0 - E.f1 * p};
    const ssl_vec2 B{a, b};
    const ssl_vec2 NB{p * a - a * b, -b * a - p * b};
    out.Bd = {G.f0 * B.v1 + G.f1 * NB.v1, G.f0 * B.v2 + G.f1 * NB.v2};

    if (deriv) {
        // Total derivatives of the closed form = Fréchet derivatives L(A, ∂A/∂R_q) (and of Bd).
        const double dm = -0.5;
        const double du[4] = {b - p, p + a, -p, p};
        const ssl_mat2 dN[4] = {{-0.5, -1.0, 0.0, 0.5}, {0.5, 0.0, -1.0, -0.5}, {-0.5, 0.0, 0.0, 0.5}, {0.5, 0.0, 0.0, -0.5}};
        const ssl_vec2 dB[4] = {{1.0, 0.0}, {0.0, 1.0}, {0.0, 0.0}, {0.0, 0.0}};
        for (int q = 0; q < 4; ++q) {
            const double e0 = E.f0_m * dm + E.f0_u * du[q];
            const double e1 = E.f1_m * dm + E.f1_u * du[q];
            const ssl_mat2& dn = dN[q];
            deriv->dAd[q] = {e0 + e1 * p + E.f1 * dn.m11, -e1 * a + E.f1 * dn.m12, -e1 * b + E.f1 * dn.m21,
                             e0 - e1 * p + E.f1 * dn.m22};
            const double h0 = G.f0_m * dm + G.f0_u * du[q];
            const double h1 = G.f1_m * dm + G.f1_u * du[q];
            // d(N·B) = dN·B + N·dB
            const ssl_vec2 dNB{dn.m11 * a + dn.m12 * b + p * dB[q].v1 - a * dB[q].v2,
                               dn.m21 * a + dn.m22 * b - b * dB[q].v1 - p * dB[q].v2};
            deriv->dBd[q] = {h0 * B.v1 + G.f0 * dB[q].v1 + h1 * NB.v1 + G.f1 * dNB.v1,
                             h0 * B.v2 + G.f0 * dB[q].v2 + h1 * NB.v2 + G.f1 * dNB.v2};
        }
    }
    return out;
}

ssl_zoh ssl_release_zoh(const ssl_rates& r, double Ts, ssl_zoh_derivatives* deriv) {
    const double e1 = std::exp(-r.sf * Ts), e2 = std::exp(-r.ss * Ts);
    ssl_zoh out;
    out.Ad = {e1, 0.0, 0.0, e2};
    out.Bd = {0.0, 0.0};
    if (deriv) {
        *deriv = ssl_zoh_derivatives{};
        deriv->dAd[ssl_sf].m11 = -Ts * e1;
        deriv->dAd[ssl_ss].m22 = -Ts * e2;
    }
    return out;
}

ssl_model make_ssl_model(const ssl_row_params& p, double fs, ssl_zoh_derivatives* d_attack,
                         ssl_zoh_derivatives* d_release) {
    ssl_model m;
    m.comp_thresh = p.comp_thresh;
    m.comp_ratio = p.comp_ratio;
    m.slope = 1.0 - 1.0 / p.comp_ratio;
    m.knee = p.knee;
    m.feedback = p.feedback_coeff;
    m.rates = {1.0 / p.T_attack_fast, 1.0 / p.T_attack_slow, 1.0 / p.T_shunt_fast, 1.0 / p.T_shunt_slow};
    const double Ts = 1.0 / fs;
    m.attack = ssl_attack_zoh(m.rates, Ts, d_attack);
    m.release = ssl_release_zoh(m.rates, Ts, d_release);
    return m;
}

// ------------------------------------------------------------------------------------------------
// Knob presets

namespace {
template <std::size_t N> bool is_position(double v, const double (&positions)[N]) {
    for (double q : positions)
        if (std::fabs(v - q) <= 1e-9 * q) return true;
    return false;
}
template <std::size_t N> std::string list_positions(const double (&positions)[N]) {
    std::ostringstream s;
    for (std::size_t i = 0; i < N; ++i) s << (i ? ", " : "") << positions[i];
    return s.str();
}
}  // namespace

ssl_knob_params ssl_preset(double attack_ohms, double release_ohms, double ratio, double fs) {
    if (!std::isfinite(fs) || !(fs > 0)) throw argument_error("fs", "sample rate must be a finite number > 0");
    if (!is_position(attack_ohms, ssl_attack_ohms_positions))
        throw argument_error("attack_ohms", "must be one of the attack switch positions {" +
                                                list_positions(ssl_attack_ohms_positions) + "} ohms");
    const bool is_auto = release_ohms == ssl_release_auto;
    if (!is_auto && !is_position(release_ohms, ssl_release_ohms_positions))
        throw argument_error("release_ohms", "must be 0 (auto) or one of the release switch positions {" +
                                                 list_positions(ssl_release_ohms_positions) + "} ohms");
    if (!is_position(ratio, ssl_ratio_positions))
        throw argument_error("ratio", "must be one of the ratio switch positions {" +
                                          list_positions(ssl_ratio_positions) + "}");
    ssl_knob_params k;
    k.comp_ratio = ratio;
    k.T_attack_fast = attack_ohms * ssl_cap_fast;
    if (is_auto) {
        k.T_attack_slow = attack_ohms * ssl_cap_slow;
        k.T_shunt_fast = ssl_auto_shunt_fast * ssl_cap_fast;
        k.T_shunt_slow = ssl_auto_shunt_slow * ssl_cap_slow;
    } else {
        // Single shunt on the fast capacitor; the slow capacitor is bypassed (never charged, and any
        // charge leaves within a sample).
        k.T_attack_slow = ssl_bypassed_attack_slow;
        k.T_shunt_fast = release_ohms * ssl_cap_fast;
        k.T_shunt_slow = 1.0 / fs;
    }
    return k;
}

// ------------------------------------------------------------------------------------------------
// Batch entry points

template <class T> void check_ssl_params(const ssl_params<T>& p, std::size_t rows) {
    if (!std::isfinite(p.fs) || !(p.fs > 0))
        throw argument_error("fs", "sample rate must be a finite number > 0 (got " + std::to_string(p.fs) + ")");
    check_finite_param(p.comp_thresh, rows, "comp_thresh");
    check_param(p.comp_ratio, rows, "comp_ratio", [](T v) { return v > T(1); }, "> 1");
    const double fs = p.fs;
    // A time constant below 1e−9 sample periods makes the operators' arithmetic overflow.
    auto positive_time = [fs](T v) { return v > T(0) && double(v) * fs >= 1e-9; };
    const char* requirement = "> 0 seconds (and at least 1e-9 sample periods)";
    check_param(p.T_attack_fast, rows, "T_attack_fast", positive_time, requirement);
    check_param(p.T_attack_slow, rows, "T_attack_slow", positive_time, requirement);
    check_param(p.T_shunt_fast, rows, "T_shunt_fast", positive_time, requirement);
    check_param(p.T_shunt_slow, rows, "T_shunt_slow", positive_time, requirement);
    check_param(p.feedback_coeff, rows, "feedback_coeff", [](T v) { return v >= T(0) && v <= T(1); }, "in [0, 1]");
    check_param(p.knee, rows, "knee", [](T v) { return v >= T(0); }, ">= 0 dB");
}

namespace {

/// Runs the forward of row b into `tape` if the caller did not keep the forward's states.
template <class Level>
const double* row_states(const ssl_model& m, const Level& level, std::size_t n, const double* states, std::size_t b,
                         std::vector<double>& scratch) {
    if (states) return states + 2 * n * b;
    scratch.resize(2 * n);
    ssl_state s;
    ssl_forward_row<double>(m, level, n, s, nullptr, scratch.data());
    return scratch.data();
}

template <class T> void store_grads(const ssl_param_grads<T>& grads, std::size_t b, const ssl_row_grads& g) {
    store_row(grads.comp_thresh, b, g.comp_thresh);
    store_row(grads.comp_ratio, b, g.comp_ratio);
    store_row(grads.T_attack_fast, b, g.T_attack_fast);
    store_row(grads.T_attack_slow, b, g.T_attack_slow);
    store_row(grads.T_shunt_fast, b, g.T_shunt_fast);
    store_row(grads.T_shunt_slow, b, g.T_shunt_slow);
    store_row(grads.feedback_coeff, b, g.feedback_coeff);
    store_row(grads.knee, b, g.knee);
}

}  // namespace

template <class T>
void ssl_comp_gain(signal_view<T> x_peak_db, const ssl_params<T>& p, signal_span<T> gain_db, double* states) {
    check_signal(x_peak_db, "x_peak_dB");
    check_ssl_params(p, x_peak_db.rows);
    check_output(gain_db, x_peak_db, "gain_db");
    const std::size_t n = x_peak_db.cols;
    parallel_rows(x_peak_db.rows, [&](std::size_t b) {
        const ssl_model m = make_ssl_model(p.row(b), p.fs);
        const T* x = x_peak_db.row(b);
        ssl_state s;
        ssl_forward_row(m, [x](std::size_t t) { return double(x[t]); }, n, s, gain_db.row(b),
                        states ? states + 2 * n * b : nullptr);
    });
}

template <class T>
void ssl_comp_gain_backward(signal_view<T> x_peak_db, const ssl_params<T>& p, const double* states,
                            signal_view<T> grad_gain, T* grad_x_peak_db, const ssl_param_grads<T>& grads) {
    check_signal(x_peak_db, "x_peak_dB");
    check_ssl_params(p, x_peak_db.rows);
    check_same_shape(grad_gain, x_peak_db, "grad_gain");
    const std::size_t n = x_peak_db.cols;
    parallel_rows(x_peak_db.rows, [&](std::size_t b) {
        ssl_zoh_derivatives da, dr;
        const ssl_model m = make_ssl_model(p.row(b), p.fs, &da, &dr);
        const T* x = x_peak_db.row(b);
        const T* gy = grad_gain.row(b);
        T* gx = grad_x_peak_db ? grad_x_peak_db + n * b : nullptr;
        auto level = [x](std::size_t t) { return double(x[t]); };
        std::vector<double> scratch;
        const double* tape = row_states(m, level, n, states, b, scratch);
        const ssl_row_grads g = ssl_adjoint_row(
            m, da, dr, level, [gy](std::size_t t) { return double(gy[t]); },
            [gx](std::size_t t, double v) {
                if (gx) gx[t] = T(v);
            },
            n, tape);
        store_grads(grads, b, g);
    });
}

template <class T>
void ssl_compress(signal_view<T> x, const ssl_params<T>& p, signal_span<T> gain_db, signal_span<T> y, double* states) {
    check_signal(x, "x");
    check_ssl_params(p, x.rows);
    check_output(gain_db, x, "gain_db");
    check_output(y, x, "y");
    const std::size_t n = x.cols;
    parallel_rows(x.rows, [&](std::size_t b) {
        const ssl_model m = make_ssl_model(p.row(b), p.fs);
        const T* xr = x.row(b);
        T* g = gain_db.row(b);
        T* yr = y.row(b);
        double* st = states ? states + 2 * n * b : nullptr;
        ssl_state s;
        for (std::size_t t = 0; t < n; ++t) {
            ssl_compress_step(m, s, xr[t], g[t], yr[t]);
            if (st) {
                st[2 * t] = s.x1;
                st[2 * t + 1] = s.x2;
            }
        }
    });
}

template <class T>
void ssl_compress_backward(signal_view<T> x, const ssl_params<T>& p, const double* states, const T* grad_gain,
                           const T* grad_y, T* grad_x, const ssl_param_grads<T>& grads) {
    check_signal(x, "x");
    check_ssl_params(p, x.rows);
    const std::size_t n = x.cols;
    parallel_rows(x.rows, [&](std::size_t b) {
        ssl_zoh_derivatives da, dr;
        const ssl_model m = make_ssl_model(p.row(b), p.fs, &da, &dr);
        const T* xr = x.row(b);
        const T* gg = grad_gain ? grad_gain + n * b : nullptr;
        const T* gyr = grad_y ? grad_y + n * b : nullptr;
        T* gx = grad_x ? grad_x + n * b : nullptr;
        auto level = [xr](std::size_t t) { return ssl_audio_level(xr[t]); };
        std::vector<double> scratch;
        const double* tape = row_states(m, level, n, states, b, scratch);
        // y_t = db2amp(g_t)·x_t:  ∂y/∂g = y·ln10/20,  ∂y/∂x (direct) = db2amp(g_t).
        auto gain_at = [tape](std::size_t t) { return tape[2 * t] + tape[2 * t + 1]; };
        auto grad_out = [&](std::size_t t) {
            double v = gg ? double(gg[t]) : 0.0;
            if (gyr) v += double(gyr[t]) * db2amp(gain_at(t)) * double(xr[t]) * (ln10<double> / 20.0);
            return v;
        };
        auto pull = [&](std::size_t t, double g_level) {
            if (!gx) return;
            double v = g_level * ssl_audio_level_derivative(xr[t]);
            if (gyr) v += double(gyr[t]) * db2amp(gain_at(t));
            gx[t] = T(v);
        };
        const ssl_row_grads g = ssl_adjoint_row(m, da, dr, level, grad_out, pull, n, tape);
        store_grads(grads, b, g);
    });
}

#define DD_INSTANTIATE(T)                                                                                           \
    template void check_ssl_params<T>(const ssl_params<T>&, std::size_t);                                          \
    template void ssl_comp_gain<T>(signal_view<T>, const ssl_params<T>&, signal_span<T>, double*);                 \
    template void ssl_comp_gain_backward<T>(signal_view<T>, const ssl_params<T>&, const double*, signal_view<T>,   \
                                            T*, const ssl_param_grads<T>&);                                        \
    template void ssl_compress<T>(signal_view<T>, const ssl_params<T>&, signal_span<T>, signal_span<T>, double*);  \
    template void ssl_compress_backward<T>(signal_view<T>, const ssl_params<T>&, const double*, const T*, const T*, \
                                           T*, const ssl_param_grads<T>&);
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
