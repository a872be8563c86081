// Compositions (SPEC §2.3, §2.4, §2.6): static curve → smoother (vectorised in src/compexp_kernel.cpp),
// limiter. No new math here, only the limiter's target policy and the batch entry points.
#pragma once
#include <cstddef>
#include <string>

#include "ballistics.hpp"
#include "batch.hpp"
#include "conversions.hpp"
#include "detectors.hpp"
#include "gain_curve.hpp"

namespace dd {

/// Limiter target f_t = min(1, lt / p_t) on a peak envelope p (p = 0 gives 1, with zero gradient).
template <class T> struct limiter_target {
    const T* peak;
    T limit;  // lt = db2amp(threshold)
    T value(std::size_t t) const {
        const T r = limit / peak[t];
        return r < T(1) ? r : T(1);
    }
};

enum class ar_mode { hard, sigmoid };
/// "hard" or "sigmoid"; throws argument_error("ar_mode") otherwise.
ar_mode parse_ar_mode(const std::string& name);

// ------------------------------------------------------------------------------------------------
// Batch API

/// torchcomp's compexp_gain: linear gain (B, T) from a positive level detector x_rms (§2.3).
template <class T>
void compexp_gain(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                  signal_span<T> gain);
template <class T>
void compexp_gain_backward(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at,
                           row_param<T> rt, signal_view<T> gain, strided_arg<T> grad_gain, T* grad_x_rms,
                           const compexp_param_grads<T>& curve_grads, T* grad_at, T* grad_rt);

/// The vectorised kernels behind compexp_gain and compexp_gain_mode (src/compexp_kernel.cpp); they
/// assume validated arguments — call those. `k` is read for the sigmoid gate only; grad_k may be null.
/// They check x_rms's values as they read them: false means some value is not finite and > 0 (the
/// outputs are then meaningless, and the callers throw argument_error).
template <class T>
bool compexp_gain_kernel(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                         ar_mode mode, row_param<T> k, signal_span<T> gain);
template <class T>
bool compexp_gain_backward_kernel(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at,
                                  row_param<T> rt, ar_mode mode, row_param<T> k, signal_view<T> gain,
                                  strided_arg<T> grad_gain, T* grad_x_rms, const compexp_param_grads<T>& curve_grads,
                                  T* grad_at, T* grad_rt, T* grad_k);

/// compexp_gain with the choice of smoother (§2.6); `k` (1/dB) is used by the sigmoid gate only.
template <class T>
void compexp_gain_mode(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> alpha_a,
                       row_param<T> alpha_r, ar_mode mode, row_param<T> k, signal_span<T> gain);
template <class T>
void compexp_gain_mode_backward(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> alpha_a,
                                row_param<T> alpha_r, ar_mode mode, row_param<T> k, signal_view<T> gain,
                                strided_arg<T> grad_gain, T* grad_x_rms, const compexp_param_grads<T>& curve_grads,
                                T* grad_alpha_a, T* grad_alpha_r, T* grad_k);

/// torchcomp's limiter_gain (§2.4). `peak` (B, T) receives the peak envelope; the backward needs it.
template <class T>
void limiter_gain(signal_view<T> x, row_param<T> threshold_db, row_param<T> at, row_param<T> rt,
                  signal_span<T> gain, signal_span<T> peak);
template <class T>
void limiter_gain_backward(signal_view<T> x, row_param<T> threshold_db, row_param<T> at, row_param<T> rt,
                           signal_view<T> gain, signal_view<T> peak, signal_view<T> grad_gain, T* grad_x,
                           T* grad_threshold, T* grad_at, T* grad_rt);

}  // namespace dd
