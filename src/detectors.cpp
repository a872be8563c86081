#include "differential_dynamics/detectors.hpp"

#include "differential_dynamics/ballistics.hpp"

namespace dd {

namespace {
template <class T> void check_avg_args(signal_view<T> x, row_param<T> coef) {
    check_signal(x, "rms");
    check_param(coef, x.rows, "avg_coef", [](T v) { return v > T(0) && v <= T(1); }, "in (0, 1]");
}
}  // namespace

// avg is the hard smoother with at = rt, where the attack/release decision selects nothing: these
// loops take the same step (hard_smoother_step's fma with β = coef) without evaluating it, since
// on noisy levels the decision flips at random and its branch would mispredict half the time.
template <class T> void avg(signal_view<T> x, row_param<T> coef, signal_span<T> y) {
    check_avg_args(x, coef);
    check_output(y, x, "y");
    parallel_rows(x.rows, [&](std::size_t b) {
        const ar_coeffs<T> c(coef[b], coef[b]);
        const T* in = x.row(b);
        T* out = y.row(b);
        T state = T(0);
        for (std::size_t t = 0; t < x.cols; ++t) out[t] = state = simd::fmadd(c.keep_at, state, c.at * in[t]);
    });
}

template <class T>
void avg_backward(signal_view<T> x, row_param<T> coef, signal_view<T> y, signal_view<T> grad_y, T* grad_x,
                  T* grad_coef) {
    check_avg_args(x, coef);
    check_same_shape(y, x, "y");
    check_same_shape(grad_y, x, "grad_y");
    parallel_rows(x.rows, [&](std::size_t b) {
        // The smoother's adjoint (ballistics.hpp) with β_t = coef at every step and y_{−1} = 0: the
        // attack and release sums together are ∂coef.
        const smoother_row_grads g = hard_smoother_adjoint_row_lanes(
            x.row(b), x.cols, T(0), coef[b], coef[b], y.row(b), grad_y.row(b), grad_x ? grad_x + b * x.cols : nullptr);
        store_row(grad_coef, b, g.at + g.rt);
    });
}

template void avg<float>(signal_view<float>, row_param<float>, signal_span<float>);
template void avg<double>(signal_view<double>, row_param<double>, signal_span<double>);
template void avg_backward<float>(signal_view<float>, row_param<float>, signal_view<float>, signal_view<float>,
                                  float*, float*);
template void avg_backward<double>(signal_view<double>, row_param<double>, signal_view<double>, signal_view<double>,
                                   double*, double*);

}  // namespace dd
