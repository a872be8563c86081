// The SSL model's soft attack/release gate (forward, adjoint, tangent) and the hard gate's forward
// mode (tangent recursion) and second order (adjoint of the tangent recursion), per row, shared by
// the batch functions. Derivations: docs/derivations/ssl_soft_gate.md, docs/derivations/ssl_second_order.md.
//
// Everything runs in double; decisions (hard gate) are recomputed from the forward's tape exactly as
// ssl_adjoint_row does, so every derivative holds the forward's decisions fixed.
#pragma once
#include <cmath>
#include <cstddef>

#include "ssl/ssl_model.hpp"

DD_ARCH_BEGIN

// ------------------------------------------------------------------------------------------------
// Small helpers

inline ssl_vec2 ssl_mul(const ssl_mat2& M, double x1, double x2) {
    return {M.m11 * x1 + M.m12 * x2, M.m21 * x1 + M.m22 * x2};
}
/// Mᵀ·(μ1, μ2)
inline ssl_vec2 ssl_mul_transposed(const ssl_mat2& M, double mu1, double mu2) {
    return {M.m11 * mu1 + M.m21 * mu2, M.m12 * mu1 + M.m22 * mu2};
}
/// Σ_q w_q·D_q for the four rate derivatives of a mode's operators.
inline ssl_zoh ssl_directional(const ssl_zoh_derivatives& d, const double (&w)[4]) {
    ssl_zoh z{};
    for (int q = 0; q < 4; ++q) {
        z.Ad.m11 += w[q] * d.dAd[q].m11;
        z.Ad.m12 += w[q] * d.dAd[q].m12;
        z.Ad.m21 += w[q] * d.dAd[q].m21;
        z.Ad.m22 += w[q] * d.dAd[q].m22;
        z.Bd.v1 += w[q] * d.dBd[q].v1;
        z.Bd.v2 += w[q] * d.dBd[q].v2;
    }
    return z;
}
/// ⟨D, S⟩ + ⟨dB, v⟩ for a matrix/vector pair (one rate's derivative against a mode's sums).
inline double ssl_contract_pair(const ssl_mat2& A, const ssl_vec2& B, const ssl_mode_sums& s) {
    return A.m11 * s.S.m11 + A.m12 * s.S.m12 + A.m21 * s.S.m21 + A.m22 * s.S.m22 + B.v1 * s.v.v1 + B.v2 * s.v.v2;
}
inline void ssl_accumulate(ssl_mode_sums& s, double mu1, double mu2, double x1, double x2, double a) {
    s.S.m11 += mu1 * x1;
    s.S.m12 += mu1 * x2;
    s.S.m21 += mu2 * x1;
    s.S.m22 += mu2 * x2;
    s.v.v1 += mu1 * a;
    s.v.v2 += mu2 * a;
}

/// Tangents (forward mode) or cotangents of one row's parameters in the model's own coordinates:
/// the threshold, the slope s = 1 − 1/CR, the knee, the feedback, the four rates R_q = 1/T_q and the
/// soft gate's k. From the user's: ṡ = ĊR/CR², Ṙ_q = −R_q²·Ṫ_q.
struct ssl_row_tangents {
    double ct = 0, slope = 0, knee = 0, fb = 0, rates[4] = {0, 0, 0, 0}, gate_k = 0;
};

