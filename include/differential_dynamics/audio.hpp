// Audio processors: the compressors as people use them on audio, channels × time in and out. Around a
// gain computer (the classical compressor's compexp_gain, the limiter's limiter_gain, the SSL bus
// compressor's ssl_comp_gain) each adds a level detector that may read an external side chain, a
// channel link (one gain for all channels from the max or mean of their levels), lookahead (the audio
// delayed against the gain; latency() reports it), makeup gain (fixed or automatic) and a dry/wet mix.
// Streaming processors (any block length, no allocation or lock while processing) and a batch
// function, equal bit for bit over any split into blocks. Reference: docs/reference/audio.md.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "compexp.hpp"
#include "core.hpp"
#include "detectors.hpp"
#include "limiter.hpp"
#include "processor.hpp"
#include "smoother.hpp"
#include "ssl.hpp"

namespace dd {

// ------------------------------------------------------------------------------------------------
// Settings, in user units

/// The classical compressor's level detector: "rms" is the averaging detector avg(|s|, detector_ms)
/// of the classic teacher (a mean of |s|, not a root mean square), "peak" is |s|.
enum class level_detector { rms, peak };
/// "rms" or "peak"; throws argument_error("detector") otherwise.
level_detector parse_level_detector(const std::string& name);
const char* level_detector_name(level_detector detector);

/// How the channels share a gain: each its own ("none"), or one gain computed from the max or the mean
/// over channels of their detector levels (linear amplitudes) at each sample.
enum class channel_link { none, max, mean };
/// "none", "max" or "mean"; throws argument_error("link") otherwise.
channel_link parse_channel_link(const std::string& name);
const char* channel_link_name(channel_link link);

/// What every audio processor adds around its gain computer.
struct audio_chain_settings {
    double makeup_db = 0.0;     // dB, in [−100, 100]; ignored when auto_makeup
    bool auto_makeup = false;   // makeup = half the static gain reduction at a steady 0 dBFS level
    double mix = 1.0;           // in [0, 1]: 1 = fully wet, 0 = the (delayed) input
    channel_link link = channel_link::max;
    double lookahead_ms = 0.0;      // the audio is delayed round(ms·fs/1000) samples against the gain
    double max_lookahead_ms = 0.0;  // read by prepare() only: the delay line's length (≥ lookahead_ms)
    bool glide = false;         // after a change, ramp makeup and mix over the next block (docs)
};

/// Classical feed-forward compressor/expander (compexp_gain_mode on the detector level).
struct compressor_audio_settings : audio_chain_settings {
    level_detector detector = level_detector::rms;
    double detector_ms = 20.0;  // the rms detector's averaging time (10–90 % rise time)
    double threshold_db = -24.0, ratio = 4.0, knee_db = 0.0;
    double exp_threshold_db = -1000.0, exp_ratio = 1.0;  // downward expander; ratio 1 = off
    double attack_ms = 10.0, release_ms = 100.0;
    ar_mode gate = ar_mode::hard;
    double k = 1.0;  // 1/dB, sharpness of the sigmoid gate
};

/// Peak limiter (limiter_gain on |s|).
struct limiter_audio_settings : audio_chain_settings {
    double threshold_db = -1.0;  // ≤ 0
    double attack_ms = 0.1, release_ms = 50.0;
};

/// SSL-style bus compressor (ssl_comp_gain on the peak level in dB), set by its front panel
/// (ssl_front_panel: attack 0.1 … 30 ms, release 100 … 1200 ms or auto, continuous in between).
struct ssl_audio_settings : audio_chain_settings {
    double threshold_db = -20.0, ratio = 4.0;
    double attack_ms = 10.0;
    double release_ms = 100.0;  // ignored when auto_release
    bool auto_release = true;
    double feedback = 0.0;      // feedback_coeff in [0, 1]
    double knee_db = 0.0;
};

/// Samples of a duration: round(ms·fs/1000), halves away from zero. A lookahead of L samples is
/// L·1000/fs ms.
std::size_t ms_to_samples(double ms, double fs);

// ------------------------------------------------------------------------------------------------
// Side chains: the level detector and gain computer of each processor, on the library's streaming
// processors. Used by audio_processor; their static functions document the mapping of the settings.

/// The classical compressor: level = max(avg(|s|), 1e-7) ("rms") or max(|s|, 1e-7) ("peak"), then
/// compexp_gain_mode with at = ms2coef(attack_ms), rt = ms2coef(release_ms).
template <class T> class compressor_side_chain {
public:
    using sample_type = T;
    using settings_type = compressor_audio_settings;
    using gain_processor = compexp_processor<T>;
    static constexpr const char* name = "compressor_audio_processor";
    static constexpr std::size_t detector_state_size = 1;  // the averaging detector's state
    static void check_settings(const settings_type& s);
    /// The checks that need the sample rate (a time whose coefficient rounds to 1 or 0).
    static void check_at_rate(const settings_type& s, double fs);
    /// The gain computer's settings at rate fs; throws argument_error("attack_ms" | "release_ms").
    static compexp_settings gain_settings(const settings_type& s, double fs);
    /// −g_dB(0)/2 of the static curve (knee and expander included).
    static double auto_makeup_db(const settings_type& s);
    static void initial_state(double* state) { state[0] = 0.0, state[1] = 1.0; }
    static void check_state(const double* state);
    /// Orders channels' gain states: the lowest value reduces the gain most.
    static double state_gain(const double* gain_state) { return gain_state[0]; }

    void prepare(const process_spec& spec);
    void set_settings(const settings_type& s, double fs);
    void load_detector_state(const double* state, std::size_t stride);
    void save_detector_state(double* state, std::size_t stride);
    /// Each channel's linear level (> 0) of the side-chain signal.
    void detect(const T* const* source, T* const* level, std::size_t n);
    /// Linear gains from levels, as many channels as `gain_computer` has.
    void gain(gain_processor& gain_computer, T* const* level, T* const* gain, std::size_t n);

private:
    avg_processor<T> average_;
    level_detector detector_ = level_detector::rms;
    std::vector<T> magnitude_;  // |s|, channels × max_block
    std::vector<T*> magnitude_rows_;
    std::vector<double> detector_state_;
};

/// The limiter: level = |s|, then limiter_gain with at = ms2coef(attack_ms), rt = ms2coef(release_ms).
template <class T> class limiter_side_chain {
public:
    using sample_type = T;
    using settings_type = limiter_audio_settings;
    using gain_processor = limiter_processor<T>;
    static constexpr const char* name = "limiter_audio_processor";
    static constexpr std::size_t detector_state_size = 0;
    static void check_settings(const settings_type& s);
    static void check_at_rate(const settings_type& s, double fs) { gain_settings(s, fs); }
    static limiter_settings gain_settings(const settings_type& s, double fs);
    /// −threshold_db/2: half the static reduction min(0, threshold − L) at L = 0 dBFS.
    static double auto_makeup_db(const settings_type& s) { return -0.5 * s.threshold_db; }
    static void initial_state(double* state) { state[0] = 0.0, state[1] = 1.0; }  // (peak, gain)
    static void check_state(const double* state) { limiter_processor<T>::check_state(state); }
    static double state_gain(const double* gain_state) { return gain_state[1]; }

    void prepare(const process_spec& spec) { channels_ = spec.channels; }
    void set_settings(const settings_type&, double) {}
    void load_detector_state(const double*, std::size_t) {}
    void save_detector_state(double*, std::size_t) {}
    void detect(const T* const* source, T* const* level, std::size_t n);
    void gain(gain_processor& gain_computer, T* const* level, T* const* gain, std::size_t n);

private:
    std::size_t channels_ = 0;
};

/// The SSL bus compressor: level = |s|, in dB as ssl_compress takes it (20·log10(max(|s|, 1e-7))),
/// then ssl_comp_gain with the circuit of ssl_front_panel; the dB gain becomes linear (rounded to T).
template <class T> class ssl_side_chain {
public:
    using sample_type = T;
    using settings_type = ssl_audio_settings;
    using gain_processor = ssl_gain_processor<T>;
    static constexpr const char* name = "ssl_audio_processor";
    static constexpr std::size_t detector_state_size = 0;
    static void check_settings(const settings_type& s);
    static void check_at_rate(const settings_type& s, double fs) { gain_settings(s, fs); }
    static ssl_settings gain_settings(const settings_type& s, double fs);
    /// −y(0)/2 with the hard-knee static curve of the fed-back side chain, y(L) = min(0, s·(CT − L)/(1 + s·fb)),
    /// s = 1 − 1/ratio (the knee only acts within knee_db/2 of the threshold and is left out).
    static double auto_makeup_db(const settings_type& s);
    static void initial_state(double* state) { state[0] = 0.0, state[1] = 0.0; }  // (x1, x2) in dB
    static void check_state(const double* state) { ssl_gain_processor<T>::check_state(state); }
    static double state_gain(const double* gain_state) { return gain_state[0] + gain_state[1]; }

    void prepare(const process_spec& spec) { channels_ = spec.channels; }
    void set_settings(const settings_type&, double) {}
    void load_detector_state(const double*, std::size_t) {}
    void save_detector_state(double*, std::size_t) {}
    void detect(const T* const* source, T* const* level, std::size_t n);
    /// Converts `level` to dB in place and writes the linear gain.
    void gain(gain_processor& gain_computer, T* const* level, T* const* gain, std::size_t n);

private:
    std::size_t channels_ = 0;
};

// ------------------------------------------------------------------------------------------------
// The audio processor

/// An audio processor on blocks of `channels` pointers, one settings set for all channels. Per
/// channel c and sample t, with s the side chain (if given) or the input x, and L the lookahead:
///     level_c,t = the side chain's detector on s_c          (linked: max or mean over c, one level)
///     g_t       = the gain computer on the level            (linked: one gain for every channel)
///     y_c,t     = mix·(x_c,t−L · g_t · m) + (1 − mix)·x_c,t−L      in double, rounded to T once
/// with m = 10^(makeup_db/20). State per channel: the detector's state (if any), then the gain
/// computer's; the delay line is read and set separately. `out` may be `in` (in place).
template <class SideChain>
class audio_processor : public streaming_processor<audio_processor<SideChain>, typename SideChain::settings_type> {
    using base = streaming_processor<audio_processor<SideChain>, typename SideChain::settings_type>;

public:
    using sample_type = typename SideChain::sample_type;
    using settings_type = typename SideChain::settings_type;
    using T = sample_type;
    static constexpr std::size_t detector_state_size = SideChain::detector_state_size;
    static constexpr std::size_t state_size = detector_state_size + SideChain::gain_processor::state_size;
    static constexpr const char* name = SideChain::name;
    /// Throws argument_error naming the field (fields that need the sample rate are checked by
    /// prepare and set_settings).
    static void check_settings(const settings_type& s);
    static void check_state(const double* state);
    static void initial_state(const settings_type&, double* state) { SideChain::initial_state(state); }

