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
        // The smoother's adjoint (ballistics.hpp) with β_t = coef at every step.
        const ar_coeffs<T> c(coef[b], coef[b]);
        const T *in = x.row(b), *out = y.row(b), *gy = grad_y.row(b);
        T* gx = grad_x ? grad_x + b * x.cols : nullptr;
        T u = T(0);
        double g_coef = 0;
        for (std::size_t i = x.cols; i-- > 0;) {
            u = hard_smoother_adjoint_step(gy[i], i + 1 < x.cols ? c.keep_at : T(0), u);
            if (gx) gx[i] = c.at * u;
            g_coef += double(u) * double(in[i] - (i ? out[i - 1] : T(0)));
        }
        store_row(grad_coef, b, g_coef);
    });
}

template void avg<float>(signal_view<float>, row_param<float>, signal_span<float>);
template void avg<double>(signal_view<double>, row_param<double>, signal_span<double>);
template void avg_backward<float>(signal_view<float>, row_param<float>, signal_view<float>, signal_view<float>,
                                  float*, float*);
template void avg_backward<double>(signal_view<double>, row_param<double>, signal_view<double>, signal_view<double>,
                                   double*, double*);

}  // namespace dd