/// The adjoint of the soft-gate forward from `initial` (decisions are smooth: nothing is held fixed).
/// Per step, with v_t = ∂x_t/∂s_t = (∂Ad/∂s)·x_{t−1} + (∂Bd/∂s)·a_t, ∂Op/∂s = −R_af·∂Op/∂R'_af − R_as·∂Op/∂R'_as
/// and σ' = s(1 − s): gs = μ·v, ga = Bd·μ + k·σ'·gs (∂L/∂a_t), gd = ∂a/∂e·ga, and the carry
/// Adᵀμ + (fb·gd − k·σ'·gs)·Cᵀ; ∂k += gs·σ'·(a_t − y_{t−1}); ∂R_q += (1 − s)·μᵀ(∂Ad/∂R'_q·x + ∂Bd/∂R'_q·a) for
/// the series rates, without the factor for the shunts.
template <class Level, class GradOut, class Pull>
inline ssl_row_grads ssl_soft_adjoint_row(const ssl_model& m, const Level& level, const GradOut& grad_out, Pull&& pull,
                                          std::size_t n, const double* states, const ssl_state& initial,
                                          const double* grad_final, double* grad_initial, double& grad_gate_k) {
    double g_ct = 0, g_slope = 0, g_knee = 0, g_fb = 0, g_k = 0, g_rate[4] = {0, 0, 0, 0};
    double c1 = grad_final ? grad_final[0] : 0.0, c2 = grad_final ? grad_final[1] : 0.0;
    for (std::size_t t = n; t-- > 0;) {
        const double gy = grad_out(t);
        const double mu1 = gy + c1, mu2 = gy + c2;
        const double xp1 = t ? states[2 * t - 2] : initial.x1;
        const double xp2 = t ? states[2 * t - 1] : initial.x2;
        const double yp = t ? xp1 + xp2 : initial.y_prev;
        ssl_zoh_derivatives dz;
        const ssl_soft_point p = ssl_soft_gate_point(m, level(t), yp, &dz);
        const ssl_curve_point cp = ssl_static_gain(m, p.d);
        double per_rate[4];
        for (int q = 0; q < 4; ++q) {
            const ssl_vec2 ax = ssl_mul(dz.dAd[q], xp1, xp2);
            per_rate[q] = mu1 * (ax.v1 + dz.dBd[q].v1 * p.a) + mu2 * (ax.v2 + dz.dBd[q].v2 * p.a);
        }
        const double gs = -(m.rates.af * per_rate[ssl_af] + m.rates.as * per_rate[ssl_as]);  // ∂L/∂s_t
        const double ds = m.gate_k * p.gate * p.open;                                          // k·σ'
        const double ga = p.z.Bd.v1 * mu1 + p.z.Bd.v2 * mu2 + ds * gs;
        const double gd = cp.d_distance * ga;
        pull(t, gd);
        g_ct -= gd;
        g_slope += ga * cp.d_slope;
        g_knee += ga * cp.d_width;
        g_fb += gd * yp;
        g_k += gs * p.gate * p.open * (p.a - yp);
        g_rate[ssl_af] += p.open * per_rate[ssl_af];
        g_rate[ssl_as] += p.open * per_rate[ssl_as];
        g_rate[ssl_sf] += per_rate[ssl_sf];
        g_rate[ssl_ss] += per_rate[ssl_ss];
        const double back = m.feedback * gd - ds * gs;
        const ssl_vec2 c = ssl_mul_transposed(p.z.Ad, mu1, mu2);
        c1 = c.v1 + back;
        c2 = c.v2 + back;
    }
    if (grad_initial) {
        grad_initial[0] = c1;
        grad_initial[1] = c2;
    }
    ssl_row_grads g;
    g.comp_thresh = g_ct;
    g.comp_ratio = g_slope / (m.comp_ratio * m.comp_ratio);
    g.knee = g_knee;
    g.feedback_coeff = g_fb;
    const double rates[4] = {m.rates.af, m.rates.as, m.rates.sf, m.rates.ss};
    double* grad_T[4] = {&g.T_attack_fast, &g.T_attack_slow, &g.T_shunt_fast, &g.T_shunt_slow};
    for (int q = 0; q < 4; ++q) *grad_T[q] = -g_rate[q] * rates[q] * rates[q];
    grad_gate_k = g_k;
    return g;
}

// ------------------------------------------------------------------------------------------------
// Forward mode (tangent recursion), hard and soft gate

