// pybind11 bindings of the streaming processors: each as <Name>_f32 / <Name>_f64 with prepare(fs,
// channels, max_block, settings), set_settings(settings[, channel]), reset(), process(...) on (C, n)
// float arrays, get_state() and set_state(). Settings travel as dicts of the C++ settings' fields.
// No math here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"
#include "helpers.hpp"

namespace py = pybind11;

namespace {

using dd_bind::array;
using dd_bind::channels_of;

/// Reads a settings struct's fields from a dict; unknown keys are an error naming them.
class dict_reader {
public:
    explicit dict_reader(const py::dict& d) : d_(d) {}
    void field(const char* name, double& v) {
        if (d_.contains(name)) {
            v = d_[name].cast<double>();
            ++used_;
        }
    }
    void mode(const char* name, dd::ar_mode& v) {
        if (d_.contains(name)) {
            v = dd::parse_ar_mode(d_[name].cast<std::string>());
            ++used_;
        }
    }
    void done() const {
        if (used_ == d_.size()) return;
        for (auto item : d_) {
            const std::string key = item.first.cast<std::string>();
            if (!known(key)) throw dd::argument_error(key, "is not a setting of this processor");
        }
    }
    void note(const char* name) { names_.push_back(name); }

private:
    bool known(const std::string& key) const {
        for (const auto& n : names_)
            if (n == key) return true;
        return false;
    }
    const py::dict& d_;
    std::size_t used_ = 0;
    std::vector<std::string> names_;
};

#define DD_FIELD(r, s, f) \
    r.note(#f);           \
    r.field(#f, s.f)

dd::hard_smoother_settings read(const py::dict& d, dd::hard_smoother_settings s) {
    dict_reader r(d);
    DD_FIELD(r, s, at);
    DD_FIELD(r, s, rt);
    DD_FIELD(r, s, zi);
    r.done();
    return s;
}
dd::sigmoid_smoother_settings read(const py::dict& d, dd::sigmoid_smoother_settings s) {
    dict_reader r(d);
    DD_FIELD(r, s, alpha_a);
    DD_FIELD(r, s, alpha_r);
    DD_FIELD(r, s, k);
    DD_FIELD(r, s, zi);
    r.done();
    return s;
}
dd::avg_settings read(const py::dict& d, dd::avg_settings s) {
    dict_reader r(d);
    DD_FIELD(r, s, coef);
    DD_FIELD(r, s, zi);
    r.done();
    return s;
}
dd::compexp_settings read(const py::dict& d, dd::compexp_settings s) {
    dict_reader r(d);
    DD_FIELD(r, s, comp_thresh);
    DD_FIELD(r, s, comp_ratio);
    DD_FIELD(r, s, exp_thresh);
    DD_FIELD(r, s, exp_ratio);
    DD_FIELD(r, s, knee);
    DD_FIELD(r, s, at);
    DD_FIELD(r, s, rt);
    DD_FIELD(r, s, k);
    DD_FIELD(r, s, zi);
    r.note("mode");
    r.mode("mode", s.mode);
    r.done();
    return s;
}
dd::limiter_settings read(const py::dict& d, dd::limiter_settings s) {
    dict_reader r(d);
    DD_FIELD(r, s, threshold);
    DD_FIELD(r, s, at);
    DD_FIELD(r, s, rt);
    DD_FIELD(r, s, zi_peak);
    DD_FIELD(r, s, zi_gain);
    r.done();
    return s;
}
dd::ssl_settings read(const py::dict& d, dd::ssl_settings s) {
    dict_reader r(d);
    DD_FIELD(r, s, comp_thresh);
    DD_FIELD(r, s, comp_ratio);
    DD_FIELD(r, s, T_attack_fast);
    DD_FIELD(r, s, T_attack_slow);
    DD_FIELD(r, s, T_shunt_fast);
    DD_FIELD(r, s, T_shunt_slow);
    DD_FIELD(r, s, feedback_coeff);
    DD_FIELD(r, s, knee);
    DD_FIELD(r, s, gate_k);
    r.done();
    return s;
}
#undef DD_FIELD

/// The lifecycle methods every processor shares.
template <class P, class C> void bind_common(C& cls) {
    using S = typename P::settings_type;
    cls.def(py::init<>())
        .def("prepare",
             [](P& p, double fs, std::size_t channels, std::size_t max_block, const py::dict& settings) {
                 p.prepare(dd::process_spec{fs, channels, max_block}, read(settings, S{}));
             },
             py::arg("fs"), py::arg("channels"), py::arg("max_block"), py::arg("settings"))
        .def("set_settings", [](P& p, const py::dict& settings) { p.set_settings(read(settings, p.settings(0))); },
             py::arg("settings"))
        .def("set_channel_settings",
             [](P& p, std::size_t channel, const py::dict& settings) {
                 p.set_settings(channel, read(settings, p.settings(channel)));
             },
             py::arg("channel"), py::arg("settings"))
        .def("reset", &P::reset)
        .def_property_readonly("channels", &P::channels)
        .def_property_readonly_static("state_size", [](py::object) { return P::state_size; });
    dd_bind::def_state(cls);
}

/// Processors with process(in, out, n).
template <class P, class T> void bind_one_to_one(py::module_& m, const std::string& name, const char* in_name) {
    py::class_<P> cls(m, name.c_str());
    bind_common<P>(cls);
    cls.def("process",
            [in_name](P& p, const array<T>& in, array<T>& out) {
                auto i = channels_of<const T>(in, p.channels(), in_name);
                auto o = channels_of<T>(out, p.channels(), "out");
                if (in.shape(1) != out.shape(1)) throw dd::argument_error("out", "must have the input's shape");
                const auto n = static_cast<std::size_t>(in.shape(1));
                py::gil_scoped_release release;
                p.process(i.data(), o.data(), n);
            },
            py::arg("block"), py::arg("out"));
}

template <class T> void bind_dtype(py::module_& m, const std::string& suffix) {
    bind_one_to_one<dd::hard_smoother_processor<T>, T>(m, "HardSmootherProcessor" + suffix, "x");
    bind_one_to_one<dd::sigmoid_smoother_processor<T>, T>(m, "SigmoidSmootherProcessor" + suffix, "g");
    bind_one_to_one<dd::avg_processor<T>, T>(m, "AvgProcessor" + suffix, "x");
    bind_one_to_one<dd::compexp_processor<T>, T>(m, "CompexpProcessor" + suffix, "x_rms");
    bind_one_to_one<dd::ssl_gain_processor<T>, T>(m, "SSLGainProcessor" + suffix, "x_peak_dB");

    using L = dd::limiter_processor<T>;
    py::class_<L> lim(m, ("LimiterProcessor" + suffix).c_str());
    bind_common<L>(lim);
    lim.def("process",
            [](L& p, const array<T>& in, array<T>& gain) {
                auto i = channels_of<const T>(in, p.channels(), "x");
                auto g = channels_of<T>(gain, p.channels(), "gain");
                const auto n = static_cast<std::size_t>(in.shape(1));
                py::gil_scoped_release release;
                p.process(i.data(), g.data(), n);
            },
            py::arg("block"), py::arg("gain"));

    using S = dd::ssl_processor<T>;
    py::class_<S> ssl(m, ("SSLProcessor" + suffix).c_str());
    bind_common<S>(ssl);
    ssl.def("process",
            [](S& p, const array<T>& in, array<T>& out, array<T>& gain_db, std::optional<array<T>> sidechain) {
                auto i = channels_of<const T>(in, p.channels(), "x");
                auto o = channels_of<T>(out, p.channels(), "out");
                auto g = channels_of<T>(gain_db, p.channels(), "gain_db");
                std::vector<const T*> sc;
                if (sidechain) sc = channels_of<const T>(*sidechain, p.channels(), "sidechain");
                const auto n = static_cast<std::size_t>(in.shape(1));
                py::gil_scoped_release release;
                p.process(i.data(), o.data(), n, g.data(), sidechain ? sc.data() : nullptr);
            },
            py::arg("block"), py::arg("out"), py::arg("gain_db"), py::arg("sidechain"));
}

}  // namespace

void bind_streaming(py::module_& m) {
    bind_dtype<float>(m, "_f32");
    bind_dtype<double>(m, "_f64");
}
