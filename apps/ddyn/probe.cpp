// ddyn probe KIND OUT: writes a seeded test signal or identification probe (dd::make_probe,
// dd::probe_mix), envelopes rendered as audio with a carrier. Reference: docs/reference/ddyn.md.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "audio_file.hpp"
#include "commands.hpp"
#include "differential_dynamics/probes.hpp"
#include "units.hpp"

namespace ddyn {
namespace {

struct probe_options {
    std::string kind, out, rate = "44100", duration = "10s", threshold = "-24dB", carrier = "sign-noise",
                carrier_frequency = "1kHz", sample_format, segments_out;
    std::uint64_t seed = 0;
    std::size_t channels = 1;
    bool list = false;
};

void list_kinds() {
    std::cout << "mix                      identification probes one after another (for datasets)\n";
    for (const auto& info : dd::probe_catalog())
        std::printf("%-24s %s %s\n", info.name, info.output == dd::probe_output::audio ? "audio   " : "envelope",
                    info.summary);
}

dd::carrier parse_carrier(const probe_options& o) {
    dd::carrier c;
    if (o.carrier == "sign-noise") c.kind = dd::carrier_kind::sign_noise;
    else if (o.carrier == "sine") c.kind = dd::carrier_kind::sine;
    else c.kind = dd::carrier_kind::none;
    c.frequency = parse_hertz(o.carrier_frequency, "--carrier-frequency");
    return c;
}

void run_probe(const probe_options& o) {
    if (o.list) return list_kinds();
    if (o.kind.empty() || o.out.empty()) throw usage_error("KIND and OUT are required (ddyn probe --list shows the kinds)");
    const double rate = parse_hertz(o.rate, "--rate");
    if (!(rate >= 1.0 && rate <= 1e6 && rate == std::round(rate))) throw usage_error("--rate: must be a whole number of Hz in [1, 1000000]");
    const double seconds = parse_seconds(o.duration, "--duration");
    const double frames_wanted = std::round(seconds * rate);
    if (!(frames_wanted >= 1.0)) throw usage_error("--duration: must give at least one sample");
    // Probes are made whole in memory (8 bytes a sample): a limit instead of the out-of-memory killer.
    constexpr double max_samples = double(1u << 28);
    if (frames_wanted * double(o.channels) > max_samples)
        throw usage_error("--duration: too long: at most 2^28 samples over all channels (50 min of stereo at 44.1 kHz)");
    const std::size_t frames = std::size_t(frames_wanted);
    dd::probe_options options;
    options.threshold_db = parse_decibels(o.threshold, "--threshold");
    if (!(options.threshold_db >= -80.0 && options.threshold_db <= 0.0)) throw usage_error("--threshold: must be in [-80, 0] dB");
    const dd::carrier carrier = parse_carrier(o);
    if (carrier.kind == dd::carrier_kind::sine && !(carrier.frequency > 0 && carrier.frequency < rate / 2))
        throw usage_error("--carrier-frequency: must be in (0, rate/2)");
    const bool mix = o.kind == "mix";
    dd::probe_kind kind{};
    if (!mix) {
        try {
            kind = dd::probe_kind_from_name(o.kind);
        } catch (const dd::argument_error&) {
            throw usage_error("KIND: no probe called '" + o.kind + "' (ddyn probe --list shows the kinds)");
        }
    }
    if (!o.segments_out.empty() && !mix) throw usage_error("--segments: only a probe mix has segments");

    // Channel c is the probe of seed + c.
    std::vector<std::vector<double>> channels(o.channels);
    std::vector<dd::probe_segment> segments;
    for (std::size_t c = 0; c < o.channels; ++c) {
        const std::uint64_t seed = o.seed + c;
        if (mix) {
            dd::probe_mix_options mix_options;
            mix_options.probe = options;
            auto result = dd::probe_mix(seed, rate, frames, mix_options);
            channels[c] = dd::render_probe_audio(result.envelope, carrier, seed, rate);
            if (c == 0) segments = std::move(result.segments);
        } else {
            channels[c] = dd::make_probe(kind, seed, rate, frames, options);
            if (dd::probe_info_of(kind).output == dd::probe_output::envelope)
                channels[c] = dd::render_probe_audio(channels[c], carrier, seed, rate);
        }
    }

    audio_writer out(o.out, "OUT", output_format(o.out, o.sample_format, 0), rate, o.channels);
    std::vector<double> interleaved;
    constexpr std::size_t block = 8192;
    for (std::size_t start = 0; start < frames; start += block) {
        const std::size_t n = std::min(block, frames - start);
        interleaved.resize(n * o.channels);
        for (std::size_t f = 0; f < n; ++f)
            for (std::size_t c = 0; c < o.channels; ++c) interleaved[f * o.channels + c] = channels[c][start + f];
        out.write(interleaved.data(), n);
    }
    out.close();
    if (!o.segments_out.empty()) {
        std::unique_ptr<std::FILE, int (*)(std::FILE*)> csv(std::fopen(o.segments_out.c_str(), "w"), std::fclose);
        if (!csv) throw file_error("--segments '" + o.segments_out + "': cannot be written");
        std::fputs("kind,start,length,seed\n", csv.get());
        for (const auto& s : segments)
            std::fprintf(csv.get(), "%s,%zu,%zu,%llu\n", dd::probe_info_of(s.kind).name, s.start, s.length,
                         static_cast<unsigned long long>(s.seed));
        if (std::fflush(csv.get()) != 0) throw file_error("--segments '" + o.segments_out + "': write failed");
    }
}

}  // namespace

void add_probe_command(CLI::App& app) {
    auto o = std::make_shared<probe_options>();
    CLI::App* cmd = app.add_subcommand("probe", "Write a seeded test signal or identification probe (ddyn probe --list)");
    cmd->add_option("KIND", o->kind, "A name from --list, or 'mix' (identification probes one after another)")->type_name("KIND");
    cmd->add_option("OUT", o->out, "Output file (.wav .flac .aif .aiff .ogg .opus .caf .w64)")->type_name("FILE");
    cmd->add_flag("--list,-l", o->list, "List the kinds and exit");
    cmd->add_option("--seed,-s", o->seed, "Seed: the same seed gives the same samples; channel c uses seed + c")
        ->capture_default_str();
    cmd->add_option("--rate", o->rate, "Sample rate, Hz")->type_name("HZ")->capture_default_str();
    cmd->add_option("--duration,-d", o->duration, "Length, s or with unit")->type_name("DURATION")->capture_default_str();
    cmd->add_option("--channels,-c", o->channels, "Channels")->check(CLI::Range(1, 64))->capture_default_str();
    cmd->add_option("--threshold,-t", o->threshold, "Where near-threshold probes aim, dB in [-80, 0]")->type_name("DB")->capture_default_str();
    cmd->add_option("--carrier", o->carrier, "How envelopes become audio: sign-noise (random signs: |x| = envelope) | "
                                             "sine | none (the envelope itself)")
        ->check(CLI::IsMember({"sign-noise", "sine", "none"}))->capture_default_str();
    cmd->add_option("--carrier-frequency", o->carrier_frequency, "The sine carrier's frequency")->type_name("HZ")->capture_default_str();
    cmd->add_option("--format", o->sample_format, "Output samples: float | double | pcm16 | pcm24 | pcm32")->type_name("FORMAT");
    cmd->add_option("--segments", o->segments_out, "mix only: write the segments (kind, start, length, seed) of "
                                                   "channel 1 to this CSV")->type_name("FILE");
    cmd->callback([o] { run_probe(*o); });
}

}  // namespace ddyn