/// ẋ_t along the tangents `v` (model coordinates), the level's tangent level_tangent(t) and the initial
/// state's tangent `tx` (in: ẋ_{−1}, out: ẋ_{n−1}); out(t, ẋ1, ẋ2) receives every step's tangent.
/// Hard gate, attack steps: ẋ = Ad·ẋ_{t−1} + Ȧd·x_{t−1} + Ḃd·a_t + Bd·ȧ_t with
/// ȧ = ∂a/∂e·(ℓ̇ + ḟb·y_{t−1} + fb·ẏ_{t−1} − ĊT) + ∂a/∂s·ṡ + ∂a/∂W·Ẇ and Ȧd = Σ_q ∂Ad/∂R_q·Ṙ_q;
/// release steps: ẋ = Ad_r·ẋ_{t−1} + Ȧd_r·x_{t−1}.
template <bool Hard, class Level, class LevelTangent, class Out>
inline void ssl_jvp_row_curve(const ssl_model& m, const ssl_zoh_derivatives& d_attack,
                              const ssl_zoh_derivatives& d_release, const Level& level,
                              const LevelTangent& level_tangent, std::size_t n, const double* states,
                              const ssl_state& initial, const ssl_row_tangents& v, double* tx, Out&& out) {
    const ssl_zoh& za = m.attack;
    const ssl_zoh& zr = m.release;
    const ssl_zoh va = ssl_directional(d_attack, v.rates), vr = ssl_directional(d_release, v.rates);
    double t1 = tx[0], t2 = tx[1];
    for (std::size_t t = 0; t < n; ++t) {
        const double xp1 = t ? states[2 * t - 2] : initial.x1;
        const double xp2 = t ? states[2 * t - 1] : initial.x2;
        const double yp = t ? xp1 + xp2 : initial.y_prev;
        const double dt = level(t) + m.feedback * yp;
        double n1, n2;
        if (ssl_static_gain_value<Hard>(m, dt) < yp) {
            const ssl_curve_point k = ssl_static_gain<Hard>(m, dt);
            const double e_dot = level_tangent(t) + v.fb * yp + m.feedback * (t1 + t2) - v.ct;
            const double a_dot = k.d_distance * e_dot + k.d_slope * v.slope + k.d_width * v.knee;
            n1 = za.Ad.m11 * t1 + za.Ad.m12 * t2 + va.Ad.m11 * xp1 + va.Ad.m12 * xp2 + va.Bd.v1 * k.value + za.Bd.v1 * a_dot;
            n2 = za.Ad.m21 * t1 + za.Ad.m22 * t2 + va.Ad.m21 * xp1 + va.Ad.m22 * xp2 + va.Bd.v2 * k.value + za.Bd.v2 * a_dot;
        } else {
            n1 = zr.Ad.m11 * t1 + vr.Ad.m11 * xp1;
            n2 = zr.Ad.m22 * t2 + vr.Ad.m22 * xp2;
        }
        t1 = n1;
        t2 = n2;
        out(t, t1, t2);
    }
    tx[0] = t1;
    tx[1] = t2;
}

