// Static compressor + downward-expander gain curve with an optional quadratic soft knee (SPEC §2.1).
// Derivation of the partial derivatives: docs/gain_curve.md.
#pragma once
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
