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

// ------------------------------------------------------------------------------------------------
// Second derivatives of the attack operators (docs/derivations/ssl_second_order.md §2)

namespace {

/// J_n(x) = ∫₀¹ uⁿ·e^{x·u} du for x ≤ 0 and every n, to full precision: the power series for |x| ≤ 1;
/// for n ≤ |x| the upward recurrence J_k = (e^x − k·J_{k−1})/x, which damps errors (factor k/|x| ≤ 1);
/// otherwise the series e^x·Σ_j (−x)^j·n!/(n+j+1)! (all terms positive, ratio |x|/(n+j+2) < 1).
double phi_integral_any(int n, double x) {
    if (std::fabs(x) <= 1.0) return phi_integral(n, x);
    if (double(n) <= -x) {
        const double ex = std::exp(x);
        double J = std::expm1(x) / x;
        for (int k = 1; k <= n; ++k) J = (ex - double(k) * J) / x;
        return J;
    }
    double term = 1.0 / double(n + 1), sum = 0.0;
    for (int j = 0; j < 400; ++j) {
        sum += term;
        if (term < 1e-18 * sum) break;
        term *= -x / double(n + j + 2);
    }
    return std::exp(x) * sum;
}

/// A matrix function f(A) = f0·I + f1·N (A = m·I + N, N² = u·I) and its partials with respect to
/// m and u up to second order.
struct matfun2 {
    double f0, f1, f0_m, f1_m, f0_u, f1_u, f0_mm, f1_mm, f0_mu, f1_mu, f0_uu, f1_uu;
};

/// Below this δ·h the divided differences over the eigenvalues lose too many digits for second
/// derivatives (their nested differences cancel like (δh)⁻⁴); the series in u = δ² take over.
constexpr double second_order_series_below = 1.0;
constexpr int series_terms = 14;  // w^k/(2k)! with w < 1: the first omitted term is below 1/28! ≈ 3e−30

/// exp(A·h): f0 = e^{mh}·C(w), f1 = e^{mh}·h·S(w), w = u·h², C = cosh √w, S = sinh √w/√w,
/// C' = S/2, S' = F/2 with F = (C − S)/w, F' = (S − 3F)/(2w).
matfun2 exp_matfun2(double m, double u, double h, double lam1, double lam2) {
    const double w = u * h * h, z = std::sqrt(w);
    double EC, ES, EF, EFp;  // e^{mh} times C, S, F, F'
    if (z < second_order_series_below) {
        double C = 0, S = 0, F = 0, Fp = 0, wk = 1.0, fact = 1.0;  // wk = w^k, fact = (2k)!
        for (int k = 0; k < series_terms; ++k) {
            C += wk / fact;
            S += wk / (fact * double(2 * k + 1));
            wk *= w;
            fact *= double((2 * k + 1) * (2 * k + 2));
        }
        // F = Σ_{k≥1} w^{k−1}·2k/(2k+1)!, F' = Σ_{k≥2} (k − 1)·w^{k−2}·2k/(2k+1)!
        double wj = 1.0, fact3 = 6.0;  // w^{k−1}, (2k+1)! for k = 1
        double wj2 = 1.0;              // w^{k−2}
        for (int k = 1; k < series_terms; ++k) {
            F += wj * double(2 * k) / fact3;
            if (k >= 2) {
                Fp += double(k - 1) * wj2 * double(2 * k) / fact3;
                wj2 *= w;
            }
            wj *= w;
            fact3 *= double((2 * k + 2) * (2 * k + 3));
        }
        const double em = std::exp(m * h);
        EC = em * C;
        ES = em * S;
        EF = em * F;
        EFp = em * Fp;
    } else {
        const double e1 = std::exp(lam1 * h), e2 = std::exp(lam2 * h);
        EC = 0.5 * (e1 + e2);
        ES = 0.5 * (e1 - e2) / z;
        EF = (EC - ES) / w;
        EFp = (ES - 3.0 * EF) / (2.0 * w);
    }
    matfun2 f;
    f.f0 = EC;
    f.f1 = h * ES;
    f.f0_u = 0.5 * h * h * ES;
    f.f1_u = 0.5 * h * h * h * EF;
    f.f0_uu = 0.25 * h * h * h * h * EF;
    f.f1_uu = 0.5 * h * h * h * h * h * EFp;
    f.f0_m = h * f.f0;
    f.f1_m = h * f.f1;
    f.f0_mm = h * h * f.f0;
    f.f1_mm = h * h * f.f1;
    f.f0_mu = h * f.f0_u;
    f.f1_mu = h * f.f1_u;
    return f;
}

/// g(A) = A⁻¹(exp(A·h) − I), g(λ) = (e^{λh} − 1)/λ, g⁽ⁿ⁾(λ) = h^{n+1}·J_n(λh).
matfun2 zoh_matfun2(double m, double u, double delta, double h, double lam1, double lam2) {
    matfun2 g;
    if (delta * h < second_order_series_below) {
        // g0 = Σ_k G_{2k}·u^k/(2k)!, g1 = Σ_k G_{2k+1}·u^k/(2k+1)!, G_n = g⁽ⁿ⁾(m); ∂/∂m raises n by one.
        constexpr int N = 2 * series_terms + 2;
        double G[N + 1];
        double hp = h;
        for (int n = 0; n <= N; ++n) {
            G[n] = hp * phi_integral_any(n, m * h);
            hp *= h;
        }
        // Σ_{k ≥ i} k(k−1)…(k−i+1)·G_{2k+o+j}·u^{k−i}/(2k+o)!
        auto sum = [&](int o, int j, int i) {
            double s = 0.0, fact = 1.0;  // (2k + o)!
            for (int f = 2; f <= o; ++f) fact *= f;
            double up = 1.0;  // u^{k−i}
            for (int k = 0; k < series_terms; ++k) {
                if (k >= i) {
                    double falling = 1.0;
                    for (int l = 0; l < i; ++l) falling *= double(k - l);
                    s += falling * G[2 * k + o + j] * up / fact;
                    up *= u;
                }
                fact *= double((2 * k + o + 1) * (2 * k + o + 2));
            }
            return s;
        };
        g.f0 = sum(0, 0, 0);
        g.f1 = sum(1, 0, 0);
        g.f0_m = sum(0, 1, 0);
        g.f1_m = sum(1, 1, 0);
        g.f0_mm = sum(0, 2, 0);
        g.f1_mm = sum(1, 2, 0);
        g.f0_u = sum(0, 0, 1);
        g.f1_u = sum(1, 0, 1);
        g.f0_mu = sum(0, 1, 1);
        g.f1_mu = sum(1, 1, 1);
        g.f0_uu = sum(0, 0, 2);
        g.f1_uu = sum(1, 0, 2);
        return g;
    }
    // Divided differences over λ₁,₂ = m ± δ; ∂/∂u = (1/(2δ))·∂/∂δ.
    double v[2][3];
    const double lam[2] = {lam1, lam2};
    for (int i = 0; i < 2; ++i) {
        double hp = h;
        for (int n = 0; n < 3; ++n) {
            v[i][n] = hp * phi_integral_any(n, lam[i] * h);
            hp *= h;
        }
    }
    g.f0 = 0.5 * (v[0][0] + v[1][0]);
    g.f1 = (v[0][0] - v[1][0]) / (2.0 * delta);
    g.f0_m = 0.5 * (v[0][1] + v[1][1]);
    g.f1_m = (v[0][1] - v[1][1]) / (2.0 * delta);
    g.f0_mm = 0.5 * (v[0][2] + v[1][2]);
    g.f1_mm = (v[0][2] - v[1][2]) / (2.0 * delta);
    g.f0_u = 0.5 * g.f1_m;
    g.f0_mu = 0.5 * g.f1_mm;
    g.f1_u = (g.f0_m - g.f1) / (2.0 * u);
    g.f1_mu = (g.f0_mm - g.f1_m) / (2.0 * u);
    g.f0_uu = 0.5 * g.f1_mu;
    g.f1_uu = (g.f0_mu - 3.0 * g.f1_u) / (2.0 * u);
    return g;
}

}  // namespace