    /// Allocates for `spec` (the delay line: max(lookahead_ms, max_lookahead_ms)) and resets.
    void prepare(const process_spec& spec, const settings_type& settings = settings_type{});
    /// New settings from the next sample on. The lookahead may change up to the delay line's length.
    void set_settings(const settings_type& settings);
    /// One settings set for all channels: a linked gain needs one gain computer.
    void set_settings(std::size_t channel, const settings_type& settings) = delete;

    /// out[c][t] for t < n from in[c] (and sidechain[c], nullable: then the detector reads `in`; the
    /// pointers may repeat, e.g. one mono key for every channel). gain_out (nullable) receives g_t
    /// as applied to out[c][t] (before makeup and mix). Throws argument_error("in" | "sidechain") for
    /// samples that are not finite, before any state changes.
    void process(const T* const* in, T* const* out, std::size_t n, const T* const* sidechain = nullptr,
                 T* const* gain_out = nullptr);

    /// The lookahead in samples: out is the input delayed this much (times the gain).
    std::size_t latency() const;
    /// The makeup in effect (dB): makeup_db, or the automatic value.
    double makeup_db() const;
    /// The delay line's length per channel (samples).
    std::size_t delay_line_size() const;
    /// The last delay_line_size() input samples of every channel (channel-major, oldest first).
    void get_delay_line(T* out) const;
    void set_delay_line(const T* in);

private:
    friend base;
    void on_prepare();
    void on_settings();
    void on_reset();
    static void check_at_rate(const settings_type& s, double fs);
    void load_state();
    void save_state();
    void link_levels(std::size_t n);
    const T* delayed_input(std::size_t c, const T* x, std::size_t n);
    void write_output(const T* const* in, T* const* out, T* const* gain_out, T* const* gain, std::size_t t0,
                      std::size_t n, std::size_t block);

