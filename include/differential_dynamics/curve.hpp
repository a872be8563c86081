// The static compressor / downward-expander gain curve in dB with an optional quadratic soft knee:
//     g_dB(L) = min(0, (1 − 1/CR)·(CT − L), (1 − 1/ER)·(ET − L))        (knee W = 0)
// and with W > 0 each branch bends quadratically over W dB around its threshold (Giannoulis,
// Massberg & Reiss, JAES 2012). Reference: docs/reference/curve.md; derivation of the partials:
// docs/derivations/gain_curve.md.
#pragma once
#include <cstddef>

#include "core.hpp"

namespace dd {

/// One row's curve: thresholds in dB, CR > 1, 0 < ER ≤ 1 (ER = 1 turns the expander off), knee ≥ 0 dB.
template <class T> struct compexp_curve {
    T comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee;
};

/// The curve's parameters for a batch: each a scalar or one value per row.
template <class T> struct compexp_params {
    row_param<T> comp_thresh, comp_ratio, exp_thresh = T(-1000), exp_ratio = T(1), knee = T(0);
    compexp_curve<T> row(std::size_t b) const {
        return {comp_thresh[b], comp_ratio[b], exp_thresh[b], exp_ratio[b], knee[b]};
    }
};

/// Gradients of a loss with respect to the curve parameters, one value per row (nullable).
template <class T> struct compexp_param_grads {
    T *comp_thresh = nullptr, *comp_ratio = nullptr, *exp_thresh = nullptr, *exp_ratio = nullptr,
      *knee = nullptr;
};

/// Tangents of the curve parameters (forward mode): each a scalar or one value per row; 0 by default.
template <class T> struct compexp_param_tangents {
    row_param<T> comp_thresh = T(0), comp_ratio = T(0), exp_thresh = T(0), exp_ratio = T(0), knee = T(0);
};

/// gain_db[b, t] = g_dB(level_db[b, t]) for a level in dB (B, T). Throws argument_error naming
/// "level_db", "gain_db" or the parameter (CR > 1, 0 < ER ≤ 1, knee ≥ 0, all finite).
template <class T> void gain_curve(signal_view<T> level_db, const compexp_params<T>& p, signal_span<T> gain_db);
/// Reverse mode: grad_level (nullable, shape of level) and per-row parameter gradients.
template <class T>
void gain_curve_backward(signal_view<T> level_db, const compexp_params<T>& p, signal_view<T> grad_gain,
                         T* grad_level, const compexp_param_grads<T>& grads);

/// g_dB of one level with one row's curve (the batch function's bits).
template <class T> T gain_db(const compexp_curve<T>& curve, T level_db);

}  // namespace dd