/// The soft gate's tangent: with ṡ_t = σ'·(k̇·(a_t − y_{t−1}) + k·(ȧ_t − ẏ_{t−1})), the scaled rates move by
/// Ṙ'_af = (1 − s)·Ṙ_af − R_af·ṡ, Ṙ'_as likewise, Ṙ'_sf = Ṙ_sf, Ṙ'_ss = Ṙ_ss, and
/// ẋ = Ad·ẋ_{t−1} + Σ_q Ṙ'_q·(∂Ad/∂R'_q·x_{t−1} + ∂Bd/∂R'_q·a_t) + Bd·ȧ_t.
template <class Level, class LevelTangent, class Out>
inline void ssl_soft_jvp_row(const ssl_model& m, const Level& level, const LevelTangent& level_tangent, std::size_t n,
                             const double* states, const ssl_state& initial, const ssl_row_tangents& v, double* tx,
                             Out&& out) {
    double t1 = tx[0], t2 = tx[1];
    for (std::size_t t = 0; t < n; ++t) {
        const double xp1 = t ? states[2 * t - 2] : initial.x1;
        const double xp2 = t ? states[2 * t - 1] : initial.x2;
        const double yp = t ? xp1 + xp2 : initial.y_prev;
        ssl_zoh_derivatives dz;
        const ssl_soft_point p = ssl_soft_gate_point(m, level(t), yp, &dz);
        const ssl_curve_point k = ssl_static_gain(m, p.d);
        const double y_dot = t1 + t2;
        const double e_dot = level_tangent(t) + v.fb * yp + m.feedback * y_dot - v.ct;
        const double a_dot = k.d_distance * e_dot + k.d_slope * v.slope + k.d_width * v.knee;
        const double s_dot = p.gate * p.open * (v.gate_k * (p.a - yp) + m.gate_k * (a_dot - y_dot));
        const double w[4] = {p.open * v.rates[ssl_af] - m.rates.af * s_dot, p.open * v.rates[ssl_as] - m.rates.as * s_dot,
                             v.rates[ssl_sf], v.rates[ssl_ss]};
        const ssl_zoh dz_v = ssl_directional(dz, w);
        const double n1 = p.z.Ad.m11 * t1 + p.z.Ad.m12 * t2 + dz_v.Ad.m11 * xp1 + dz_v.Ad.m12 * xp2 +
                          dz_v.Bd.v1 * p.a + p.z.Bd.v1 * a_dot;
        const double n2 = p.z.Ad.m21 * t1 + p.z.Ad.m22 * t2 + dz_v.Ad.m21 * xp1 + dz_v.Ad.m22 * xp2 +
                          dz_v.Bd.v2 * p.a + p.z.Bd.v2 * a_dot;
        t1 = n1;
        t2 = n2;
        out(t, t1, t2);
    }
    tx[0] = t1;
    tx[1] = t2;
}

/// ssl_jvp_row_curve or ssl_soft_jvp_row, as the row's gate and curve require.
template <class Level, class LevelTangent, class Out>
inline void ssl_jvp_row(const ssl_model& m, const ssl_zoh_derivatives& d_attack, const ssl_zoh_derivatives& d_release,
                        const Level& level, const LevelTangent& level_tangent, std::size_t n, const double* states,
                        const ssl_state& initial, const ssl_row_tangents& v, double* tx, Out&& out) {
    if (!ssl_is_hard_gate(m))
        ssl_soft_jvp_row(m, level, level_tangent, n, states, initial, v, tx, out);
    else if (m.knee == 0.0)
        ssl_jvp_row_curve<true>(m, d_attack, d_release, level, level_tangent, n, states, initial, v, tx, out);
    else
        ssl_jvp_row_curve<false>(m, d_attack, d_release, level, level_tangent, n, states, initial, v, tx, out);
}

// ------------------------------------------------------------------------------------------------
// Second order (hard gate)

/// ∂ℓ₂/∂(model parameters) of one row with the tangents ṡ and Ṙ held fixed, and the first-order sums
/// the chain factors need (∂L/∂s and ∂L/∂R_q of the first-order backward with the same grad_out).
struct ssl_row_second {
    double ct = 0, slope = 0, knee = 0, fb = 0, rates[4] = {0, 0, 0, 0};
    double first_slope = 0, first_rates[4] = {0, 0, 0, 0};
};

