// pybind11 bindings: convert numpy buffers (zero-copy views of torch tensors) to the library's views,
// release the GIL, call the batch API. No math lives here. dd::argument_error derives from
// std::invalid_argument, which pybind11 raises as ValueError with the argument's name in the message.
// States (zi, final states and their gradients) are float64 arrays, for both signal types.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "differential_dynamics/differential_dynamics.hpp"
#include "helpers.hpp"

namespace py = pybind11;

namespace {

using dd_bind::array;
using dd_bind::maybe_array;
using dd_bind::out;
using dd_bind::param;
using dd_bind::span;
using dd_bind::state;
using dd_bind::state_out;
using dd_bind::view;
using states = maybe_array<double>;

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

#define A(name) py::arg(name).noconvert()

template <class T> void bind_dtype(py::module_& m) {
    m.def("attack_release_smoother",
          [](array<T> f, array<double> zi, array<T> at, array<T> rt, array<T> y, states final_state) {
              auto fv = view(f, "x");
              auto ys = span(y, "y");
              auto z = param(zi, "zi");
              auto a = param(at, "at"), r = param(rt, "rt");
              double* fs = state_out(final_state, fv.rows, 1, "final_state");
              py::gil_scoped_release release;
              dd::attack_release_smoother(fv, z, a, r, ys, fs);
          },
          A("f"), A("zi"), A("at"), A("rt"), A("y"), A("final_state"));

    m.def("attack_release_smoother_backward",
          [](array<T> f, array<double> zi, array<T> at, array<T> rt, array<T> y, array<T> gy, states grad_final,
             maybe_array<T> gf, states gzi, maybe_array<T> gat, maybe_array<T> grt) {
              auto fv = view(f, "x");
              auto yv = view(y, "y");
              auto gyv = view(gy, "grad_y");
              auto z = param(zi, "zi");
              auto a = param(at, "at"), r = param(rt, "rt");
              dd::smoother_param_grads<T> g{state_out(gzi, fv.rows, 1, "grad_zi"), out(gat), out(grt)};
              const double* gfs = state(grad_final, fv.rows, 1, "grad_final_state");
              T* gfp = out(gf);
              py::gil_scoped_release release;
              dd::attack_release_smoother_backward(fv, z, a, r, yv, gyv, gfp, g, gfs);
          },
          A("f"), A("zi"), A("at"), A("rt"), A("y"), A("grad_y"), A("grad_final_state"), A("grad_f"), A("grad_zi"),
          A("grad_at"), A("grad_rt"));

    m.def("attack_release_smoother_jvp",
          [](array<T> f, array<double> zi, array<T> at, array<T> rt, array<T> y, maybe_array<T> tf, array<double> tzi,
             array<T> tat, array<T> trt, array<T> ty, states t_final) {
              auto fv = view(f, "x");
              auto yv = view(y, "y");
              auto tys = span(ty, "tangent_y");
              auto z = param(zi, "zi");
              auto a = param(at, "at"), r = param(rt, "rt");
              auto dz = param(tzi, "tangent_zi");
              auto da = param(tat, "tangent_at"), dr = param(trt, "tangent_rt");
              const T* tfp = tf ? tf->data() : nullptr;
              double* tfs = state_out(t_final, fv.rows, 1, "tangent_final_state");
              py::gil_scoped_release release;
              dd::attack_release_smoother_jvp(fv, z, a, r, yv, tfp, dz, da, dr, tys, tfs);
          },
          A("f"), A("zi"), A("at"), A("rt"), A("y"), A("tangent_f"), A("tangent_zi"), A("tangent_at"),
          A("tangent_rt"), A("tangent_y"), A("tangent_final_state"));

    m.def("sigmoid_smoother",
          [](array<T> g, array<double> zi, array<T> aa, array<T> ar, array<T> k, array<T> y, states final_state) {
              auto gv = view(g, "g");
              auto ys = span(y, "y");
              auto z = param(zi, "zi");
              auto a = param(aa, "alpha_a"), r = param(ar, "alpha_r"), kk = param(k, "k");
              double* fs = state_out(final_state, gv.rows, 1, "final_state");
              py::gil_scoped_release release;
              dd::sigmoid_smoother(gv, z, a, r, kk, ys, fs);
          },
          A("g"), A("zi"), A("alpha_a"), A("alpha_r"), A("k"), A("y"), A("final_state"));

    m.def("sigmoid_smoother_backward",
          [](array<T> g, array<double> zi, array<T> aa, array<T> ar, array<T> k, array<T> y, array<T> gy,
             states grad_final, maybe_array<T> gg, states gzi, maybe_array<T> gaa, maybe_array<T> gar,
             maybe_array<T> gk) {
              auto gv = view(g, "g");
              auto yv = view(y, "y");
              auto gyv = view(gy, "grad_y");
              auto z = param(zi, "zi");
              auto a = param(aa, "alpha_a"), r = param(ar, "alpha_r"), kk = param(k, "k");
              dd::sigmoid_param_grads<T> grads{state_out(gzi, gv.rows, 1, "grad_zi"), out(gaa), out(gar), out(gk)};
              const double* gfs = state(grad_final, gv.rows, 1, "grad_final_state");
              T* ggp = out(gg);
              py::gil_scoped_release release;
              dd::sigmoid_smoother_backward(gv, z, a, r, kk, yv, gyv, ggp, grads, gfs);
          },
          A("g"), A("zi"), A("alpha_a"), A("alpha_r"), A("k"), A("y"), A("grad_y"), A("grad_final_state"),
          A("grad_g"), A("grad_zi"), A("grad_alpha_a"), A("grad_alpha_r"), A("grad_k"));

    m.def("sigmoid_smoother_jvp",
          [](array<T> g, array<double> zi, array<T> aa, array<T> ar, array<T> k, array<T> y, maybe_array<T> tg,
             array<double> tzi, array<T> taa, array<T> tar, array<T> tk, array<T> ty, states t_final) {
              auto gv = view(g, "g");
              auto yv = view(y, "y");
              auto tys = span(ty, "tangent_y");
              auto z = param(zi, "zi");
              auto a = param(aa, "alpha_a"), r = param(ar, "alpha_r"), kk = param(k, "k");
              auto dz = param(tzi, "tangent_zi");
              auto da = param(taa, "tangent_alpha_a"), dr = param(tar, "tangent_alpha_r"), dk = param(tk, "tangent_k");
              const T* tgp = tg ? tg->data() : nullptr;
              if (tg && (tg->ndim() != 2 || std::size_t(tg->size()) != gv.rows * gv.cols))
                  throw dd::argument_error("tangent_g", "must have the signal's shape (B, T)");
              double* tfs = state_out(t_final, gv.rows, 1, "tangent_final_state");
              py::gil_scoped_release release;
              dd::sigmoid_smoother_jvp(gv, z, a, r, kk, yv, tgp, dz, da, dr, dk, tys, tfs);
          },
          A("g"), A("zi"), A("alpha_a"), A("alpha_r"), A("k"), A("y"), A("tangent_g"), A("tangent_zi"),
          A("tangent_alpha_a"), A("tangent_alpha_r"), A("tangent_k"), A("tangent_y"), A("tangent_final_state"));

    m.def("sigmoid_smoother_backward_backward",
          [](array<T> g, array<double> zi, array<T> aa, array<T> ar, array<T> k, array<T> y, array<T> gy,
             states grad_final, maybe_array<T> vg, array<double> vzi, array<T> vaa, array<T> var, array<T> vk,
             maybe_array<T> dgy, states d_grad_final, maybe_array<T> dg, states dzi, maybe_array<T> daa,
             maybe_array<T> dar, maybe_array<T> dk) {
              auto gv = view(g, "g");
              auto yv = view(y, "y");
              auto gyv = view(gy, "grad_y");
              auto z = param(zi, "zi");
              auto a = param(aa, "alpha_a"), r = param(ar, "alpha_r"), kk = param(k, "k");
              auto vz = param(vzi, "v_zi");
              auto va = param(vaa, "v_alpha_a"), vr = param(var, "v_alpha_r"), vkk = param(vk, "v_k");
              for (const auto* a2 : {&vg, &dgy, &dg})
                  if (*a2 && std::size_t((*a2)->size()) != gv.rows * gv.cols)
                      throw dd::argument_error("v_g", "signal-shaped arrays must have the signal's shape (B, T)");
              const T* vgp = vg ? vg->data() : nullptr;
              const double* gfs = state(grad_final, gv.rows, 1, "grad_final_state");
              double* dgfs = state_out(d_grad_final, gv.rows, 1, "d_grad_final_state");
              dd::sigmoid_param_grads<T> grads{state_out(dzi, gv.rows, 1, "d_zi"), out(daa), out(dar), out(dk)};
              T *dgyp = out(dgy), *dgp = out(dg);
              py::gil_scoped_release release;
              dd::sigmoid_smoother_backward_backward(gv, z, a, r, kk, yv, gyv, gfs, vgp, vz, va, vr, vkk, dgyp, dgfs,
                                                     dgp, grads);
          },
          A("g"), A("zi"), A("alpha_a"), A("alpha_r"), A("k"), A("y"), A("grad_y"), A("grad_final_state"), A("v_g"),
          A("v_zi"), A("v_alpha_a"), A("v_alpha_r"), A("v_k"), A("d_grad_y"), A("d_grad_final_state"), A("d_g"),
          A("d_zi"), A("d_alpha_a"), A("d_alpha_r"), A("d_k"));

    m.def("linear_recurrence",
          [](array<T> x, array<T> a, array<T> y0, bool reverse, array<T> y) {
              auto xv = view(x, "x");
              auto av = view(a, "a");
              auto ys = span(y, "y");
              auto z = param(y0, "y0");
              py::gil_scoped_release release;
              dd::linear_recurrence(xv, av, z, reverse, ys);
          },
          A("x"), A("a"), A("y0"), py::arg("reverse"), A("y"));

    m.def("avg",
          [](array<T> x, array<T> coef, array<T> y, states zi, states final_state) {
              auto xv = view(x, "rms");
              auto ys = span(y, "y");
              auto c = param(coef, "avg_coef");
              const double* z = state(zi, xv.rows, 1, "zi");
              double* fs = state_out(final_state, xv.rows, 1, "final_state");
              py::gil_scoped_release release;
              dd::avg(xv, c, ys, z, fs);
          },
          A("x"), A("coef"), A("y"), A("zi"), A("final_state"));

    m.def("avg_backward",
          [](array<T> x, array<T> coef, array<T> y, array<T> gy, states zi, states grad_final, maybe_array<T> gx,
             maybe_array<T> gcoef, states gzi) {
              auto xv = view(x, "rms");
              auto yv = view(y, "y");
              auto gyv = view(gy, "grad_y");
              auto c = param(coef, "avg_coef");
              const double* z = state(zi, xv.rows, 1, "zi");
              const double* gfs = state(grad_final, xv.rows, 1, "grad_final_state");
              double* gz = state_out(gzi, xv.rows, 1, "grad_zi");
              T *gxp = out(gx), *gcp = out(gcoef);
              py::gil_scoped_release release;
              dd::avg_backward(xv, c, yv, gyv, gxp, gcp, z, gfs, gz);
          },
          A("x"), A("coef"), A("y"), A("grad_y"), A("zi"), A("grad_final_state"), A("grad_x"), A("grad_coef"),
          A("grad_zi"));

    m.def("gain_curve",
          [](array<T> level, array<T> ct, array<T> cr, array<T> et, array<T> er, array<T> knee, array<T> gain) {
              auto lv = view(level, "level_db");
              auto gs = span(gain, "gain_db");
              auto c = curve(ct, cr, et, er, knee);
              py::gil_scoped_release release;
              dd::gain_curve(lv, c, gs);
          },
          A("level"), A("comp_thresh"), A("comp_ratio"), A("exp_thresh"), A("exp_ratio"), A("knee"), A("gain"));

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
          A("level"), A("comp_thresh"), A("comp_ratio"), A("exp_thresh"), A("exp_ratio"), A("knee"), A("grad_gain"),
          A("grad_level"), A("grad_comp_thresh"), A("grad_comp_ratio"), A("grad_exp_thresh"), A("grad_exp_ratio"),
          A("grad_knee"));

