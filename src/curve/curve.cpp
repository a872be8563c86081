// The static curve's batch entry points (the per-row kernels of smoother_kernels.cpp) and its
// validation, shared by every processor built on the curve.
#include "differential_dynamics/curve.hpp"

#include "core/kernels.hpp"
#include "core/parallel.hpp"
#include "core/validate.hpp"
#include "curve/curve_checks.hpp"
#include "curve/curve_math.hpp"

namespace dd {

template <class T> void check_compexp_params(const compexp_params<T>& p, std::size_t rows) {
    check_threshold_param(p.comp_thresh, rows, "comp_thresh");
    check_param(p.comp_ratio, rows, "comp_ratio", [](T v) { return v > T(1); }, "> 1");
    check_threshold_param(p.exp_thresh, rows, "exp_thresh");
    check_param(p.exp_ratio, rows, "exp_ratio", [](T v) { return v >= T(min_exp_ratio) && v <= T(1); },
                "in [1e-6, 1]");
    check_knee_param(p.knee, rows, "knee");
}

template <class T> void gain_curve(signal_view<T> level_db, const compexp_params<T>& p, signal_span<T> gain_db) {
    check_signal(level_db, "level_db");
    check_output(gain_db, level_db, "gain_db");
    check_compexp_params(p, level_db.rows);
    const auto& k = detail::kernels_for<T>();
    detail::parallel_for(level_db.rows,
                         [&](std::size_t b) { k.curve_forward(level_db.row(b), level_db.cols, p.row(b), gain_db.row(b)); });
}

template <class T>
void gain_curve_backward(signal_view<T> level_db, const compexp_params<T>& p, signal_view<T> grad_gain, T* grad_level,
                         const compexp_param_grads<T>& grads) {
    check_signal(level_db, "level_db");
    check_same_shape(grad_gain, level_db, "grad_gain");
    check_compexp_params(p, level_db.rows);
    const auto& k = detail::kernels_for<T>();
    detail::parallel_for(level_db.rows, [&](std::size_t b) {
        double sums[5] = {0, 0, 0, 0, 0};
        k.curve_backward(level_db.row(b), level_db.cols, p.row(b), grad_gain.row(b),
                         grad_level ? grad_level + b * level_db.cols : nullptr, sums);
        store_row(grads.comp_thresh, b, sums[0]);
        store_row(grads.comp_ratio, b, sums[1]);
        store_row(grads.exp_thresh, b, sums[2]);
        store_row(grads.exp_ratio, b, sums[3]);
        store_row(grads.knee, b, sums[4]);
    });
}

template <class T> T gain_db(const compexp_curve<T>& curve, T level_db) {
    check_compexp_params(compexp_params<T>{curve.comp_thresh, curve.comp_ratio, curve.exp_thresh, curve.exp_ratio,
                                           curve.knee},
                         1);
    if (!std::isfinite(level_db)) throw argument_error("level_db", "must be finite");
    T out;
    detail::kernels_for<T>().curve_forward(&level_db, 1, curve, &out);
    return out;
}

#define DD_INSTANTIATE(T)                                                                                    \
    template void check_compexp_params<T>(const compexp_params<T>&, std::size_t);                            \
    template void gain_curve<T>(signal_view<T>, const compexp_params<T>&, signal_span<T>);                   \
    template void gain_curve_backward<T>(signal_view<T>, const compexp_params<T>&, signal_view<T>, T*,       \
                                         const compexp_param_grads<T>&);                                     \
    template T gain_db<T>(const compexp_curve<T>&, T);
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
