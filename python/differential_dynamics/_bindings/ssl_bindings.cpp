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
    array<T> ct, cr, taf, tas, tsf, tss, fb, knee, gate_k;
    dd::ssl_params<T> make(double fs) const {
        return {param(ct, "comp_thresh"),   param(cr, "comp_ratio"),    param(taf, "T_attack_fast"),
                param(tas, "T_attack_slow"), param(tsf, "T_shunt_fast"), param(tss, "T_shunt_slow"),
                param(fb, "feedback_coeff"), fs,                          param(knee, "knee"),
                param(gate_k, "gate_k")};
    }
};

/// Per-row tangents or cotangents of the nine parameters (each B values, or None for zero).
template <class T> struct tangent_arrays {
    maybe_array<T> v[9];
    dd::ssl_param_tangents<T> make(std::size_t rows) const {
        static const char* names[9] = {"comp_thresh",  "comp_ratio",     "T_attack_fast", "T_attack_slow", "T_shunt_fast",
                                       "T_shunt_slow", "feedback_coeff", "knee",          "gate_k"};
        const T* p[9];
        for (int i = 0; i < 9; ++i) {
            if (v[i] && std::size_t(v[i]->size()) != rows)
                throw dd::argument_error(names[i], "tangent must hold one value per row");
            p[i] = v[i] ? v[i]->data() : nullptr;
        }
        return {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]};
    }
};

#define DD_SSL_PARAM_ARGS                                                                                        \
    py::arg("comp_thresh").noconvert(), py::arg("comp_ratio").noconvert(), py::arg("T_attack_fast").noconvert(), \
        py::arg("T_attack_slow").noconvert(), py::arg("T_shunt_fast").noconvert(),                              \
        py::arg("T_shunt_slow").noconvert(), py::arg("feedback_coeff").noconvert(), py::arg("knee").noconvert(),  \
        py::arg("gate_k").noconvert(), py::arg("fs")
#define DD_SSL_TANGENT_ARGS(prefix)                                                                              \
    py::arg(prefix "comp_thresh").noconvert(), py::arg(prefix "comp_ratio").noconvert(),                         \
        py::arg(prefix "T_attack_fast").noconvert(), py::arg(prefix "T_attack_slow").noconvert(),                \
        py::arg(prefix "T_shunt_fast").noconvert(), py::arg(prefix "T_shunt_slow").noconvert(),                  \
        py::arg(prefix "feedback_coeff").noconvert(), py::arg(prefix "knee").noconvert(),                        \
        py::arg(prefix "gate_k").noconvert()