    m.def("compexp_gain_mode",
          [](array<T> x, array<T> ct, array<T> cr, array<T> et, array<T> er, array<T> knee, array<T> aa, array<T> ar,
             const std::string& mode, array<T> k, array<T> y, states zi, states final_state) {
              auto xv = view(x, "x_rms");
              auto ys = span(y, "gain");
              auto c = curve(ct, cr, et, er, knee);
              const dd::ar_mode md = dd::parse_ar_mode(mode);
              const bool hard = md == dd::ar_mode::hard;
              auto a = param(aa, hard ? "at" : "alpha_a");
              auto r = param(ar, hard ? "rt" : "alpha_r");
              auto kk = param(k, "k");
              const double* z = state(zi, xv.rows, 1, "zi");
              double* fs = state_out(final_state, xv.rows, 1, "final_state");
              py::gil_scoped_release release;
              if (hard)
                  dd::compexp_gain(xv, c, a, r, ys, z, fs);
              else
                  dd::compexp_gain_mode(xv, c, a, r, md, kk, ys, z, fs);
          },
          A("x_rms"), A("comp_thresh"), A("comp_ratio"), A("exp_thresh"), A("exp_ratio"), A("knee"), A("alpha_a"),
          A("alpha_r"), py::arg("ar_mode"), A("k"), A("gain"), A("zi"), A("final_state"));

