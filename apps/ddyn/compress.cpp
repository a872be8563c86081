// ddyn compress IN OUT: reads IN block by block, runs the library's streaming audio processor
// (dd::compressor_audio_processor, limiter_audio_processor or ssl_audio_processor; no DSP here) and
// writes OUT, and optionally the gain in dB. The lookahead's latency is compensated, so OUT is
// aligned with IN and as long. Reference: docs/reference/ddyn.md.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audio_file.hpp"
#include "commands.hpp"
#include "differential_dynamics/audio.hpp"
#include "progress.hpp"
#include "units.hpp"

namespace ddyn {
namespace {

struct compress_options {
    std::string in, out, model = "classical", link = "max", sample_format, precision = "single";
    std::optional<std::string> threshold, ratio, attack, release, knee, makeup, mix, lookahead, detector,
        detector_time, exp_threshold, exp_ratio, gate, sigmoid_k, feedback, sidechain, gain_out;
    std::size_t block = 4096;
    bool progress = false, no_progress = false;
};

/// The command-line option of a settings field, for errors from the library's checks.
std::string option_of_field(const std::string& field) {
    static const std::pair<const char*, const char*> names[] = {
        {"threshold_db", "--threshold"}, {"ratio", "--ratio"}, {"knee_db", "--knee"}, {"attack_ms", "--attack"},
        {"release_ms", "--release"}, {"release_s", "--release"}, {"makeup_db", "--makeup"},
        {"auto_makeup", "--makeup"}, {"mix", "--mix"}, {"lookahead_ms", "--lookahead"},
        {"max_lookahead_ms", "--lookahead"}, {"detector", "--detector"}, {"detector_ms", "--detector-time"},
        {"exp_threshold_db", "--exp-threshold"}, {"exp_ratio", "--exp-ratio"}, {"k", "--sigmoid-k"},
        {"feedback", "--feedback"}, {"link", "--link"}, {"fs", "IN's sample rate"}};
    for (const auto& [from, to] : names)
        if (field == from) return to;
    return field;
}

/// Rejects options the chosen model has no use for, instead of ignoring them.
void refuse(const std::optional<std::string>& value, const char* option, const std::string& model) {
    if (value) throw usage_error(std::string(option) + ": the " + model + " model has no such setting");
}

void set_chain(const compress_options& o, dd::audio_chain_settings& s) {
    if (o.makeup && *o.makeup == "auto") s.auto_makeup = true;
    else if (o.makeup) s.makeup_db = parse_decibels(*o.makeup, "--makeup");
    if (o.mix) s.mix = parse_fraction(*o.mix, "--mix");
    if (o.lookahead) s.lookahead_ms = s.max_lookahead_ms = parse_milliseconds(*o.lookahead, "--lookahead");
    s.link = dd::parse_channel_link(o.link);
}

dd::compressor_audio_settings classical_settings(const compress_options& o) {
    refuse(o.feedback, "--feedback", o.model);
    dd::compressor_audio_settings s;
    set_chain(o, s);
    if (o.threshold) s.threshold_db = parse_decibels(*o.threshold, "--threshold");
    if (o.ratio) s.ratio = parse_ratio(*o.ratio, "--ratio");
    if (o.knee) s.knee_db = parse_decibels(*o.knee, "--knee");
    if (o.attack) s.attack_ms = parse_milliseconds(*o.attack, "--attack");
    if (o.release && *o.release == "auto") throw usage_error("--release: auto is the ssl model's program-dependent release");
    if (o.release) s.release_ms = parse_milliseconds(*o.release, "--release");
    if (o.detector) s.detector = dd::parse_level_detector(*o.detector);
    if (o.detector_time) s.detector_ms = parse_milliseconds(*o.detector_time, "--detector-time");
    if (o.exp_threshold) s.exp_threshold_db = parse_decibels(*o.exp_threshold, "--exp-threshold");
    if (o.exp_ratio) s.exp_ratio = parse_ratio(*o.exp_ratio, "--exp-ratio");
    if (o.gate && *o.gate != "hard" && *o.gate != "sigmoid") throw usage_error("--gate: must be hard or sigmoid");
    if (o.gate && *o.gate == "sigmoid") s.gate = dd::ar_mode::sigmoid;
    if (o.sigmoid_k) s.k = parse_ratio(*o.sigmoid_k, "--sigmoid-k");
    if (o.sigmoid_k && s.gate != dd::ar_mode::sigmoid) throw usage_error("--sigmoid-k: needs --gate sigmoid");
    return s;
}

dd::limiter_audio_settings limiter_settings(const compress_options& o) {
    for (auto [value, option] : {std::pair{&o.ratio, "--ratio"}, {&o.knee, "--knee"}, {&o.detector, "--detector"},
                                 {&o.detector_time, "--detector-time"}, {&o.exp_threshold, "--exp-threshold"},
                                 {&o.exp_ratio, "--exp-ratio"}, {&o.gate, "--gate"}, {&o.sigmoid_k, "--sigmoid-k"},
                                 {&o.feedback, "--feedback"}})
        refuse(*value, option, o.model);
    dd::limiter_audio_settings s;
    set_chain(o, s);
    if (o.threshold) s.threshold_db = parse_decibels(*o.threshold, "--threshold");
    if (o.attack) s.attack_ms = parse_milliseconds(*o.attack, "--attack");
    if (o.release && *o.release == "auto") throw usage_error("--release: auto is the ssl model's program-dependent release");
    if (o.release) s.release_ms = parse_milliseconds(*o.release, "--release");
    return s;
}

dd::ssl_audio_settings ssl_settings(const compress_options& o) {
    for (auto [value, option] : {std::pair{&o.detector, "--detector"}, {&o.detector_time, "--detector-time"},
                                 {&o.exp_threshold, "--exp-threshold"}, {&o.exp_ratio, "--exp-ratio"},
                                 {&o.gate, "--gate"}, {&o.sigmoid_k, "--sigmoid-k"}})
        refuse(*value, option, o.model);
    dd::ssl_audio_settings s;
    set_chain(o, s);
    if (o.threshold) s.threshold_db = parse_decibels(*o.threshold, "--threshold");
    if (o.ratio) s.ratio = parse_ratio(*o.ratio, "--ratio");
    if (o.knee) s.knee_db = parse_decibels(*o.knee, "--knee");
    if (o.attack) s.attack_ms = parse_milliseconds(*o.attack, "--attack");
    if (o.release && *o.release != "auto") {
        s.auto_release = false;
        s.release_ms = parse_milliseconds(*o.release, "--release");
    }
    if (o.feedback) s.feedback = parse_fraction(*o.feedback, "--feedback");
    return s;
}

/// Where --gain-out goes: a float WAV (one channel per audio channel) or a CSV (time_s, gain_db_1, …).
class gain_sink {
public:
    gain_sink(const std::string& path, double rate, std::size_t channels) : rate_(rate), channels_(channels) {
        std::string ext = path.size() >= 4 ? path.substr(path.size() - 4) : "";
        for (auto& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
        if (ext == ".csv") {
            csv_.reset(std::fopen(path.c_str(), "w"));
            if (!csv_) throw file_error("--gain-out '" + path + "': cannot be written");
            std::fputs("time_s", csv_.get());
            for (std::size_t c = 0; c < channels; ++c) std::fprintf(csv_.get(), ",gain_db_%zu", c + 1);
            std::fputc('\n', csv_.get());
        } else if (ext == ".wav") {
            wav_ = std::make_unique<audio_writer>(path, "--gain-out", SF_FORMAT_WAV | SF_FORMAT_FLOAT, rate, channels);
        } else {
            throw usage_error("--gain-out: '" + path + "' must end in .wav or .csv");
        }
        path_ = path;
    }
    /// Interleaved linear gains → dB (floored at −140 dB, the library's safe floor).
    template <class T> void write(std::vector<T>& interleaved, std::size_t frames) {
        for (std::size_t i = 0; i < frames * channels_; ++i)
            interleaved[i] = T(20.0 * std::log10(std::max(double(interleaved[i]), 1e-7)));
        if (wav_) {
            wav_->write(interleaved.data(), frames);
            return;
        }
        for (std::size_t f = 0; f < frames; ++f, ++frame_) {
            std::fprintf(csv_.get(), "%.9g", double(frame_) / rate_);
            for (std::size_t c = 0; c < channels_; ++c) std::fprintf(csv_.get(), ",%.9g", double(interleaved[f * channels_ + c]));
            std::fputc('\n', csv_.get());
        }
    }
    void close() {
        if (wav_) wav_->close();
        if (csv_ && (std::fflush(csv_.get()) != 0 || std::ferror(csv_.get())))
            throw file_error("--gain-out '" + path_ + "': write failed");
    }

private:
    struct file_closer {
        void operator()(std::FILE* f) const { std::fclose(f); }
    };
    double rate_;
    std::size_t channels_, frame_ = 0;
    std::string path_;
    std::unique_ptr<audio_writer> wav_;
    std::unique_ptr<std::FILE, file_closer> csv_;
};

/// Removes the files this command created unless it finished: no half-written output after an error.
/// Declared before the writers, so that it runs after they are closed.
class created_files {
public:
    ~created_files() {
        std::error_code ec;
        if (!finished_)
            for (const auto& path : paths_) std::filesystem::remove(path, ec);
    }
    void add(const std::string& path) { paths_.push_back(path); }
    void finished() { finished_ = true; }

private:
    std::vector<std::string> paths_;
    bool finished_ = false;
};

/// Planar channel buffers of `frames` samples and the pointers to them.
template <class T> struct planar_buffer {
    std::vector<T> data;
    std::vector<T*> rows;
    planar_buffer(std::size_t channels, std::size_t frames) : data(channels * frames), rows(channels) {
        for (std::size_t c = 0; c < channels; ++c) rows[c] = data.data() + c * frames;
    }
};

template <class Processor>
void run_compress(const compress_options& o, const typename Processor::settings_type& settings) {
    using T = typename Processor::sample_type;
    audio_reader in(o.in, "IN");
    const std::size_t channels = in.channels(), block = o.block;
    std::unique_ptr<audio_reader> side;
    if (o.sidechain) {
        side = std::make_unique<audio_reader>(*o.sidechain, "--sidechain");
        if (side->rate() != in.rate()) throw usage_error("--sidechain: its sample rate differs from IN's");
        if (side->channels() != 1 && side->channels() != channels)
            throw usage_error("--sidechain: must have 1 channel or as many as IN (" + std::to_string(channels) + ")");
    }

    Processor processor;
    try {
        processor.prepare(dd::process_spec{in.rate(), channels, block}, settings);
    } catch (const dd::argument_error& e) {
        const std::string what = e.what();
        throw usage_error(option_of_field(e.argument()) + what.substr(e.argument().size()));
    }
    const int format = output_format(o.out, o.sample_format, in.format());
    created_files created;
    audio_writer out(o.out, "OUT", format, in.rate(), channels);
    created.add(o.out);
    std::unique_ptr<gain_sink> gains;
    if (o.gain_out) {
        gains = std::make_unique<gain_sink>(*o.gain_out, in.rate(), channels);
        created.add(*o.gain_out);
    }

    std::vector<T> interleaved(block * channels), side_interleaved;
    planar_buffer<T> x(channels, block), y(channels, block), gain(channels, block);
    std::unique_ptr<planar_buffer<T>> key;
    std::vector<const T*> key_rows(channels), x_rows(x.rows.begin(), x.rows.end());
    if (side) {
        side_interleaved.resize(block * side->channels());
        key = std::make_unique<planar_buffer<T>>(side->channels(), block);
        for (std::size_t c = 0; c < channels; ++c) key_rows[c] = key->rows[side->channels() == 1 ? 0 : c];
    }

    // The first `latency` outputs precede the input's first sample; as many zeros after its end
    // flush the input's last samples out.
    std::size_t to_skip = processor.latency(), tail = processor.latency(), done = 0;
    bool side_ended = false;
    const progress_mode mode = !in.length_known() || o.no_progress ? progress_mode::never
                               : o.progress                     ? progress_mode::always
                                                                : progress_mode::automatic;
    progress_bar progress("compress", in.frames(), in.rate(), mode);
    for (;;) {
        std::size_t n = in.read(interleaved.data(), block);
        if (n == 0) {
            if (tail == 0) break;
            n = std::min(tail, block);
            tail -= n;
            std::fill(interleaved.begin(), interleaved.begin() + std::ptrdiff_t(n * channels), T(0));
        }
        for (std::size_t f = 0; f < n; ++f)
            for (std::size_t c = 0; c < channels; ++c) x.rows[c][f] = interleaved[f * channels + c];
        if (side) {  // silence after the side chain's end
            const std::size_t sc = side->channels();
            const std::size_t got = side_ended ? 0 : side->read(side_interleaved.data(), n);
            side_ended = side_ended || got < n;
            std::fill(side_interleaved.begin() + std::ptrdiff_t(got * sc), side_interleaved.begin() + std::ptrdiff_t(n * sc), T(0));
            for (std::size_t f = 0; f < n; ++f)
                for (std::size_t c = 0; c < sc; ++c) key->rows[c][f] = side_interleaved[f * sc + c];
        }
        processor.process(x_rows.data(), y.rows.data(), n, side ? key_rows.data() : nullptr,
                          gains ? gain.rows.data() : nullptr);

        const std::size_t first = std::min(to_skip, n);
        to_skip -= first;
        const std::size_t frames = n - first;
        for (std::size_t f = 0; f < frames; ++f)
            for (std::size_t c = 0; c < channels; ++c) interleaved[f * channels + c] = y.rows[c][first + f];
        out.write(interleaved.data(), frames);
        if (gains) {
            for (std::size_t f = 0; f < frames; ++f)
                for (std::size_t c = 0; c < channels; ++c) interleaved[f * channels + c] = gain.rows[c][first + f];
            gains->write(interleaved, frames);
        }
        done += frames;
        progress.update(done);
    }
    out.close();
    if (gains) gains->close();
    created.finished();
    progress.finish();
    const std::string report = full_scale_report(out);
    if (!report.empty()) std::cerr << "ddyn: warning: " << report << '\n';
}

template <class T> void compress_with(const compress_options& o) {
    std::error_code ec;
    if (std::filesystem::equivalent(o.in, o.out, ec)) throw usage_error("OUT: is IN itself (it would be overwritten)");
    if (o.model == "classical") run_compress<dd::compressor_audio_processor<T>>(o, classical_settings(o));
    else if (o.model == "limiter") run_compress<dd::limiter_audio_processor<T>>(o, limiter_settings(o));
    else run_compress<dd::ssl_audio_processor<T>>(o, ssl_settings(o));
}

}  // namespace

void add_compress_command(CLI::App& app) {
    auto o = std::make_shared<compress_options>();
    CLI::App* cmd = app.add_subcommand("compress", "Compress an audio file with a classical compressor, a limiter or "
                                                   "the SSL-style bus compressor");
    cmd->add_option("IN", o->in, "Input audio file (WAV, FLAC, AIFF, OGG, ...; any rate and channel count)")->required()->type_name("FILE");
    cmd->add_option("OUT", o->out, "Output file; the type follows the extension (.wav .flac .aif .aiff .ogg .opus .caf .w64)")
        ->required()->type_name("FILE");
    cmd->add_option("--model,-m", o->model, "classical | limiter | ssl")
        ->check(CLI::IsMember({"classical", "limiter", "ssl"}))->capture_default_str();
    cmd->add_option("--threshold,-t", o->threshold, "Threshold, dB (default: classical -24, limiter -1, ssl -20)")->type_name("DB");
    cmd->add_option("--ratio,-r", o->ratio, "Ratio, e.g. 4:1 (default 4; ssl: 2, 4, 10 or between)")->type_name("RATIO");
    cmd->add_option("--attack,-a", o->attack, "Attack time, ms or with unit (default: classical 10 ms, limiter "
                                              "0.1 ms, ssl 10 ms; ssl takes 0.1-30 ms)")->type_name("TIME");
    cmd->add_option("--release", o->release, "Release time, ms or with unit, e.g. 1.2s; ssl also 'auto' (default: "
                                             "classical 100 ms, limiter 50 ms, ssl auto; ssl takes 0.1-1.2 s)")->type_name("TIME|auto");
    cmd->add_option("--knee,-k", o->knee, "Soft knee width, dB (default 0: hard knee)")->type_name("DB");
    cmd->add_option("--makeup", o->makeup, "Makeup gain, dB, or 'auto' (half the static reduction at 0 dBFS)")->type_name("DB|auto");
    cmd->add_option("--mix", o->mix, "Dry/wet mix, 0-1 or percent: 1 = 100% = fully compressed (default)")->type_name("FRACTION");
    cmd->add_option("--link", o->link, "Channel link: max | mean (one gain for all channels) | none")
        ->check(CLI::IsMember({"none", "max", "mean"}))->capture_default_str();
    cmd->add_option("--lookahead", o->lookahead, "Lookahead, ms or with unit (default 0); the output stays aligned "
                                                 "with the input")->type_name("TIME");
    cmd->add_option("--sidechain", o->sidechain, "Audio file whose level drives the gain (1 channel or as many as IN, "
                                                 "same rate; silence after its end)")->type_name("FILE");
    cmd->add_option("--gain-out", o->gain_out, "Write the gain in dB (before makeup and mix) to a .wav (float) or .csv")->type_name("FILE");
    cmd->add_option("--detector", o->detector, "classical: rms (20 ms average of |x|) | peak")
        ->check(CLI::IsMember({"rms", "peak"}));
    cmd->add_option("--detector-time", o->detector_time, "classical: the rms detector's averaging time (default 20 ms)")->type_name("TIME");
    cmd->add_option("--exp-threshold", o->exp_threshold, "classical: downward expander threshold, dB (default off)")->type_name("DB");
    cmd->add_option("--exp-ratio", o->exp_ratio, "classical: expander ratio in (0, 1] (default 1: off)")->type_name("RATIO");
    cmd->add_option("--gate", o->gate, "classical: attack/release decision, hard | sigmoid")
        ->check(CLI::IsMember({"hard", "sigmoid"}));
    cmd->add_option("--sigmoid-k", o->sigmoid_k, "classical: the sigmoid gate's sharpness, 1/dB (default 1)")->type_name("PER_DB");
    cmd->add_option("--feedback", o->feedback, "ssl: feedback coefficient in [0, 1] (default 0)")->type_name("FRACTION");
    cmd->add_option("--format", o->sample_format, "Output samples: float | double | pcm16 | pcm24 | pcm32 (default: "
                                                  "as IN where OUT's type allows, else float, FLAC 24-bit)")->type_name("FORMAT");
    cmd->add_option("--precision", o->precision, "Arithmetic: single | double")
        ->check(CLI::IsMember({"single", "double"}))->capture_default_str();
    cmd->add_option("--block", o->block, "Frames per processing block (the result does not depend on it)")
        ->check(CLI::Range(std::size_t(1), std::size_t(1) << 20))->capture_default_str();
    cmd->add_flag("--progress", o->progress, "Always show the progress bar (default: on a terminal, for audio > 30 s)");
    cmd->add_flag("--no-progress", o->no_progress, "Never show the progress bar");
    cmd->callback([o] {
        if (o->precision == "double") compress_with<double>(*o);
        else compress_with<float>(*o);
    });
}

}  // namespace ddyn
