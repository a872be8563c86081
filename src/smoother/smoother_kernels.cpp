// The smoothers' per-row kernels (hard and sigmoid gate, averaging detector, linear recurrence) and
// the static curve's, for one instruction set (compiled once per kernel object library).
#include <algorithm>
#include <cstddef>

#include "core/kernels.hpp"
#include "curve/curve_math.hpp"
#include "core/kernel_fill.hpp"
#include "smoother/smoother_math.hpp"

DD_ARCH_BEGIN
namespace kernel_impl {

namespace {
/// The rows' inputs as T, the state widened to double: a float32 row's zi is rounded up like an
/// output, so the backward's first decision is the forward's (f_0 < zi ⟺ f_0 < round_up(zi)).
template <class T> T state_as_output(double y) { return smoother_output<T>(y); }
}  // namespace

template <class T> double hard_forward(const T* f, std::size_t n, double zi, T at, T rt, T* y) {
    return hard_smoother_forward_row(array_target<T>{f, nullptr}, n, zi, at, rt, y);
}

template <class T>
dd::detail::smoother_sums hard_adjoint(const T* f, std::size_t n, double zi, T at, T rt, const T* y, const T* grad_y,
                                   double grad_final, T* grad_f) {
    const smoother_row_grads g =
        hard_smoother_adjoint_row_lanes(f, n, state_as_output<T>(zi), at, rt, y, grad_y, grad_f, T(grad_final));
    return {g.zi, g.at, g.rt};
}

template <class T>
double hard_jvp(const T* f, const T* df, std::size_t n, double zi, T at, T rt, const T* y, double dzi, T dat, T drt,
                T* dy) {
    hard_smoother_jvp_row(f, df, n, state_as_output<T>(zi), at, rt, y, T(dzi), dat, drt, dy);
    return n ? double(dy[n - 1]) : dzi;
}

template <class T>
dd::detail::smoother_sums hard_second_order(const T* f, const T* v_f, std::size_t n, double zi, T at, T rt, const T* y,
                                        const T* grad_y, double v_zi, T v_at, T v_rt, T* dgy, T* df, T* work) {
    const smoother_row_grads g = hard_smoother_second_order_row(f, v_f, n, state_as_output<T>(zi), at, rt, y, grad_y,
                                                                T(v_zi), v_at, v_rt, dgy, df, work);
    return {g.zi, g.at, g.rt};
}

template <class T>
double sigmoid_jvp(const T* g, const T* dg, std::size_t n, double zi, T alpha_a, T alpha_r, T k, const T* y, double dzi,
                   double daa, double dar, double dk, T* dy) {
    return sigmoid_smoother_jvp_row(g, [dg](std::size_t t) { return dg ? double(dg[t]) : 0.0; }, n, T(zi), alpha_a,
                                    alpha_r, k, y, dzi, daa, dar, dk, dy);
}

template <class T>
dd::detail::sigmoid_second_order_sums sigmoid_second_order(const T* g, const T* v_g, std::size_t n, double zi,
                                                           T alpha_a, T alpha_r, T k, const T* y, const T* grad_y,
                                                           double grad_final, double v_zi, double v_aa, double v_ar,
                                                           double v_k, T* dgy, T* dg, double* work) {
    const sigmoid_second_sums r = sigmoid_smoother_second_order_row(
        g, [v_g](std::size_t t) { return v_g ? double(v_g[t]) : 0.0; },
        [dg](std::size_t t, double v) {
            if (dg) dg[t] = T(v);
        },
        n, T(zi), alpha_a, alpha_r, k, y, grad_y, grad_final, v_zi, v_aa, v_ar, v_k, dgy, work);
    return {r.zi, r.alpha_a, r.alpha_r, r.k, r.final_tangent};
}

template <class T> double sigmoid_forward(const T* g, std::size_t n, double zi, T alpha_a, T alpha_r, T k, T* y) {
    return double(sigmoid_smoother_forward_row(array_target<T>{g, nullptr}, n, T(zi), alpha_a, alpha_r, k, y));
}

template <class T>
dd::detail::sigmoid_sums sigmoid_adjoint(const T* g, std::size_t n, double zi, T alpha_a, T alpha_r, T k, const T* y,
                                     const T* grad_y, double grad_final, T* grad_g) {
    array_target<T> target{g, grad_g};
    const sigmoid_row_grads r =
        sigmoid_smoother_adjoint_row(target, n, T(zi), alpha_a, alpha_r, k, y, grad_y, T(grad_final));
    return {r.zi, r.alpha_a, r.alpha_r, r.k};
}

// avg is the hard smoother with at = rt, where the decision selects nothing: the loop takes the step's
// fma (β = coef, state in double) without evaluating it, since on noisy levels the decision flips at
// random and a branch on it would mispredict half the time.
template <class T> double avg_forward(const T* x, std::size_t n, double zi, T coef, T* y) {
    const ar_coeffs<double> c{double(coef), double(coef)};
    double state = zi;
    for (std::size_t t = 0; t < n; ++t) {
        state = simd::fmadd(c.keep_at, state, c.at * double(x[t]));
        y[t] = smoother_output<T>(state);
    }
    return state;
}

template <class T>
dd::detail::smoother_sums avg_adjoint(const T* x, std::size_t n, double zi, T coef, const T* y, const T* grad_y,
                                  double grad_final, T* grad_x) {
    // The smoother's adjoint with β_t = coef at every step: the attack and release sums together are ∂coef.
    const smoother_row_grads g =
        hard_smoother_adjoint_row_lanes(x, n, state_as_output<T>(zi), coef, coef, y, grad_y, grad_x, T(grad_final));
    return {g.zi, g.at + g.rt, 0.0};
}

template <class T> T linear_recurrence(const T* x, const T* a, std::size_t n, T y0, bool reverse, T* y) {
    return linear_recurrence_row(x, a, n, y0, reverse, y);
}

template <class T> void curve_forward(const T* level, std::size_t n, const compexp_curve<T>& curve, T* gain) {
    const prepared_curve<T> c = prepared_curve<T>::from(curve);
    for (std::size_t t = 0; t < n; ++t) gain[t] = compexp_gain_db(c, level[t]);
}

template <class T>
void curve_backward(const T* level, std::size_t n, const compexp_curve<T>& curve, const T* grad_gain, T* grad_level,
                    double sums[5]) {
    const prepared_curve<T> c = prepared_curve<T>::from(curve);
    curve_partials<T> d;
    for (std::size_t t = 0; t < n; ++t) {
        compexp_gain_db(c, level[t], d);
        const T gg = grad_gain[t];
        if (grad_level) grad_level[t] = gg * d.level;
        sums[0] += double(gg * d.comp_thresh);
        sums[1] += double(gg * d.comp_ratio);
        sums[2] += double(gg * d.exp_thresh);
        sums[3] += double(gg * d.exp_ratio);
        sums[4] += double(gg * d.knee);
    }
}

template <class T> void fill_smoother_kernels(dd::detail::kernel_set<T>& k) {
    k.hard_forward = &hard_forward<T>;
    k.hard_adjoint = &hard_adjoint<T>;
    k.hard_jvp = &hard_jvp<T>;
    k.hard_second_order = &hard_second_order<T>;
    k.sigmoid_forward = &sigmoid_forward<T>;
    k.sigmoid_adjoint = &sigmoid_adjoint<T>;
    k.sigmoid_jvp = &sigmoid_jvp<T>;
    k.sigmoid_second_order = &sigmoid_second_order<T>;
    k.avg_forward = &avg_forward<T>;
    k.avg_adjoint = &avg_adjoint<T>;
    k.linear_recurrence = &linear_recurrence<T>;
    k.curve_forward = &curve_forward<T>;
    k.curve_backward = &curve_backward<T>;
}
template void fill_smoother_kernels<float>(dd::detail::kernel_set<float>&);
template void fill_smoother_kernels<double>(dd::detail::kernel_set<double>&);

}  // namespace kernel_impl
DD_ARCH_END