    m.def("compexp_gain_mode_backward",
          [](array<T> x, array<T> ct, array<T> cr, array<T> et, array<T> er, array<T> knee, array<T> aa, array<T> ar,
             const std::string& mode, array<T> k, array<T> y, py::array_t<T> gy, states zi, states grad_final,
             maybe_array<T> gx, maybe_array<T> gct, maybe_array<T> gcr, maybe_array<T> get, maybe_array<T> ger,
             maybe_array<T> gknee, maybe_array<T> gaa, maybe_array<T> gar, maybe_array<T> gk, states gzi) {
              auto xv = view(x, "x_rms");
              auto yv = view(y, "gain");
              auto gyv = strided(gy, "grad_gain");
              auto c = curve(ct, cr, et, er, knee);
              const dd::ar_mode md = dd::parse_ar_mode(mode);
              const bool hard = md == dd::ar_mode::hard;
              auto a = param(aa, hard ? "at" : "alpha_a");
              auto r = param(ar, hard ? "rt" : "alpha_r");
              auto kk = param(k, "k");
              dd::compexp_param_grads<T> grads{out(gct), out(gcr), out(get), out(ger), out(gknee)};
              const double* z = state(zi, xv.rows, 1, "zi");
              const double* gfs = state(grad_final, xv.rows, 1, "grad_final_state");
              double* gz = state_out(gzi, xv.rows, 1, "grad_zi");
              T *gxp = out(gx), *gap = out(gaa), *grp = out(gar), *gkp = out(gk);
              py::gil_scoped_release release;
              dd::compexp_gain_mode_backward(xv, c, a, r, md, kk, yv, gyv, gxp, grads, gap, grp, gkp, z, gfs, gz);
          },
          A("x_rms"), A("comp_thresh"), A("comp_ratio"), A("exp_thresh"), A("exp_ratio"), A("knee"), A("alpha_a"),
          A("alpha_r"), py::arg("ar_mode"), A("k"), A("gain"), A("grad_gain"), A("zi"), A("grad_final_state"),
          A("grad_x_rms"), A("grad_comp_thresh"), A("grad_comp_ratio"), A("grad_exp_thresh"), A("grad_exp_ratio"),
          A("grad_knee"), A("grad_alpha_a"), A("grad_alpha_r"), A("grad_k"), A("grad_zi"));

