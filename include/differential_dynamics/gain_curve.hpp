// Static compressor + downward-expander gain curve with an optional quadratic soft knee (SPEC §2.1).
// Derivation of the partial derivatives: docs/gain_curve.md.
#pragma once
#include <cmath>
#include <cstddef>

#include "batch.hpp"
#include "simd.hpp"

namespace dd {

/// Value and partials of one knee'd branch h(d; σ, W), where d is the distance (dB) into the
/// branch's active side and σ ≥ 0 its slope:
///     h = 0                       for 2d ≤ −W
///     h = −σ·(d + W/2)² / (2W)    for |2d| < W   (Giannoulis et al. 2012 quadratic knee)
///     h = −σ·d                    for 2d ≥ W
/// W = 0 gives the hard curve exactly: the knee case is never selected (its value, computed with
/// 1/(2W) = ∞, is discarded). Branch-free, for scalars and SIMD batches alike (V = T or vec<T>).
/// Knee = false skips the knee case: valid only for W = 0, where it gives the same bits.
template <class V> struct knee_branch {
    V value, d_distance, d_slope, d_width;
};

template <bool Knee = true, class V> DD_INLINE knee_branch<V> knee_gain(V d, V slope, V width, V inv_2w) {
    const V zero(0), half(0.5);
    if constexpr (!Knee) {
        const auto below = d <= zero;  // 2d ≤ −W with W = 0
        return {simd::pick(below, zero, -(slope * d)), simd::pick(below, zero, -slope), simd::pick(below, zero, -d),
                zero};
    }
    const auto below = (d + d) <= -width;
    const auto above = (d + d) >= width;
    const V a = d + half * width;
    const V sa = slope * a;
    const V quad = -(sa * a) * inv_2w;
    const V quad_dd = -(sa + sa) * inv_2w;
    const V quad_ds = -(a * a) * inv_2w;
    // ∂/∂W of −σa²/(2W) with ∂a/∂W = 1/2: −σ·a·(W − a)/(2W²)
    const V quad_dw = -(sa * (width - a)) * inv_2w / width;
    return {simd::pick(below, zero, simd::pick(above, -(slope * d), quad)),
            simd::pick(below, zero, simd::pick(above, -slope, quad_dd)),
            simd::pick(below, zero, simd::pick(above, -d, quad_ds)),
            simd::pick(below, zero, simd::pick(above, zero, quad_dw))};
}

/// Parameters of one row of the static curve.
template <class T> struct compexp_curve {
    T comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee;
};

/// A curve prepared for evaluation on V = T or vec<T>: slopes and their ratio derivatives
/// precomputed (σ_c = 1 − 1/CR, σ_e = 1/ER − 1 ≥ 0, dσ_c/dCR = 1/CR², dσ_e/dER = −1/ER²).
template <class V> struct prepared_curve {
    V comp_thresh, comp_slope, d_comp_slope, exp_thresh, exp_slope, d_exp_slope, knee, inv_2w;

    template <class T> static prepared_curve from(const compexp_curve<T>& c) {
        return {V(c.comp_thresh), V(T(1) - T(1) / c.comp_ratio), V(T(1) / (c.comp_ratio * c.comp_ratio)),
                V(c.exp_thresh), V(T(1) / c.exp_ratio - T(1)), V(-T(1) / (c.exp_ratio * c.exp_ratio)),
                V(c.knee), V(T(1) / (T(2) * c.knee))};
    }
};

/// float32 targets of the knee-free curve, f = 10^(g_dB(L)/20) for L = amp2db(x), to about an ulp
/// (docs/simd_math.md, "Accurate float32 targets"). Formed as amp2db then db2amp, f carries the
/// rounding of L and g_dB in float (absolute 2^-18 dB at 60 dB, 11 ulp-equivalent in f). Here the
/// exponent z = log2 f of branch b is taken from x = 2^e·m directly, as z_b = s_b·log2 x + K_b with
/// log2 x = e + ln m·log2(e) (compressor: s = −σ_c, K = σ_c·CT·log2(10)/20; expander: s = σ_e,
/// K = −σ_e·ET·log2(10)/20), in pieces that are exact or small: s_b·e with s_b split so that
/// s_hi·e is exact, K_b as an integer, a fraction and a tail. Per row, for V = wide<float>.
template <class V> struct hard_target_terms {
    V s[2], b[2], k[2];                                         // the branch's z, roughly (its choice)
    V s_hi[2], s_lo[2], k_int[2], k_frac[2], k_lo[2];           // the pieces
    template <class T> static hard_target_terms from(const compexp_curve<T>& c) {
        const double kappa = 0.166096404744368117393515971474469508;  // log2(10)/20
        const double log2e = 1.44269504088896340735992468100189214;
        const double slope[2] = {-(1.0 - 1.0 / double(c.comp_ratio)), 1.0 / double(c.exp_ratio) - 1.0};
        const double offset[2] = {-slope[0] * kappa * double(c.comp_thresh), -slope[1] * kappa * double(c.exp_thresh)};
        hard_target_terms t;
        for (int i = 0; i < 2; ++i) {
            // s_hi: s to 15 bits after the leading one, so that s_hi·e (|e| ≤ 2^8) is exact in float.
            const double hi = slope[i] == 0.0 ? 0.0 : std::ldexp(std::nearbyint(std::ldexp(slope[i], 15 - std::ilogb(slope[i]))), std::ilogb(slope[i]) - 15);
            const float k_hi = float(offset[i]);
            const float k_int = std::nearbyint(k_hi);
            t.s[i] = V(float(slope[i]));
            t.b[i] = V(float(slope[i] * log2e));
            t.k[i] = V(float(offset[i]));
            t.s_hi[i] = V(float(hi));
            t.s_lo[i] = V(float(slope[i] - hi));
            t.k_int[i] = V(k_int);
            t.k_frac[i] = V(k_hi - k_int);  // exact
            t.k_lo[i] = V(float(offset[i] - double(k_hi)));
        }
        return t;
    }
};

/// f for one vector of x, given amp2db's parts e and ln m (simd::detail::log_parts). The branch is
/// chosen on the rough z (min(0, z_c, z_e), ties to the compressor); then, on the chosen branch,
///     z = n1 + k_int + t + small,   n1 = round(s_hi·e),  t = (s_hi·e − n1) + k_frac,
///     small = ln m·b + e·s_lo + k_lo
/// with s_hi·e − n1 exact and t exact or rounded once at |t| ≤ 1; then n = n1 + k_int + round(t + small),
/// r = (t − round(t + small)) + small, and f = 2^n·e^(r·ln 2) by db2amp's polynomial. Levels whose
/// gain is below 2^-126 give 2^-126, as db2amp does; f ≤ 1.
template <class A>
DD_INLINE xsimd::batch<float, A> hard_curve_target(const xsimd::batch<float, A>& e, const xsimd::batch<float, A>& ln_m,
                                                   const hard_target_terms<xsimd::batch<float, A>>& c) {
    using V = xsimd::batch<float, A>;
    const V round_magic(12582912.0f);  // 1.5·2^23: v + magic rounds v to an integer in the low bits
    auto nearest = [&](const V& v) { return (v + round_magic) - round_magic; };
    const V zc = simd::fmadd(e, c.s[0], simd::fmadd(ln_m, c.b[0], c.k[0]));
    const V ze = simd::fmadd(e, c.s[1], simd::fmadd(ln_m, c.b[1], c.k[1]));
    const auto comp = zc <= ze;
    const V z_rough = simd::pick(comp, zc, ze);
    auto branch = [&](const V (&v)[2]) { return simd::pick(comp, v[0], v[1]); };
    const V s_hi = branch(c.s_hi), s_lo = branch(c.s_lo), b = branch(c.b), k_int = branch(c.k_int),
            k_frac = branch(c.k_frac), k_lo = branch(c.k_lo);
    const V p = e * s_hi;  // exact
    const V n1 = nearest(p);
    const V t = (p - n1) + k_frac;
    const V small = simd::fmadd(ln_m, b, simd::fmadd(e, s_lo, k_lo));
    const V n3 = nearest(t + small);
    const auto floor = z_rough < V(-126.0f);
    const V n = simd::pick(floor, V(-126.0f), (n1 + k_int) + n3);
    const V r = simd::pick(floor, V(0.0f), (t - n3) + small);
    const V f = simd::detail::exp_parts(n + round_magic, r * V(0.69314718055994530941723212145818f));
    return simd::pick((z_rough < V(0.0f)) & (f < V(1.0f)), f, V(1.0f));
}

/// Partials of g_dB with respect to the level and every curve parameter.
template <class V> struct curve_partials {
    V level, comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee;
};

/// g_dB(L) = min(0, compressor branch, expander branch), ties going to the compressor.
/// Knee = false: for a curve with W = 0 only (same bits, fewer operations).
template <bool Knee = true, class V> DD_INLINE V compexp_gain_db(const prepared_curve<V>& c, V level) {
    const V gc = knee_gain<Knee>(level - c.comp_thresh, c.comp_slope, c.knee, c.inv_2w).value;
    const V ge = knee_gain<Knee>(c.exp_thresh - level, c.exp_slope, c.knee, c.inv_2w).value;
    const V g = simd::pick(gc <= ge, gc, ge);
    return simd::pick(g < V(0), g, V(0));
}

/// Same value as compexp_gain_db, plus all partial derivatives (of the active branch).
template <bool Knee = true, class V>
DD_INLINE V compexp_gain_db(const prepared_curve<V>& c, V level, curve_partials<V>& p) {
    const knee_branch<V> bc = knee_gain<Knee>(level - c.comp_thresh, c.comp_slope, c.knee, c.inv_2w);
    const knee_branch<V> be = knee_gain<Knee>(c.exp_thresh - level, c.exp_slope, c.knee, c.inv_2w);
    const V zero(0);
    const auto comp = bc.value <= be.value;
    const V g = simd::pick(comp, bc.value, be.value);
    const auto active = g < zero;
    const auto comp_active = active & comp;
    const auto exp_active = active & !comp;
    p.level = simd::pick(comp_active, bc.d_distance, simd::pick(exp_active, -be.d_distance, zero));
    p.comp_thresh = simd::pick(comp_active, -bc.d_distance, zero);
    p.comp_ratio = simd::pick(comp_active, bc.d_slope * c.d_comp_slope, zero);
    p.exp_thresh = simd::pick(exp_active, be.d_distance, zero);
    p.exp_ratio = simd::pick(exp_active, be.d_slope * c.d_exp_slope, zero);
    p.knee = simd::pick(comp_active, bc.d_width, simd::pick(exp_active, be.d_width, zero));
    return simd::pick(active, g, zero);
}

/// Scalar conveniences on an unprepared row.
template <class T> inline T compexp_gain_db(const compexp_curve<T>& c, T level) {
    return compexp_gain_db(prepared_curve<T>::from(c), level);
}
template <class T> inline T compexp_gain_db(const compexp_curve<T>& c, T level, curve_partials<T>& p) {
    return compexp_gain_db(prepared_curve<T>::from(c), level, p);
}

// ------------------------------------------------------------------------------------------------
// Batch API: the curve alone, on a dB level signal (B, T).

template <class T> struct compexp_params {
    row_param<T> comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee = T(0);
    compexp_curve<T> row(std::size_t b) const {
        return {comp_thresh[b], comp_ratio[b], exp_thresh[b], exp_ratio[b], knee[b]};
    }
};

/// Gradients of a loss with respect to the curve parameters, one value per row (nullable).
template <class T> struct compexp_param_grads {
    T *comp_thresh = nullptr, *comp_ratio = nullptr, *exp_thresh = nullptr, *exp_ratio = nullptr,
      *knee = nullptr;
};

/// Validates the curve parameters (CR > 1, 0 < ER ≤ 1, knee ≥ 0, thresholds finite).
template <class T> void check_compexp_params(const compexp_params<T>& p, std::size_t rows);

/// gain_db[b, t] = g_dB(level_db[b, t]).
template <class T> void gain_curve(signal_view<T> level_db, const compexp_params<T>& p, signal_span<T> gain_db);
/// Reverse mode: grad_level (nullable, shape of level) and per-row parameter gradients.
template <class T>
void gain_curve_backward(signal_view<T> level_db, const compexp_params<T>& p, signal_view<T> grad_gain,
                         T* grad_level, const compexp_param_grads<T>& grads);

}  // namespace dd
