// pybind11 bindings of the SSL bus compressor. No math here: numpy buffers (zero-copy
// views of torch tensors) become the library's views, the GIL is released, the batch API runs.
// dd::argument_error derives from std::invalid_argument, which pybind11 raises as ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>

#include "differential_dynamics/ssl.hpp"
#include "helpers.hpp"
#include "ssl/ssl_model.hpp"

namespace py = pybind11;

namespace {

using dd_bind::array;
using dd_bind::maybe_array;
using dd_bind::out;
using dd_bind::param;
using dd_bind::span;
using dd_bind::view;
using dd_bind::state;
using dd_bind::state_out;
using state_arg = maybe_array<double>;

template <class T> const T* in(const maybe_array<T>& a, const dd::signal_view<T>& like, const char* name) {
    if (!a) return nullptr;
    if (a->ndim() != 2 || std::size_t(a->shape(0)) != like.rows || std::size_t(a->shape(1)) != like.cols)
        throw dd::argument_error(name, "must have the signal's shape (B, T)");
    return a->data();
}
template <class T> T* out_signal(maybe_array<T>& a, const dd::signal_view<T>& like, const char* name) {
    if (!a) return nullptr;
    if (a->ndim() != 2 || std::size_t(a->shape(0)) != like.rows || std::size_t(a->shape(1)) != like.cols)
        throw dd::argument_error(name, "must have the signal's shape (B, T)");
    return a->mutable_data();
}
/// The forward's tape: float64 (B, T, 2).
template <class A, class T> auto tape(A& a, const dd::signal_view<T>& like) -> decltype(a->mutable_data()) {
    if (!a) return nullptr;
    if (a->ndim() != 3 || std::size_t(a->shape(0)) != like.rows || std::size_t(a->shape(1)) != like.cols ||
        a->shape(2) != 2)
        throw dd::argument_error("states", "must be a float64 array of shape (B, T, 2)");
    return a->mutable_data();
}

template <class T> struct param_arrays {
    array<T> ct, cr, taf, tas, tsf, tss, fb, knee;
    dd::ssl_params<T> make(double fs) const {
        return {param(ct, "comp_thresh"),   param(cr, "comp_ratio"),    param(taf, "T_attack_fast"),
                param(tas, "T_attack_slow"), param(tsf, "T_shunt_fast"), param(tss, "T_shunt_slow"),
                param(fb, "feedback_coeff"), fs,                          param(knee, "knee")};
    }
};

#define DD_SSL_PARAM_ARGS                                                                                        \
    py::arg("comp_thresh").noconvert(), py::arg("comp_ratio").noconvert(), py::arg("T_attack_fast").noconvert(), \
        py::arg("T_attack_slow").noconvert(), py::arg("T_shunt_fast").noconvert(),                              \
        py::arg("T_shunt_slow").noconvert(), py::arg("feedback_coeff").noconvert(), py::arg("knee").noconvert(),  \
        py::arg("fs")

template <class T> void bind_dtype(py::module_& m) {
    using P = param_arrays<T>;
    using tape_array = maybe_array<double>;

    m.def("ssl_comp_gain",
          [](array<T> x, array<T> ct, array<T> cr, array<T> taf, array<T> tas, array<T> tsf, array<T> tss, array<T> fb,
             array<T> knee, double fs, array<T> gain, tape_array states, state_arg zi, state_arg final_state) {
              auto xv = view(x, "x_peak_dB");
              auto gs = span(gain, "gain_db");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee}.make(fs);
              double* st = tape(states, xv);
              const double* z = state(zi, xv.rows, 2, "zi");
              double* fsp = state_out(final_state, xv.rows, 2, "final_state");
              py::gil_scoped_release release;
              dd::ssl_comp_gain(xv, p, gs, st, z, fsp);
          },
          py::arg("x_peak_dB").noconvert(), DD_SSL_PARAM_ARGS, py::arg("gain").noconvert(),
          py::arg("states").noconvert(), py::arg("zi").noconvert(), py::arg("final_state").noconvert());

