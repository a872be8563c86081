// pybind11 bindings of the model family's kernels (peak detectors, feedback compressor). No math
// here: numpy buffers become the library's views, the GIL is released, the batch API runs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "differential_dynamics/family.hpp"
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

dd::family_topology topology(const std::string& detector, const std::string& placement, const std::string& domain,
                             const std::string& design) {
    dd::family_topology t;
    if (detector == "peak") t.detector = dd::family_detector::peak;
    else if (detector == "rms") t.detector = dd::family_detector::rms;
    else throw dd::argument_error("detector", "must be \"peak\" or \"rms\" (got \"" + detector + "\")");
    if (placement == "level") t.placement = dd::ballistics_placement::level;
    else if (placement == "gain") t.placement = dd::ballistics_placement::gain;
    else throw dd::argument_error("ballistics", "must be \"level\" or \"gain\" (got \"" + placement + "\")");
    if (domain == "linear") t.domain = dd::ballistics_domain::linear;
    else if (domain == "log") t.domain = dd::ballistics_domain::log;
    else throw dd::argument_error("domain", "must be \"linear\" or \"log\" (got \"" + domain + "\")");
    t.design = dd::parse_detector_design(design);
    return t;
}

#define A(name) py::arg(name).noconvert()

template <class T> void bind_dtype(py::module_& m) {
    m.def("peak_detector",
          [](array<T> c, const std::string& design, array<T> attack, array<T> release, double rest, array<T> y,
             states zi, states final_state) {
              auto cv = view(c, "c");
              auto ys = span(y, "y");
              const auto d = dd::parse_detector_design(design);
              auto a = param(attack, "attack"), r = param(release, "release");
              const double* z = state(zi, cv.rows, 2, "zi");
              double* fs = state_out(final_state, cv.rows, 2, "final_state");
              py::gil_scoped_release release_gil;
              dd::peak_detector(cv, d, a, r, rest, ys, z, fs);
          },
          A("c"), A("design"), A("attack"), A("release"), py::arg("rest"), A("y"), A("zi"), A("final_state"));

    m.def("peak_detector_backward",
          [](array<T> c, const std::string& design, array<T> attack, array<T> release, double rest, array<T> grad_y,
             states zi, states grad_final, maybe_array<T> gc, maybe_array<T> ga, maybe_array<T> gr, states gzi) {
              auto cv = view(c, "c");
              auto gyv = view(grad_y, "grad_y");
              const auto d = dd::parse_detector_design(design);
              auto a = param(attack, "attack"), r = param(release, "release");
              dd::peak_detector_grads<T> g{out(ga), out(gr), state_out(gzi, cv.rows, 2, "grad_zi")};
              const double* z = state(zi, cv.rows, 2, "zi");
              const double* gf = state(grad_final, cv.rows, 2, "grad_final_state");
              T* gcp = out(gc);
              py::gil_scoped_release release_gil;
              dd::peak_detector_backward(cv, d, a, r, rest, gyv, gcp, g, z, gf);
          },
          A("c"), A("design"), A("attack"), A("release"), py::arg("rest"), A("grad_y"), A("zi"),
          A("grad_final_state"), A("grad_c"), A("grad_attack"), A("grad_release"), A("grad_zi"));

    m.def("feedback_compressor_gain",
          [](array<T> x, const std::string& detector, const std::string& placement, const std::string& domain,
             const std::string& design, array<T> ct, array<T> cr, array<T> knee, array<T> attack, array<T> release,
             array<T> gain, states zi, states final_state) {
              auto xv = view(x, "x");
              auto gs = span(gain, "gain");
              const auto topo = topology(detector, placement, domain, design);
              const dd::feedback_params<T> p{param(ct, "comp_thresh"), param(cr, "comp_ratio"), param(knee, "knee"),
                                             param(attack, "attack"), param(release, "release")};
              const double* z = state(zi, xv.rows, 3, "zi");
              double* fs = state_out(final_state, xv.rows, 3, "final_state");
              py::gil_scoped_release release_gil;
              dd::feedback_compressor_gain(xv, topo, p, gs, z, fs);
          },
          A("x"), py::arg("detector"), py::arg("ballistics"), py::arg("domain"), py::arg("design"), A("comp_thresh"),
          A("comp_ratio"), A("knee"), A("attack"), A("release"), A("gain"), A("zi"), A("final_state"));

    m.def("feedback_compressor_gain_backward",
          [](array<T> x, const std::string& detector, const std::string& placement, const std::string& domain,
             const std::string& design, array<T> ct, array<T> cr, array<T> knee, array<T> attack, array<T> release,
             array<T> grad_gain, states zi, states grad_final, maybe_array<T> gx, maybe_array<T> gct,
             maybe_array<T> gcr, maybe_array<T> gknee, maybe_array<T> ga, maybe_array<T> gr, states gzi) {
              auto xv = view(x, "x");
              auto ggv = view(grad_gain, "grad_gain");
              const auto topo = topology(detector, placement, domain, design);
              const dd::feedback_params<T> p{param(ct, "comp_thresh"), param(cr, "comp_ratio"), param(knee, "knee"),
                                             param(attack, "attack"), param(release, "release")};
              dd::feedback_grads<T> g{out(gct), out(gcr), out(gknee), out(ga), out(gr),
                                      state_out(gzi, xv.rows, 3, "grad_zi")};
              const double* z = state(zi, xv.rows, 3, "zi");
              const double* gf = state(grad_final, xv.rows, 3, "grad_final_state");
              T* gxp = out(gx);
              py::gil_scoped_release release_gil;
              dd::feedback_compressor_gain_backward(xv, topo, p, ggv, gxp, g, z, gf);
          },
          A("x"), py::arg("detector"), py::arg("ballistics"), py::arg("domain"), py::arg("design"), A("comp_thresh"),
          A("comp_ratio"), A("knee"), A("attack"), A("release"), A("grad_gain"), A("zi"), A("grad_final_state"),
          A("grad_x"), A("grad_comp_thresh"), A("grad_comp_ratio"), A("grad_knee"), A("grad_attack"),
          A("grad_release"), A("grad_zi"));
}

#undef A

}  // namespace

void bind_family(py::module_& m) {
    bind_dtype<float>(m);
    bind_dtype<double>(m);
    m.def("family_rest", [](const std::string& detector, const std::string& placement, const std::string& domain) {
        return dd::family_rest(topology(detector, placement, domain, "smooth_branching"));
    }, py::arg("detector"), py::arg("ballistics"), py::arg("domain"));
}