    m.def("compexp_gain_mode_jvp",
          [](array<T> x, array<T> ct, array<T> cr, array<T> et, array<T> er, array<T> knee, array<T> aa, array<T> ar,
             const std::string& mode, array<T> k, array<T> y, maybe_array<T> tx, array<T> tct, array<T> tcr,
             array<T> tet, array<T> ter, array<T> tknee, array<T> taa, array<T> tar, array<T> tk, states zi,
             states tzi, array<T> ty, states t_final) {
              auto xv = view(x, "x_rms");
              auto yv = view(y, "gain");
              auto tys = span(ty, "tangent_gain");
              auto c = curve(ct, cr, et, er, knee);
              const dd::ar_mode md = dd::parse_ar_mode(mode);
              const bool hard = md == dd::ar_mode::hard;
              auto a = param(aa, hard ? "at" : "alpha_a");
              auto r = param(ar, hard ? "rt" : "alpha_r");
              auto kk = param(k, "k");
              const dd::compexp_param_tangents<T> tc{param(tct, "tangent_comp_thresh"), param(tcr, "tangent_comp_ratio"),
                                                     param(tet, "tangent_exp_thresh"), param(ter, "tangent_exp_ratio"),
                                                     param(tknee, "tangent_knee")};
              auto ta = param(taa, "tangent_alpha_a"), tr = param(tar, "tangent_alpha_r"), tkk = param(tk, "tangent_k");
              if (tx && (tx->ndim() != 2 || std::size_t(tx->size()) != xv.rows * xv.cols))
                  throw dd::argument_error("tangent_x_rms", "must have the signal's shape (B, T)");
              const T* txp = tx ? tx->data() : nullptr;
              const double* z = state(zi, xv.rows, 1, "zi");
              const double* tz = state(tzi, xv.rows, 1, "tangent_zi");
              double* tfs = state_out(t_final, xv.rows, 1, "tangent_final_state");
              py::gil_scoped_release release;
              dd::compexp_gain_mode_jvp(xv, c, a, r, md, kk, yv, txp, tc, ta, tr, tkk, tys, z, tz, tfs);
          },
          A("x_rms"), A("comp_thresh"), A("comp_ratio"), A("exp_thresh"), A("exp_ratio"), A("knee"), A("alpha_a"),
          A("alpha_r"), py::arg("ar_mode"), A("k"), A("gain"), A("tangent_x_rms"), A("tangent_comp_thresh"),
          A("tangent_comp_ratio"), A("tangent_exp_thresh"), A("tangent_exp_ratio"), A("tangent_knee"),
          A("tangent_alpha_a"), A("tangent_alpha_r"), A("tangent_k"), A("zi"), A("tangent_zi"), A("tangent_gain"),
          A("tangent_final_state"));

