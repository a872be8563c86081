// The probe catalogue, make_probe's validation and dispatch, rendering envelopes as audio, and the
// probe mix. Reference: docs/reference/probes_metrics.md.
#include "differential_dynamics/probes.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "probes/generators.hpp"

namespace dd {
namespace {

using generator = std::vector<double> (*)(probes::random_source&, const probes::probe_context&);

struct catalog_entry {
    probe_info info;
    generator make;
};

const std::vector<catalog_entry>& entries() {
    using k = probe_kind;
    constexpr auto audio = probe_output::audio;
    constexpr auto envelope = probe_output::envelope;
    static const std::vector<catalog_entry> table = {
        {{k::tone, "tone", audio, "sine, 50-5000 Hz, -24...-3 dB"}, probes::tone},
        {{k::step, "step", audio, "sine stepping from -50...-30 dB to -12...-3 dB at the middle"}, probes::step},
        {{k::burst, "burst", audio, "sine bursts of 20-200 ms between 100-500 ms of silence"}, probes::burst},
        {{k::ramp, "ramp", audio, "sine whose amplitude rises linearly from 0"}, probes::ramp},
        {{k::am_tone, "am_tone", audio, "sine under 0.5-20 Hz amplitude modulation"}, probes::am_tone},
        {{k::white_noise, "white_noise", audio, "uniform white noise, -20...-3 dB peak"}, probes::white_noise},
        {{k::beating_tones, "beating_tones", audio, "two sines 1-10 Hz apart"}, probes::beating_tones},
        {{k::am_noise, "am_noise", audio, "white noise under 0.5-20 Hz amplitude modulation"}, probes::am_noise},
        {{k::composite_program, "composite_program", audio, "staircase, A-B-A, echo pulses, flicker (quarters)"},
         probes::composite_program},
        {{k::quasi_static_staircase, "quasi_static_staircase", envelope, "2-4 dB steps up and down, 250 ms each"},
         probes::quasi_static_staircase},
        {{k::level_pairs, "level_pairs", envelope, "levels across T joined by 5-400 ms cosine edges"},
         probes::level_pairs},
        {{k::preconditioned_pairs, "preconditioned_pairs", envelope, "one end level from a loud and a quiet history"},
         probes::preconditioned_pairs},
        {{k::echo_pulses, "echo_pulses", envelope, "a pulse and three echoes over silence"}, probes::echo_pulses},
        {{k::release_drops, "release_drops", envelope, "loud, then a drop to within 3 dB of T"},
         probes::release_drops},
        {{k::db_dither, "db_dither", envelope, "a level near T dithered in dB at 0.5-8 Hz"}, probes::db_dither},
        {{k::transient_churn, "transient_churn", envelope, "1-15 ms transients 40 ms apart on average"},
         probes::transient_churn},
        {{k::slope_sweep, "slope_sweep", envelope, "dB ramps at 20-2000 dB/s"}, probes::slope_sweep},
        {{k::release_staircase, "release_staircase", envelope, "loud, then 2-6 dB steps down"},
         probes::release_staircase},
        {{k::attack_doublets, "attack_doublets", envelope, "two equal bursts 5-300 ms apart"},
         probes::attack_doublets},
        {{k::am_sweep, "am_sweep", envelope, "amplitude modulation swept from 0.5 to 50 Hz"}, probes::am_sweep},
        {{k::random_steps, "random_steps", envelope, "a new level every 12 ms, T +- 24 dB"}, probes::random_steps},
        {{k::db_ramps, "db_ramps", envelope, "straight lines in dB, 100-2000 ms each"}, probes::db_ramps},
        {{k::long_plateaus, "long_plateaus", envelope, "levels held 1-4 s"}, probes::long_plateaus},
    };
    return table;
}

void check_rate(double fs) {
    if (!std::isfinite(fs) || fs <= 0.0) {
        std::ostringstream s;
        s << "must be finite and > 0 (got " << fs << ")";
        throw argument_error("fs", s.str());
    }
}

}  // namespace

const std::vector<probe_info>& probe_catalog() {
    static const std::vector<probe_info> infos = [] {
        std::vector<probe_info> v;
        for (const auto& e : entries()) v.push_back(e.info);
        return v;
    }();
    return infos;
}

const probe_info& probe_info_of(probe_kind kind) {
    const auto i = std::size_t(kind);
    if (i >= entries().size()) throw argument_error("kind", "not a probe_kind");
    return entries()[i].info;
}

probe_kind probe_kind_from_name(const std::string& name) {
    std::string choices;
    for (const auto& e : entries()) {
        if (name == e.info.name) return e.info.kind;
        choices += (choices.empty() ? "" : ", ") + std::string(e.info.name);
    }
    throw argument_error("name", "no probe called '" + name + "' (choose from " + choices + ")");
}

// 2^32 samples (a day at 48 kHz, 32 GiB): a larger length is a mistake, not a request for memory.
static void check_length(std::size_t length) {
    if (length == 0 || length > max_probe_length)
        throw argument_error("length", "must be in [1, 2^32] samples (got " + std::to_string(length) + ")");
}

std::vector<double> make_probe(probe_kind kind, std::uint64_t seed, double fs, std::size_t length,
                               const probe_options& options) {
    const std::size_t i = std::size_t(kind);
    if (i >= entries().size()) throw argument_error("kind", "not a probe_kind");
    check_rate(fs);
    check_length(length);
    if (!(options.threshold_db >= -80.0 && options.threshold_db <= 0.0))
        throw argument_error("threshold_db", "must be in [-80, 0] dB");
    // Each kind draws from its own stream, so one seed gives unrelated signals of different kinds.
    probes::random_source rng(seed ^ probes::mix_seed(i + 1));
    return entries()[i].make(rng, probes::probe_context{fs, length, options.threshold_db});
}

std::vector<double> render_probe_audio(const std::vector<double>& envelope, const carrier& c, std::uint64_t seed,
                                       double fs) {
    check_rate(fs);
    for (std::size_t t = 0; t < envelope.size(); ++t)
        if (!(envelope[t] >= 0.0 && envelope[t] <= 1.0)) {
            std::ostringstream s;
            s << "values must be in [0, 1] (got " << envelope[t] << " at " << t << ")";
            throw argument_error("envelope", s.str());
        }
    if (c.kind == carrier_kind::sine && !(c.frequency > 0.0 && c.frequency < fs / 2.0))
        throw argument_error("frequency", "the sine carrier's frequency must be in (0, fs/2)");
    std::vector<double> x(envelope);
    if (c.kind == carrier_kind::sign_noise) {
        probes::random_source rng(seed ^ 0x5167ULL);
        for (auto& v : x) v *= rng.sign();
    } else if (c.kind == carrier_kind::sine) {
        for (std::size_t t = 0; t < x.size(); ++t) x[t] *= std::sin(2.0 * probes::pi * c.frequency * double(t) / fs);
    }
    return x;
}

probe_mix_result probe_mix(std::uint64_t seed, double fs, std::size_t length, const probe_mix_options& options) {
    check_rate(fs);
    check_length(length);
    if (!(options.min_seconds > 0.0 && options.min_seconds <= options.max_seconds && std::isfinite(options.max_seconds)))
        throw argument_error("min_seconds", "segment lengths need 0 < min_seconds <= max_seconds (finite)");
    std::vector<probe_kind> kinds = options.kinds;
    if (kinds.empty())
        for (const auto& e : entries())
            if (e.info.output == probe_output::envelope) kinds.push_back(e.info.kind);
    for (auto kind : kinds)
        if (std::size_t(kind) >= entries().size() || probe_info_of(kind).output != probe_output::envelope)
            throw argument_error("kinds", "a probe mix takes identification probes (envelopes) only");

    probes::random_source rng(seed);
    probe_mix_result mix;
    mix.envelope.reserve(length);
    while (mix.envelope.size() < length) {
        probe_segment segment{};
        segment.kind = kinds[std::size_t(rng.uniform() * double(kinds.size()))];
        segment.seed = rng.bits();
        segment.start = mix.envelope.size();
        const double seconds = rng.log_uniform(options.min_seconds, options.max_seconds);
        segment.length = std::min(length - segment.start, std::max<std::size_t>(1, std::size_t(std::round(seconds * fs))));
        const auto samples = make_probe(segment.kind, segment.seed, fs, segment.length, options.probe);
        mix.envelope.insert(mix.envelope.end(), samples.begin(), samples.end());
        mix.segments.push_back(segment);
    }
    return mix;
}

}  // namespace dd
