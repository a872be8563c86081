// compexp_gain forward and backward in one call, for the compexp tests.
#pragma once
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"

namespace ddtest {

template <class T> struct compexp_run {
    std::vector<T> y, gx, gct, gcr, get, ger, gkn, gat, grt, gk;
};
template <class T>
inline compexp_run<T> run_compexp(const std::vector<T>& x, std::size_t rows, std::size_t cols, const std::vector<T>& cr,
                                  const std::vector<T>& w, T knee = T(2), dd::ar_mode mode = dd::ar_mode::hard) {
    compexp_run<T> o;
    o.gk.resize(rows);
    o.y.resize(rows * cols);
    o.gx.resize(rows * cols);
    for (auto* v : {&o.gct, &o.gcr, &o.get, &o.ger, &o.gkn, &o.gat, &o.grt}) v->resize(rows);
    const dd::compexp_params<T> p{T(-22), dd::row_param<T>(cr.data(), rows), T(-50), T(0.5), knee};
    dd::compexp_gain_mode(dd::signal_view<T>{x.data(), rows, cols}, p, T(0.05), T(0.004), mode, T(0.8),
                          dd::signal_span<T>{o.y.data(), rows, cols});
    dd::compexp_gain_mode_backward(
        dd::signal_view<T>{x.data(), rows, cols}, p, T(0.05), T(0.004), mode, T(0.8), dd::signal_view<T>{o.y.data(), rows, cols},
        dd::signal_view<T>{w.data(), rows, cols}, o.gx.data(),
        dd::compexp_param_grads<T>{o.gct.data(), o.gcr.data(), o.get.data(), o.ger.data(), o.gkn.data()}, o.gat.data(),
        o.grt.data(), o.gk.data());
    return o;
}

}  // namespace ddtest
