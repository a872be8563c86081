// Compositions (SPEC §2.3, §2.4, §2.6): static curve → smoother, limiter. No new math here, only
// target policies that fuse the curve into the smoother's loop and the batch entry points.
#pragma once
#include <cstddef>
#include <string>

#include "ballistics.hpp"
#include "batch.hpp"
#include "conversions.hpp"
#include "detectors.hpp"
#include "gain_curve.hpp"

namespace dd {

/// Running sums of the curve-parameter gradients of one row.
struct curve_row_grads {
    double comp_thresh = 0, comp_ratio = 0, exp_thresh = 0, exp_ratio = 0, knee = 0;
};

/// Smoother target f_t = db2amp(g_dB(amp2db(x_rms_t))), computed on the fly; the pullback chains
/// ∂f → ∂g_dB (·f·ln10/20) → level (·∂g/∂L) → x_rms (·20/(ln10·x)) and the curve parameters.
/// The dB conversions are the SIMD-layer ones (simd.hpp), so f_t has the same bits here as in the
/// vectorised compexp kernel.
template <class T> struct compexp_target {
    const T* x_rms;
    prepared_curve<T> curve;
    T* grad_x;  // nullable
    curve_row_grads grads;

    struct sample { T f; T x; curve_partials<T> p; };
    T value(std::size_t t) const { return simd::db2amp(compexp_gain_db(curve, simd::amp2db(x_rms[t]))); }
    sample eval(std::size_t t) const {
        sample s;
        s.x = x_rms[t];
        s.f = simd::db2amp(compexp_gain_db(curve, simd::amp2db(s.x), s.p));
        return s;
    }
    void pullback(std::size_t t, const sample& s, T gf) {
        const T gg = gf * s.f * (ln10<T> / T(20));
        if (grad_x) grad_x[t] = gg * s.p.level * db_per_neper<T> / s.x;
        grads.comp_thresh += double(gg * s.p.comp_thresh);
        grads.comp_ratio += double(gg * s.p.comp_ratio);
        grads.exp_thresh += double(gg * s.p.exp_thresh);
        grads.exp_ratio += double(gg * s.p.exp_ratio);
        grads.knee += double(gg * s.p.knee);
    }
};

/// Limiter target f_t = min(1, lt / p_t) on a peak envelope p (p = 0 gives 1, with zero gradient).
template <class T> struct limiter_target {
    const T* peak;
    T limit;       // lt = db2amp(threshold)
    T* grad_peak;  // nullable
    double grad_limit = 0;

    struct sample { T f; T peak; bool active; };
    T value(std::size_t t) const {
        const T r = limit / peak[t];
        return r < T(1) ? r : T(1);
    }
    sample eval(std::size_t t) const {
        const T r = limit / peak[t];
        return r < T(1) ? sample{r, peak[t], true} : sample{T(1), peak[t], false};
    }
    void pullback(std::size_t t, const sample& s, T gf) {
        if (!s.active) {
            if (grad_peak) grad_peak[t] = T(0);
            return;
        }
        if (grad_peak) grad_peak[t] = -gf * s.f / s.peak;
        grad_limit += double(gf / s.peak);
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

/// The vectorised hard-gate kernels behind compexp_gain (src/compexp_kernel.cpp); they assume
/// validated arguments — call compexp_gain / compexp_gain_backward.
template <class T>
void compexp_gain_kernel(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                         signal_span<T> gain);
template <class T>
void compexp_gain_backward_kernel(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at,
                                  row_param<T> rt, signal_view<T> gain, strided_arg<T> grad_gain, T* grad_x_rms,
                                  const compexp_param_grads<T>& curve_grads, T* grad_at, T* grad_rt);

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
