// The SSL-style bus compressor's model: closed-form ZOH operators and their derivatives, the
// per-row model, the per-sample step (which defines the processor's numbers) and the per-row forward
// and adjoint kernels shared by the batch functions and the streaming processors.
// Derivation of every formula here: docs/derivations/ssl.md.
//
// Everything inside the recursion runs in double, whatever the signal's type: at audio rates the
// slow pole is exp(−Ts/5.1 s) = 1 − 4.4e−6, which float32 cannot even represent to 1 % of its
// distance from 1. Signals and gradients are read and written in T (float or double).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "core/conversions_math.hpp"
#include "differential_dynamics/ssl.hpp"
#include "simd/simd.hpp"

DD_ARCH_BEGIN

// ------------------------------------------------------------------------------------------------
// Small fixed-size linear algebra (row-major 2×2)

struct ssl_mat2 {
    double m11 = 0, m12 = 0, m21 = 0, m22 = 0;
};
struct ssl_vec2 {
    double v1 = 0, v2 = 0;
};

/// The four rates R_q = 1/T_q (1/s), in this order everywhere: af, as, sf, ss.
struct ssl_rates {
    double af, as, sf, ss;
};
enum ssl_rate_index : int { ssl_af = 0, ssl_as = 1, ssl_sf = 2, ssl_ss = 3 };

/// ZOH operators of one mode: x ← Ad·x + Bd·a.
struct ssl_zoh {
    ssl_mat2 Ad;
    ssl_vec2 Bd;
};

/// Fréchet derivatives of one mode's operators with respect to each rate R_q (index ssl_rate_index).
struct ssl_zoh_derivatives {
    ssl_mat2 dAd[4];
    ssl_vec2 dBd[4];
};

/// Second derivatives of one mode's operators: d2Ad[q][r] = ∂²Ad/∂R_q∂R_r (symmetric in q, r), likewise Bd.
struct ssl_zoh_second_derivatives {
    ssl_mat2 d2Ad[4][4];
    ssl_vec2 d2Bd[4][4];
};

/// Attack mode (diode conducting): A = [[−(R_af+R_sf), −R_af], [−R_as, −(R_as+R_ss)]], B = [R_af; R_as];
/// Ad = exp(A·Ts), Bd = A⁻¹(Ad − I)·B in closed form (real eigenvalues); optional derivatives.
ssl_zoh ssl_attack_zoh(const ssl_rates& r, double Ts, ssl_zoh_derivatives* derivatives = nullptr);
/// Release mode (diode open): Ad = diag(e^{−R_sf·Ts}, e^{−R_ss·Ts}), Bd = 0; optional derivatives.
ssl_zoh ssl_release_zoh(const ssl_rates& r, double Ts, ssl_zoh_derivatives* derivatives = nullptr);

/// Second derivatives of the attack operators with respect to pairs of rates (closed form in double;
/// series in δ² below δ·Ts = 1, where the divided differences would cancel).
void ssl_attack_zoh_second(const ssl_rates& r, double Ts, ssl_zoh_second_derivatives& out);
/// Release: only ∂²/∂R_sf² (entry 11) and ∂²/∂R_ss² (entry 22) are non-zero.
void ssl_release_zoh_second(const ssl_rates& r, double Ts, ssl_zoh_second_derivatives& out);

// ------------------------------------------------------------------------------------------------
// One row's model and the per-sample step (shared by the batch kernels and streaming processors)

/// Everything the recursion needs for one row, built once per row by make_ssl_model.
struct ssl_model {
    double comp_thresh;  // CT (dB)
    double comp_ratio;   // CR > 1
    double slope;        // s = 1 − 1/CR
    double knee;         // W ≥ 0 (dB); 0 = the hard curve
    double feedback;     // fb ∈ [0, 1]
    double gate_k;       // the soft gate's sharpness (1/dB); ∞ = the hard gate
    double Ts;           // sample period (s)
    ssl_rates rates;
    ssl_zoh attack, release;
};

/// Builds the model (operators in double); optionally also the operators' derivatives with respect to
/// the rates. Assumes valid parameters (check_ssl_params / the batch API validate them).
ssl_model make_ssl_model(const ssl_row_params& p, double fs, ssl_zoh_derivatives* d_attack = nullptr,
                         ssl_zoh_derivatives* d_release = nullptr);

