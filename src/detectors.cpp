#include "differential_dynamics/detectors.hpp"

#include "differential_dynamics/ballistics.hpp"

namespace dd {

namespace {
template <class T> void check_avg_args(signal_view<T> x, row_param<T> coef) {
    check_signal(x, "rms");
    check_param(coef, x.rows, "avg_coef", [](T v) { return v > T(0) && v <= T(1); }, "in (0, 1]");
}
}  // namespace

template <class T> void avg(signal_view<T> x, row_param<T> coef, signal_span<T> y) {
    check_avg_args(x, coef);
    check_output(y, x, "y");
    parallel_rows(x.rows, [&](std::size_t b) {
        hard_smoother_forward_row(array_target<T>{x.row(b), nullptr}, x.cols, T(0), coef[b], coef[b], y.row(b));
    });
}

template <class T>
void avg_backward(signal_view<T> x, row_param<T> coef, signal_view<T> y, signal_view<T> grad_y, T* grad_x,
                  T* grad_coef) {
    check_avg_args(x, coef);
    check_same_shape(y, x, "y");
    check_same_shape(grad_y, x, "grad_y");
    parallel_rows(x.rows, [&](std::size_t b) {
        array_target<T> target{x.row(b), grad_x ? grad_x + b * x.cols : nullptr};
        const smoother_row_grads g =
            hard_smoother_adjoint_row(target, x.cols, T(0), coef[b], coef[b], y.row(b), grad_y.row(b));
        store_row(grad_coef, b, g.at + g.rt);  // the one coefficient plays both roles
    });
}

template void avg<float>(signal_view<float>, row_param<float>, signal_span<float>);
template void avg<double>(signal_view<double>, row_param<double>, signal_span<double>);
template void avg_backward<float>(signal_view<float>, row_param<float>, signal_view<float>, signal_view<float>,
                                  float*, float*);
template void avg_backward<double>(signal_view<double>, row_param<double>, signal_view<double>, signal_view<double>,
                                   double*, double*);

}  // namespace dd
