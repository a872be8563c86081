// pybind11 bindings: convert numpy buffers (zero-copy views of torch tensors) to the library's views,
// release the GIL, call the batch API. No math lives here. dd::argument_error derives from
// std::invalid_argument, which pybind11 raises as ValueError with the argument's name in the message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>

#include "_binding_helpers.hpp"
#include "differential_dynamics/differential_dynamics.hpp"

namespace py = pybind11;

namespace {

using dd_bind::array;
using dd_bind::maybe_array;
using dd_bind::out;
using dd_bind::param;
using dd_bind::span;
using dd_bind::view;

/// Any 2-D array, strides kept (a broadcast upstream gradient is not copied).
template <class T> dd::strided_view<T> strided(const py::array_t<T>& a, const char* name) {
    if (a.ndim() != 2) throw dd::argument_error(name, "must be a 2-D (B, T) array");
    return {a.data(), static_cast<std::size_t>(a.shape(0)), static_cast<std::size_t>(a.shape(1)),
            static_cast<std::ptrdiff_t>(a.strides(0) / static_cast<py::ssize_t>(sizeof(T))),
            static_cast<std::ptrdiff_t>(a.strides(1) / static_cast<py::ssize_t>(sizeof(T)))};
}

template <class T>
dd::compexp_params<T> curve(const array<T>& ct, const array<T>& cr, const array<T>& et, const array<T>& er,
                            const array<T>& knee) {
    return {param(ct, "comp_thresh"), param(cr, "comp_ratio"), param(et, "exp_thresh"), param(er, "exp_ratio"),
            param(knee, "knee")};
}

template <class T> void bind_dtype(py::module_& m) {
    m.def("attack_release_smoother",
          [](array<T> f, array<T> zi, array<T> at, array<T> rt, array<T> y, maybe_array<T> final_state) {
              auto fv = view(f, "x");
              auto ys = span(y, "y");
              auto z = param(zi, "zi"), a = param(at, "at"), r = param(rt, "rt");
              T* fs = out(final_state);
              py::gil_scoped_release release;
              dd::attack_release_smoother(fv, z, a, r, ys, fs);
          },
          py::arg("f").noconvert(), py::arg("zi").noconvert(), py::arg("at").noconvert(), py::arg("rt").noconvert(),
          py::arg("y").noconvert(), py::arg("final_state").noconvert());

    m.def("attack_release_smoother_backward",
          [](array<T> f, array<T> zi, array<T> at, array<T> rt, array<T> y, array<T> gy, maybe_array<T> gf,
             maybe_array<T> gzi, maybe_array<T> gat, maybe_array<T> grt) {
              auto fv = view(f, "x");
              auto yv = view(y, "y");
              auto gyv = view(gy, "grad_y");
              auto z = param(zi, "zi"), a = param(at, "at"), r = param(rt, "rt");
              dd::smoother_param_grads<T> g{out(gzi), out(gat), out(grt)};
              T* gfp = out(gf);
              py::gil_scoped_release release;
              dd::attack_release_smoother_backward(fv, z, a, r, yv, gyv, gfp, g);
          },
          py::arg("f").noconvert(), py::arg("zi").noconvert(), py::arg("at").noconvert(), py::arg("rt").noconvert(),
          py::arg("y").noconvert(), py::arg("grad_y").noconvert(), py::arg("grad_f").noconvert(),
          py::arg("grad_zi").noconvert(), py::arg("grad_at").noconvert(), py::arg("grad_rt").noconvert());

    m.def("attack_release_smoother_jvp",
          [](array<T> f, array<T> zi, array<T> at, array<T> rt, array<T> y, maybe_array<T> tf, array<T> tzi,
             array<T> tat, array<T> trt, array<T> ty) {
              auto fv = view(f, "x");
              auto yv = view(y, "y");
              auto tys = span(ty, "tangent_y");
              auto z = param(zi, "zi"), a = param(at, "at"), r = param(rt, "rt");
              auto dz = param(tzi, "tangent_zi"), da = param(tat, "tangent_at"), dr = param(trt, "tangent_rt");
              const T* tfp = tf ? tf->data() : nullptr;
              py::gil_scoped_release release;
              dd::attack_release_smoother_jvp(fv, z, a, r, yv, tfp, dz, da, dr, tys);
          },
          py::arg("f").noconvert(), py::arg("zi").noconvert(), py::arg("at").noconvert(), py::arg("rt").noconvert(),
          py::arg("y").noconvert(), py::arg("tangent_f").noconvert(), py::arg("tangent_zi").noconvert(),
          py::arg("tangent_at").noconvert(), py::arg("tangent_rt").noconvert(), py::arg("tangent_y").noconvert());

    m.def("sigmoid_smoother",
          [](array<T> g, array<T> zi, array<T> aa, array<T> ar, array<T> k, array<T> y, maybe_array<T> final_state) {
              auto gv = view(g, "g");
              auto ys = span(y, "y");
              auto z = param(zi, "zi"), a = param(aa, "alpha_a"), r = param(ar, "alpha_r"), kk = param(k, "k");
              T* fs = out(final_state);
              py::gil_scoped_release release;
              dd::sigmoid_smoother(gv, z, a, r, kk, ys, fs);
          },
          py::arg("g").noconvert(), py::arg("zi").noconvert(), py::arg("alpha_a").noconvert(),
          py::arg("alpha_r").noconvert(), py::arg("k").noconvert(), py::arg("y").noconvert(),
          py::arg("final_state").noconvert());

    m.def("sigmoid_smoother_backward",
          [](array<T> g, array<T> zi, array<T> aa, array<T> ar, array<T> k, array<T> y, array<T> gy,
             maybe_array<T> gg, maybe_array<T> gzi, maybe_array<T> gaa, maybe_array<T> gar, maybe_array<T> gk) {
              auto gv = view(g, "g");
              auto yv = view(y, "y");
              auto gyv = view(gy, "grad_y");
              auto z = param(zi, "zi"), a = param(aa, "alpha_a"), r = param(ar, "alpha_r"), kk = param(k, "k");
              dd::sigmoid_param_grads<T> grads{out(gzi), out(gaa), out(gar), out(gk)};
              T* ggp = out(gg);
              py::gil_scoped_release release;
              dd::sigmoid_smoother_backward(gv, z, a, r, kk, yv, gyv, ggp, grads);
          },
          py::arg("g").noconvert(), py::arg("zi").noconvert(), py::arg("alpha_a").noconvert(),
          py::arg("alpha_r").noconvert(), py::arg("k").noconvert(), py::arg("y").noconvert(),
          py::arg("grad_y").noconvert(), py::arg("grad_g").noconvert(), py::arg("grad_zi").noconvert(),
          py::arg("grad_alpha_a").noconvert(), py::arg("grad_alpha_r").noconvert(), py::arg("grad_k").noconvert());

    m.def("linear_recurrence",
          [](array<T> x, array<T> a, array<T> y0, bool reverse, array<T> y) {
              auto xv = view(x, "x");
              auto av = view(a, "a");
              auto ys = span(y, "y");
              auto z = param(y0, "y0");
              py::gil_scoped_release release;
              dd::linear_recurrence(xv, av, z, reverse, ys);
          },
          py::arg("x").noconvert(), py::arg("a").noconvert(), py::arg("y0").noconvert(), py::arg("reverse"),
          py::arg("y").noconvert());

    m.def("avg",
          [](array<T> x, array<T> coef, array<T> y) {
              auto xv = view(x, "rms");
              auto ys = span(y, "y");
              auto c = param(coef, "avg_coef");
              py::gil_scoped_release release;
              dd::avg(xv, c, ys);
          },
          py::arg("x").noconvert(), py::arg("coef").noconvert(), py::arg("y").noconvert());

    m.def("avg_backward",
          [](array<T> x, array<T> coef, array<T> y, array<T> gy, maybe_array<T> gx, maybe_array<T> gcoef) {
              auto xv = view(x, "rms");
              auto yv = view(y, "y");
              auto gyv = view(gy, "grad_y");
              auto c = param(coef, "avg_coef");
              T *gxp = out(gx), *gcp = out(gcoef);
              py::gil_scoped_release release;
              dd::avg_backward(xv, c, yv, gyv, gxp, gcp);
          },
          py::arg("x").noconvert(), py::arg("coef").noconvert(), py::arg("y").noconvert(),
          py::arg("grad_y").noconvert(), py::arg("grad_x").noconvert(), py::arg("grad_coef").noconvert());

    m.def("gain_curve",
          [](array<T> level, array<T> ct, array<T> cr, array<T> et, array<T> er, array<T> knee, array<T> gain) {
              auto lv = view(level, "level_db");
              auto gs = span(gain, "gain_db");
              auto c = curve(ct, cr, et, er, knee);
              py::gil_scoped_release release;
              dd::gain_curve(lv, c, gs);
          },
          py::arg("level").noconvert(), py::arg("comp_thresh").noconvert(), py::arg("comp_ratio").noconvert(),
          py::arg("exp_thresh").noconvert(), py::arg("exp_ratio").noconvert(), py::arg("knee").noconvert(),
          py::arg("gain").noconvert());

    m.def("gain_curve_backward",
          [](array<T> level, array<T> ct, array<T> cr, array<T> et, array<T> er, array<T> knee, array<T> gg,
             maybe_array<T> glevel, maybe_array<T> gct, maybe_array<T> gcr, maybe_array<T> get, maybe_array<T> ger,
             maybe_array<T> gknee) {
              auto lv = view(level, "level_db");
              auto ggv = view(gg, "grad_gain");
              auto c = curve(ct, cr, et, er, knee);
              dd::compexp_param_grads<T> grads{out(gct), out(gcr), out(get), out(ger), out(gknee)};
              T* glp = out(glevel);
              py::gil_scoped_release release;
              dd::gain_curve_backward(lv, c, ggv, glp, grads);
          },
          py::arg("level").noconvert(), py::arg("comp_thresh").noconvert(), py::arg("comp_ratio").noconvert(),
          py::arg("exp_thresh").noconvert(), py::arg("exp_ratio").noconvert(), py::arg("knee").noconvert(),
          py::arg("grad_gain").noconvert(), py::arg("grad_level").noconvert(), py::arg("grad_comp_thresh").noconvert(),
          py::arg("grad_comp_ratio").noconvert(), py::arg("grad_exp_thresh").noconvert(),
          py::arg("grad_exp_ratio").noconvert(), py::arg("grad_knee").noconvert());

    m.def("compexp_gain_mode",
          [](array<T> x, array<T> ct, array<T> cr, array<T> et, array<T> er, array<T> knee, array<T> aa, array<T> ar,
             const std::string& mode, array<T> k, array<T> y) {
              auto xv = view(x, "x_rms");
              auto ys = span(y, "gain");
              auto c = curve(ct, cr, et, er, knee);
              const dd::ar_mode md = dd::parse_ar_mode(mode);
              auto a = param(aa, md == dd::ar_mode::hard ? "at" : "alpha_a");
              auto r = param(ar, md == dd::ar_mode::hard ? "rt" : "alpha_r");
              auto kk = param(k, "k");
              py::gil_scoped_release release;
              dd::compexp_gain_mode(xv, c, a, r, md, kk, ys);
          },
          py::arg("x_rms").noconvert(), py::arg("comp_thresh").noconvert(), py::arg("comp_ratio").noconvert(),
          py::arg("exp_thresh").noconvert(), py::arg("exp_ratio").noconvert(), py::arg("knee").noconvert(),
          py::arg("alpha_a").noconvert(), py::arg("alpha_r").noconvert(), py::arg("ar_mode"), py::arg("k").noconvert(),
          py::arg("gain").noconvert());

    m.def("compexp_gain_mode_backward",
          [](array<T> x, array<T> ct, array<T> cr, array<T> et, array<T> er, array<T> knee, array<T> aa, array<T> ar,
             const std::string& mode, array<T> k, array<T> y, py::array_t<T> gy, maybe_array<T> gx, maybe_array<T> gct,
             maybe_array<T> gcr, maybe_array<T> get, maybe_array<T> ger, maybe_array<T> gknee, maybe_array<T> gaa,
             maybe_array<T> gar, maybe_array<T> gk) {
              auto xv = view(x, "x_rms");
              auto yv = view(y, "gain");
              auto gyv = strided(gy, "grad_gain");
              auto c = curve(ct, cr, et, er, knee);
              const dd::ar_mode md = dd::parse_ar_mode(mode);
              auto a = param(aa, md == dd::ar_mode::hard ? "at" : "alpha_a");
              auto r = param(ar, md == dd::ar_mode::hard ? "rt" : "alpha_r");
              auto kk = param(k, "k");
              dd::compexp_param_grads<T> grads{out(gct), out(gcr), out(get), out(ger), out(gknee)};
              T *gxp = out(gx), *gap = out(gaa), *grp = out(gar), *gkp = out(gk);
              py::gil_scoped_release release;
              dd::compexp_gain_mode_backward(xv, c, a, r, md, kk, yv, gyv, gxp, grads, gap, grp, gkp);
          },
          py::arg("x_rms").noconvert(), py::arg("comp_thresh").noconvert(), py::arg("comp_ratio").noconvert(),
          py::arg("exp_thresh").noconvert(), py::arg("exp_ratio").noconvert(), py::arg("knee").noconvert(),
          py::arg("alpha_a").noconvert(), py::arg("alpha_r").noconvert(), py::arg("ar_mode"), py::arg("k").noconvert(),
          py::arg("gain").noconvert(), py::arg("grad_gain").noconvert(), py::arg("grad_x_rms").noconvert(),
          py::arg("grad_comp_thresh").noconvert(), py::arg("grad_comp_ratio").noconvert(),
          py::arg("grad_exp_thresh").noconvert(), py::arg("grad_exp_ratio").noconvert(),
          py::arg("grad_knee").noconvert(), py::arg("grad_alpha_a").noconvert(), py::arg("grad_alpha_r").noconvert(),
          py::arg("grad_k").noconvert());

    m.def("limiter_gain",
          [](array<T> x, array<T> thr, array<T> at, array<T> rt, array<T> y, array<T> peak) {
              auto xv = view(x, "x");
              auto ys = span(y, "gain");
              auto ps = span(peak, "peak");
              auto th = param(thr, "threshold"), a = param(at, "at"), r = param(rt, "rt");
              py::gil_scoped_release release;
              dd::limiter_gain(xv, th, a, r, ys, ps);
          },
          py::arg("x").noconvert(), py::arg("threshold").noconvert(), py::arg("at").noconvert(),
          py::arg("rt").noconvert(), py::arg("gain").noconvert(), py::arg("peak").noconvert());

    m.def("limiter_gain_backward",
          [](array<T> x, array<T> thr, array<T> at, array<T> rt, array<T> y, array<T> peak, array<T> gy,
             maybe_array<T> gx, maybe_array<T> gthr, maybe_array<T> gat, maybe_array<T> grt) {
              auto xv = view(x, "x");
              auto yv = view(y, "gain");
              auto pv = view(peak, "peak");
              auto gyv = view(gy, "grad_gain");
              auto th = param(thr, "threshold"), a = param(at, "at"), r = param(rt, "rt");
              T *gxp = out(gx), *gtp = out(gthr), *gap = out(gat), *grp = out(grt);
              py::gil_scoped_release release;
              dd::limiter_gain_backward(xv, th, a, r, yv, pv, gyv, gxp, gtp, gap, grp);
          },
          py::arg("x").noconvert(), py::arg("threshold").noconvert(), py::arg("at").noconvert(),
          py::arg("rt").noconvert(), py::arg("gain").noconvert(), py::arg("peak").noconvert(),
          py::arg("grad_gain").noconvert(), py::arg("grad_x").noconvert(), py::arg("grad_threshold").noconvert(),
          py::arg("grad_at").noconvert(), py::arg("grad_rt").noconvert());
}

}  // namespace

void bind_ssl(py::module_& m);  // _ssl_bindings.cpp

PYBIND11_MODULE(_core, m) {
    m.doc() = "differential_dynamics C++ kernels (use the differential_dynamics package, not this module)";
    bind_dtype<float>(m);
    bind_dtype<double>(m);
    bind_ssl(m);
    m.def("set_num_threads", &dd::set_num_threads, py::arg("threads"));
    m.def("get_num_threads", &dd::num_threads);
}
