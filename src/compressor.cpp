// Batch entry points of the compositions: the static curve fused into the smoothers, and the limiter.
#include "differential_dynamics/compressor.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace dd {

ar_mode parse_ar_mode(const std::string& name) {
    if (name == "hard") return ar_mode::hard;
    if (name == "sigmoid") return ar_mode::sigmoid;
    throw argument_error("ar_mode", "must be \"hard\" or \"sigmoid\" (got \"" + name + "\")");
}

namespace {
/// The coefficients are called at/rt for the hard gate and alpha_a/alpha_r for the sigmoid gate,
/// which also needs k > 0.
/// x_rms's values (finite, > 0) are checked by the kernels while they read them (one pass over
/// memory instead of two); check_fused_x_rms turns a failure into the usual error.
template <class T>
void check_compexp_args(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                        ar_mode mode, row_param<T> k) {
    const bool hard = mode == ar_mode::hard;
    check_signal_shape(x_rms, "x_rms");
    check_compexp_params(curve, x_rms.rows);
    check_coefficient(at, x_rms.rows, hard ? "at" : "alpha_a");
    check_coefficient(rt, x_rms.rows, hard ? "rt" : "alpha_r");
    if (!hard) check_param(k, x_rms.rows, "k", [](T v) { return v > T(0); }, "> 0 (1/dB)");
}

template <class T> void check_fused_x_rms(bool all_acceptable, signal_view<T> x_rms) {
    if (all_acceptable) return;
    check_positive_signal(x_rms, "x_rms");  // throws, naming the first bad value
    throw argument_error("x_rms", "must be finite and > 0");
}

template <class T> void check_limiter_args(signal_view<T> x, row_param<T> threshold, row_param<T> at, row_param<T> rt) {
    check_signal(x, "x");
    check_param(threshold, x.rows, "threshold", [](T v) { return v <= T(0); }, "<= 0 dB");
    check_coefficient(at, x.rows, "at");
    check_coefficient(rt, x.rows, "rt");
}
}  // namespace

template <class T>
void compexp_gain(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                  signal_span<T> gain) {
    compexp_gain_mode(x_rms, curve, at, rt, ar_mode::hard, row_param<T>(T(1)), gain);
}

template <class T>
void compexp_gain_backward(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                           signal_view<T> gain, strided_arg<T> grad_gain, T* grad_x_rms,
                           const compexp_param_grads<T>& curve_grads, T* grad_at, T* grad_rt) {
    compexp_gain_mode_backward(x_rms, curve, at, rt, ar_mode::hard, row_param<T>(T(1)), gain, grad_gain, grad_x_rms,
                               curve_grads, grad_at, grad_rt, static_cast<T*>(nullptr));
}

template <class T>
void compexp_gain_mode(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> alpha_a,
                       row_param<T> alpha_r, ar_mode mode, row_param<T> k, signal_span<T> gain) {
    check_compexp_args(x_rms, curve, alpha_a, alpha_r, mode, k);
    check_output(gain, x_rms, "gain");
    check_fused_x_rms(compexp_gain_kernel(x_rms, curve, alpha_a, alpha_r, mode, k, gain), x_rms);
}

template <class T>
void compexp_gain_mode_backward(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> alpha_a,
                                row_param<T> alpha_r, ar_mode mode, row_param<T> k, signal_view<T> gain,
                                strided_arg<T> grad_gain, T* grad_x_rms, const compexp_param_grads<T>& curve_grads,
                                T* grad_alpha_a, T* grad_alpha_r, T* grad_k) {
    check_compexp_args(x_rms, curve, alpha_a, alpha_r, mode, k);
    check_same_shape(gain, x_rms, "gain");
    check_same_shape(grad_gain, x_rms, "grad_gain");
    check_fused_x_rms(compexp_gain_backward_kernel(x_rms, curve, alpha_a, alpha_r, mode, k, gain, grad_gain,
                                                   grad_x_rms, curve_grads, grad_alpha_a, grad_alpha_r, grad_k),
                      x_rms);
}

template <class T>
void limiter_gain(signal_view<T> x, row_param<T> threshold_db, row_param<T> at, row_param<T> rt, signal_span<T> gain,
                  signal_span<T> peak) {
    check_limiter_args(x, threshold_db, at, rt);
    check_output(gain, x, "gain");
    check_output(peak, x, "peak");
    parallel_rows(x.rows, [&](std::size_t b) {
        // Peak detector: rises with `at`, falls with `rt` — the smoother's coefficients swapped.
        hard_smoother_forward_row(abs_target<T>{x.row(b), nullptr}, x.cols, T(0), rt[b], at[b], peak.row(b));
        const limiter_target<T> target{peak.row(b), db2amp(threshold_db[b])};
        hard_smoother_forward_row(target, x.cols, T(1), at[b], rt[b], gain.row(b));
    });
}