template <class T> void bind_dtype(py::module_& m) {
    using P = param_arrays<T>;
    using tape_array = maybe_array<double>;

    m.def("ssl_comp_gain",
          [](array<T> x, array<T> ct, array<T> cr, array<T> taf, array<T> tas, array<T> tsf, array<T> tss, array<T> fb,
             array<T> knee, array<T> gate_k, double fs, array<T> gain, tape_array states, state_arg zi, state_arg final_state) {
              auto xv = view(x, "x_peak_dB");
              auto gs = span(gain, "gain_db");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee, gate_k}.make(fs);
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
             array<T> knee, array<T> gate_k, double fs, tape_array states, array<T> grad_gain, state_arg zi, state_arg grad_final,
             maybe_array<T> gx, maybe_array<T> gct, maybe_array<T> gcr, maybe_array<T> gtaf, maybe_array<T> gtas,
             maybe_array<T> gtsf, maybe_array<T> gtss, maybe_array<T> gfb, maybe_array<T> gknee, maybe_array<T> ggk,
             state_arg gzi) {
              auto xv = view(x, "x_peak_dB");
              auto gv = view(grad_gain, "grad_gain");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee, gate_k}.make(fs);
              const double* st = tape(states, xv);
              T* gxp = out_signal(gx, xv, "grad_x_peak_dB");
              dd::ssl_param_grads<T> g{out(gct), out(gcr), out(gtaf), out(gtas), out(gtsf), out(gtss), out(gfb),
                                       out(gknee), out(ggk)};
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
          py::arg("grad_feedback_coeff").noconvert(), py::arg("grad_knee").noconvert(), py::arg("grad_gate_k").noconvert(),
          py::arg("grad_zi").noconvert());

    m.def("ssl_compress",
          [](array<T> x, array<T> ct, array<T> cr, array<T> taf, array<T> tas, array<T> tsf, array<T> tss, array<T> fb,
             array<T> knee, array<T> gate_k, double fs, array<T> gain, array<T> y, tape_array states, state_arg zi, state_arg final_state) {
              auto xv = view(x, "x");
              auto gs = span(gain, "gain_db");
              auto ys = span(y, "y");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee, gate_k}.make(fs);
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
             array<T> knee, array<T> gate_k, double fs, tape_array states, maybe_array<T> grad_gain, maybe_array<T> grad_y, state_arg zi,
             state_arg grad_final, maybe_array<T> gx, maybe_array<T> gct, maybe_array<T> gcr, maybe_array<T> gtaf,
             maybe_array<T> gtas, maybe_array<T> gtsf, maybe_array<T> gtss, maybe_array<T> gfb, maybe_array<T> gknee,
             maybe_array<T> ggk, state_arg gzi) {
              auto xv = view(x, "x");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee, gate_k}.make(fs);
              const double* st = tape(states, xv);
              const T* gg = in(grad_gain, xv, "grad_gain");
              const T* gy = in(grad_y, xv, "grad_y");
              T* gxp = out_signal(gx, xv, "grad_x");
              dd::ssl_param_grads<T> g{out(gct), out(gcr), out(gtaf), out(gtas), out(gtsf), out(gtss), out(gfb),
                                       out(gknee), out(ggk)};
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
          py::arg("grad_feedback_coeff").noconvert(), py::arg("grad_knee").noconvert(), py::arg("grad_gate_k").noconvert(),
          py::arg("grad_zi").noconvert());

    m.def("ssl_comp_gain_jvp",
          [](array<T> x, array<T> ct, array<T> cr, array<T> taf, array<T> tas, array<T> tsf, array<T> tss, array<T> fb,
             array<T> knee, array<T> gate_k, double fs, tape_array states, state_arg zi, maybe_array<T> tx,
             maybe_array<T> t0, maybe_array<T> t1, maybe_array<T> t2, maybe_array<T> t3, maybe_array<T> t4,
             maybe_array<T> t5, maybe_array<T> t6, maybe_array<T> t7, maybe_array<T> t8, state_arg tzi,
             array<T> tgain, state_arg t_final) {
              auto xv = view(x, "x_peak_dB");
              auto ts = span(tgain, "tangent_gain");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee, gate_k}.make(fs);
              const double* st = tape(states, xv);
              const auto tg = tangent_arrays<T>{{t0, t1, t2, t3, t4, t5, t6, t7, t8}}.make(xv.rows);
              const T* txp = in(tx, xv, "tangent_x_peak_dB");
              const double* z = state(zi, xv.rows, 2, "zi");
              const double* tz = state(tzi, xv.rows, 2, "tangent_zi");
              double* tf = state_out(t_final, xv.rows, 2, "tangent_final_state");
              py::gil_scoped_release release;
              dd::ssl_comp_gain_jvp(xv, p, st, txp, tg, ts, z, tz, tf);
          },
          py::arg("x_peak_dB").noconvert(), DD_SSL_PARAM_ARGS, py::arg("states").noconvert(), py::arg("zi").noconvert(),
          py::arg("tangent_x_peak_dB").noconvert(), DD_SSL_TANGENT_ARGS("tangent_"), py::arg("tangent_zi").noconvert(),
          py::arg("tangent_gain").noconvert(), py::arg("tangent_final_state").noconvert());

    m.def("ssl_compress_jvp",
          [](array<T> x, array<T> ct, array<T> cr, array<T> taf, array<T> tas, array<T> tsf, array<T> tss, array<T> fb,
             array<T> knee, array<T> gate_k, double fs, tape_array states, state_arg zi, maybe_array<T> tx,
             maybe_array<T> t0, maybe_array<T> t1, maybe_array<T> t2, maybe_array<T> t3, maybe_array<T> t4,
             maybe_array<T> t5, maybe_array<T> t6, maybe_array<T> t7, maybe_array<T> t8, state_arg tzi,
             maybe_array<T> tgain, maybe_array<T> ty, state_arg t_final) {
              auto xv = view(x, "x");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee, gate_k}.make(fs);
              const double* st = tape(states, xv);
              const auto tg = tangent_arrays<T>{{t0, t1, t2, t3, t4, t5, t6, t7, t8}}.make(xv.rows);
              const T* txp = in(tx, xv, "tangent_x");
              T* tgp = out_signal(tgain, xv, "tangent_gain");
              T* typ = out_signal(ty, xv, "tangent_y");
              const double* z = state(zi, xv.rows, 2, "zi");
              const double* tz = state(tzi, xv.rows, 2, "tangent_zi");
              double* tf = state_out(t_final, xv.rows, 2, "tangent_final_state");
              py::gil_scoped_release release;
              dd::ssl_compress_jvp(xv, p, st, txp, tg, tgp, typ, z, tz, tf);
          },
          py::arg("x").noconvert(), DD_SSL_PARAM_ARGS, py::arg("states").noconvert(), py::arg("zi").noconvert(),
          py::arg("tangent_x").noconvert(), DD_SSL_TANGENT_ARGS("tangent_"), py::arg("tangent_zi").noconvert(),
          py::arg("tangent_gain").noconvert(), py::arg("tangent_y").noconvert(),
          py::arg("tangent_final_state").noconvert());

    m.def("ssl_comp_gain_backward_backward",
          [](array<T> x, array<T> ct, array<T> cr, array<T> taf, array<T> tas, array<T> tsf, array<T> tss, array<T> fb,
             array<T> knee, array<T> gate_k, double fs, tape_array states, state_arg zi, array<T> grad_gain,
             state_arg grad_final, maybe_array<T> vx, maybe_array<T> v0, maybe_array<T> v1, maybe_array<T> v2,
             maybe_array<T> v3, maybe_array<T> v4, maybe_array<T> v5, maybe_array<T> v6, maybe_array<T> v7,
             maybe_array<T> v8, state_arg vzi, maybe_array<T> d_gg, state_arg d_gfinal, maybe_array<T> dx,
             maybe_array<T> d0, maybe_array<T> d1, maybe_array<T> d2, maybe_array<T> d3, maybe_array<T> d4,
             maybe_array<T> d5, maybe_array<T> d6, maybe_array<T> d7, maybe_array<T> d8, state_arg dzi) {
              auto xv = view(x, "x_peak_dB");
              auto gv = view(grad_gain, "grad_gain");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee, gate_k}.make(fs);
              const double* st = tape(states, xv);
              const auto vp = tangent_arrays<T>{{v0, v1, v2, v3, v4, v5, v6, v7, v8}}.make(xv.rows);
              const T* vxp = in(vx, xv, "v_x_peak_dB");
              T* dggp = out_signal(d_gg, xv, "d_grad_gain");
              T* dxp = out_signal(dx, xv, "d_x_peak_dB");
              const dd::ssl_param_grads<T> dp{out(d0), out(d1), out(d2), out(d3), out(d4), out(d5), out(d6), out(d7), out(d8)};
              const double* z = state(zi, xv.rows, 2, "zi");
              const double* gf = state(grad_final, xv.rows, 2, "grad_final_state");
              const double* vz = state(vzi, xv.rows, 2, "v_zi");
              double* dgf = state_out(d_gfinal, xv.rows, 2, "d_grad_final_state");
              double* dz = state_out(dzi, xv.rows, 2, "d_zi");
              py::gil_scoped_release release;
              dd::ssl_comp_gain_backward_backward(xv, p, st, gv, vxp, vp, dggp, dxp, dp, z, gf, vz, dgf, dz);
          },
          py::arg("x_peak_dB").noconvert(), DD_SSL_PARAM_ARGS, py::arg("states").noconvert(), py::arg("zi").noconvert(),
          py::arg("grad_gain").noconvert(), py::arg("grad_final_state").noconvert(), py::arg("v_x_peak_dB").noconvert(),
          DD_SSL_TANGENT_ARGS("v_"), py::arg("v_zi").noconvert(), py::arg("d_grad_gain").noconvert(),
          py::arg("d_grad_final_state").noconvert(), py::arg("d_x_peak_dB").noconvert(), DD_SSL_TANGENT_ARGS("d_"),
          py::arg("d_zi").noconvert());

    m.def("ssl_compress_backward_backward",
          [](array<T> x, array<T> ct, array<T> cr, array<T> taf, array<T> tas, array<T> tsf, array<T> tss, array<T> fb,
             array<T> knee, array<T> gate_k, double fs, tape_array states, state_arg zi, maybe_array<T> grad_gain,
             maybe_array<T> grad_y, state_arg grad_final, maybe_array<T> vx, maybe_array<T> v0, maybe_array<T> v1,
             maybe_array<T> v2, maybe_array<T> v3, maybe_array<T> v4, maybe_array<T> v5, maybe_array<T> v6,
             maybe_array<T> v7, maybe_array<T> v8, state_arg vzi, maybe_array<T> d_gg, maybe_array<T> d_gy,
             state_arg d_gfinal, maybe_array<T> dx, maybe_array<T> d0, maybe_array<T> d1, maybe_array<T> d2,
             maybe_array<T> d3, maybe_array<T> d4, maybe_array<T> d5, maybe_array<T> d6, maybe_array<T> d7,
             maybe_array<T> d8, state_arg dzi) {
              auto xv = view(x, "x");
              const auto p = P{ct, cr, taf, tas, tsf, tss, fb, knee, gate_k}.make(fs);
              const double* st = tape(states, xv);
              const auto vp = tangent_arrays<T>{{v0, v1, v2, v3, v4, v5, v6, v7, v8}}.make(xv.rows);
              const T* gg = in(grad_gain, xv, "grad_gain");
              const T* gy = in(grad_y, xv, "grad_y");
              const T* vxp = in(vx, xv, "v_x");
              T* dggp = out_signal(d_gg, xv, "d_grad_gain");
              T* dgyp = out_signal(d_gy, xv, "d_grad_y");
              T* dxp = out_signal(dx, xv, "d_x");
              const dd::ssl_param_grads<T> dp{out(d0), out(d1), out(d2), out(d3), out(d4), out(d5), out(d6), out(d7), out(d8)};
              const double* z = state(zi, xv.rows, 2, "zi");
              const double* gf = state(grad_final, xv.rows, 2, "grad_final_state");
              const double* vz = state(vzi, xv.rows, 2, "v_zi");
              double* dgf = state_out(d_gfinal, xv.rows, 2, "d_grad_final_state");
              double* dz = state_out(dzi, xv.rows, 2, "d_zi");
              py::gil_scoped_release release;
              dd::ssl_compress_backward_backward(xv, p, st, gg, gy, vxp, vp, dggp, dgyp, dxp, dp, z, gf, vz, dgf, dz);
          },
          py::arg("x").noconvert(), DD_SSL_PARAM_ARGS, py::arg("states").noconvert(), py::arg("zi").noconvert(),
          py::arg("grad_gain").noconvert(), py::arg("grad_y").noconvert(), py::arg("grad_final_state").noconvert(),
          py::arg("v_x").noconvert(), DD_SSL_TANGENT_ARGS("v_"), py::arg("v_zi").noconvert(),
          py::arg("d_grad_gain").noconvert(), py::arg("d_grad_y").noconvert(), py::arg("d_grad_final_state").noconvert(),
          py::arg("d_x").noconvert(), DD_SSL_TANGENT_ARGS("d_"), py::arg("d_zi").noconvert());
}

