// pybind11 bindings of the audio processors: CompressorAudio / LimiterAudio / SSLAudio, each as _f32
// and _f64 (prepare, set_settings, settings, reset, process on (C, n) arrays, state, delay line,
// latency, makeup_db), and the batch functions process_audio_<model>. Settings travel as dicts of the
// C++ settings' fields (enums as their names). No math here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "differential_dynamics/audio.hpp"
#include "helpers.hpp"

namespace py = pybind11;

namespace {

using dd_bind::array;
using dd_bind::channels_of;

/// Reads settings fields from a dict (unknown keys and wrong types are errors naming the key), or
/// writes them to one.
class settings_dict {
public:
    settings_dict(py::dict d, bool reading) : d_(std::move(d)), reading_(reading) {}
    void number(const char* name, double& v) {
        if (!reading_) {
            d_[name] = v;
        } else if (take(name)) {
            try {
                v = d_[name].cast<double>();
            } catch (const py::cast_error&) {
                throw dd::argument_error(name, "expected a number");
            }
        }
    }
    void flag(const char* name, bool& v) {
        if (!reading_) {
            d_[name] = v;
        } else if (take(name)) {
            if (!py::isinstance<py::bool_>(d_[name])) throw dd::argument_error(name, "expected True or False");
            v = d_[name].cast<bool>();
        }
    }
    template <class E> void choice(const char* name, E& v, E (*parse)(const std::string&), const char* (*text)(E)) {
        if (!reading_) {
            d_[name] = text(v);
        } else if (take(name)) {
            if (!py::isinstance<py::str>(d_[name])) throw dd::argument_error(name, "expected a string");
            v = parse(d_[name].cast<std::string>());
        }
    }
    /// Every key of the dict was a field.
    void done() const {
        if (!reading_ || used_.size() == d_.size()) return;
        for (auto item : d_) {
            const std::string key = py::str(item.first);
            bool known = false;
            for (const auto& u : used_) known = known || u == key;
            if (!known) throw dd::argument_error(key, "is not a setting of this processor");
        }
    }
    const py::dict& dict() const { return d_; }

private:
    bool take(const char* name) {
        if (!d_.contains(name)) return false;
        used_.emplace_back(name);
        return true;
    }
    py::dict d_;
    bool reading_;
    std::vector<std::string> used_;
};

const char* gate_name(dd::ar_mode mode) { return mode == dd::ar_mode::sigmoid ? "sigmoid" : "hard"; }

void fields(settings_dict& d, dd::audio_chain_settings& s) {
    d.number("makeup_db", s.makeup_db);
    d.flag("auto_makeup", s.auto_makeup);
    d.number("mix", s.mix);
    d.choice("link", s.link, dd::parse_channel_link, dd::channel_link_name);
    d.number("lookahead_ms", s.lookahead_ms);
    d.number("max_lookahead_ms", s.max_lookahead_ms);
    d.flag("glide", s.glide);
}
void fields(settings_dict& d, dd::compressor_audio_settings& s) {
    fields(d, static_cast<dd::audio_chain_settings&>(s));
    d.choice("detector", s.detector, dd::parse_level_detector, dd::level_detector_name);
    d.number("detector_ms", s.detector_ms);
    d.number("threshold_db", s.threshold_db);
    d.number("ratio", s.ratio);
    d.number("knee_db", s.knee_db);
    d.number("exp_threshold_db", s.exp_threshold_db);
    d.number("exp_ratio", s.exp_ratio);
    d.number("attack_ms", s.attack_ms);
    d.number("release_ms", s.release_ms);
    d.choice("gate", s.gate, dd::parse_ar_mode, gate_name);
    d.number("k", s.k);
}
void fields(settings_dict& d, dd::limiter_audio_settings& s) {
    fields(d, static_cast<dd::audio_chain_settings&>(s));
    d.number("threshold_db", s.threshold_db);
    d.number("attack_ms", s.attack_ms);
    d.number("release_ms", s.release_ms);
}
void fields(settings_dict& d, dd::ssl_audio_settings& s) {
    fields(d, static_cast<dd::audio_chain_settings&>(s));
    d.number("threshold_db", s.threshold_db);
    d.number("ratio", s.ratio);
    d.number("attack_ms", s.attack_ms);
    d.number("release_ms", s.release_ms);
    d.flag("auto_release", s.auto_release);
    d.number("feedback", s.feedback);
    d.number("knee_db", s.knee_db);
}

/// `base` with the dict's fields set.
template <class S> S read(const py::dict& d, S base) {
    settings_dict r(d, true);
    fields(r, base);
    r.done();
    return base;
}
template <class S> py::dict write(S s) {
    settings_dict w(py::dict(), false);
    fields(w, s);
    return w.dict();
}

/// The side chain's channel pointers: 1 channel (repeated for every channel) or `channels`.
template <class T> std::vector<const T*> sidechain_rows(const array<T>& a, std::size_t channels, std::size_t n) {
    if (a.ndim() != 2 || (std::size_t(a.shape(0)) != 1 && std::size_t(a.shape(0)) != channels) ||
        std::size_t(a.shape(1)) != n)
        throw dd::argument_error("sidechain", "must be a (channels, n) or (1, n) block of the input's length");
    std::vector<const T*> rows(channels);
    for (std::size_t c = 0; c < channels; ++c) rows[c] = a.data() + (a.shape(0) == 1 ? 0 : c) * n;
    return rows;
}

template <class P, class T> void bind_processor(py::module_& m, const std::string& name) {
    using S = typename P::settings_type;
    py::class_<P> cls(m, name.c_str());
    dd_bind::def_state(cls);
    cls.def(py::init<>())
        .def("prepare",
             [](P& p, double fs, std::size_t channels, std::size_t max_block, const py::dict& settings) {
                 p.prepare(dd::process_spec{fs, channels, max_block}, read(settings, S{}));
             },
             py::arg("fs"), py::arg("channels"), py::arg("max_block"), py::arg("settings"))
        .def("set_settings", [](P& p, const py::dict& settings) { p.set_settings(read(settings, p.settings())); },
             py::arg("settings"))
        .def("settings", [](const P& p) { return write(p.settings()); })
        .def("reset", &P::reset)
        .def("process",
             [](P& p, const array<T>& in, array<T>& out, std::optional<array<T>> sidechain,
                std::optional<array<T>> gain) {
                 const std::size_t channels = p.channels();
                 auto i = channels_of<const T>(in, channels, "block");
                 auto o = channels_of<T>(out, channels, "out");
                 const auto n = static_cast<std::size_t>(in.shape(1));
                 if (std::size_t(out.shape(1)) != n) throw dd::argument_error("out", "must have the block's shape");
                 std::vector<const T*> key;
                 if (sidechain) key = sidechain_rows(*sidechain, channels, n);
                 std::vector<T*> g;
                 if (gain) {
                     g = channels_of<T>(*gain, channels, "gain");
                     if (std::size_t(gain->shape(1)) != n) throw dd::argument_error("gain", "must have the block's shape");
                 }
                 py::gil_scoped_release release;
                 p.process(i.data(), o.data(), n, sidechain ? key.data() : nullptr, gain ? g.data() : nullptr);
             },
             py::arg("block"), py::arg("out"), py::arg("sidechain") = py::none(), py::arg("gain") = py::none())
        .def("get_delay_line",
             [](const P& p) {
                 py::array_t<T> d({p.channels(), p.delay_line_size()});
                 p.get_delay_line(d.mutable_data());
                 return d;
             })
        .def("set_delay_line",
             [](P& p, const array<T>& d) {
                 if (static_cast<std::size_t>(d.size()) != p.channels() * p.delay_line_size())
                     throw dd::argument_error("delay_line", "must hold channels × " + std::to_string(p.delay_line_size()) +
                                                                " samples");
                 p.set_delay_line(d.data());
             },
             py::arg("delay_line"))
        .def_property_readonly("latency", &P::latency)
        .def_property_readonly("makeup_db", &P::makeup_db)
        .def_property_readonly("delay_line_size", &P::delay_line_size)
        .def_property_readonly("channels", &P::channels)
        .def_property_readonly_static("state_size", [](py::object) { return P::state_size; });
}

/// process_audio on a (C, T) array; sidechain (1 or C channels) and gain optional.
template <class S, class T> void bind_batch(py::module_& m, const char* name) {
    m.def(name,
          [](const array<T>& x, const py::dict& settings, double fs, array<T>& y, std::optional<array<T>> sidechain,
             std::optional<array<T>> gain) {
              const auto s = read(settings, S{});
              auto xv = dd_bind::view(x, "x");
              auto ys = dd_bind::span(y, "y");
              dd::signal_view<T> key{};
              if (sidechain) key = dd_bind::view(*sidechain, "sidechain");
              dd::signal_span<T> g{};
              if (gain) g = dd_bind::span(*gain, "gain");
              py::gil_scoped_release release;
              dd::process_audio(xv, s, fs, ys, key, g);
          },
          py::arg("x").noconvert(), py::arg("settings"), py::arg("fs"), py::arg("y").noconvert(),
          py::arg("sidechain").noconvert() = py::none(), py::arg("gain").noconvert() = py::none());
}

template <class T> void bind_dtype(py::module_& m, const std::string& suffix) {
    bind_processor<dd::compressor_audio_processor<T>, T>(m, "CompressorAudio" + suffix);
    bind_processor<dd::limiter_audio_processor<T>, T>(m, "LimiterAudio" + suffix);
    bind_processor<dd::ssl_audio_processor<T>, T>(m, "SSLAudio" + suffix);
    bind_batch<dd::compressor_audio_settings, T>(m, "process_audio_compressor");
    bind_batch<dd::limiter_audio_settings, T>(m, "process_audio_limiter");
    bind_batch<dd::ssl_audio_settings, T>(m, "process_audio_ssl");
}

}  // namespace

void bind_audio(py::module_& m) {
    bind_dtype<float>(m, "_f32");
    bind_dtype<double>(m, "_f64");
    m.def("audio_settings_defaults",
          [](const std::string& model) {
              if (model == "classical") return write(dd::compressor_audio_settings{});
              if (model == "limiter") return write(dd::limiter_audio_settings{});
              if (model == "ssl") return write(dd::ssl_audio_settings{});
              throw dd::argument_error("model", "must be \"classical\", \"limiter\" or \"ssl\" (got \"" + model + "\")");
          },
          py::arg("model"));
    m.def("ms_to_samples", &dd::ms_to_samples, py::arg("ms"), py::arg("fs"));
}
