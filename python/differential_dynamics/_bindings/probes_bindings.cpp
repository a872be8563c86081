// pybind11 bindings of the seeded test signals, identification probes and metrics
// (differential_dynamics/probes.hpp, metrics.hpp): float64 numpy arrays in and out, kinds by name.
// No math here; the Python front is probes.py and metrics.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "differential_dynamics/metrics.hpp"
#include "differential_dynamics/probes.hpp"
#include "helpers.hpp"

namespace py = pybind11;

namespace {

using samples = py::array_t<double, py::array::c_style>;
using maybe_samples = std::optional<samples>;

py::array_t<double> to_numpy(const std::vector<double>& v) {
    py::array_t<double> a(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
}

/// A 1-D array's length; throws argument_error(name) for other shapes or an empty array.
std::size_t length_of(const samples& a, const char* name) {
    if (a.ndim() != 1 || a.size() == 0) throw dd::argument_error(name, "must be a non-empty 1-D float64 array");
    return static_cast<std::size_t>(a.size());
}

void same_length(const samples& a, std::size_t n, const char* name) {
    if (length_of(a, name) != n)
        throw dd::argument_error(name, "must have the length of the first array (" + std::to_string(n) + "), got " +
                                           std::to_string(a.size()));
}

const char* output_name(dd::probe_output o) { return o == dd::probe_output::audio ? "audio" : "envelope"; }

dd::carrier_kind carrier_from_name(const std::string& name) {
    if (name == "sign_noise") return dd::carrier_kind::sign_noise;
    if (name == "sine") return dd::carrier_kind::sine;
    if (name == "none") return dd::carrier_kind::none;
    throw dd::argument_error("carrier", "must be \"sign_noise\", \"sine\" or \"none\" (got \"" + name + "\")");
}

}  // namespace

void bind_probes(py::module_& m) {
    m.def("probe_catalog", [] {
        py::list out;
        for (const dd::probe_info& p : dd::probe_catalog()) {
            py::dict d;
            d["name"] = p.name;
            d["output"] = output_name(p.output);
            d["summary"] = p.summary;
            out.append(d);
        }
        return out;
    });

    m.def("make_probe",
          [](const std::string& name, std::uint64_t seed, double fs, std::size_t length, double threshold_db) {
              const dd::probe_kind kind = dd::probe_kind_from_name(name);
              dd::probe_options options;
              options.threshold_db = threshold_db;
              std::vector<double> v;
              {
                  py::gil_scoped_release release;
                  v = dd::make_probe(kind, seed, fs, length, options);
              }
              return to_numpy(v);
          },
          py::arg("name"), py::arg("seed"), py::arg("fs"), py::arg("length"), py::arg("threshold_db"));

    m.def("render_probe_audio",
          [](const samples& envelope, const std::string& carrier, double frequency, std::uint64_t seed, double fs) {
              const std::size_t n = length_of(envelope, "envelope");
              std::vector<double> e(envelope.data(), envelope.data() + n), v;
              dd::carrier c;
              c.kind = carrier_from_name(carrier);
              c.frequency = frequency;
              {
                  py::gil_scoped_release release;
                  v = dd::render_probe_audio(e, c, seed, fs);
              }
              return to_numpy(v);
          },
          py::arg("envelope"), py::arg("carrier"), py::arg("frequency"), py::arg("seed"), py::arg("fs"));

    m.def("probe_mix",
          [](std::uint64_t seed, double fs, std::size_t length, const std::vector<std::string>& kinds,
             double min_seconds, double max_seconds, double threshold_db) {
              dd::probe_mix_options options;
              for (const std::string& k : kinds) options.kinds.push_back(dd::probe_kind_from_name(k));
              options.min_seconds = min_seconds;
              options.max_seconds = max_seconds;
              options.probe.threshold_db = threshold_db;
              dd::probe_mix_result r;
              {
                  py::gil_scoped_release release;
                  r = dd::probe_mix(seed, fs, length, options);
              }
              py::list segments;
              for (const dd::probe_segment& s : r.segments) {
                  py::dict d;
                  d["kind"] = dd::probe_info_of(s.kind).name;
                  d["start"] = s.start;
                  d["length"] = s.length;
                  d["seed"] = s.seed;
                  segments.append(d);
              }
              return py::make_tuple(to_numpy(r.envelope), segments);
          },
          py::arg("seed"), py::arg("fs"), py::arg("length"), py::arg("kinds"), py::arg("min_seconds"),
          py::arg("max_seconds"), py::arg("threshold_db"));

    // Metrics on 1-D float64 arrays (the Python front flattens or loops over rows).
    m.attr("active_floor_db") = dd::active_floor_db;
    m.def("gain_rmse_db",
          [](const samples& a, const samples& b, const maybe_samples& level) {
              const std::size_t n = length_of(a, "gain_a_db");
              same_length(b, n, "gain_b_db");
              if (level) same_length(*level, n, "level_db");
              return dd::gain_rmse_db(a.data(), b.data(), level ? level->data() : nullptr, n);
          },
          py::arg("gain_a_db"), py::arg("gain_b_db"), py::arg("level_db"));
    m.def("rise_time_63",
          [](const samples& trace, std::size_t edge, double fs) {
              return dd::rise_time_63(trace.data(), length_of(trace, "trace"), edge, fs);
          },
          py::arg("trace"), py::arg("edge"), py::arg("fs"));
    m.def("near_threshold_occupancy",
          [](const samples& level, double threshold_db, double half_width_db) {
              return dd::near_threshold_occupancy(level.data(), length_of(level, "level_db"), threshold_db,
                                                  half_width_db);
          },
          py::arg("level_db"), py::arg("threshold_db"), py::arg("half_width_db"));
    m.def("flip_rate",
          [](const samples& gain, double fs) { return dd::flip_rate(gain.data(), length_of(gain, "gain_db"), fs); },
          py::arg("gain_db"), py::arg("fs"));
    m.def("average_gain_reduction_db",
          [](const samples& gain, const maybe_samples& level) {
              const std::size_t n = length_of(gain, "gain_db");
              if (level) same_length(*level, n, "level_db");
              return dd::average_gain_reduction_db(gain.data(), level ? level->data() : nullptr, n);
          },
          py::arg("gain_db"), py::arg("level_db"));
    m.def("esr",
          [](const samples& y, const samples& y_hat) {
              const std::size_t n = length_of(y, "y");
              same_length(y_hat, n, "y_hat");
              return dd::esr(y.data(), y_hat.data(), n);
          },
          py::arg("y"), py::arg("y_hat"));
}
