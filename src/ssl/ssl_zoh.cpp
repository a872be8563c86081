// SSL bus compressor: the closed-form ZOH operators of both circuit modes and their Fréchet
// derivatives with respect to the four rates, and the per-row model. Derivations: docs/derivations/ssl.md.
#include <cmath>

#include "ssl/ssl_model.hpp"

DD_ARCH_BEGIN

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

DD_ARCH_END
