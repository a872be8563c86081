// The limiter's per-row kernels (torchcomp's limiter_gain) for one instruction set: a peak detector
// (the hard smoother on |x| with the coefficients swapped: it rises with `at` and falls with `rt`),
// the target f = min(1, 10^(threshold/20) / peak) and the hard smoother of f.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "core/kernel_fill.hpp"
#include "smoother/smoother_math.hpp"

DD_ARCH_BEGIN
namespace kernel_impl {

namespace {

/// |x_t| as a smoother target.
template <class T> struct abs_target {
    const T* x;
    T value(std::size_t t) const { return std::abs(x[t]); }
};

/// Limiter target f_t = min(1, lt / p_t) on a peak envelope p (p = 0 gives 1, with zero gradient).
template <class T> struct limiter_target {
    const T* peak;
    T limit;  // lt = db2amp(threshold)
    T value(std::size_t t) const {
        const T r = limit / peak[t];
        return r < T(1) ? r : T(1);
    }
};

/// ∂|x|/∂x = sign(x) (0 at 0, as torch.abs), by arithmetic: the sign of audio flips at random, and a
/// branch on it would mispredict half the time.
template <class T> T sign_of(T x) { return simd::less_indicator(T(0), x) - simd::less_indicator(x, T(0)); }

}  // namespace

template <class T>
void limiter_forward(const T* x, std::size_t n, const double* zi, T threshold_db, T at, T rt, T* gain, T* peak,
                     double* final_state) {
    const double peak_state = hard_smoother_forward_row(abs_target<T>{x}, n, zi ? zi[0] : 0.0, rt, at, peak);
    const limiter_target<T> target{peak, db2amp_raw(threshold_db)};
    const double gain_state = hard_smoother_forward_row(target, n, zi ? zi[1] : 1.0, at, rt, gain);
    if (final_state) {
        final_state[0] = peak_state;
        final_state[1] = gain_state;
    }
}

template <class T>
dd::detail::limiter_sums<T> limiter_adjoint(const T* x, std::size_t n, const double* zi, T threshold_db, T at, T rt,
                                        const T* gain, const T* peak, const T* grad_gain, const double* grad_final,
                                        T* grad_x) {
    // Both adjoints are the smoother's with time in SIMD lanes (smoother_adjoint_lanes), run together
    // in one sweep from the last block to the first: the gain's gives ∂peak for a block, which the
    // peak detector's adjoint takes next. Their targets are written a block at a time into small
    // buffers: f = min(1, lt/peak) for the gain, |x| for the peak detector.
    using V = simd::wide<T>;
    constexpr std::size_t W = V::size, block = smoother_adjoint_lanes<T>::block;
    alignas(64) T f[block], gf[block], grad_peak[block];
    const T limit = db2amp_raw(threshold_db);
    const limiter_target<T> gain_target{peak, limit};
    const T zi_peak = smoother_output<T>(zi ? zi[0] : 0.0), zi_gain = smoother_output<T>(zi ? zi[1] : 1.0);
    smoother_adjoint_lanes<T> gain_adjoint(n, zi_gain, at, rt, grad_final ? T(grad_final[1]) : T(0));
    smoother_adjoint_lanes<T> peak_adjoint(n, zi_peak, rt, at, grad_final ? T(grad_final[0]) : T(0));
    double grad_limit = 0;
    const V one(T(1)), zero(T(0));
    for (std::size_t blk = gain_adjoint.blocks(); blk-- > 0;) {
        const std::size_t k0 = blk * block, m = std::min(n, k0 + block) - k0;
        for (std::size_t k = 0; k < m; ++k) f[k] = gain_target.value(k0 + k);
        gain_adjoint.run_block(blk, f, gain, grad_gain + k0, gf);
        // f = lt/peak where it is below 1: ∂peak = −(∂f/peak)·f, ∂lt = Σ ∂f/peak (in lanes over the
        // block, then in double); 0 where f = 1. (One division per sample: they dominate in double.)
        V acc(zero);
        std::size_t k = 0;
        for (; k + W <= m; k += W) {
            const V fv = V::load_aligned(f + k), q = V::load_aligned(gf + k) / V::load_unaligned(peak + k0 + k);
            const auto active = fv < one;
            simd::pick(active, -(q * fv), zero).store_aligned(grad_peak + k);
            acc += simd::pick(active, q, zero);
        }
        grad_limit += double(simd::sum_lanes(acc));
        for (; k < m; ++k) {
            const T q = gf[k] / peak[k0 + k];
            const bool active = f[k] < T(1);
            grad_peak[k] = active ? -(q * f[k]) : T(0);
            if (active) grad_limit += double(q);
        }
        for (k = 0; k < m; ++k) f[k] = std::abs(x[k0 + k]);
        peak_adjoint.run_block(blk, f, peak, grad_peak, grad_x ? gf : nullptr);
        if (grad_x)
            for (k = 0; k < m; ++k) grad_x[k0 + k] = gf[k] * sign_of(x[k0 + k]);  // ∂x = sign(x)·∂|x|
    }
    const smoother_row_grads g_gain = gain_adjoint.grads(), g_peak = peak_adjoint.grads();
    dd::detail::limiter_sums<T> s;
    s.threshold = grad_limit * double(limit) * (ln10<double> / 20.0);
    s.at = g_gain.at + g_peak.rt;  // the peak detector uses at in its rt slot
    s.rt = g_gain.rt + g_peak.at;
    s.zi_peak = g_peak.zi;
    s.zi_gain = g_gain.zi;
    return s;
}

template <class T> void fill_limiter_kernels(dd::detail::kernel_set<T>& k) {
    k.limiter_forward = &limiter_forward<T>;
    k.limiter_adjoint = &limiter_adjoint<T>;
}
template void fill_limiter_kernels<float>(dd::detail::kernel_set<float>&);
template void fill_limiter_kernels<double>(dd::detail::kernel_set<double>&);

}  // namespace kernel_impl
DD_ARCH_END