#undef DD_SSL_PARAM_ARGS
#undef DD_SSL_TANGENT_ARGS

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

    // Second derivatives of the attack operators: d2Ad[q][r], d2Bd[q][r] (rates in the order above).
    m.def("ssl_operator_second_derivatives",
          [](double r_af, double r_as, double r_sf, double r_ss, double Ts) {
              for (double r : {r_af, r_as, r_sf, r_ss, Ts})
                  if (!std::isfinite(r) || !(r > 0)) throw dd::argument_error("rates", "rates and Ts must be finite and > 0");
              dd::ssl_zoh_second_derivatives d;
              dd::ssl_attack_zoh_second({r_af, r_as, r_sf, r_ss}, Ts, d);
              py::list A, Bv;
              for (int q = 0; q < 4; ++q) {
                  py::list rowA, rowB;
                  for (int r = 0; r < 4; ++r) {
                      const dd::ssl_mat2& M = d.d2Ad[q][r];
                      rowA.append(py::make_tuple(py::make_tuple(M.m11, M.m12), py::make_tuple(M.m21, M.m22)));
                      rowB.append(py::make_tuple(d.d2Bd[q][r].v1, d.d2Bd[q][r].v2));
                  }
                  A.append(rowA);
                  Bv.append(rowB);
              }
              py::dict out;
              out["d2Ad"] = A;
              out["d2Bd"] = Bv;
              return out;
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
