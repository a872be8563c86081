// Static compressor + downward-expander gain curve with an optional quadratic soft knee (SPEC §2.1).
// Derivation of the partial derivatives: docs/gain_curve.md.
#pragma once
#include <cstddef>

#include "batch.hpp"

namespace dd {

/// Value and partials of one knee'd branch h(d; σ, W), where d is the distance (dB) into the
/// branch's active side and σ ≥ 0 its slope:
///     h = 0                       for 2d ≤ −W
///     h = −σ·(d + W/2)² / (2W)    for |2d| < W   (Giannoulis et al. 2012 quadratic knee)
///     h = −σ·d                    for 2d ≥ W
/// W = 0 gives the hard curve exactly (the knee case is never entered, so no division by 0).
template <class T> struct knee_branch {
    T value, d_distance, d_slope, d_width;
};

template <class T> inline knee_branch<T> knee_gain(T d, T slope, T width) {
    if (T(2) * d <= -width) return {T(0), T(0), T(0), T(0)};
    if (T(2) * d >= width) return {-slope * d, -slope, -d, T(0)};
    const T a = d + T(0.5) * width;
    const T inv_2w = T(1) / (T(2) * width);
    return {-slope * a * a * inv_2w, -slope * a * T(2) * inv_2w, -a * a * inv_2w,
            // ∂/∂W of −σa²/(2W) with ∂a/∂W = 1/2: −σ·a·(W − a)/(2W²)
            -slope * a * (width - a) * inv_2w / width};
}

/// Parameters of one row of the static curve. Slopes are precomputed from the ratios.
template <class T> struct compexp_curve {
    T comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee;
    T comp_slope() const { return T(1) - T(1) / comp_ratio; }  // σ_c = 1 − 1/CR
    T exp_slope() const { return T(1) / exp_ratio - T(1); }    // σ_e = 1/ER − 1 ≥ 0
};

/// Partials of g_dB with respect to the level and every curve parameter.
template <class T> struct curve_partials {
    T level, comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee;
};

/// g_dB(L) = min(0, compressor branch, expander branch), ties going to the compressor.
template <class T> inline T compexp_gain_db(const compexp_curve<T>& c, T level) {
    const T gc = knee_gain(level - c.comp_thresh, c.comp_slope(), c.knee).value;
    const T ge = knee_gain(c.exp_thresh - level, c.exp_slope(), c.knee).value;
    const T g = gc <= ge ? gc : ge;
    return g < T(0) ? g : T(0);
}

/// Same value as compexp_gain_db, plus all partial derivatives (of the active branch).
template <class T> inline T compexp_gain_db(const compexp_curve<T>& c, T level, curve_partials<T>& p) {
    const knee_branch<T> bc = knee_gain(level - c.comp_thresh, c.comp_slope(), c.knee);
    const knee_branch<T> be = knee_gain(c.exp_thresh - level, c.exp_slope(), c.knee);
    p = {T(0), T(0), T(0), T(0), T(0), T(0)};
    if (bc.value <= be.value) {
        if (!(bc.value < T(0))) return T(0);
        p.level = bc.d_distance;
        p.comp_thresh = -bc.d_distance;
        p.comp_ratio = bc.d_slope / (c.comp_ratio * c.comp_ratio);  // dσ_c/dCR = 1/CR²
        p.knee = bc.d_width;
        return bc.value;
    }
    if (!(be.value < T(0))) return T(0);
    p.level = -be.d_distance;
    p.exp_thresh = be.d_distance;
    p.exp_ratio = -be.d_slope / (c.exp_ratio * c.exp_ratio);  // dσ_e/dER = −1/ER²
    p.knee = be.d_width;
    return be.value;
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
