#include "differential_dynamics/gain_curve.hpp"

namespace dd {

template <class T> void check_compexp_params(const compexp_params<T>& p, std::size_t rows) {
    check_finite_param(p.comp_thresh, rows, "comp_thresh");
    check_param(p.comp_ratio, rows, "comp_ratio", [](T v) { return v > T(1); }, "> 1");
    check_finite_param(p.exp_thresh, rows, "exp_thresh");
    check_param(p.exp_ratio, rows, "exp_ratio", [](T v) { return v > T(0) && v <= T(1); }, "in (0, 1]");
    check_param(p.knee, rows, "knee", [](T v) { return v >= T(0); }, ">= 0 dB");
}

template <class T> void gain_curve(signal_view<T> level_db, const compexp_params<T>& p, signal_span<T> gain_db) {
    check_signal(level_db, "level_db");
    check_output(gain_db, level_db, "gain_db");
    check_compexp_params(p, level_db.rows);
    parallel_rows(level_db.rows, [&](std::size_t b) {
        const prepared_curve<T> c = prepared_curve<T>::from(p.row(b));
        const T* in = level_db.row(b);
        T* out = gain_db.row(b);
        for (std::size_t t = 0; t < level_db.cols; ++t) out[t] = compexp_gain_db(c, in[t]);
    });
}

template <class T>
void gain_curve_backward(signal_view<T> level_db, const compexp_params<T>& p, signal_view<T> grad_gain,
                         T* grad_level, const compexp_param_grads<T>& grads) {
    check_signal(level_db, "level_db");
    check_same_shape(grad_gain, level_db, "grad_gain");
    check_compexp_params(p, level_db.rows);
    parallel_rows(level_db.rows, [&](std::size_t b) {
        const prepared_curve<T> c = prepared_curve<T>::from(p.row(b));
        const T* in = level_db.row(b);
        const T* gg = grad_gain.row(b);
        double ct = 0, cr = 0, et = 0, er = 0, kn = 0;
        curve_partials<T> d;
        for (std::size_t t = 0; t < level_db.cols; ++t) {
            compexp_gain_db(c, in[t], d);
            if (grad_level) grad_level[b * level_db.cols + t] = gg[t] * d.level;
            ct += double(gg[t] * d.comp_thresh);
            cr += double(gg[t] * d.comp_ratio);
            et += double(gg[t] * d.exp_thresh);
            er += double(gg[t] * d.exp_ratio);
            kn += double(gg[t] * d.knee);
        }
        if (grads.comp_thresh) grads.comp_thresh[b] = T(ct);
        if (grads.comp_ratio) grads.comp_ratio[b] = T(cr);
        if (grads.exp_thresh) grads.exp_thresh[b] = T(et);
        if (grads.exp_ratio) grads.exp_ratio[b] = T(er);
        if (grads.knee) grads.knee[b] = T(kn);
    });
}

#define DD_INSTANTIATE(T)                                                                                    \
    template void check_compexp_params<T>(const compexp_params<T>&, std::size_t);                            \
    template void gain_curve<T>(signal_view<T>, const compexp_params<T>&, signal_span<T>);                   \
    template void gain_curve_backward<T>(signal_view<T>, const compexp_params<T>&, signal_view<T>, T*,       \
                                         const compexp_param_grads<T>&);
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