    m.def("ssl_comp_gain_backward",
          [](array<T> x, array<T> ct, array<T> cr, array<T> taf, array<T> tas, array<T> tsf, array<T> tss, array<T> fb,
             array<T> knee, double fs, tape_array states, array<T> grad_gain, state_arg zi, state_arg grad_final,
             maybe_array<T> gx, maybe_array<T> gct, maybe_array<T> gcr, maybe_array<T> gtaf, maybe_array<T> gtas,
             maybe_array<T> gtsf, maybe_array<T> gtss, maybe_array<T> gfb, maybe_array<T> gknee, state_arg gzi) {
              auto xv = view(x, "x_peak_dB");
              auto gv = view(grad_gain, "grad_gain");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee}.make(fs);
              const double* st = tape(states, xv);
              T* gxp = out_signal(gx, xv, "grad_x_peak_dB");
              dd::ssl_param_grads<T> g{out(gct), out(gcr), out(gtaf), out(gtas), out(gtsf), out(gtss), out(gfb),
                                       out(gknee)};
              const double* z = state(zi, xv.rows, 2, "zi");
              const double* gfs = state(grad_final, xv.rows, 2, "grad_final_state");
              double* gz = state_out(gzi, xv.rows, 2, "grad_zi");
              py::gil_scoped_release release;
              dd::ssl_comp_gain_backward(xv, p, st, gv, gxp, g, z, gfs, gz);
          },
          py::arg("x_peak_dB").noconvert(), DD_SSL_PARAM_ARGS, py::arg("states").noconvert(),
          py::arg("zi").noconvert(), py::arg("grad_final_state").noconvert(),
          py::arg("grad_gain").noconvert(), py::arg("grad_x_peak_dB").noconvert(),
          py::arg("grad_comp_thresh").noconvert(), py::arg("grad_comp_ratio").noconvert(),
          py::arg("grad_T_attack_fast").noconvert(), py::arg("grad_T_attack_slow").noconvert(),
          py::arg("grad_T_shunt_fast").noconvert(), py::arg("grad_T_shunt_slow").noconvert(),
          py::arg("grad_feedback_coeff").noconvert(), py::arg("grad_knee").noconvert(), py::arg("grad_zi").noconvert());

    m.def("ssl_compress",
          [](array<T> x, array<T> ct, array<T> cr, array<T> taf, array<T> tas, array<T> tsf, array<T> tss, array<T> fb,
             array<T> knee, double fs, array<T> gain, array<T> y, tape_array states, state_arg zi, state_arg final_state) {
              auto xv = view(x, "x");
              auto gs = span(gain, "gain_db");
              auto ys = span(y, "y");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee}.make(fs);
              double* st = tape(states, xv);
              const double* z = state(zi, xv.rows, 2, "zi");
              double* fsp = state_out(final_state, xv.rows, 2, "final_state");
              py::gil_scoped_release release;
              dd::ssl_compress(xv, p, gs, ys, st, z, fsp);
          },
          py::arg("x").noconvert(), DD_SSL_PARAM_ARGS, py::arg("gain").noconvert(), py::arg("y").noconvert(),
          py::arg("states").noconvert(), py::arg("zi").noconvert(), py::arg("final_state").noconvert());

    m.def("ssl_compress_backward",
          [](array<T> x, array<T> ct, array<T> cr, array<T> taf, array<T> tas, array<T> tsf, array<T> tss, array<T> fb,
             array<T> knee, double fs, tape_array states, maybe_array<T> grad_gain, maybe_array<T> grad_y, state_arg zi,
             state_arg grad_final, maybe_array<T> gx, maybe_array<T> gct, maybe_array<T> gcr, maybe_array<T> gtaf,
             maybe_array<T> gtas, maybe_array<T> gtsf, maybe_array<T> gtss, maybe_array<T> gfb, maybe_array<T> gknee,
             state_arg gzi) {
              auto xv = view(x, "x");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee}.make(fs);
              const double* st = tape(states, xv);
              const T* gg = in(grad_gain, xv, "grad_gain");
              const T* gy = in(grad_y, xv, "grad_y");
              T* gxp = out_signal(gx, xv, "grad_x");
              dd::ssl_param_grads<T> g{out(gct), out(gcr), out(gtaf), out(gtas), out(gtsf), out(gtss), out(gfb),
                                       out(gknee)};
              const double* z = state(zi, xv.rows, 2, "zi");
              const double* gfs = state(grad_final, xv.rows, 2, "grad_final_state");
              double* gz = state_out(gzi, xv.rows, 2, "grad_zi");
              py::gil_scoped_release release;
              dd::ssl_compress_backward(xv, p, st, gg, gy, gxp, g, z, gfs, gz);
          },
          py::arg("x").noconvert(), DD_SSL_PARAM_ARGS, py::arg("states").noconvert(),
          py::arg("grad_gain").noconvert(), py::arg("grad_y").noconvert(), py::arg("zi").noconvert(),
          py::arg("grad_final_state").noconvert(), py::arg("grad_x").noconvert(),
          py::arg("grad_comp_thresh").noconvert(), py::arg("grad_comp_ratio").noconvert(),
          py::arg("grad_T_attack_fast").noconvert(), py::arg("grad_T_attack_slow").noconvert(),
          py::arg("grad_T_shunt_fast").noconvert(), py::arg("grad_T_shunt_slow").noconvert(),
          py::arg("grad_feedback_coeff").noconvert(), py::arg("grad_knee").noconvert(), py::arg("grad_zi").noconvert());
}

