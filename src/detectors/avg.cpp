// avg's batch entry points and streaming processor (the per-row kernels of smoother_kernels.cpp).
#include "differential_dynamics/detectors.hpp"

#include "core/kernels.hpp"
#include "core/parallel.hpp"
#include "core/validate.hpp"

namespace dd {

namespace {
template <class T> void check_avg_args(signal_view<T> x, row_param<T> coef, state_in zi) {
    check_signal(x, "rms");
    check_param(coef, x.rows, "avg_coef", [](T v) { return v > T(0) && v <= T(1); }, "in (0, 1]");
    check_state(zi, x.rows, 1, "zi", [](double, std::size_t) { return true; }, "finite");
}
}  // namespace

template <class T> void avg(signal_view<T> x, row_param<T> coef, signal_span<T> y, state_in zi, state_out final_state) {
    check_avg_args(x, coef, zi);
    check_output(y, x, "y");
    const auto& k = detail::kernels_for<T>();
    detail::parallel_for(x.rows, [&](std::size_t b) {
        const double last = k.avg_forward(x.row(b), x.cols, zi.data ? zi.data[b] : 0.0, coef[b], y.row(b));
        if (final_state.data) final_state.data[b] = last;
    });
}

template <class T>
void avg_backward(signal_view<T> x, row_param<T> coef, signal_view<T> y, signal_view<T> grad_y, T* grad_x,
                  T* grad_coef, state_in zi, const double* grad_final_state, double* grad_zi) {
    check_avg_args(x, coef, zi);
    check_same_shape(y, x, "y");
    check_same_shape(grad_y, x, "grad_y");
    const auto& k = detail::kernels_for<T>();
    detail::parallel_for(x.rows, [&](std::size_t b) {
        const detail::smoother_sums s =
            k.avg_adjoint(x.row(b), x.cols, zi.data ? zi.data[b] : 0.0, coef[b], y.row(b), grad_y.row(b),
                          grad_final_state ? grad_final_state[b] : 0.0, grad_x ? grad_x + b * x.cols : nullptr);
        store_row(grad_coef, b, s.at);
        if (grad_zi) grad_zi[b] = s.zi;
    });
}

template <class T> void avg_processor<T>::check_settings(const avg_settings& s) {
    if (!(s.coef > 0.0 && s.coef <= 1.0)) throw argument_error("coef", "must be in (0, 1] " + setting_value(s.coef));
    check_finite_setting(s.zi, "zi");
}
template <class T> void avg_processor<T>::check_state(const double* state) { check_finite_setting(state[0], "state"); }
template <class T> void avg_processor<T>::process(const T* const* x, T* const* y, std::size_t n) {
    this->check();
    if (n == 0) return;
    const auto& k = detail::kernels_for<T>();
    for (std::size_t c = 0; c < this->spec_.channels; ++c) check_signal(signal_view<T>{x[c], 1, n}, "x");
    for (std::size_t c = 0; c < this->spec_.channels; ++c)
        this->state_[c] = k.avg_forward(x[c], n, this->state_[c], T(this->settings_[c].coef), y[c]);
}

#define DD_INSTANTIATE(T)                                                                                       \
    template void avg<T>(signal_view<T>, row_param<T>, signal_span<T>, state_in, state_out);                     \
    template void avg_backward<T>(signal_view<T>, row_param<T>, signal_view<T>, signal_view<T>, T*, T*, state_in, \
                                  const double*, double*);                                                     \
    template class avg_processor<T>;
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