void ssl_attack_zoh_second(const ssl_rates& r, double Ts, ssl_zoh_second_derivatives& out) {
    const double a = r.af, b = r.as, c = r.sf, d = r.ss, h = Ts;
    const double m = -0.5 * (a + b + c + d);
    const double p = 0.5 * ((b + d) - (a + c));
    const double u = p * p + a * b;
    const double delta = std::sqrt(u);
    const double det = a * d + c * b + c * d;
    const double lam2 = m - delta;
    const double lam1 = det / lam2;
    const matfun2 E = exp_matfun2(m, u, h, lam1, lam2);
    const matfun2 G = zoh_matfun2(m, u, delta, h, lam1, lam2);

    // Structure (docs/derivations/ssl.md §3): m_q = −½, u_q, N_q, B_q; u_qr = ½·σ_q·σ_r + [{q,r} = {af, as}].
    const double dm = -0.5;
    const double du[4] = {b - p, p + a, -p, p};
    const double sgn[4] = {-1.0, 1.0, -1.0, 1.0};
    const ssl_mat2 N{p, -a, -b, -p};
    const ssl_mat2 dN[4] = {{-0.5, -1.0, 0.0, 0.5}, {0.5, 0.0, -1.0, -0.5}, {-0.5, 0.0, 0.0, 0.5}, {0.5, 0.0, 0.0, -0.5}};
    const ssl_vec2 B{a, b};
    const ssl_vec2 dB[4] = {{1.0, 0.0}, {0.0, 1.0}, {0.0, 0.0}, {0.0, 0.0}};
    const ssl_vec2 NB{p * a - a * b, -b * a - p * b};
    auto mul = [](const ssl_mat2& M, const ssl_vec2& x) {
        return ssl_vec2{M.m11 * x.v1 + M.m12 * x.v2, M.m21 * x.v1 + M.m22 * x.v2};
    };
    ssl_vec2 dNB[4];
    for (int q = 0; q < 4; ++q) {
        const ssl_vec2 x = mul(dN[q], B), y = mul(N, dB[q]);
        dNB[q] = {x.v1 + y.v1, x.v2 + y.v2};
    }
    // First partials along q of the scalar coefficients.
    auto first = [&](const matfun2& f, double& c0, double& c1, int q) {
        c0 = f.f0_m * dm + f.f0_u * du[q];
        c1 = f.f1_m * dm + f.f1_u * du[q];
    };
    for (int q = 0; q < 4; ++q) {
        for (int s = q; s < 4; ++s) {
            const double uqs = 0.5 * sgn[q] * sgn[s] + ((q + s == 1) ? 1.0 : 0.0);
            auto second = [&](const matfun2& f, double& c0, double& c1) {
                c0 = f.f0_mm * dm * dm + f.f0_mu * (dm * du[s] + dm * du[q]) + f.f0_uu * du[q] * du[s] + f.f0_u * uqs;
                c1 = f.f1_mm * dm * dm + f.f1_mu * (dm * du[s] + dm * du[q]) + f.f1_uu * du[q] * du[s] + f.f1_u * uqs;
            };
            double e0q, e1q, e0s, e1s, e0qs, e1qs;
            first(E, e0q, e1q, q);
            first(E, e0s, e1s, s);
            second(E, e0qs, e1qs);
            // ∂q∂s Ad = e0_qs·I + e1_qs·N + e1_q·N_s + e1_s·N_q
            const ssl_mat2 A2{e0qs + e1qs * N.m11 + e1q * dN[s].m11 + e1s * dN[q].m11,
                              e1qs * N.m12 + e1q * dN[s].m12 + e1s * dN[q].m12,
                              e1qs * N.m21 + e1q * dN[s].m21 + e1s * dN[q].m21,
                              e0qs + e1qs * N.m22 + e1q * dN[s].m22 + e1s * dN[q].m22};
            double g0q, g1q, g0s, g1s, g0qs, g1qs;
            first(G, g0q, g1q, q);
            first(G, g0s, g1s, s);
            second(G, g0qs, g1qs);
            // ∂q∂s Bd = g0_qs·B + g0_q·B_s + g0_s·B_q + g1_qs·NB + g1_q·(NB)_s + g1_s·(NB)_q + g1·(N_q·B_s + N_s·B_q)
            const ssl_vec2 x = mul(dN[q], dB[s]), y = mul(dN[s], dB[q]);
            const ssl_vec2 B2{g0qs * B.v1 + g0q * dB[s].v1 + g0s * dB[q].v1 + g1qs * NB.v1 + g1q * dNB[s].v1 +
                                  g1s * dNB[q].v1 + G.f1 * (x.v1 + y.v1),
                              g0qs * B.v2 + g0q * dB[s].v2 + g0s * dB[q].v2 + g1qs * NB.v2 + g1q * dNB[s].v2 +
                                  g1s * dNB[q].v2 + G.f1 * (x.v2 + y.v2)};
            out.d2Ad[q][s] = out.d2Ad[s][q] = A2;
            out.d2Bd[q][s] = out.d2Bd[s][q] = B2;
        }
    }
}

void ssl_release_zoh_second(const ssl_rates& r, double Ts, ssl_zoh_second_derivatives& out) {
    out = ssl_zoh_second_derivatives{};
    out.d2Ad[ssl_sf][ssl_sf].m11 = Ts * Ts * std::exp(-r.sf * Ts);
    out.d2Ad[ssl_ss][ssl_ss].m22 = Ts * Ts * std::exp(-r.ss * Ts);
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
    m.gate_k = p.gate_k;
    m.Ts = 1.0 / fs;
    m.rates = {1.0 / p.T_attack_fast, 1.0 / p.T_attack_slow, 1.0 / p.T_shunt_fast, 1.0 / p.T_shunt_slow};
    const double Ts = 1.0 / fs;
    m.attack = ssl_attack_zoh(m.rates, Ts, d_attack);
    m.release = ssl_release_zoh(m.rates, Ts, d_release);
    return m;
}

DD_ARCH_END