#undef DD_SSL_PARAM_ARGS

py::dict knob_dict(const dd::ssl_knob_params& k) {
    py::dict d;
    d["comp_ratio"] = k.comp_ratio;
    d["T_attack_fast"] = k.T_attack_fast;
    d["T_attack_slow"] = k.T_attack_slow;
    d["T_shunt_fast"] = k.T_shunt_fast;
    d["T_shunt_slow"] = k.T_shunt_slow;
    return d;
}

py::dict zoh_dict(const dd::ssl_zoh& z, const dd::ssl_zoh_derivatives& d) {
    py::dict out;
    out["Ad"] = py::make_tuple(py::make_tuple(z.Ad.m11, z.Ad.m12), py::make_tuple(z.Ad.m21, z.Ad.m22));
    out["Bd"] = py::make_tuple(z.Bd.v1, z.Bd.v2);
    py::list dA, dB;
    for (int q = 0; q < 4; ++q) {
        dA.append(py::make_tuple(py::make_tuple(d.dAd[q].m11, d.dAd[q].m12), py::make_tuple(d.dAd[q].m21, d.dAd[q].m22)));
        dB.append(py::make_tuple(d.dBd[q].v1, d.dBd[q].v2));
    }
    out["dAd"] = dA;
    out["dBd"] = dB;
    return out;
}

}  // namespace

void bind_ssl(py::module_& m) {
    bind_dtype<float>(m);
    bind_dtype<double>(m);

    m.def("ssl_preset",
          [](double attack_ohms, double release_ohms, double ratio, double fs) {
              return knob_dict(dd::ssl_preset(attack_ohms, release_ohms, ratio, fs));
          },
          py::arg("attack_ohms"), py::arg("release_ohms"), py::arg("ratio"), py::arg("fs"));
    m.def("ssl_front_panel",
          [](double attack_ms, double release_s, double ratio, double fs) {
              return knob_dict(dd::ssl_front_panel(attack_ms, release_s, ratio, fs));
          },
          py::arg("attack_ms"), py::arg("release_s"), py::arg("ratio"), py::arg("fs"));
    m.def("ssl_attack_ohms", &dd::ssl_attack_ohms, py::arg("attack_ms"));
    m.def("ssl_release_ohms", &dd::ssl_release_ohms, py::arg("release_s"));

    // The ZOH operators of both modes and their derivatives with respect to the rates
    // (R_af, R_as, R_sf, R_ss) = 1/T, for inspection and tests.
    m.def("ssl_operators",
          [](double r_af, double r_as, double r_sf, double r_ss, double Ts) {
              for (double r : {r_af, r_as, r_sf, r_ss, Ts})
                  if (!std::isfinite(r) || !(r > 0)) throw dd::argument_error("rates", "rates and Ts must be finite and > 0");
              const dd::ssl_rates r{r_af, r_as, r_sf, r_ss};
              dd::ssl_zoh_derivatives da, dr;
              const dd::ssl_zoh za = dd::ssl_attack_zoh(r, Ts, &da);
              const dd::ssl_zoh zr = dd::ssl_release_zoh(r, Ts, &dr);
              py::dict d;
              d["attack"] = zoh_dict(za, da);
              d["release"] = zoh_dict(zr, dr);
              return d;
          },
          py::arg("R_af"), py::arg("R_as"), py::arg("R_sf"), py::arg("R_ss"), py::arg("Ts"));

    auto as_tuple = [](const auto& positions) {
        py::list l;
        for (double v : positions) l.append(v);
        return py::tuple(l);
    };
    m.attr("ssl_attack_ohms_positions") = as_tuple(dd::ssl_attack_ohms_positions);
    m.attr("ssl_release_ohms_positions") = as_tuple(dd::ssl_release_ohms_positions);
    m.attr("ssl_ratio_positions") = as_tuple(dd::ssl_ratio_positions);
    m.attr("ssl_attack_ms_positions") = as_tuple(dd::ssl_attack_ms_positions);
    m.attr("ssl_release_s_positions") = as_tuple(dd::ssl_release_s_positions);
}
