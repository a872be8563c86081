// The smoothers' batch entry points (validate once, then the per-row kernels on rows in parallel) and
// their streaming processors (the same kernels on the channels, state carried between blocks).
#include "differential_dynamics/smoother.hpp"

#include <string>
#include <vector>

#include "core/kernels.hpp"
#include "core/parallel.hpp"
#include "core/validate.hpp"

namespace dd {

ar_mode parse_ar_mode(const std::string& name) {
    if (name == "hard") return ar_mode::hard;
    if (name == "sigmoid") return ar_mode::sigmoid;
    throw argument_error("ar_mode", "must be \"hard\" or \"sigmoid\" (got \"" + name + "\")");
}

namespace {

template <class T>
void check_hard_args(signal_view<T> f, row_param<double> zi, row_param<T> at, row_param<T> rt) {
    check_signal(f, "x");
    check_finite_param(zi, f.rows, "zi");
    check_coefficient(at, f.rows, "at");
    check_coefficient(rt, f.rows, "rt");
}

template <class T>
void check_sigmoid_args(signal_view<T> g, row_param<double> zi, row_param<T> alpha_a, row_param<T> alpha_r,
                        row_param<T> k) {
    check_positive_signal(g, "g");
    check_param(zi, g.rows, "zi", [](double v) { return v > 0; }, "> 0");
    check_coefficient(alpha_a, g.rows, "alpha_a");
    check_coefficient(alpha_r, g.rows, "alpha_r");
    check_gate_k_param(k, g.rows, "k");
}

template <class T, class Sums> void store_smoother_grads(const smoother_param_grads<T>& g, std::size_t b, const Sums& s) {
    if (g.zi) g.zi[b] = s.zi;
    store_row(g.at, b, s.at);
    store_row(g.rt, b, s.rt);
}

double grad_final_of(const double* grad_final_state, std::size_t b) {
    return grad_final_state ? grad_final_state[b] : 0.0;
}

}  // namespace

template <class T>
void attack_release_smoother(signal_view<T> f, row_param<double> zi, row_param<T> at, row_param<T> rt,
                             signal_span<T> y, state_out final_state) {
    check_hard_args(f, zi, at, rt);
    check_output(y, f, "y");
    const auto& k = detail::kernels_for<T>();
    detail::parallel_for(f.rows, [&](std::size_t b) {
        const double last = k.hard_forward(f.row(b), f.cols, zi[b], at[b], rt[b], y.row(b));
        if (final_state.data) final_state.data[b] = last;
    });
}

template <class T>
void attack_release_smoother_backward(signal_view<T> f, row_param<double> zi, row_param<T> at, row_param<T> rt,
                                      signal_view<T> y, signal_view<T> grad_y, T* grad_f,
                                      const smoother_param_grads<T>& grads, const double* grad_final_state) {
    check_hard_args(f, zi, at, rt);
    check_same_shape(y, f, "y");
    check_same_shape(grad_y, f, "grad_y");
    const auto& k = detail::kernels_for<T>();
    detail::parallel_for(f.rows, [&](std::size_t b) {
        const detail::smoother_sums s =
            k.hard_adjoint(f.row(b), f.cols, zi[b], at[b], rt[b], y.row(b), grad_y.row(b),
                           grad_final_of(grad_final_state, b), grad_f ? grad_f + b * f.cols : nullptr);
        store_smoother_grads(grads, b, s);
    });
}

template <class T>
void attack_release_smoother_jvp(signal_view<T> f, row_param<double> zi, row_param<T> at, row_param<T> rt,
                                 signal_view<T> y, const T* tangent_f, row_param<double> tangent_zi,
                                 row_param<T> tangent_at, row_param<T> tangent_rt, signal_span<T> tangent_y,
                                 double* tangent_final_state) {
    check_hard_args(f, zi, at, rt);
    check_same_shape(y, f, "y");
    check_output(tangent_y, f, "tangent_y");
    check_finite_param(tangent_zi, f.rows, "tangent_zi");
    check_finite_param(tangent_at, f.rows, "tangent_at");
    check_finite_param(tangent_rt, f.rows, "tangent_rt");
    const auto& k = detail::kernels_for<T>();
    detail::parallel_for(f.rows, [&](std::size_t b) {
        const double last = k.hard_jvp(f.row(b), tangent_f ? tangent_f + b * f.cols : nullptr, f.cols, zi[b], at[b],
                                       rt[b], y.row(b), tangent_zi[b], tangent_at[b], tangent_rt[b], tangent_y.row(b));
        if (tangent_final_state) tangent_final_state[b] = last;
    });
}

template <class T>
void attack_release_smoother_backward_backward(signal_view<T> f, row_param<double> zi, row_param<T> at,
                                               row_param<T> rt, signal_view<T> y, signal_view<T> grad_y,
                                               const T* v_f, row_param<double> v_zi, row_param<T> v_at,
                                               row_param<T> v_rt, T* dgy, T* df, const smoother_param_grads<T>& grads) {
    check_hard_args(f, zi, at, rt);
    check_same_shape(y, f, "y");
    check_same_shape(grad_y, f, "grad_y");
    check_finite_param(v_zi, f.rows, "v_zi");
    check_finite_param(v_at, f.rows, "v_at");
    check_finite_param(v_rt, f.rows, "v_rt");
    const auto& k = detail::kernels_for<T>();
    detail::parallel_for(f.rows, [&](std::size_t b) {
        std::vector<T> work(2 * f.cols);  // per row, outside the sample loops
        const std::size_t o = b * f.cols;
        const detail::smoother_sums s =
            k.hard_second_order(f.row(b), v_f ? v_f + o : nullptr, f.cols, zi[b], at[b], rt[b], y.row(b),
                                grad_y.row(b), v_zi[b], v_at[b], v_rt[b], dgy ? dgy + o : nullptr,
                                df ? df + o : nullptr, work.data());
        store_smoother_grads(grads, b, s);
    });
}

template <class T>
void sigmoid_smoother(signal_view<T> g, row_param<double> zi, row_param<T> alpha_a, row_param<T> alpha_r,
                      row_param<T> k, signal_span<T> y, state_out final_state) {
    check_sigmoid_args(g, zi, alpha_a, alpha_r, k);
    check_output(y, g, "y");
    const auto& kern = detail::kernels_for<T>();
    detail::parallel_for(g.rows, [&](std::size_t b) {
        const double last = kern.sigmoid_forward(g.row(b), g.cols, zi[b], alpha_a[b], alpha_r[b], k[b], y.row(b));
        if (final_state.data) final_state.data[b] = last;
    });
}

template <class T>
void sigmoid_smoother_backward(signal_view<T> g, row_param<double> zi, row_param<T> alpha_a, row_param<T> alpha_r,
                               row_param<T> k, signal_view<T> y, signal_view<T> grad_y, T* grad_g,
                               const sigmoid_param_grads<T>& grads, const double* grad_final_state) {
    check_sigmoid_args(g, zi, alpha_a, alpha_r, k);
    check_same_shape(y, g, "y");
    check_same_shape(grad_y, g, "grad_y");
    const auto& kern = detail::kernels_for<T>();
    detail::parallel_for(g.rows, [&](std::size_t b) {
        const detail::sigmoid_sums s =
            kern.sigmoid_adjoint(g.row(b), g.cols, zi[b], alpha_a[b], alpha_r[b], k[b], y.row(b), grad_y.row(b),
                                 grad_final_of(grad_final_state, b), grad_g ? grad_g + b * g.cols : nullptr);
        if (grads.zi) grads.zi[b] = s.zi;
        store_row(grads.alpha_a, b, s.alpha_a);
        store_row(grads.alpha_r, b, s.alpha_r);
        store_row(grads.k, b, s.k);
    });
}

template <class T>
void sigmoid_smoother_jvp(signal_view<T> g, row_param<double> zi, row_param<T> alpha_a, row_param<T> alpha_r,
                          row_param<T> k, signal_view<T> y, const T* tangent_g, row_param<double> tangent_zi,
                          row_param<T> tangent_alpha_a, row_param<T> tangent_alpha_r, row_param<T> tangent_k,
                          signal_span<T> tangent_y, double* tangent_final_state) {
    check_sigmoid_args(g, zi, alpha_a, alpha_r, k);
    check_same_shape(y, g, "y");
    check_output(tangent_y, g, "tangent_y");
    if (tangent_g) check_signal(signal_view<T>{tangent_g, g.rows, g.cols}, "tangent_g");
    check_finite_param(tangent_zi, g.rows, "tangent_zi");
    check_finite_param(tangent_alpha_a, g.rows, "tangent_alpha_a");
    check_finite_param(tangent_alpha_r, g.rows, "tangent_alpha_r");
    check_finite_param(tangent_k, g.rows, "tangent_k");
    const auto& kern = detail::kernels_for<T>();
    detail::parallel_for(g.rows, [&](std::size_t b) {
        const double last = kern.sigmoid_jvp(g.row(b), tangent_g ? tangent_g + b * g.cols : nullptr, g.cols, zi[b],
                                             alpha_a[b], alpha_r[b], k[b], y.row(b), tangent_zi[b],
                                             double(tangent_alpha_a[b]), double(tangent_alpha_r[b]),
                                             double(tangent_k[b]), tangent_y.row(b));
        if (tangent_final_state) tangent_final_state[b] = last;
    });
}

template <class T>
void sigmoid_smoother_backward_backward(signal_view<T> g, row_param<double> zi, row_param<T> alpha_a,
                                        row_param<T> alpha_r, row_param<T> k, signal_view<T> y, signal_view<T> grad_y,
                                        const double* grad_final_state, const T* v_g, row_param<double> v_zi,
                                        row_param<T> v_alpha_a, row_param<T> v_alpha_r, row_param<T> v_k, T* dgy,
                                        double* d_grad_final_state, T* dg, const sigmoid_param_grads<T>& grads) {
    check_sigmoid_args(g, zi, alpha_a, alpha_r, k);
    check_same_shape(y, g, "y");
    check_same_shape(grad_y, g, "grad_y");
    if (v_g) check_signal(signal_view<T>{v_g, g.rows, g.cols}, "v_g");
    check_finite_param(v_zi, g.rows, "v_zi");
    check_finite_param(v_alpha_a, g.rows, "v_alpha_a");
    check_finite_param(v_alpha_r, g.rows, "v_alpha_r");
    check_finite_param(v_k, g.rows, "v_k");
    const auto& kern = detail::kernels_for<T>();
    detail::parallel_for(g.rows, [&](std::size_t b) {
        std::vector<double> work(g.cols);
        const std::size_t o = b * g.cols;
        const detail::sigmoid_second_order_sums s = kern.sigmoid_second_order(
            g.row(b), v_g ? v_g + o : nullptr, g.cols, zi[b], alpha_a[b], alpha_r[b], k[b], y.row(b), grad_y.row(b),
            grad_final_of(grad_final_state, b), v_zi[b], double(v_alpha_a[b]), double(v_alpha_r[b]), double(v_k[b]),
            dgy ? dgy + o : nullptr, dg ? dg + o : nullptr, work.data());
        if (grads.zi) grads.zi[b] = s.zi;
        store_row(grads.alpha_a, b, s.alpha_a);
        store_row(grads.alpha_r, b, s.alpha_r);
        store_row(grads.k, b, s.k);
        if (d_grad_final_state) d_grad_final_state[b] = s.final_tangent;
    });
}

template <class T>
void linear_recurrence(signal_view<T> x, signal_view<T> a, row_param<T> y0, bool reverse, signal_span<T> y) {
    check_signal(x, "x");
    check_signal(a, "a");
    check_same_shape(a, x, "a");
    check_finite_param(y0, x.rows, "y0");
    check_output(y, x, "y");
    const auto& k = detail::kernels_for<T>();
    detail::parallel_for(x.rows, [&](std::size_t b) { k.linear_recurrence(x.row(b), a.row(b), x.cols, y0[b], reverse, y.row(b)); });
}

// ------------------------------------------------------------------------------------------------
// Streaming


template <class T> void hard_smoother_processor<T>::check_settings(const hard_smoother_settings& s) {
    check_coefficient_setting(s.at, "at");
    check_coefficient_setting(s.rt, "rt");
    check_finite_setting(s.zi, "zi");
}
template <class T> void hard_smoother_processor<T>::check_state(const double* state) {
    check_finite_setting(state[0], "state");
}
template <class T> void hard_smoother_processor<T>::process(const T* const* f, T* const* y, std::size_t n) {
    this->check();
    if (n == 0) return;
    const auto& k = detail::kernels_for<T>();
    for (std::size_t c = 0; c < this->spec_.channels; ++c) check_signal(signal_view<T>{f[c], 1, n}, "x");
    for (std::size_t c = 0; c < this->spec_.channels; ++c) {
        const hard_smoother_settings& s = this->settings_[c];
        this->state_[c] = k.hard_forward(f[c], n, this->state_[c], T(s.at), T(s.rt), y[c]);
    }
}

template <class T> void sigmoid_smoother_processor<T>::check_settings(const sigmoid_smoother_settings& s) {
    check_coefficient_setting(s.alpha_a, "alpha_a");
    check_coefficient_setting(s.alpha_r, "alpha_r");
    check_gate_k_setting(s.k, "k");
    check_positive_setting(s.zi, "zi");
}
template <class T> void sigmoid_smoother_processor<T>::check_state(const double* state) {
    check_positive_setting(state[0], "state");
}
template <class T> void sigmoid_smoother_processor<T>::process(const T* const* g, T* const* y, std::size_t n) {
    this->check();
    if (n == 0) return;
    const auto& k = detail::kernels_for<T>();
    for (std::size_t c = 0; c < this->spec_.channels; ++c) check_positive_signal(signal_view<T>{g[c], 1, n}, "g");
    for (std::size_t c = 0; c < this->spec_.channels; ++c) {
        const sigmoid_smoother_settings& s = this->settings_[c];
        this->state_[c] = k.sigmoid_forward(g[c], n, this->state_[c], T(s.alpha_a), T(s.alpha_r), T(s.k), y[c]);
    }
}

#define DD_INSTANTIATE(T)                                                                                          \
    template void attack_release_smoother<T>(signal_view<T>, row_param<double>, row_param<T>, row_param<T>,         \
                                             signal_span<T>, state_out);                                           \
    template void attack_release_smoother_backward<T>(signal_view<T>, row_param<double>, row_param<T>, row_param<T>, \
                                                      signal_view<T>, signal_view<T>, T*,                          \
                                                      const smoother_param_grads<T>&, const double*);              \
    template void attack_release_smoother_jvp<T>(signal_view<T>, row_param<double>, row_param<T>, row_param<T>,     \
                                                 signal_view<T>, const T*, row_param<double>, row_param<T>,         \
                                                 row_param<T>, signal_span<T>, double*);                           \
    template void attack_release_smoother_backward_backward<T>(                                                     \
        signal_view<T>, row_param<double>, row_param<T>, row_param<T>, signal_view<T>, signal_view<T>, const T*,    \
        row_param<double>, row_param<T>, row_param<T>, T*, T*, const smoother_param_grads<T>&);                     \
    template void sigmoid_smoother<T>(signal_view<T>, row_param<double>, row_param<T>, row_param<T>, row_param<T>,  \
                                      signal_span<T>, state_out);                                                  \
    template void sigmoid_smoother_backward<T>(signal_view<T>, row_param<double>, row_param<T>, row_param<T>,       \
                                               row_param<T>, signal_view<T>, signal_view<T>, T*,                   \
                                               const sigmoid_param_grads<T>&, const double*);                      \
    template void sigmoid_smoother_jvp<T>(signal_view<T>, row_param<double>, row_param<T>, row_param<T>,           \
                                          row_param<T>, signal_view<T>, const T*, row_param<double>, row_param<T>,  \
                                          row_param<T>, row_param<T>, signal_span<T>, double*);                     \
    template void sigmoid_smoother_backward_backward<T>(                                                            \
        signal_view<T>, row_param<double>, row_param<T>, row_param<T>, row_param<T>, signal_view<T>, signal_view<T>, \
        const double*, const T*, row_param<double>, row_param<T>, row_param<T>, row_param<T>, T*, double*, T*,      \
        const sigmoid_param_grads<T>&);                                                                             \
    template void linear_recurrence<T>(signal_view<T>, signal_view<T>, row_param<T>, bool, signal_span<T>);         \
    template class hard_smoother_processor<T>;                                                                     \
    template class sigmoid_smoother_processor<T>;
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