    m.def("limiter_gain",
          [](array<T> x, array<T> thr, array<T> at, array<T> rt, array<T> y, array<T> peak, states zi,
             states final_state) {
              auto xv = view(x, "x");
              auto ys = span(y, "gain");
              auto ps = span(peak, "peak");
              auto th = param(thr, "threshold"), a = param(at, "at"), r = param(rt, "rt");
              const double* z = state(zi, xv.rows, 2, "zi");
              double* fs = state_out(final_state, xv.rows, 2, "final_state");
              py::gil_scoped_release release;
              dd::limiter_gain(xv, th, a, r, ys, ps, z, fs);
          },
          A("x"), A("threshold"), A("at"), A("rt"), A("gain"), A("peak"), A("zi"), A("final_state"));

    m.def("limiter_gain_backward",
          [](array<T> x, array<T> thr, array<T> at, array<T> rt, array<T> y, array<T> peak, array<T> gy, states zi,
             states grad_final, maybe_array<T> gx, maybe_array<T> gthr, maybe_array<T> gat, maybe_array<T> grt,
             states gzi) {
              auto xv = view(x, "x");
              auto yv = view(y, "gain");
              auto pv = view(peak, "peak");
              auto gyv = view(gy, "grad_gain");
              auto th = param(thr, "threshold"), a = param(at, "at"), r = param(rt, "rt");
              const double* z = state(zi, xv.rows, 2, "zi");
              const double* gfs = state(grad_final, xv.rows, 2, "grad_final_state");
              double* gz = state_out(gzi, xv.rows, 2, "grad_zi");
              T *gxp = out(gx), *gtp = out(gthr), *gap = out(gat), *grp = out(grt);
              py::gil_scoped_release release;
              dd::limiter_gain_backward(xv, th, a, r, yv, pv, gyv, gxp, gtp, gap, grp, z, gfs, gz);
          },
          A("x"), A("threshold"), A("at"), A("rt"), A("gain"), A("peak"), A("grad_gain"), A("zi"),
          A("grad_final_state"), A("grad_x"), A("grad_threshold"), A("grad_at"), A("grad_rt"), A("grad_zi"));
}

