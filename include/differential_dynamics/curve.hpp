// The static compressor / downward-expander gain curve in dB with an optional quadratic soft knee:
//     g_dB(L) = min(0, (1 − 1/CR)·(CT − L), (1 − 1/ER)·(ET − L))        (knee W = 0)
// and with W > 0 each branch bends quadratically over W dB around its threshold (Giannoulis,
// Massberg & Reiss, JAES 2012). Reference: docs/reference/curve.md; derivation of the partials:
// docs/derivations/gain_curve.md.
#pragma once
#include <cstddef>

#include "core.hpp"

namespace dd {

/// Parameter bounds (checked by every function that takes these parameters): inside them every
/// output and every gradient is finite, in float32 and float64, for any valid signal; far beyond
/// them float32 products overflow (docs/reference/curve.md, "Bounds").
/// |threshold| ≤ max_threshold_db (CT, ET, the limiter's and the SSL model's thresholds).
inline constexpr double max_threshold_db = 1e4;
/// knee ≤ max_knee_db (the curve's soft knee, everywhere it is offered).
inline constexpr double max_knee_db = 1e3;
/// ER ≥ min_exp_ratio (the expander's slope 1 − 1/ER stays ≥ −1e6).
inline constexpr double min_exp_ratio = 1e-6;
/// A smooth gate's sharpness k (1/dB; the sigmoid gate's k, the SSL soft gate's finite gate_k) ≤ max_gate_k.
inline constexpr double max_gate_k = 1e6;

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
/// "level_db", "gain_db" or the parameter (|CT|, |ET| ≤ max_threshold_db, CR > 1 finite,
/// min_exp_ratio ≤ ER ≤ 1, 0 ≤ knee ≤ max_knee_db).
template <class T> void gain_curve(signal_view<T> level_db, const compexp_params<T>& p, signal_span<T> gain_db);
/// Reverse mode: grad_level (nullable, shape of level) and per-row parameter gradients.
template <class T>
void gain_curve_backward(signal_view<T> level_db, const compexp_params<T>& p, signal_view<T> grad_gain,
                         T* grad_level, const compexp_param_grads<T>& grads);

/// g_dB of one level with one row's curve (the batch function's bits).
template <class T> T gain_db(const compexp_curve<T>& curve, T level_db);

}  // namespace dd