/// Recursion state: x1 = Vout − Vm (fast capacitor), x2 = Vm (slow capacitor), y_prev = x1 + x2 (dB).
/// Zero-initialised = the default initial condition (x = 0, y_{−1} = 0 dB).
struct ssl_state {
    double x1 = 0, x2 = 0, y_prev = 0;
    ssl_state() = default;
    /// From (x1, x2), or the default if null.
    explicit ssl_state(const double* x) : x1(x ? x[0] : 0.0), x2(x ? x[1] : 0.0), y_prev(x1 + x2) {}
};

/// Value and partials of the side chain's static curve at distance e = d − CT above threshold.
struct ssl_curve_point {
    double value, d_distance, d_slope, d_width;  // a, ∂a/∂e (= ∂a/∂d = −∂a/∂CT), ∂a/∂s, ∂a/∂W
};

/// a = min(0, s·(CT − d)) (hard, W = 0), or with W > 0 the quadratic soft knee of the static curve (curve.hpp)
/// (Giannoulis et al. 2012): a = 0 for 2e ≤ −W, −s·(e + W/2)²/(2W) for |2e| < W, −s·e for 2e ≥ W.
/// W = 0 never enters the knee branch, so it reproduces the hard curve bit for bit. Hard = true
/// promises W = 0 (a loop over a hard row tests it once, not every sample).
template <bool Hard = false> inline double ssl_static_gain_value(const ssl_model& m, double d) {
    const double e = d - m.comp_thresh, s = m.slope, W = m.knee;
    // The hard curve by a min (one instruction on the state's loop-carried path), not a branch: a
    // peak detector's level crosses the threshold from one sample to the next, and a mispredicted
    // branch here cost more than the whole step (the SSL forward went from 3.3 to 1.8 ns/sample).
    if (Hard || W == 0.0) return std::min(-s * e, 0.0);
    if (2.0 * e <= -W) return 0.0;
    if (2.0 * e >= W) return -s * e;
    const double q = e + 0.5 * W;
    return -s * q * q * (1.0 / (2.0 * W));
}

/// The value (ssl_static_gain_value, the same bits) and its partials.
template <bool Hard = false> inline ssl_curve_point ssl_static_gain(const ssl_model& m, double d) {
    const double a = ssl_static_gain_value<Hard>(m, d);
    const double e = d - m.comp_thresh, s = m.slope, W = m.knee;
    if (Hard || W == 0.0) {
        // The values of the knee branches below (W = 0 reaches only 2e ≤ −W or 2e ≥ W; s > 0, so
        // −s·e < 0 exactly when e > 0), the partials times 1 or 0 without a branch. At e = 0 a is −0
        // where the branch gave +0, and "off" partials can be −0: equal in every use.
        const double on = simd::less_indicator(0.0, e);  // [e > 0]; a comparison would become a branch
        return {a, -s * on, -e * on, 0.0};
    }
    if (2.0 * e <= -W) return {a, 0.0, 0.0, 0.0};
    if (2.0 * e >= W) return {a, -s, -e, 0.0};
    const double q = e + 0.5 * W;
    const double inv_2w = 1.0 / (2.0 * W);
    // ∂/∂W of −s·q²/(2W) with ∂q/∂W = 1/2: −s·q·(W − q)/(2W²)
    return {a, -2.0 * s * q * inv_2w, -q * q * inv_2w, -s * q * (W - q) * inv_2w / W};
}

