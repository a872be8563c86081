// limiter_gain: validation, the batch entry points (rows in parallel on the kernels of
// limiter_kernels.cpp) and the streaming processor (the same kernels on its channels).
#include "differential_dynamics/limiter.hpp"

#include <algorithm>

#include "core/kernels.hpp"
#include "core/parallel.hpp"
#include "core/validate.hpp"

namespace dd {

namespace {
template <class T>
void check_limiter_args(signal_view<T> x, row_param<T> threshold, row_param<T> at, row_param<T> rt, state_in zi) {
    check_signal(x, "x");
    check_param(threshold, x.rows, "threshold", [](T v) { return v <= T(0) && double(v) >= -max_threshold_db; },
                "in [-1e4, 0] dB");
    check_coefficient(at, x.rows, "at");
    check_coefficient(rt, x.rows, "rt");
    // (peak, gain): the peak detector's state is a level (>= 0), the gain's any finite value.
    check_state(zi, x.rows, 2, "zi", [](double v, std::size_t i) { return i == 1 || v >= 0; },
                "finite, with a peak state >= 0");
}
const double* row_state(state_in zi, std::size_t b) { return zi.data ? zi.data + 2 * b : nullptr; }
}  // namespace

template <class T>
void limiter_gain(signal_view<T> x, row_param<T> threshold_db, row_param<T> at, row_param<T> rt, signal_span<T> gain,
                  signal_span<T> peak, state_in zi, state_out final_state) {
    check_limiter_args(x, threshold_db, at, rt, zi);
    check_output(gain, x, "gain");
    check_output(peak, x, "peak");
    const auto& k = detail::kernels_for<T>();
    detail::parallel_for(x.rows, [&](std::size_t b) {
        k.limiter_forward(x.row(b), x.cols, row_state(zi, b), threshold_db[b], at[b], rt[b], gain.row(b), peak.row(b),
                          final_state.data ? final_state.data + 2 * b : nullptr);
    });
}

template <class T>
void limiter_gain_backward(signal_view<T> x, row_param<T> threshold_db, row_param<T> at, row_param<T> rt,
                           signal_view<T> gain, signal_view<T> peak, signal_view<T> grad_gain, T* grad_x,
                           T* grad_threshold, T* grad_at, T* grad_rt, state_in zi, const double* grad_final_state,
                           double* grad_zi) {
    check_limiter_args(x, threshold_db, at, rt, zi);
    check_same_shape(gain, x, "gain");
    check_same_shape(peak, x, "peak");
    check_same_shape(grad_gain, x, "grad_gain");
    const auto& k = detail::kernels_for<T>();
    detail::parallel_for(x.rows, [&](std::size_t b) {
        const detail::limiter_sums<T> s = k.limiter_adjoint(
            x.row(b), x.cols, row_state(zi, b), threshold_db[b], at[b], rt[b], gain.row(b), peak.row(b),
            grad_gain.row(b), grad_final_state ? grad_final_state + 2 * b : nullptr, grad_x ? grad_x + b * x.cols : nullptr);
        store_row(grad_threshold, b, s.threshold);
        store_row(grad_at, b, s.at);
        store_row(grad_rt, b, s.rt);
        if (grad_zi) {
            grad_zi[2 * b] = s.zi_peak;
            grad_zi[2 * b + 1] = s.zi_gain;
        }
    });
}

template <class T> void limiter_processor<T>::check_settings(const limiter_settings& s) {
    check_finite_setting(s.threshold, "threshold");
    if (s.threshold > 0 || s.threshold < -max_threshold_db)
        throw argument_error("threshold", "must be in [-1e4, 0] dB " + setting_value(s.threshold));
    check_coefficient_setting(s.at, "at");
    check_coefficient_setting(s.rt, "rt");
    check_finite_setting(s.zi_peak, "zi_peak");
    if (s.zi_peak < 0) throw argument_error("zi_peak", "must be >= 0 " + setting_value(s.zi_peak));
    check_finite_setting(s.zi_gain, "zi_gain");
}
template <class T> void limiter_processor<T>::check_state(const double* state) {
    check_finite_setting(state[0], "state");
    check_finite_setting(state[1], "state");
    if (state[0] < 0) throw argument_error("state", "the peak state must be >= 0 " + setting_value(state[0]));
}
template <class T> void limiter_processor<T>::on_prepare() { peak_buffer_.assign(this->spec_.max_block, T(0)); }
template <class T>
void limiter_processor<T>::process(const T* const* x, T* const* gain, std::size_t n, T* const* peak) {
    this->check();
    if (n == 0) return;
    const auto& k = detail::kernels_for<T>();
    for (std::size_t c = 0; c < this->spec_.channels; ++c) check_signal(signal_view<T>{x[c], 1, n}, "x");
    for (std::size_t c = 0; c < this->spec_.channels; ++c) {
        const limiter_settings& s = this->settings_[c];
        double* state = this->state_.data() + 2 * c;
        for (std::size_t t0 = 0; t0 < n; t0 += this->spec_.max_block) {
            const std::size_t m = std::min(this->spec_.max_block, n - t0);
            T* pk = peak ? peak[c] + t0 : peak_buffer_.data();
            k.limiter_forward(x[c] + t0, m, state, T(s.threshold), T(s.at), T(s.rt), gain[c] + t0, pk, state);
        }
    }
}

#define DD_INSTANTIATE(T)                                                                                          \
    template void limiter_gain<T>(signal_view<T>, row_param<T>, row_param<T>, row_param<T>, signal_span<T>,        \
                                  signal_span<T>, state_in, state_out);                                            \
    template void limiter_gain_backward<T>(signal_view<T>, row_param<T>, row_param<T>, row_param<T>, signal_view<T>, \
                                           signal_view<T>, signal_view<T>, T*, T*, T*, T*, state_in, const double*, \
                                           double*);                                                               \
    template class limiter_processor<T>;
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