/// The backward (ssl_adjoint_row) maps ḡ = (grad_out, grad_final) to g = Jᵀḡ. For cotangents v of g
/// (the level's v_level(t), the parameters' `v`, zi's v_zi) this differentiates ℓ₂ = ⟨v, Jᵀḡ⟩ = ⟨J·v, ḡ⟩
/// = Σ_t gy_t·ẏ_t + ḡ_finalᵀ·ẋ_{n−1}, with ẋ the tangent along v (docs/derivations/ssl_second_order.md):
///   ∂ℓ₂/∂gy_t = ẏ_t (out_tangent), ∂ℓ₂/∂ḡ_final = ẋ_{n−1} (d_final),
/// and for the primal inputs the adjoint of the pair (x, ẋ): μ (of ẋ) is the first-order adjoint, ρ (of
/// x) runs ρ_{t−1} = A_eff,tᵀ·ρ_t + δg_x,t(μ_t) from ρ_{n−1} = 0, where δg_·,t is the derivative of step
/// t's first-order pullback (μ_t held) along (ẋ_{t−1}, v). Each step contributes its first-order
/// pullback of ρ_t plus δg(μ_t) to every parameter, out_level(t, ∂ℓ₂/∂ℓ_t, ∂L/∂ℓ_t) receives the level's
/// (and the first-order one), d_zi = ρ_{−1}. extra_seed(t, ẏ_t) adds a seed on y_t to ρ (the audio
/// entry's). `work` holds 2n doubles (the tangents).
template <bool Hard, class Level, class LevelTangent, class GradOut, class ExtraSeed, class OutTangent, class OutLevel>
inline ssl_row_second ssl_second_order_row_curve(
    const ssl_model& m, const ssl_zoh_derivatives& d_attack, const ssl_zoh_derivatives& d_release,
    const ssl_zoh_second_derivatives& d2_attack, const ssl_zoh_second_derivatives& d2_release, const Level& level,
    const LevelTangent& level_tangent, const GradOut& grad_out, const ExtraSeed& extra_seed, OutTangent&& out_tangent,
    OutLevel&& out_level, std::size_t n, const double* states, const ssl_state& initial, const double* grad_final,
    const ssl_row_tangents& v, const double* v_zi, double* work, double* d_final, double* d_zi) {
    // Pass 1: the tangents ẋ_t.
    double tx[2] = {v_zi ? v_zi[0] : 0.0, v_zi ? v_zi[1] : 0.0};
    const double tx_initial[2] = {tx[0], tx[1]};
    ssl_jvp_row_curve<Hard>(m, d_attack, d_release, level, level_tangent, n, states, initial, v, tx,
                            [work](std::size_t t, double a, double b) {
                                work[2 * t] = a;
                                work[2 * t + 1] = b;
                            });
    if (d_final) {
        d_final[0] = tx[0];
        d_final[1] = tx[1];
    }
    // Pass 2, backwards: μ (first order) and ρ.
    const ssl_zoh& za = m.attack;
    const ssl_zoh& zr = m.release;
    const ssl_zoh va = ssl_directional(d_attack, v.rates), vr = ssl_directional(d_release, v.rates);
    ssl_mode_sums mu_att, mu_rel, rho_att, rho_rel, dot_att, dot_rel;  // Σμxᵀ, Σρxᵀ, Σμẋᵀ (with a, a, ȧ)
    ssl_row_second r;
    double mc1 = grad_final ? grad_final[0] : 0.0, mc2 = grad_final ? grad_final[1] : 0.0;  // A_eff,t+1ᵀ·μ_{t+1}
    double rc1 = 0.0, rc2 = 0.0;                                                             // ρ_t before seeds
    for (std::size_t t = n; t-- > 0;) {
        const double yd = work[2 * t] + work[2 * t + 1];
        out_tangent(t, work[2 * t], work[2 * t + 1]);
        const double gy = grad_out(t);
        const double mu1 = gy + mc1, mu2 = gy + mc2;
        const double seed = extra_seed(t, yd);
        const double rho1 = rc1 + seed, rho2 = rc2 + seed;
        const double xp1 = t ? states[2 * t - 2] : initial.x1;
        const double xp2 = t ? states[2 * t - 1] : initial.x2;
        const double yp = t ? xp1 + xp2 : initial.y_prev;
        const double xd1 = t ? work[2 * t - 2] : tx_initial[0];
        const double xd2 = t ? work[2 * t - 1] : tx_initial[1];
        const double ypd = xd1 + xd2;
        const double dt = level(t) + m.feedback * yp;
        if (ssl_static_gain_value<Hard>(m, dt) < yp) {  // attack
            const ssl_curve_point k = ssl_static_gain<Hard>(m, dt);
            const ssl_curve_second k2 = ssl_static_gain_second<Hard>(m, dt);
            const double e_dot = level_tangent(t) + v.fb * yp + m.feedback * ypd - v.ct;
            const double a_dot = k.d_distance * e_dot + k.d_slope * v.slope + k.d_width * v.knee;
            const double de = k2.ee * e_dot + k2.es * v.slope + k2.eW * v.knee;  // δ(∂a/∂e)
            const double ds = k2.es * e_dot + k2.ss * v.slope + k2.sW * v.knee;  // δ(∂a/∂s)
            const double dw = k2.eW * e_dot + k2.sW * v.slope + k2.WW * v.knee;  // δ(∂a/∂W)
            const double ga_mu = za.Bd.v1 * mu1 + za.Bd.v2 * mu2;
            const double ga_rho = za.Bd.v1 * rho1 + za.Bd.v2 * rho2;
            const double ga_dot = va.Bd.v1 * mu1 + va.Bd.v2 * mu2;  // δ(Bdᵀμ) = Ḃdᵀμ
            const double gd_mu = k.d_distance * ga_mu, gd_rho = k.d_distance * ga_rho;
            ssl_accumulate(mu_att, mu1, mu2, xp1, xp2, k.value);
            ssl_accumulate(rho_att, rho1, rho2, xp1, xp2, k.value);
            ssl_accumulate(dot_att, mu1, mu2, xd1, xd2, a_dot);
            r.first_slope += ga_mu * k.d_slope;
            const double dl = de * ga_mu + k.d_distance * ga_dot;  // δ(∂L/∂ℓ_t)
            const double g_level = gd_rho + dl;
            out_level(t, g_level, gd_mu);
            r.ct -= g_level;
            r.slope += ga_rho * k.d_slope + ds * ga_mu + k.d_slope * ga_dot;
            r.knee += ga_rho * k.d_width + dw * ga_mu + k.d_width * ga_dot;
            r.fb += (gd_rho + dl) * yp + gd_mu * ypd;
            const ssl_vec2 cm = ssl_mul_transposed(za.Ad, mu1, mu2);
            const double back_mu = m.feedback * gd_mu;
            mc1 = cm.v1 + back_mu;
            mc2 = cm.v2 + back_mu;
            const ssl_vec2 cr = ssl_mul_transposed(za.Ad, rho1, rho2);
            const ssl_vec2 cd = ssl_mul_transposed(va.Ad, mu1, mu2);
            const double back_rho = m.feedback * gd_rho + v.fb * gd_mu + m.feedback * dl;
            rc1 = cr.v1 + cd.v1 + back_rho;
            rc2 = cr.v2 + cd.v2 + back_rho;
        } else {  // release: diagonal operators, no input
            ssl_accumulate(mu_rel, mu1, mu2, xp1, xp2, 0.0);
            ssl_accumulate(rho_rel, rho1, rho2, xp1, xp2, 0.0);
            ssl_accumulate(dot_rel, mu1, mu2, xd1, xd2, 0.0);
            out_level(t, 0.0, 0.0);
            mc1 = zr.Ad.m11 * mu1;
            mc2 = zr.Ad.m22 * mu2;
            rc1 = zr.Ad.m11 * rho1 + vr.Ad.m11 * mu1;
            rc2 = zr.Ad.m22 * rho2 + vr.Ad.m22 * mu2;
        }
    }
    if (d_zi) {
        d_zi[0] = rc1;
        d_zi[1] = rc2;
    }
    for (int q = 0; q < 4; ++q) {
        r.first_rates[q] = ssl_contract(d_attack, q, mu_att) + ssl_contract(d_release, q, mu_rel);
        double g = ssl_contract(d_attack, q, rho_att) + ssl_contract(d_release, q, rho_rel) +
                   ssl_contract(d_attack, q, dot_att) + ssl_contract(d_release, q, dot_rel);
        for (int s = 0; s < 4; ++s) {
            if (v.rates[s] == 0.0) continue;
            g += v.rates[s] * (ssl_contract_pair(d2_attack.d2Ad[q][s], d2_attack.d2Bd[q][s], mu_att) +
                               ssl_contract_pair(d2_release.d2Ad[q][s], d2_release.d2Bd[q][s], mu_rel));
        }
        r.rates[q] = g;
    }
    return r;
}

DD_ARCH_END