/// Second partials of the side chain's static curve (e = d − CT, s the slope, W the knee width):
/// the derivatives of ssl_static_gain's partials. Hard curve: only ∂²a/∂e∂s = −[e > 0].
/// Knee (|2e| < W, q = e + W/2): a_ee = −s/W, a_es = −q/W, a_eW = s·(q − W/2)/W², a_ss = 0,
/// a_sW = −q·(W − q)/(2W²), a_WW = −s·(W − 2q)²/(4W³). Above the knee a_es = −1, below all 0.
struct ssl_curve_second {
    double ee, es, eW, ss, sW, WW;
};
template <bool Hard = false> inline ssl_curve_second ssl_static_gain_second(const ssl_model& m, double d) {
    const double e = d - m.comp_thresh, s = m.slope, W = m.knee;
    if (Hard || W == 0.0) return {0.0, e > 0.0 ? -1.0 : 0.0, 0.0, 0.0, 0.0, 0.0};
    if (2.0 * e <= -W) return {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    if (2.0 * e >= W) return {0.0, -1.0, 0.0, 0.0, 0.0, 0.0};
    const double q = e + 0.5 * W, W2 = W * W, r = W - 2.0 * q;
    return {-s / W, -q / W, s * (q - 0.5 * W) / W2, 0.0, -q * (W - q) / (2.0 * W2), -s * r * r / (4.0 * W2 * W)};
}

/// Whether the row takes the hard gate (gate_k = ∞) rather than the soft one.
inline bool ssl_is_hard_gate(const ssl_model& m) { return std::isinf(m.gate_k); }

/// One sample: d = level + fb·y_prev; a = curve(d); attack = a < y_prev (strict);
/// x ← Ad·x + Bd·a (attack) or Ad_r·x (release); returns y = x1 + x2, the gain in dB.
inline double ssl_step(const ssl_model& m, ssl_state& s, double level_db, bool* attack_out = nullptr) {
    const double d = level_db + m.feedback * s.y_prev;
    const double a = ssl_static_gain_value(m, d);
    const bool attack = a < s.y_prev;
    double x1, x2;
    if (attack) {
        const ssl_zoh& z = m.attack;
        x1 = z.Ad.m11 * s.x1 + z.Ad.m12 * s.x2 + z.Bd.v1 * a;
        x2 = z.Ad.m21 * s.x1 + z.Ad.m22 * s.x2 + z.Bd.v2 * a;
    } else {
        // Release: Ad is diagonal and Bd = 0, the input has no effect.
        x1 = m.release.Ad.m11 * s.x1;
        x2 = m.release.Ad.m22 * s.x2;
    }
    s.x1 = x1;
    s.x2 = x2;
    s.y_prev = x1 + x2;
    if (attack_out) *attack_out = attack;
    return s.y_prev;
}

// Soft gate (docs/derivations/ssl_soft_gate.md): s_t = σ(k·(a_t − y_{t−1})) scales the series rates R_af, R_as by
// (1 − s_t), and the attack operators are recomputed at every sample (s → 0 where a_t < y_{t−1}:
// attack; s → 1: the release operators). Derivatives: ssl_derivatives.hpp.

/// σ(z) and 1 − σ(z), each without cancellation.
inline void ssl_logistic(double z, double& s, double& one_minus_s) {
    if (z >= 0) {
        const double e = std::exp(-z);
        s = 1.0 / (1.0 + e);
        one_minus_s = e / (1.0 + e);
    } else {
        const double e = std::exp(z);
        s = e / (1.0 + e);
        one_minus_s = 1.0 / (1.0 + e);
    }
}

/// One sample's gate and operators (with their derivatives with respect to the scaled rates if asked).
struct ssl_soft_point {
    double d, a, gate, open;  // d_t, a_t, s_t, 1 − s_t
    ssl_zoh z;
};
inline ssl_soft_point ssl_soft_gate_point(const ssl_model& m, double level_db, double y_prev,
                                          ssl_zoh_derivatives* derivatives = nullptr) {
    ssl_soft_point p;
    p.d = level_db + m.feedback * y_prev;
    p.a = ssl_static_gain_value(m, p.d);
    ssl_logistic(m.gate_k * (p.a - y_prev), p.gate, p.open);
    const ssl_rates r{m.rates.af * p.open, m.rates.as * p.open, m.rates.sf, m.rates.ss};
    p.z = ssl_attack_zoh(r, m.Ts, derivatives);
    return p;
}

/// One soft-gate sample (the streaming and batch forward): returns y_t.
inline double ssl_soft_step(const ssl_model& m, ssl_state& s, double level_db) {
    const ssl_soft_point p = ssl_soft_gate_point(m, level_db, s.y_prev);
    const double x1 = p.z.Ad.m11 * s.x1 + p.z.Ad.m12 * s.x2 + p.z.Bd.v1 * p.a;
    const double x2 = p.z.Ad.m21 * s.x1 + p.z.Ad.m22 * s.x2 + p.z.Bd.v2 * p.a;
    s.x1 = x1;
    s.x2 = x2;
    s.y_prev = x1 + x2;
    return s.y_prev;
}

/// The level detector of the audio-in entry: safe dB of |x| (floor 1e-7), computed in double.
template <class T> inline double ssl_audio_level(T x) { return safe_amp2db(std::fabs(double(x))); }
/// Its derivative with respect to x: 20/(ln10·x) above the floor, 0 under it.
template <class T> inline double ssl_audio_level_derivative(T x) {
    const double ax = std::fabs(double(x));
    if (ax < safe_amp_floor<double>) return 0.0;
    return db_per_neper<double> / double(x);
}
/// Its second derivative: −20/(ln10·x²) above the floor, 0 under it.
template <class T> inline double ssl_audio_level_second_derivative(T x) {
    const double ax = std::fabs(double(x));
    if (ax < safe_amp_floor<double>) return 0.0;
    return -db_per_neper<double> / (double(x) * double(x));
}

/// One audio sample (the per-sample form of ssl_compress): the level from `detect` (the sample itself,
/// or a side chain's), gain_db = y_t and the processed sample db2amp(y_t)·x, both computed in double
/// and rounded to T once.
template <class T> inline void ssl_compress_step(const ssl_model& m, ssl_state& s, T detect, T x, T& gain_db, T& y) {
    const double level = ssl_audio_level(detect);
    const double g = ssl_is_hard_gate(m) ? ssl_step(m, s, level) : ssl_soft_step(m, s, level);
    gain_db = T(g);
    y = T(db2amp_raw(g) * double(x));
}

// ------------------------------------------------------------------------------------------------
// Per-row kernels. `level(t)` gives the detector level in dB (double) of sample t.

/// Forward over n samples from state s. gain[t] (nullable) receives y_t; states (nullable, 2n doubles)
/// receives (x1, x2) after every step — the tape the adjoint needs.
template <class T, class Level>
inline void ssl_forward_row(const ssl_model& m, const Level& level, std::size_t n, ssl_state& s, T* gain,
                            double* states) {
    if (!ssl_is_hard_gate(m)) {  // the soft gate: operators recomputed at every sample
        for (std::size_t t = 0; t < n; ++t) {
            const double y = ssl_soft_step(m, s, level(t));
            if (gain) gain[t] = T(y);
            if (states) {
                states[2 * t] = s.x1;
                states[2 * t + 1] = s.x2;
            }
        }
        return;
    }
    // The curve's kind is tested in every step: with it hoisted (Hard = true), GCC 12 turns the
    // attack/release branch into selects, which lengthen the state's chain (measured 1.5× slower in cache).
    for (std::size_t t = 0; t < n; ++t) {
        const double y = ssl_step(m, s, level(t));
        if (gain) gain[t] = T(y);
        if (states) {
            states[2 * t] = s.x1;
            states[2 * t + 1] = s.x2;
        }
    }
}

/// Gradients of one row's parameters (time constants in seconds), summed in double.
struct ssl_row_grads {
    double comp_thresh = 0, comp_ratio = 0, T_attack_fast = 0, T_attack_slow = 0, T_shunt_fast = 0,
           T_shunt_slow = 0, feedback_coeff = 0, knee = 0, gate_k = 0;
};

/// Σ over the steps of one mode of μ_t·x_{t−1}ᵀ (S) and μ_t·a_t (v), μ_t = ∂L/∂x_t.
struct ssl_mode_sums {
    ssl_mat2 S;
    ssl_vec2 v;
};

/// dL/dR_q = Σ_ij ∂Ad/∂R_q ∘ S + ∂Bd/∂R_q · v, for one mode.
inline double ssl_contract(const ssl_zoh_derivatives& d, int q, const ssl_mode_sums& sums) {
    const ssl_mat2& A = d.dAd[q];
    const ssl_vec2& B = d.dBd[q];
    return A.m11 * sums.S.m11 + A.m12 * sums.S.m12 + A.m21 * sums.S.m21 + A.m22 * sums.S.m22 +
           B.v1 * sums.v.v1 + B.v2 * sums.v.v2;
}

/// Adjoint of ssl_forward_row started from the state `initial` (x1, x2 before the first sample),
/// decisions held fixed. grad_final (∂L/∂(x1, x2) after the last sample) seeds the recursion; the
/// adjoint of the initial state is left in grad_initial (nullable).
/// `states` is the forward's tape (2n doubles), from which every d_t, a_t and decision is recomputed
/// bit for bit. `grad_out(t)` is ∂L/∂y_t; `pull(t, g)` receives ∂L/∂level_t (0 in release steps).
///   μ_t = Cᵀ·gy_t + A_eff,t+1ᵀ·μ_{t+1},  A_eff = Ad + attack·fb·(∂a/∂d)·Bd·C  (= Ad − m·s·fb·Bd·C hard)
/// Parameter gradients: ∂a/∂(CT, s, W) and ∂d/∂fb = y_{t−1} weighted by ga_t = Bd·μ_t; the rates by
/// contracting the per-mode sums with the operator derivatives once at the end; T_q by dR/dT = −1/T².
template <bool Hard, class Level, class GradOut, class Pull>
inline ssl_row_grads ssl_adjoint_row_curve(const ssl_model& m, const ssl_zoh_derivatives& d_attack,
                                           const ssl_zoh_derivatives& d_release, const Level& level,
                                           const GradOut& grad_out, Pull&& pull, std::size_t n, const double* states,
                                           const ssl_state& initial, const double* grad_final, double* grad_initial) {
    const ssl_zoh& za = m.attack;
    const ssl_zoh& zr = m.release;
    ssl_mode_sums att, rel;
    double g_ct = 0, g_slope = 0, g_knee = 0, g_fb = 0;
    double c1 = grad_final ? grad_final[0] : 0.0, c2 = grad_final ? grad_final[1] : 0.0;  // A_eff,t+1ᵀ·μ_{t+1}
    for (std::size_t t = n; t-- > 0;) {
        const double gy = grad_out(t);
        const double mu1 = gy + c1, mu2 = gy + c2;
        const double xp1 = t ? states[2 * t - 2] : initial.x1;
        const double xp2 = t ? states[2 * t - 1] : initial.x2;
        const double yp = t ? xp1 + xp2 : initial.y_prev;
        const double dt = level(t) + m.feedback * yp;
        // The decision needs the value only; the partials are formed in the attack branch (most steps
        // are release steps, and the partials cost more instructions than the value).
        if (ssl_static_gain_value<Hard>(m, dt) < yp) {  // attack
            const ssl_curve_point k = ssl_static_gain<Hard>(m, dt);
            att.S.m11 += mu1 * xp1;
            att.S.m12 += mu1 * xp2;
            att.S.m21 += mu2 * xp1;
            att.S.m22 += mu2 * xp2;
            att.v.v1 += mu1 * k.value;
            att.v.v2 += mu2 * k.value;
            const double ga = za.Bd.v1 * mu1 + za.Bd.v2 * mu2;  // ∂L/∂a_t
            const double gd = ga * k.d_distance;                 // ∂L/∂d_t (0 where a = 0)
            pull(t, gd);
            g_ct -= gd;
            g_slope += ga * k.d_slope;
            g_knee += ga * k.d_width;
            g_fb += gd * yp;
            const double back = gd * m.feedback;  // through d_t = level + fb·(x1 + x2)
            c1 = za.Ad.m11 * mu1 + za.Ad.m21 * mu2 + back;
            c2 = za.Ad.m12 * mu1 + za.Ad.m22 * mu2 + back;
        } else {  // release: diagonal Ad, no input
            rel.S.m11 += mu1 * xp1;
            rel.S.m22 += mu2 * xp2;
            pull(t, 0.0);
            c1 = zr.Ad.m11 * mu1;
            c2 = zr.Ad.m22 * mu2;
        }
    }
    if (grad_initial) {
        grad_initial[0] = c1;
        grad_initial[1] = c2;
    }
    ssl_row_grads g;
    g.comp_thresh = g_ct;
    g.comp_ratio = g_slope / (m.comp_ratio * m.comp_ratio);  // ds/dCR = 1/CR²
    g.knee = g_knee;
    g.feedback_coeff = g_fb;
    const double rates[4] = {m.rates.af, m.rates.as, m.rates.sf, m.rates.ss};
    double* grad_T[4] = {&g.T_attack_fast, &g.T_attack_slow, &g.T_shunt_fast, &g.T_shunt_slow};
    for (int q = 0; q < 4; ++q) {
        const double dR = ssl_contract(d_attack, q, att) + ssl_contract(d_release, q, rel);
        *grad_T[q] = -dR * rates[q] * rates[q];  // dR/dT = −1/T² = −R²
    }
    return g;
}
/// ssl_adjoint_row_curve for the row's curve, hard or with a knee (tested once per row).
template <class Level, class GradOut, class Pull>
inline ssl_row_grads ssl_adjoint_row(const ssl_model& m, const ssl_zoh_derivatives& d_attack,
                                     const ssl_zoh_derivatives& d_release, const Level& level, const GradOut& grad_out,
                                     Pull&& pull, std::size_t n, const double* states, const ssl_state& initial,
                                     const double* grad_final, double* grad_initial) {
    if (m.knee == 0.0)
        return ssl_adjoint_row_curve<true>(m, d_attack, d_release, level, grad_out, pull, n, states, initial,
                                           grad_final, grad_initial);
    return ssl_adjoint_row_curve<false>(m, d_attack, d_release, level, grad_out, pull, n, states, initial, grad_final,
                                        grad_initial);
}

DD_ARCH_END