template <class T>
void limiter_gain_backward(signal_view<T> x, row_param<T> threshold_db, row_param<T> at, row_param<T> rt,
                           signal_view<T> gain, signal_view<T> peak, signal_view<T> grad_gain, T* grad_x,
                           T* grad_threshold, T* grad_at, T* grad_rt) {
    check_limiter_args(x, threshold_db, at, rt);
    check_same_shape(gain, x, "gain");
    check_same_shape(peak, x, "peak");
    check_same_shape(grad_gain, x, "grad_gain");
    // Both adjoints are the smoother's with time in SIMD lanes (smoother_adjoint_lanes), run together in
    // one sweep from the last block to the first: the gain's gives ∂peak for a block, which the peak
    // detector's adjoint takes next. Their targets are written a block at a time into small buffers:
    // f = min(1, lt/peak) for the gain, |x| for the peak detector.
    using V = simd::wide<T>;
    constexpr std::size_t W = V::size, block = smoother_adjoint_lanes<T>::block;
    const std::size_t n = x.cols;
    parallel_rows(x.rows, [&](std::size_t b) {
        alignas(64) T f[block], gf[block], grad_peak[block];
        const T limit = db2amp(threshold_db[b]);
        const T *pk = peak.row(b), *xr = x.row(b), *gy = grad_gain.row(b);
        T* gx = grad_x ? grad_x + b * n : nullptr;
        const limiter_target<T> gain_target{pk, limit};
        const abs_target<T> level{xr, gx};
        smoother_adjoint_lanes<T> gain_adjoint(n, T(1), at[b], rt[b]);
        smoother_adjoint_lanes<T> peak_adjoint(n, T(0), rt[b], at[b]);  // rises with at, falls with rt
        double grad_limit = 0;
        const V one(T(1)), zero(T(0));
        for (std::size_t blk = gain_adjoint.blocks(); blk-- > 0;) {
            const std::size_t k0 = blk * block, m = std::min(n, k0 + block) - k0;
            for (std::size_t k = 0; k < m; ++k) f[k] = gain_target.value(k0 + k);
            gain_adjoint.run_block(blk, f, gain.row(b), gy + k0, gf);
            // f = lt/peak where it is below 1: ∂peak = −(∂f/peak)·f, ∂lt = Σ ∂f/peak (in lanes over the
            // block, then in double); 0 where f = 1. (One division per sample: they dominate in double.)
            V acc(zero);
            std::size_t k = 0;
            for (; k + W <= m; k += W) {
                const V fv = V::load_aligned(f + k), q = V::load_aligned(gf + k) / V::load_unaligned(pk + k0 + k);
                const auto active = fv < one;
                simd::pick(active, -(q * fv), zero).store_aligned(grad_peak + k);
                acc += simd::pick(active, q, zero);
            }
            grad_limit += double(simd::sum_lanes(acc));
            for (; k < m; ++k) {
                const T q = gf[k] / pk[k0 + k];
                const bool active = f[k] < T(1);
                grad_peak[k] = active ? -(q * f[k]) : T(0);
                if (active) grad_limit += double(q);
            }
            for (k = 0; k < m; ++k) f[k] = level.value(k0 + k);
            peak_adjoint.run_block(blk, f, pk, grad_peak, gx ? gf : nullptr);
            if (gx)
                for (k = 0; k < m; ++k) level.pullback(k0 + k, level.eval(k0 + k), gf[k]);  // ∂x = sign(x)·∂|x|
        }
        const smoother_row_grads g_gain = gain_adjoint.grads(), g_peak = peak_adjoint.grads();
        store_row(grad_threshold, b, grad_limit * double(limit) * (ln10<double> / 20.0));
        store_row(grad_at, b, g_gain.at + g_peak.rt);  // the peak detector uses at in its rt slot
        store_row(grad_rt, b, g_gain.rt + g_peak.at);
    });
}

#define DD_INSTANTIATE(T)                                                                                           \
    template void compexp_gain<T>(signal_view<T>, const compexp_params<T>&, row_param<T>, row_param<T>,             \
                                  signal_span<T>);                                                                  \
    template void compexp_gain_backward<T>(signal_view<T>, const compexp_params<T>&, row_param<T>, row_param<T>,    \
                                           signal_view<T>, strided_arg<T>, T*, const compexp_param_grads<T>&, T*,   \
                                           T*);                                                                     \
    template void compexp_gain_mode<T>(signal_view<T>, const compexp_params<T>&, row_param<T>, row_param<T>,        \
                                       ar_mode, row_param<T>, signal_span<T>);                                      \
    template void compexp_gain_mode_backward<T>(signal_view<T>, const compexp_params<T>&, row_param<T>,             \
                                                row_param<T>, ar_mode, row_param<T>, signal_view<T>, strided_arg<T>, \
                                                T*, const compexp_param_grads<T>&, T*, T*, T*);                     \
    template void limiter_gain<T>(signal_view<T>, row_param<T>, row_param<T>, row_param<T>, signal_span<T>,         \
                                  signal_span<T>);                                                                  \
    template void limiter_gain_backward<T>(signal_view<T>, row_param<T>, row_param<T>, row_param<T>, signal_view<T>, \
                                           signal_view<T>, signal_view<T>, T*, T*, T*, T*);
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
