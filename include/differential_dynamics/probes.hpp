// Seeded test signals and identification probes. Every generator takes an explicit seed, a sample
// rate and a length; the same arguments give the same samples, another seed gives other ones (levels,
// times and frequencies are drawn from the seed within each kind's documented ranges). Values are in
// [−1, 1]. Classic signals are audio; identification probes are amplitude envelopes in [0, 1], which
// render_probe_audio turns into audio (envelope × carrier). Reference: docs/reference/probes_metrics.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core.hpp"

namespace dd {

enum class probe_kind {
    // Classic signals (audio)
    tone, step, burst, ramp, am_tone, white_noise, beating_tones, am_noise, composite_program,
    // Identification probes (amplitude envelopes)
    quasi_static_staircase, level_pairs, preconditioned_pairs, echo_pulses, release_drops, db_dither,
    transient_churn, slope_sweep, release_staircase, attack_doublets, am_sweep, random_steps, db_ramps,
    long_plateaus
};

/// What a generator's samples are: audio in [−1, 1], or an amplitude envelope in [0, 1].
enum class probe_output { audio, envelope };

struct probe_info {
    probe_kind kind;
    const char* name;  // e.g. "quasi_static_staircase"
    probe_output output;
    const char* summary;
};

/// Every kind, in the order of probe_kind.
const std::vector<probe_info>& probe_catalog();
const probe_info& probe_info_of(probe_kind kind);
/// The kind named `name` (as in probe_info::name); throws argument_error("name") naming the choices.
probe_kind probe_kind_from_name(const std::string& name);

struct probe_options {
    /// Where the probes that work near a threshold aim (release drops, dB dither, preconditioned
    /// pairs, …): the threshold of the compressor to be identified, in dB. Finite, in [−80, 0].
    double threshold_db = -24.0;
};

/// The longest signal the generators make (samples).
inline constexpr std::size_t max_probe_length = std::size_t(1) << 32;

/// `length` samples of `kind` at sample rate `fs` (> 0, finite). Throws argument_error naming fs,
/// length (1 … max_probe_length) or options.threshold_db.
std::vector<double> make_probe(probe_kind kind, std::uint64_t seed, double fs, std::size_t length,
                               const probe_options& options = {});

/// How an envelope becomes audio: x_t = e_t · c_t.
enum class carrier_kind {
    sign_noise,  // c_t = ±1 with seeded random signs: |x_t| = e_t, so a detector on |x| sees the envelope itself
    sine,        // c_t = sin(2π·f·t/fs): the peak follows the envelope, the mean of |x| is 2/π of it
    none         // c_t = 1: the envelope as a signal
};
struct carrier {
    carrier_kind kind = carrier_kind::sign_noise;
    double frequency = 1000.0;  // Hz, sine only; in (0, fs/2)
};
/// Audio from an envelope (values in [0, 1], checked: argument_error("envelope")).
std::vector<double> render_probe_audio(const std::vector<double>& envelope, const carrier& c, std::uint64_t seed,
                                       double fs);

/// A probe mix: identification probes one after another, for datasets. Each segment's kind is drawn
/// from `kinds` (empty: every identification probe), its length log-uniformly from
/// [min_seconds, max_seconds] (the last one ends at `length`), its seed from the mix's seed.
struct probe_mix_options {
    std::vector<probe_kind> kinds;  // envelope kinds only
    double min_seconds = 1.0, max_seconds = 4.0;
    probe_options probe;
};
struct probe_segment {
    probe_kind kind;
    std::size_t start, length;
    std::uint64_t seed;  // make_probe(kind, seed, fs, length) gives the segment's samples
};
struct probe_mix_result {
    std::vector<double> envelope;
    std::vector<probe_segment> segments;
};
probe_mix_result probe_mix(std::uint64_t seed, double fs, std::size_t length, const probe_mix_options& options = {});

}  // namespace dd