#undef A

}  // namespace

void bind_ssl(py::module_& m);        // ssl_bindings.cpp
void bind_streaming(py::module_& m);  // streaming_bindings.cpp
void bind_audio(py::module_& m);      // audio_bindings.cpp
void bind_probes(py::module_& m);     // probes_bindings.cpp
void bind_family(py::module_& m);     // family_bindings.cpp

PYBIND11_MODULE(_core, m) {
    m.doc() = "differential_dynamics C++ kernels (use the differential_dynamics package, not this module)";
    bind_dtype<float>(m);
    bind_dtype<double>(m);
    bind_ssl(m);
    bind_streaming(m);
    bind_audio(m);
    bind_probes(m);
    bind_family(m);
    m.def("set_num_threads", &dd::set_num_threads, py::arg("threads"));
    m.def("get_num_threads", &dd::num_threads);
    m.attr("max_threads") = dd::max_threads;
    m.attr("max_threshold_db") = dd::max_threshold_db;
    m.attr("max_knee_db") = dd::max_knee_db;
    m.attr("min_exp_ratio") = dd::min_exp_ratio;
    m.attr("max_gate_k") = dd::max_gate_k;
    m.attr("max_probe_length") = dd::max_probe_length;
    m.attr("version") = dd::version;
    m.def("simd_level", [] { return std::string(dd::simd_level_name(dd::active_simd_level())); });
    m.def("set_simd_level", [](const std::string& name) {
        for (dd::simd_level level : {dd::simd_level::baseline, dd::simd_level::avx2, dd::simd_level::avx512})
            if (name == dd::simd_level_name(level)) return dd::set_simd_level(level);
        throw dd::argument_error("level", "must be \"baseline\", \"avx2\" or \"avx512\" (got \"" + name + "\")");
    }, py::arg("level"));
    m.def("simd_level_supported", [](const std::string& name) {
        for (dd::simd_level level : {dd::simd_level::baseline, dd::simd_level::avx2, dd::simd_level::avx512})
            if (name == dd::simd_level_name(level)) return dd::simd_level_supported(level);
        return false;
    }, py::arg("level"));
    m.def("amp2db", [](double x) { return dd::amp2db(x); }, py::arg("x"));
    m.def("db2amp", [](double x) { return dd::db2amp(x); }, py::arg("db"));
    m.def("ms2coef", [](double ms, double fs) { return dd::ms2coef(ms, fs); }, py::arg("ms"), py::arg("fs"));
    m.def("coef2ms", [](double c, double fs) { return dd::coef2ms(c, fs); }, py::arg("coef"), py::arg("fs"));
}