    SideChain side_chain_;
    typename SideChain::gain_processor channel_gain_, linked_gain_;  // one per channel, and the linked one
    bool linked_ = false;
    std::size_t lookahead_ = 0, delay_capacity_ = 0, ring_size_ = 0, ring_pos_ = 0;
    std::vector<T> ring_;  // channels × (delay_capacity_ + max_block): recent input, ring_pos_ next
    std::vector<T> delayed_, level_, gain_, linked_level_;
    std::vector<const T*> source_;
    std::vector<T*> level_rows_, gain_rows_, linked_gain_rows_;
    std::vector<double> gain_state_;
    double makeup_from_ = 1.0, makeup_to_ = 1.0, mix_from_ = 1.0, mix_to_ = 1.0;  // linear; glide
};

template <class T> using compressor_audio_processor = audio_processor<compressor_side_chain<T>>;
template <class T> using limiter_audio_processor = audio_processor<limiter_side_chain<T>>;
template <class T> using ssl_audio_processor = audio_processor<ssl_side_chain<T>>;

// ------------------------------------------------------------------------------------------------
// Batch: a whole signal x (channels × time) from the processor's initial state, on the calling
// thread; the streaming processor's result over any split of x into blocks, bit for bit.
// sidechain: empty (none), or 1 or x.rows channels of x's length. gain (nullable): g as in process.
// Throws argument_error naming x, y, sidechain, gain, fs or the settings field.

template <class T>
void process_audio(signal_view<T> x, const compressor_audio_settings& settings, double fs, signal_span<T> y,
                   signal_view<T> sidechain = {}, signal_span<T> gain = {});
template <class T>
void process_audio(signal_view<T> x, const limiter_audio_settings& settings, double fs, signal_span<T> y,
                   signal_view<T> sidechain = {}, signal_span<T> gain = {});
template <class T>
void process_audio(signal_view<T> x, const ssl_audio_settings& settings, double fs, signal_span<T> y,
                   signal_view<T> sidechain = {}, signal_span<T> gain = {});

}  // namespace dd
