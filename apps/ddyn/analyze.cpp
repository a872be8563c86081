// ddyn analyze IN [PROCESSED] [--reference REF]: level statistics of IN, and the library's metrics
// (dd::esr, dd::average_gain_reduction_db, dd::flip_rate, dd::gain_rmse_db, dd::rise_time_63,
// dd::near_threshold_occupancy) for a processed pair, per channel. Files are analysed one channel at
// a time, each held in memory. Reference: docs/reference/ddyn.md.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audio_file.hpp"
#include "commands.hpp"
#include "differential_dynamics/conversions.hpp"
#include "differential_dynamics/detectors.hpp"
#include "differential_dynamics/metrics.hpp"
#include "units.hpp"

namespace ddyn {
namespace {

struct analyze_options {
    std::string in, processed, reference, gain, detector_time = "20ms", near_width = "3dB";
    std::optional<std::string> threshold, edge;
    bool json = false;
};

/// One channel of a file, in double.
std::vector<double> read_channel(const std::string& path, const std::string& role, std::size_t channel) {
    audio_reader file(path, role);
    std::vector<double> interleaved(4096 * file.channels()), x;
    if (file.length_known()) x.reserve(file.frames());
    while (std::size_t n = file.read(interleaved.data(), 4096))
        for (std::size_t f = 0; f < n; ++f) x.push_back(interleaved[f * file.channels() + channel]);
    return x;
}

/// One channel of a gain trace in dB as `ddyn compress --gain-out` writes it: a WAV, or a CSV with
/// the columns time_s, gain_db_1, gain_db_2, …
std::vector<double> read_gain_trace(const std::string& path, std::size_t channel) {
    std::string ext = std::filesystem::path(path).extension().string();
    for (auto& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    if (ext != ".csv") return read_channel(path, "--gain", channel);
    std::ifstream csv(path);
    if (!csv) throw file_error("--gain '" + path + "': cannot be read");
    std::string line;
    std::getline(csv, line);  // header
    std::vector<double> gain;
    for (std::size_t row = 2; std::getline(csv, line); ++row) {
        std::istringstream fields(line);
        std::string field;
        for (std::size_t column = 0; column <= channel + 1; ++column)
            if (!std::getline(fields, field, ','))
                throw file_error("--gain '" + path + "': line " + std::to_string(row) + " has no column gain_db_" +
                                 std::to_string(channel + 1));
        char* end = nullptr;
        const double v = std::strtod(field.c_str(), &end);
        if (end == field.c_str() || !std::isfinite(v))
            throw file_error("--gain '" + path + "': line " + std::to_string(row) + ": '" + field + "' is not a number");
        gain.push_back(v);
    }
    return gain;
}

/// In place: x → 20·log10(max(avg(|x|, ms2coef(detector_ms)), 1e-7)), the classical compressor's detector.
void to_detector_db(std::vector<double>& x, double detector_ms, double fs) {
    dd::avg_processor<double> detector;
    detector.prepare(dd::process_spec{fs, 1, 4096}, dd::avg_settings{dd::ms2coef(detector_ms, fs), 0.0});
    for (auto& v : x) v = std::fabs(v);
    for (std::size_t t = 0; t < x.size(); t += 4096) {
        double* block = x.data() + t;
        const std::size_t n = std::min<std::size_t>(4096, x.size() - t);
        std::array<double, 4096> level;
        double* out = level.data();
        detector.process(&block, &out, n);
        for (std::size_t i = 0; i < n; ++i) block[i] = 20.0 * std::log10(std::max(level[i], dd::safe_amplitude_floor));
    }
}

double to_db(double amplitude) { return 20.0 * std::log10(std::max(amplitude, dd::safe_amplitude_floor)); }

/// The q-quantile of the active levels (> −100 dB), to 0.1 dB: a histogram, no sorted copy.
std::vector<double> level_quantiles(const std::vector<double>& level_db, const std::vector<double>& q) {
    constexpr double low = -100.0, step = 0.1;
    std::vector<std::size_t> bins(2000, 0);  // −100 … +100 dB
    std::size_t count = 0;
    for (double v : level_db)
        if (v > dd::active_floor_db) {
            ++bins[std::min<std::size_t>(bins.size() - 1, std::size_t((v - low) / step))];
            ++count;
        }
    std::vector<double> out;
    for (double p : q) {
        if (count == 0) {
            out.push_back(NAN);
            continue;
        }
        const std::size_t rank = std::min(count - 1, std::size_t(p * double(count)));
        std::size_t seen = 0, b = 0;
        while (seen + bins[b] <= rank) seen += bins[b++];
        out.push_back(low + (double(b) + 0.5) * step);
    }
    return out;
}

/// JSON numbers for finite values, null otherwise (an undefined metric).
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

/// The metric, or NaN (printed "n/a") where it is undefined, e.g. no active sample.
template <class F> double metric_or_nan(F&& f) {
    try {
        return f();
    } catch (const dd::argument_error&) {
        return NAN;
    }
}

void check_pair(const audio_reader& a, const audio_reader& b, const std::string& role) {
    if (a.rate() != b.rate() || a.channels() != b.channels())
        throw usage_error(role + ": must have IN's sample rate and channel count (" + std::to_string(a.channels()) +
                          " channels at " + std::to_string(int(a.rate())) + " Hz)");
}

void check_length(const std::vector<double>& x, const std::vector<double>& other, const std::string& role) {
    if (x.size() != other.size())
        throw usage_error(role + ": has " + std::to_string(other.size()) + " frames, IN " + std::to_string(x.size()) +
                          " (they must be equally long; ddyn compress keeps the length)");
}

/// Average and largest gain reduction over IN's active samples, and the rise time after `edge` (0: none).
void gain_metrics(nlohmann::json& ch, const char* key, const std::vector<double>& gain_db,
                  const std::vector<double>& level_db, double fs, std::size_t edge) {
    double most = 0.0;
    for (std::size_t t = 0; t < gain_db.size(); ++t)
        if (level_db[t] > dd::active_floor_db) most = std::max(most, -gain_db[t]);
    ch[key]["average_gain_reduction_db"] = number(
        metric_or_nan([&] { return dd::average_gain_reduction_db(gain_db.data(), level_db.data(), gain_db.size()); }));
    ch[key]["max_gain_reduction_db"] = most;
    if (edge)
        ch[key]["rise_time_63_ms"] =
            number(1000.0 * metric_or_nan([&] { return dd::rise_time_63(gain_db.data(), gain_db.size(), edge, fs); }));
}

void run_analyze(const analyze_options& o) {
    const audio_reader in(o.in, "IN");
    std::unique_ptr<audio_reader> processed, reference;
    if (!o.processed.empty()) check_pair(in, *(processed = std::make_unique<audio_reader>(o.processed, "PROCESSED")), "PROCESSED");
    if (!o.reference.empty()) {
        if (!processed) throw usage_error("--reference: needs PROCESSED (compares PROCESSED with it)");
        check_pair(in, *(reference = std::make_unique<audio_reader>(o.reference, "--reference")), "--reference");
    }
    const double fs = in.rate(), detector_ms = parse_milliseconds(o.detector_time, "--detector-time");
    if (!(detector_ms > 0)) throw usage_error("--detector-time: must be > 0");
    std::optional<double> threshold, edge_s;
    if (o.threshold) threshold = parse_decibels(*o.threshold, "--threshold");
    const double near_width = parse_decibels(o.near_width, "--near-width");
    if (!(near_width >= 0)) throw usage_error("--near-width: must be >= 0 dB");
    if (o.edge) edge_s = parse_seconds(*o.edge, "--edge");
    if (edge_s && !processed && o.gain.empty())
        throw usage_error("--edge: needs PROCESSED or --gain (the rise time is the gain's)");
    if (!o.gain.empty()) {
        const std::string ext = std::filesystem::path(o.gain).extension().string();
        if (ext != ".csv" && audio_reader(o.gain, "--gain").channels() != in.channels())
            throw usage_error("--gain: must have a channel per channel of IN");
    }

    nlohmann::json report;
    std::size_t frames = 0, edge = 0;
    for (std::size_t c = 0; c < in.channels(); ++c) {
        nlohmann::json ch;
        std::vector<double> x = read_channel(o.in, "IN", c);
        frames = x.size();
        if (edge_s) {
            edge = std::size_t(std::llround(*edge_s * fs));
            if (!(*edge_s >= 0) || edge < 1 || edge + 1 >= frames) throw usage_error("--edge: must lie inside IN");
        }
        double peak = 0.0, energy = 0.0;
        std::size_t full_scale = 0;
        for (double v : x) {
            peak = std::max(peak, std::fabs(v));
            energy += v * v;
            full_scale += std::fabs(v) >= 1.0;
        }
        const double rms = std::sqrt(energy / double(x.size()));
        ch["peak_dbfs"] = number(to_db(peak));
        ch["rms_dbfs"] = number(to_db(rms));
        ch["crest_db"] = number(to_db(peak) - to_db(rms));
        ch["samples_at_full_scale"] = full_scale;

        std::vector<double> y, r;
        if (processed) {
            y = read_channel(o.processed, "PROCESSED", c);
            check_length(x, y, "PROCESSED");
            ch["esr_processed_vs_in"] = number(metric_or_nan([&] { return dd::esr(x.data(), y.data(), x.size()); }));
        }
        if (reference) {
            r = read_channel(o.reference, "--reference", c);
            check_length(x, r, "--reference");
            ch["esr_processed_vs_reference"] = number(metric_or_nan([&] { return dd::esr(r.data(), y.data(), r.size()); }));
        }
        to_detector_db(x, detector_ms, fs);  // x is IN's detector level (dB) from here on
        std::size_t active = 0;
        for (double v : x) active += v > dd::active_floor_db;
        ch["active_fraction"] = double(active) / double(x.size());
        const auto q = level_quantiles(x, {0.1, 0.5, 0.9});
        ch["level_db"] = {{"p10", number(q[0])}, {"p50", number(q[1])}, {"p90", number(q[2])},
                          {"max", number(*std::max_element(x.begin(), x.end()))}};
        if (threshold)
            ch["near_threshold_occupancy"] = number(metric_or_nan(
                [&] { return dd::near_threshold_occupancy(x.data(), x.size(), *threshold, near_width); }));
        if (processed) {
            // The gain, estimated as the difference of the detector levels (dB) of PROCESSED and IN.
            to_detector_db(y, detector_ms, fs);
            for (std::size_t t = 0; t < y.size(); ++t) y[t] -= x[t];
            gain_metrics(ch, "estimated_gain", y, x, fs, edge_s ? edge : 0);
        }
        if (!o.gain.empty()) {
            const std::vector<double> g = read_gain_trace(o.gain, c);
            check_length(x, g, "--gain");
            gain_metrics(ch, "gain", g, x, fs, edge_s ? edge : 0);
            ch["gain"]["flip_rate_per_s"] = number(metric_or_nan([&] { return dd::flip_rate(g.data(), g.size(), fs); }));
        }
        if (reference) {
            to_detector_db(r, detector_ms, fs);
            for (std::size_t t = 0; t < r.size(); ++t) r[t] -= x[t];
            ch["gain_rmse_db_vs_reference"] =
                number(metric_or_nan([&] { return dd::gain_rmse_db(r.data(), y.data(), x.data(), r.size()); }));
        }
        report["channels"].push_back(ch);
    }
    report["in"] = {{"path", o.in}, {"channels", in.channels()}, {"rate", fs}, {"frames", frames},
                    {"seconds", double(frames) / fs}, {"format", describe_format(in.format())}};
    if (processed) report["processed"] = o.processed;
    if (!o.gain.empty()) report["gain"] = o.gain;
    if (reference) report["reference"] = o.reference;

    if (o.json) {
        std::cout << report.dump(2) << '\n';
        return;
    }
    // Text: one block of "name: value value …" lines, a value per channel.
    std::printf("IN '%s': %zu channel(s), %g Hz, %.3f s, %s\n", o.in.c_str(), in.channels(), fs,
                double(frames) / fs, describe_format(in.format()).c_str());
    auto row = [&](const char* label, const char* key, const char* sub = nullptr) {
        const auto& first = report["channels"][0];
        if (!first.contains(key) || (sub && !first[key].contains(sub))) return;
        std::printf("  %-34s", label);
        for (const auto& ch : report["channels"]) {
            const auto& v = sub ? ch[key][sub] : ch[key];
            if (v.is_null()) std::printf(" %10s", "n/a");
            else std::printf(" %10.4g", v.get<double>());
        }
        std::printf("\n");
    };
    row("peak (dBFS)", "peak_dbfs");
    row("RMS (dBFS)", "rms_dbfs");
    row("crest factor (dB)", "crest_db");
    row("samples at/over full scale", "samples_at_full_scale");
    row("active fraction (level > -100 dB)", "active_fraction");
    row("detector level p10 (dB)", "level_db", "p10");
    row("detector level median (dB)", "level_db", "p50");
    row("detector level p90 (dB)", "level_db", "p90");
    row("detector level max (dB)", "level_db", "max");
    row("near-threshold occupancy", "near_threshold_occupancy");
    if (processed) {
        std::printf("PROCESSED '%s' against IN (gain estimated as the difference of the detector levels):\n",
                    o.processed.c_str());
        row("average gain reduction (dB)", "estimated_gain", "average_gain_reduction_db");
        row("max gain reduction (dB)", "estimated_gain", "max_gain_reduction_db");
        row("63 % rise time after --edge (ms)", "estimated_gain", "rise_time_63_ms");
        row("ESR of PROCESSED against IN", "esr_processed_vs_in");
    }
    if (!o.gain.empty()) {
        std::printf("--gain '%s' (a gain trace in dB, as ddyn compress --gain-out writes it):\n", o.gain.c_str());
        row("average gain reduction (dB)", "gain", "average_gain_reduction_db");
        row("max gain reduction (dB)", "gain", "max_gain_reduction_db");
        row("attack/release flips per second", "gain", "flip_rate_per_s");
        row("63 % rise time after --edge (ms)", "gain", "rise_time_63_ms");
    }
    if (reference) {
        std::printf("PROCESSED against --reference '%s':\n", o.reference.c_str());
        row("ESR", "esr_processed_vs_reference");
        row("gain RMSE (dB)", "gain_rmse_db_vs_reference");
    }
}

}  // namespace

void add_analyze_command(CLI::App& app) {
    auto o = std::make_shared<analyze_options>();
    CLI::App* cmd = app.add_subcommand("analyze", "Level statistics of a file, and the metrics of a processed pair");
    cmd->add_option("IN", o->in, "Audio file (the input, for a pair)")->required()->type_name("FILE");
    cmd->add_option("PROCESSED", o->processed, "The same audio processed (same rate, channels and length)")->type_name("FILE");
    cmd->add_option("--reference", o->reference, "A target rendering of IN (e.g. by another compressor): ESR and gain "
                                                  "RMSE of PROCESSED against it")->type_name("FILE");
    cmd->add_option("--gain", o->gain, "A gain trace in dB (ddyn compress --gain-out, .wav or .csv): its average and "
                                       "largest reduction, flip rate and rise time")->type_name("FILE");
    cmd->add_option("--threshold,-t", o->threshold, "Report the near-threshold occupancy of IN's detector level, dB")->type_name("DB");
    cmd->add_option("--near-width", o->near_width, "Half width of 'near' the threshold, dB")->type_name("DB")->capture_default_str();
    cmd->add_option("--edge", o->edge, "A level step in IN at this time (s or with unit): the 63 % rise time of the "
                                       "gain after it")->type_name("TIME");
    cmd->add_option("--detector-time", o->detector_time, "The detector's averaging time (the classical compressor's)")
        ->type_name("TIME")->capture_default_str();
    cmd->add_flag("--json", o->json, "Print JSON instead of text");
    cmd->callback([o] { run_analyze(*o); });
}

}  // namespace ddyn
