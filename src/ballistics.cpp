// Batch entry points of the smoothers: validate once, then run the per-row kernels of ballistics.hpp.
#include "differential_dynamics/ballistics.hpp"

#include <vector>

namespace dd {

namespace {
template <class T>
void check_smoother_args(signal_view<T> f, row_param<T> zi, row_param<T> at, row_param<T> rt, const char* f_name) {
    check_signal(f, f_name);
    check_finite_param(zi, f.rows, "zi");
    check_coefficient(at, f.rows, "at");
    check_coefficient(rt, f.rows, "rt");
}

template <class T>
void check_sigmoid_args(signal_view<T> g, row_param<T> zi, row_param<T> alpha_a, row_param<T> alpha_r,
                        row_param<T> k) {
    check_positive_signal(g, "g");
    check_param(zi, g.rows, "zi", [](T v) { return v > T(0); }, "> 0");
    check_coefficient(alpha_a, g.rows, "alpha_a");
    check_coefficient(alpha_r, g.rows, "alpha_r");
    check_param(k, g.rows, "k", [](T v) { return v > T(0); }, "> 0 (1/dB)");
}
}  // namespace

template <class T>
void attack_release_smoother(signal_view<T> f, row_param<T> zi, row_param<T> at, row_param<T> rt, signal_span<T> y,
                             T* final_state) {
    check_smoother_args(f, zi, at, rt, "x");
    check_output(y, f, "y");
    parallel_rows(f.rows, [&](std::size_t b) {
        const T last = hard_smoother_forward_row(array_target<T>{f.row(b), nullptr}, f.cols, zi[b], at[b], rt[b], y.row(b));
        if (final_state) final_state[b] = last;
    });
}

template <class T>
void attack_release_smoother_backward(signal_view<T> f, row_param<T> zi, row_param<T> at, row_param<T> rt,
                                      signal_view<T> y, signal_view<T> grad_y, T* grad_f,
                                      const smoother_param_grads<T>& grads) {
    check_smoother_args(f, zi, at, rt, "x");
    check_same_shape(y, f, "y");
    check_same_shape(grad_y, f, "grad_y");
    parallel_rows(f.rows, [&](std::size_t b) {
        const smoother_row_grads g = hard_smoother_adjoint_row_lanes(f.row(b), f.cols, zi[b], at[b], rt[b], y.row(b),
                                                                     grad_y.row(b), grad_f ? grad_f + b * f.cols : nullptr);
        store_row(grads.zi, b, g.zi);
        store_row(grads.at, b, g.at);
        store_row(grads.rt, b, g.rt);
    });
}

template <class T>
void attack_release_smoother_jvp(signal_view<T> f, row_param<T> zi, row_param<T> at, row_param<T> rt,
                                 signal_view<T> y, const T* tangent_f, row_param<T> tangent_zi,
                                 row_param<T> tangent_at, row_param<T> tangent_rt, signal_span<T> tangent_y) {
    check_smoother_args(f, zi, at, rt, "x");
    check_same_shape(y, f, "y");
    check_output(tangent_y, f, "tangent_y");
    check_finite_param(tangent_zi, f.rows, "tangent_zi");
    check_finite_param(tangent_at, f.rows, "tangent_at");
    check_finite_param(tangent_rt, f.rows, "tangent_rt");
    parallel_rows(f.rows, [&](std::size_t b) {
        hard_smoother_jvp_row(f.row(b), tangent_f ? tangent_f + b * f.cols : nullptr, f.cols, zi[b], at[b], rt[b],
                              y.row(b), tangent_zi[b], tangent_at[b], tangent_rt[b], tangent_y.row(b));
    });
}

template <class T>
void attack_release_smoother_backward_backward(signal_view<T> f, row_param<T> zi, row_param<T> at, row_param<T> rt,
                                               signal_view<T> y, signal_view<T> grad_y, const T* v_f,
                                               row_param<T> v_zi, row_param<T> v_at, row_param<T> v_rt, T* dgy,
                                               T* df, const smoother_param_grads<T>& grads) {
    check_smoother_args(f, zi, at, rt, "x");
    check_same_shape(y, f, "y");
    check_same_shape(grad_y, f, "grad_y");
    check_finite_param(v_zi, f.rows, "v_zi");
    check_finite_param(v_at, f.rows, "v_at");
    check_finite_param(v_rt, f.rows, "v_rt");
    parallel_rows(f.rows, [&](std::size_t b) {
        std::vector<T> work(2 * f.cols);  // per row, outside the sample loops
        const std::size_t o = b * f.cols;
        const smoother_row_grads g = hard_smoother_second_order_row(
            f.row(b), v_f ? v_f + o : nullptr, f.cols, zi[b], at[b], rt[b], y.row(b), grad_y.row(b), v_zi[b], v_at[b],
            v_rt[b], dgy ? dgy + o : nullptr, df ? df + o : nullptr, work.data());
        store_row(grads.zi, b, g.zi);
        store_row(grads.at, b, g.at);
        store_row(grads.rt, b, g.rt);
    });
}

template <class T>
void sigmoid_smoother(signal_view<T> g, row_param<T> zi, row_param<T> alpha_a, row_param<T> alpha_r,
                      row_param<T> k, signal_span<T> y, T* final_state) {
    check_sigmoid_args(g, zi, alpha_a, alpha_r, k);
    check_output(y, g, "y");
    parallel_rows(g.rows, [&](std::size_t b) {
        const T last = sigmoid_smoother_forward_row(array_target<T>{g.row(b), nullptr}, g.cols, zi[b], alpha_a[b],
                                                    alpha_r[b], k[b], y.row(b));
        if (final_state) final_state[b] = last;
    });
}

template <class T>
void sigmoid_smoother_backward(signal_view<T> g, row_param<T> zi, row_param<T> alpha_a, row_param<T> alpha_r,
                               row_param<T> k, signal_view<T> y, signal_view<T> grad_y, T* grad_g,
                               const sigmoid_param_grads<T>& grads) {
    check_sigmoid_args(g, zi, alpha_a, alpha_r, k);
    check_same_shape(y, g, "y");
    check_same_shape(grad_y, g, "grad_y");
    parallel_rows(g.rows, [&](std::size_t b) {
        array_target<T> target{g.row(b), grad_g ? grad_g + b * g.cols : nullptr};
        const sigmoid_row_grads r = sigmoid_smoother_adjoint_row(target, g.cols, zi[b], alpha_a[b], alpha_r[b], k[b],
                                                                 y.row(b), grad_y.row(b));
        store_row(grads.zi, b, r.zi);
        store_row(grads.alpha_a, b, r.alpha_a);
        store_row(grads.alpha_r, b, r.alpha_r);
        store_row(grads.k, b, r.k);
    });
}

template <class T>
void linear_recurrence(signal_view<T> x, signal_view<T> a, row_param<T> y0, bool reverse, signal_span<T> y) {
    check_signal(x, "x");
    check_signal(a, "a");
    check_same_shape(a, x, "a");
    check_finite_param(y0, x.rows, "y0");
    check_output(y, x, "y");
    parallel_rows(x.rows, [&](std::size_t b) { linear_recurrence_row(x.row(b), a.row(b), x.cols, y0[b], reverse, y.row(b)); });
}

#define DD_INSTANTIATE(T)                                                                                          \
    template void attack_release_smoother<T>(signal_view<T>, row_param<T>, row_param<T>, row_param<T>, signal_span<T>, \
                                             T*);                                                                  \
    template void attack_release_smoother_backward<T>(signal_view<T>, row_param<T>, row_param<T>, row_param<T>,     \
                                                      signal_view<T>, signal_view<T>, T*,                          \
                                                      const smoother_param_grads<T>&);                             \
    template void attack_release_smoother_jvp<T>(signal_view<T>, row_param<T>, row_param<T>, row_param<T>,          \
                                                 signal_view<T>, const T*, row_param<T>, row_param<T>, row_param<T>, \
                                                 signal_span<T>);                                                  \
    template void attack_release_smoother_backward_backward<T>(                                                     \
        signal_view<T>, row_param<T>, row_param<T>, row_param<T>, signal_view<T>, signal_view<T>, const T*,         \
        row_param<T>, row_param<T>, row_param<T>, T*, T*, const smoother_param_grads<T>&);                          \
    template void sigmoid_smoother<T>(signal_view<T>, row_param<T>, row_param<T>, row_param<T>, row_param<T>,       \
                                      signal_span<T>, T*);                                                         \
    template void sigmoid_smoother_backward<T>(signal_view<T>, row_param<T>, row_param<T>, row_param<T>,            \
                                               row_param<T>, signal_view<T>, signal_view<T>, T*,                   \
                                               const sigmoid_param_grads<T>&);                                     \
    template void linear_recurrence<T>(signal_view<T>, signal_view<T>, row_param<T>, bool, signal_span<T>);
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
